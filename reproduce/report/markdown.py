"""Markdown a first-time reader can follow: `Table`s (`reproduce.cells.tables`) -> one file per output.

A file reads top-down, each thing said once:

    # Table 3                              the output's name
    Stage order: data-driven (DD) ...      its caption, once, wrapped
    Legend: **bold** best of its ...       the marks its cells use, one line, linking to the Notes
    ## preset smol (SmolLM2-135M ...)      one section per preset with results
    **SmolLM2-135M**                       one table per backbone: the backbone is named once,
    |  | Classification | STS | Avg |      above its table, never repeated in every header cell
    |---|---:|---:|---:|
    | DD only | **68.16 ± 1.06** | ...
    ## Notes                               every footnote once (a note every section shares once;
    - Scores are MTEB main scores x100 ...  the others under their section's name), wrapped

Column groups whose column names never repeat (one backbone and its "Budget" columns) share one
table, so a row's score and budget stay on one line. Every line is wrapped at `WIDTH` characters
except table rows (a Markdown table row cannot wrap).

    >>> wrap("a b c", width=3, first="- ", rest="  ")
    ['- a', '  b', '  c']
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from reproduce.cells.tables import FAILED, MISSING, PARTIAL, Cell, Table
from reproduce.judge.degenerate import DEGENERATE

WIDTH = 100
"""Characters per wrapped line (captions, legend, notes)."""

_OPENS_A_BLOCK = re.compile(r"(?:[-+*>#|=_]+|\d+[.)])")
"""A word that, starting a line, would open a list, quote, heading, table or rule: never wrapped
onto a line of its own (e.g. the "- 1" of "LLM2Vec, last + causal - 1")."""

LEGEND: list[tuple[str, Callable[[Cell], bool]]] = [
    ("**bold** best of its column, or not significantly worse than it", lambda c: c.bold),
    (
        "± half the 95% interval",
        lambda c: c.half_width is not None and c.text is None and c.value is not None,
    ),
    (f"{PARTIAL} partial (averaged over the tasks present only)", lambda c: c.partial),
    (f"{FAILED} the run stopped with an error", lambda c: c.text == FAILED),
    (f"{DEGENERATE} significantly below its own untrained backbone", lambda c: DEGENERATE in c.mark),
    (f"{MISSING} no number (why: Notes)", lambda c: c.render() == MISSING),
]
"""(entry, does a cell use it): the legend lists the entries some cell of the file uses."""


def wrap(text: str, width: int = WIDTH, first: str = "", rest: str = "") -> list[str]:
    """Greedy word wrap: `first` before the first line, `rest` before the others. A line never
    starts with a word that would open a Markdown block (`_OPENS_A_BLOCK`): that word stays on the
    line before, a little over `width`."""
    words = text.split()
    if not words:
        return [first.rstrip()]
    lines, line = [], first + words[0]
    for word in words[1:]:
        if len(line) + 1 + len(word) > width and not _OPENS_A_BLOCK.fullmatch(word):
            lines.append(line)
            line = rest + word
        else:
            line += " " + word
    return [*lines, line]


def _blocks(table: Table) -> list[list[int]]:
    """Column groups per Markdown table: all in one when no column name repeats (a backbone and
    its budget), else one table per group (one per backbone)."""
    names = [column for _, columns in table.groups for column in columns]
    if len(set(names)) == len(names):
        return [list(range(len(table.groups)))]
    return [[index] for index in range(len(table.groups))]


def _block_name(groups: list[tuple[str, list[str]]]) -> str:
    """`**SmolLM2-135M**`, or with several groups each with its columns' span:
    `**SmolLM2-135M** (Classification … Mean(TaskType)), **Budget** (steps … train time)`."""
    if len(groups) == 1:
        return f"**{groups[0][0]}**"
    spans = (f"{columns[0]} … {columns[-1]}" if len(columns) > 1 else columns[0] for _, columns in groups)
    return ", ".join(f"**{name}** ({span})" for (name, _), span in zip(groups, spans, strict=True))


def group_tables(table: Table) -> list[str]:
    """The lines of a table's Markdown tables (see `_blocks`): each one named above it, with one
    header row of plain column names; numbers right-aligned."""
    starts, offset = [], 0
    for _, columns in table.groups:
        starts.append(offset)
        offset += len(columns)
    lines: list[str] = []
    for block in _blocks(table):
        groups = [table.groups[index] for index in block]
        span = [starts[index] + k for index in block for k in range(len(table.groups[index][1]))]
        header = [column for _, columns in groups for column in columns]
        lines += [
            _block_name(groups),
            "",
            "|  | " + " | ".join(header) + " |",
            "|---|" + "---:|" * len(header),
        ]
        lines += [
            "| " + " | ".join([label, *(cells[i].render() for i in span)]) + " |"
            for label, cells in table.rows
        ]
        lines.append("")
    return lines


def legend(tables: Sequence[Table]) -> str | None:
    """One line: the marks the tables' cells use (`LEGEND`), then where the method is explained."""
    cells: list[Cell] = [cell for table in tables for _, row in table.rows for cell in row]
    used = [entry for entry, uses in LEGEND if any(uses(cell) for cell in cells)]
    if not used:
        return None
    return "Legend: " + "; ".join(used) + ". What each number is and how it is computed: [Notes](#notes)."


def _heading(table: Table, name: str) -> str:
    """A section's heading: its title without the output's name ("Table 3 — preset smol (...)"
    under "# Table 3" reads "preset smol (...)")."""
    return table.title.removeprefix(f"{name} — ")


def _notes(tables: Sequence[Table], name: str, level: str) -> list[str]:
    """Every footnote once: those every table has first, then each table's own under its heading."""
    shared = [
        note
        for note in dict.fromkeys(n for t in tables for n in t.footnotes)
        if all(note in t.footnotes for t in tables)
    ]
    own = [(table, [note for note in table.footnotes if note not in shared]) for table in tables]
    if not shared and not any(notes for _, notes in own):
        return []
    lines = [f"{level} Notes", ""]
    for note in shared:
        lines += wrap(note, first="- ", rest="  ")
    for table, notes in own:
        if notes:
            lines += ["", *wrap(f"**{_heading(table, name)}**"), ""]
            for note in notes:
                lines += wrap(note, first="- ", rest="  ")
    return [*lines, ""]


def markdown_document(name: str, caption: str, tables: Sequence[Table], level: int = 1) -> str:
    """One output's Markdown: its name, caption and legend once, a section per table (one per
    preset) and one Notes section. `level`: the heading level of `name` (sections are one below).

    A single table whose title is `name` gets no section heading (`to_markdown`)."""
    top, section = "#" * level, "#" * (level + 1)
    lines = [f"{top} {name}", "", *wrap(caption), ""]
    if line := legend(tables):
        lines += [*wrap(line), ""]
    for table in tables:
        if table.title != name:
            lines += [f"{section} {_heading(table, name)}", ""]
        lines += group_tables(table)
    lines += _notes(tables, name, section)
    return "\n".join(lines).rstrip("\n") + "\n"


def to_markdown(table: Table) -> str:
    """One table on its own (a level-3 heading): title, caption, legend, tables, notes."""
    return markdown_document(table.title, table.caption, [table], level=3)
