r"""LaTeX tables a paper author can paste: `to_latex(table)` -> floats that fit a two-column page.

A `Table` (`reproduce.cells.tables`) becomes one float, or one per column group (backbone, budget) when
it is too wide for the page:

- **Width.** A cell prints its number on one line and ± half its 95% interval on a second, smaller
  line (a long row label wraps onto that line), so the ± no longer doubles every column; headers
  use MTEB's abbreviations (Class., STS, Mean(TT), ...). The float is a one-column `table` when its
  estimated width fits `COLUMN_WIDTH` (229 pt, a two-column article's column; ACL's is 219), else
  a two-column `table*` that fits `TEXT_WIDTH` (455 pt, ACL's text width), at `\small` or else
  `\footnotesize`; a table wider than that is split, one float per column group.
- **Height.** Every float is `[tp]`: at the top of a page where it fits (7/10 of the page), else
  on a page of floats, so a tall table never holds back the floats after it.
- **Notes.** The caption is the table's caption. Under the table, a legend of short notes: the
  table's own (`Table.legend`, set by its builder) and what its cells use (±, †, --). The
  provenance (the table's title) and every footnote of the Markdown table are `%` comments above
  the float: nothing is lost and no statistical prose is typeset.
- **Escaping.** Text, with real math for numbers and symbols: `reproduce.report.latex_text.escape`.

The widths are estimated from Computer Modern's glyph widths (`reproduce.report.latex_text.text_width`);
`tests/reproduce/report/test_latex.py` compiles every committed table with pdfLaTeX and checks the real ones.
Needs `\usepackage{booktabs}`.
"""

from __future__ import annotations

import dataclasses
import math
import textwrap

from reproduce.cells.tables import FAILED, MEAN_TASK_TYPE, MISSING, PARTIAL, Cell, Table
from reproduce.report.latex_text import escape, text_width

COLUMN_WIDTH = 229.0  # pt: one column of a two-column article (ACL: 219)
TEXT_WIDTH = 455.0  # pt: both columns, ACL's text width (a two-column article: 469)
MARGIN = 0.97  # estimates aim 3% under the limit: `text_width` is within a few percent
TABCOLSEP = (4.0, 3.0)  # pt, \tabcolsep (each side of a column; LaTeX's is 6), tried in this order
SIZES = {r"\small": 9.0, r"\footnotesize": 8.0}  # pt, in a 10 pt article; tried in this order
INTERVAL_SIZE = 7.0  # \scriptsize
WRAP_LABEL = 80.0  # pt at 10 pt: a longer row label wraps onto its ± line

SHORT_HEADERS = {
    "Classification": "Class.",
    "Clustering": "Clust.",
    "PairClassification": "PairClass.",
    "Reranking": "Rerank.",
    "Retrieval": "Retr.",
    "Summarization": "Summ.",
    MEAN_TASK_TYPE: "Mean(TT)",
    "train tokens": "tokens",
    "train FLOPs": "FLOPs",
    "train time": "time",
}
SHORT_TEXTS = {"no reference": "n/r", FAILED: "failed"}
MARKS = "†‡*"  # what a cell's mark keeps in LaTeX: " degenerate‡" prints ‡ (the legend says why)

# ---------------------------------------------------------------- cells and rows


@dataclasses.dataclass(frozen=True)
class _Line:
    """One typeset line of one cell: its LaTeX, whether it is bold, and whether it is the smaller
    ± line (for `text_width`)."""

    latex: str
    bold: bool = False
    interval: bool = False

    def width(self, size: float) -> float:
        return text_width(self.latex, INTERVAL_SIZE if self.interval else size, self.bold)


def cell_lines(cell: Cell) -> tuple[_Line, _Line | None]:
    """A cell's number line (bold where the cell is, marks as their symbols) and its ± line."""
    if cell.text is not None:
        return _Line(escape(SHORT_TEXTS.get(cell.text, cell.text))), None
    if cell.value is None or (isinstance(cell.value, float) and math.isnan(cell.value)):
        return _Line(MISSING), None
    number = escape(f"{cell.value:.2f}")
    marks = escape("".join(ch for ch in (PARTIAL if cell.partial else "") + cell.mark if ch in MARKS))
    line = _Line((rf"\textbf{{{number}}}" if cell.bold else number) + marks, bold=cell.bold)
    if cell.half_width is None:
        return line, None
    return line, _Line(rf"{{\scriptsize$\pm${cell.half_width:.2f}}}", interval=True)


def label_lines(label: str, wrap: bool = True) -> list[str]:
    r"""A row label as one line, or two when it is long: broken outside parentheses after a comma
    or before a parenthesis if it can be, else at a space; at the break that balances the lines.

        >>> label_lines("Token Prepending (zero-shot, last)")
        ['Token Prepending', '\\hspace{0.5em}(zero-shot, last)']
    """
    if not wrap or text_width(escape(label)) <= WRAP_LABEL or " " not in label:
        return [escape(label)]
    depth, outside, spaces = 0, [], []
    for at, char in enumerate(label):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == " ":
            spaces.append(at)
            if depth == 0 and (label[at - 1] == "," or label[at + 1 : at + 2] == "("):
                outside.append(at)

    def longer(at: int) -> float:
        return max(text_width(escape(label[:at])), text_width(escape(label[at + 1 :])))

    best = min(outside or spaces, key=longer)
    return [escape(label[:best]), r"\hspace{0.5em}" + escape(label[best + 1 :])]


# ---------------------------------------------------------------- layout


@dataclasses.dataclass(frozen=True)
class Layout:
    """One float: which column groups of the table it shows, its kind, font size and label wrapping."""

    groups: tuple[int, ...]
    kind: str  # "table" (one column) or "table*" (two columns)
    size: str  # \small or \footnotesize
    wrap: bool  # long row labels take two lines
    sep: float  # \tabcolsep, pt


def table_width(table: Table, groups: tuple[int, ...], size: float, wrap: bool, sep: float) -> float:
    """Estimated natural width (pt) of the tabular of `table`'s column `groups` at `size` pt:
    the label column, each column at its widest line (header, number, ± line), a group's header
    widening its last column when it is wider, and 2 `sep` between neighbouring columns."""
    labels = [line for name, _ in table.rows for line in label_lines(name, wrap)]
    total = max((text_width(line, size) for line in labels), default=0.0)
    start = 0
    for index, (group, names) in enumerate(table.groups):
        if index in groups:
            widths = []
            for column, name in enumerate(names, start=start):
                lines = [line for _, cells in table.rows for line in cell_lines(cells[column]) if line]
                header = text_width(escape(SHORT_HEADERS.get(name, name)), size)
                widths.append(max([header, *(line.width(size) for line in lines)]))
            inner = sum(widths) + 2 * sep * (len(widths) - 1)
            total += max(inner, text_width(escape(group), size)) + 2 * sep
        start += len(names)
    return total


def layouts(table: Table) -> list[Layout]:
    """The smallest float each part fits, the whole table first, else one part per column group
    (at the last, most compact step of `_fit` if even that does not fit)."""
    every = tuple(range(len(table.groups)))
    whole = _fit(table, every)
    if whole is not None or len(every) == 1:
        return [whole or _most_compact(every)]
    return [_fit(table, (group,)) or _most_compact((group,)) for group in every]


def _most_compact(groups: tuple[int, ...]) -> Layout:
    return Layout(groups, "table*", r"\footnotesize", True, TABCOLSEP[-1])


def _fit(table: Table, groups: tuple[int, ...]) -> Layout | None:
    """The first layout of `groups` whose estimated width fits its float: one column before two,
    then `\\small` before `\\footnotesize`, one-line labels before wrapped ones, wider spacing first."""
    for kind, limit in (("table", COLUMN_WIDTH), ("table*", TEXT_WIDTH)):
        for size, points in SIZES.items():
            for wrap in (False, True):
                for sep in TABCOLSEP:
                    if table_width(table, groups, points, wrap, sep) <= limit * MARGIN:
                        return Layout(groups, kind, size, wrap, sep)
    return None


# ---------------------------------------------------------------- rendering


def legend(table: Table, headers: list[str], shown: list[Cell]) -> str:
    """The short notes under a float: the table's own, then what its cells use."""
    notes = [escape(note) for note in table.legend]
    if any(column == MEAN_TASK_TYPE for column in headers):
        notes.append("Mean(TT): mean of the task-type means.")
    if any(cell_lines(cell)[1] is not None for cell in shown):
        notes.append(r"Second line: $\pm$ half the 95\% interval.")
    if any(cell.partial for cell in shown):
        notes.append(r"$^\dagger$ partial: over the tasks present only.")
    if any(cell_lines(cell)[0].latex == MISSING for cell in shown):
        notes.append("--: no score (not measured, or not applicable).")
    if any(cell.text == "no reference" for cell in shown):
        notes.append("n/r: no reference value available.")
    if any(cell.text == FAILED for cell in shown):
        notes.append("failed: the run stopped with an error (see the comments above the table).")
    return " ".join(notes)


def comments(table: Table) -> list[str]:
    """The provenance and every footnote of the Markdown table, as `%` lines."""
    notes = " The Markdown table's notes:" if table.footnotes else ""
    lines = [f"% {table.title}", rf"% Needs \usepackage{{booktabs}}.{notes}"]
    for note in table.footnotes:
        wrapped = textwrap.wrap(note, 96, break_long_words=False, break_on_hyphens=False)
        lines += [f"% {'-' if i == 0 else ' '} {line}" for i, line in enumerate(wrapped)]
    return lines


def render(table: Table, layout: Layout, label: str, caption: str) -> list[str]:
    """One float of `table`: the groups of `layout`, in its kind and size."""
    ranges, start = [], 0
    for index, (_, names) in enumerate(table.groups):
        if index in layout.groups:
            ranges.append((index, range(start, start + len(names))))
        start += len(names)
    columns = [i for _, span in ranges for i in span]
    header, rules, first = [""], [], 2
    for index, span in ranges:
        header.append(rf"\multicolumn{{{len(span)}}}{{c}}{{{escape(table.groups[index][0])}}}")
        rules.append(rf"\cmidrule(lr){{{first}-{first + len(span) - 1}}}")
        first += len(span)
    names = [escape(SHORT_HEADERS.get(name, name)) for _, name in (table.columns[i] for i in columns)]
    lines = [
        rf"\begin{{{layout.kind}}}[tp]",
        r"\centering",
        layout.size,
        rf"\setlength{{\tabcolsep}}{{{layout.sep:g}pt}}",
        rf"\caption{{{caption}}}",
        rf"\label{{{label}}}",
        rf"\begin{{tabular}}{{@{{}}l{'r' * len(columns)}@{{}}}}",
        r"\toprule",
        " & ".join(header) + r" \\",
        " ".join(rules),
        " & ".join(["", *names]) + r" \\",
        r"\midrule",
    ]
    shown = []
    for name, cells in table.rows:
        pairs = [cell_lines(cells[i]) for i in columns]
        shown += [cells[i] for i in columns]
        wrapped = label_lines(name, layout.wrap)
        if any(second for _, second in pairs) or len(wrapped) > 1:
            lines.append(" & ".join([wrapped[0], *(first.latex for first, _ in pairs)]) + r" \\[-1pt]")
            below = wrapped[1] if len(wrapped) > 1 else ""
            lines.append(
                " & ".join([below, *(second.latex if second else "" for _, second in pairs)]) + r" \\"
            )
        else:
            lines.append(" & ".join([wrapped[0], *(first.latex for first, _ in pairs)]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if note := legend(table, [table.columns[i][1] for i in columns], shown):
        lines += [r"\par\smallskip\footnotesize", note]
    lines.append(rf"\end{{{layout.kind}}}")
    return lines


def to_latex(table: Table) -> str:
    """`table` as LaTeX floats (module docstring): `%` comments with its provenance and full notes,
    then one float, or one per column group when it does not fit `TEXT_WIDTH`. Labels:
    `tab:<id>`, then `tab:<id>-2`, ... for the further parts of a split table."""
    parts = layouts(table)
    out = comments(table)
    for number, layout in enumerate(parts, start=1):
        caption = escape(table.caption)
        if len(parts) > 1:
            shown = " and ".join(escape(table.groups[i][0]) for i in layout.groups)
            caption = f"{caption.rstrip('.')}; columns: {shown}."
        label = f"tab:{table.id}" + (f"-{number}" if number > 1 else "")
        out += render(table, layout, label, caption)
    return "\n".join(out) + "\n"
