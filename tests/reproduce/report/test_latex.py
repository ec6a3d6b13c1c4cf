"""The LaTeX tables compile as a paper author pastes them, and fit the width and height they declare.

Each `.tex` under `results/tables/` (or the folder in `T2T_LATEX_TABLES`) is `\\input` into the two
documents the README names, with pdfLaTeX and booktabs:

    \\documentclass[twocolumn]{article}                                % 229.5 pt columns, 469 pt text
    \\documentclass{article} \\usepackage[margin=1in]{geometry}          % one column, 469.8 pt

A few lines of TeX in the wrapper log every tabular's natural width and every float's height (the
kernel's `\\@largefloatcheck`, which every float passes through), and whether any float is still
waiting for a page after a few pages of text. A table fails when LaTeX reports an error, an overfull
`\\hbox` over 1 pt, "Float too large", a float never placed, a bitmap (Type 3) font, or a tabular
wider than its float declares: a `table` (one column) at most 229 pt, a `table*` (two columns) at
most 455 pt (ACL's text width; a two-column article's is 469 pt).

Without `pdflatex` the compile tests skip, unless `T2T_REQUIRE_LATEX=1` (CI), where they fail.
Debian: `apt-get install --no-install-recommends texlive-latex-base texlive-latex-recommended`.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from reproduce.cells.tables import Cell, Table
from reproduce.report.latex import SIZES, layouts, table_width, to_latex
from reproduce.report.latex_text import escape

ROOT = Path(__file__).resolve().parents[3]
TABLES = Path(os.environ.get("T2T_LATEX_TABLES") or ROOT / "results" / "tables")
DECLARED = {"table": 229.0, "table*": 455.0}  # pt: one column, two columns (ACL's text width)

DOCUMENTS = {
    "two-column": r"\documentclass[twocolumn]{article}",
    "one-column": "\\documentclass{article}\n\\usepackage[margin=1in]{geometry}",
}

PROBES = r"""
\usepackage{booktabs}
\pdfcompresslevel=0 \pdfobjcompresslevel=0 % fonts readable in the PDF (Type 3 check)
\makeatletter
\let\probe@tabular\tabular \let\probe@endtabular\endtabular
\def\tabular{\leavevmode\setbox\z@\hbox\bgroup\probe@tabular}
\def\endtabular{\probe@endtabular\egroup\typeout{PROBE tabular \the\wd\z@}\box\z@}
\let\probe@table\table \def\table{\typeout{PROBE float table}\probe@table}
\expandafter\let\csname probe@table*\expandafter\endcsname\csname table*\endcsname
\@namedef{table*}{\typeout{PROBE float table*}\@nameuse{probe@table*}}
\let\probe@largefloatcheck\@largefloatcheck
\def\@largefloatcheck{\typeout{PROBE height \the\ht\@currbox}\probe@largefloatcheck}
\def\probe@waiting{\typeout{PROBE waiting \ifx\@deferlist\@empty\else deferred \fi
  \ifx\@dbldeferlist\@empty\else dbldeferred \fi}}
\makeatother
"""

FILLER = "Text between the tables, standing in for a paper's prose. " * 12


@dataclasses.dataclass
class Compiled:
    """What one compile logged: errors, overfull boxes (pt), and per float its kind, tabular widths
    and height (pt), whether a float was still waiting for a page, and any Type 3 font."""

    log: str
    errors: list[str]
    overfull: list[float]
    floats: list[tuple[str, list[float], float]]
    waiting: str
    type3: bool


def _pt(text: str) -> float:
    return float(text.removesuffix("pt"))


def compile_table(tex: Path, document: str, workdir: Path) -> Compiled:
    """`\\input` `tex` into `document`, followed by enough text to place every float; run pdfLaTeX."""
    floats = len(re.findall(r"\\begin\{table\*?\}", tex.read_text()))
    filler = "\n\n".join([FILLER] * (12 * max(floats, 1)))  # about two pages a float
    source = workdir / "paper.tex"
    source.write_text(
        f"{document}\n{PROBES}\n\\begin{{document}}\n\\input{{{tex.resolve().as_posix()}}}\n{filler}\n"
        "\\makeatletter\\probe@waiting\\makeatother\n\\end{document}\n"
    )
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "paper.tex"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (
        (workdir / "paper.log").read_text(errors="replace")
        if (workdir / "paper.log").exists()
        else run.stdout
    )
    errors = [line for line in log.splitlines() if line.startswith("!")]
    if run.returncode and not errors:
        errors = [f"pdflatex exited {run.returncode}"]
    found: list[tuple[str, list[float], float]] = []
    for kind, value in re.findall(r"^PROBE (float|tabular|height) (\S+)", log, flags=re.M):
        if kind == "float":
            found.append((value, [], float("nan")))
        elif kind == "tabular" and found:
            found[-1][1].append(_pt(value))
        elif kind == "height" and found:
            found[-1] = (found[-1][0], found[-1][1], _pt(value))
    waiting = re.search(r"^PROBE waiting(.*)$", log, flags=re.M)
    pdf = workdir / "paper.pdf"
    return Compiled(
        log=log,
        errors=errors,
        overfull=[float(x) for x in re.findall(r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide", log)],
        floats=found,
        waiting="never reached" if waiting is None else waiting.group(1).strip(),
        type3=pdf.exists() and b"/Type3" in pdf.read_bytes(),
    )


def problems(compiled: Compiled) -> list[str]:
    """Every way a compiled table fails the checks in the module docstring (empty: it passes)."""
    found = list(compiled.errors)
    found += [f"overfull \\hbox by {x} pt" for x in compiled.overfull if x > 1.0]
    if "Float too large" in compiled.log:
        found.append("Float too large for page")
    if compiled.waiting:
        found.append(f"floats not placed after the text: {compiled.waiting}")
    if compiled.type3:
        found.append("a bitmap (Type 3) font: text-mode symbols such as ± or ²")
    for kind, widths, _ in compiled.floats:
        found += [
            f"{kind} holds a tabular {w:.1f} pt wide > {DECLARED[kind]:.0f}"
            for w in widths
            if w > DECLARED[kind]
        ]
    return found


needs_latex = pytest.mark.skipif(
    shutil.which("pdflatex") is None and os.environ.get("T2T_REQUIRE_LATEX") != "1",
    reason="pdflatex is not installed (Debian: apt-get install --no-install-recommends "
    "texlive-latex-base texlive-latex-recommended); T2T_REQUIRE_LATEX=1 makes this a failure",
)


def _require_pdflatex() -> None:
    assert shutil.which("pdflatex"), "T2T_REQUIRE_LATEX=1 but pdflatex is not installed"


COMMITTED = sorted(TABLES.glob("*.tex"))


@pytest.mark.slow
@needs_latex
@pytest.mark.parametrize("document", sorted(DOCUMENTS))
@pytest.mark.parametrize("tex", COMMITTED, ids=[p.stem for p in COMMITTED])
def test_committed_table_compiles_and_fits(tex, document, tmp_path):
    _require_pdflatex()
    compiled = compile_table(tex, DOCUMENTS[document], tmp_path)
    assert not problems(compiled), f"{tex.name} in the {document} article: {problems(compiled)}"
    if r"\begin{table" in tex.read_text():
        assert compiled.floats and all(widths for _, widths, _ in compiled.floats), "no tabular measured"


def test_a_tables_folder_is_found():
    """The compile test reads the committed tables; an empty folder would make it pass vacuously."""
    assert COMMITTED, f"no .tex tables under {TABLES} (T2T_LATEX_TABLES)"


# ---------------------------------------------------------------- escaping and notes (no TeX needed)


@pytest.mark.parametrize(
    "text, latex",
    [
        (
            r"a & b % c $ d # e _ f { g } h ~ i ^ j \ k",
            r"a \& b \% c \$ d \# e \_ f \{ g \} h \textasciitilde{} i \textasciicircum{} j \textbackslash{} k",
        ),
        ("see `t2t.stats` and `gpu_hours`", r"see \texttt{t2t.stats} and \texttt{gpu\_hours}"),
        ("an unpaired ` backtick", "an unpaired ' backtick"),
        (
            "main score x100; 5 x 1,000 resamples; index",
            r"main score $\times$100; 5 $\times$ 1,000 resamples; index",
        ),
        ("tau = 1e-06, N = 8.4e+13, 1e+14", r"$\tau$ = $10^{-6}$, N = $8.4\times10^{13}$, $10^{14}$"),
        ("-10.06 [-12.09, -8.04] (-1)", r"$-$10.06 [$-$12.09, $-$8.04] ($-$1)"),
        ("top-10, Gemma-3-270M, 1-2, a - b, --", "top-10, Gemma-3-270M, 1-2, a - b, --"),
        ("± = t sqrt(V + s²/S); DD -> MD", r"$\pm$ = t sqrt(V + s$^2$/S); DD $\rightarrow$ MD"),
        ("Δ † ‡ · — é", r"$\Delta$ $^\dagger$ $^\ddagger$ $\cdot$ --- e"),
        ('"quoted" p < 0.05 | q > 1', "``quoted'' p $<$ 0.05 $|$ q $>$ 1"),
    ],
)
def test_escape(text, latex):
    assert escape(text) == latex
    assert escape(text).isascii()


def _wide_table(rows: int = 6) -> Table:
    """A paper-scale table: two 7B backbones x (7 MTEB categories, Avg, Mean, Reported, Delta), every
    kind of cell (bold, ±, †, ‡, --, failed, no reference, negative Delta), long notes."""
    categories = ["Retrieval", "Reranking", "Clustering", "PairClassification", "Classification", "STS"]
    columns = [*categories, "Summarization", "Avg", "Mean(TaskType)", "Reported", "Δ"]
    labels = ["PromptEOL (zero-shot, last)", "Token Prepending (zero-shot, last)", "LLM2Vec", "Text2Token"]
    table_rows = []
    for r in range(rows):
        cells = []
        for _ in range(2):  # two backbones
            for c in range(9):
                cells.append(Cell(40 + r + c / 3, half_width=1.5 + c / 10, bold=r == rows - 1))
            cells += (
                [Cell(text="no reference"), Cell(text="-3.21")]
                if r == 0
                else [Cell(62.5), Cell(text="+1.02")]
            )
        table_rows.append((labels[r % len(labels)] + f" #{r}", cells))
    table_rows[1][1][3] = Cell(55.0, partial=True)
    table_rows[2][1][7].mark = " degenerate‡"
    table_rows[3][1][12] = Cell(text="failed‡")
    table_rows[3][1][13] = Cell()
    return Table(
        "wide",
        "wide — preset paper (Llama-3-8B-Instruct; tasks: MTEB(eng, v2))",
        "A wide table: every method per MTEB category (main score x100); DD -> MD.",
        [("Llama-3-8B-Instruct", columns), ("Mistral-7B-Instruct-v0.2", columns)],
        table_rows,
        footnotes=["± = t sqrt(V_items + s²/S) (`t2t.stats`): V_items, the variance of the cell's mean " * 3],
        legend=[
            "MTEB main scores x100; Avg: mean over the 41 tasks.",
            "‡: significantly below its backbone.",
        ],
    )


def _narrow_table() -> Table:
    rows = [(f"Text2Token, {p} + {a}", [Cell(60.0 + i, half_width=1.2), Cell(61.0 + i)]) for i, (p, a) in
            enumerate([("last", "causal"), ("mean", "bidirectional"), ("last", "bidirectional")])]  # fmt: skip
    return Table(
        "narrow",
        "narrow — preset smol",
        "A narrow table.",
        [("SmolLM2-135M", ["Avg", "Mean(TaskType)"])],
        rows,
    )


def test_latex_keeps_provenance_and_notes_in_comments_and_typesets_ascii():
    table = _wide_table()
    latex = to_latex(table)
    comments = [line for line in latex.splitlines() if line.startswith("%")]
    typeset = "\n".join(line for line in latex.splitlines() if not line.startswith("%"))
    assert comments[0] == f"% {table.title}" and r"\usepackage{booktabs}" in comments[1]
    assert "t sqrt(V_items + s²/S) (`t2t.stats`)" in "\n".join(comments)  # the full notes, verbatim
    assert typeset.isascii() and "preset paper" not in typeset and "sqrt" not in typeset
    assert (
        r"\caption{A wide table: every method per MTEB category (main score $\times$100); DD $\rightarrow$ MD"
        in typeset
    )
    assert r"\textbf{" in typeset and r"{\scriptsize$\pm$1.50}" in typeset and "$-$3.21" in typeset
    assert (
        r"44.33$^\ddagger$" in typeset and "degenerate" not in typeset
    )  # the mark alone; the legend says why
    assert r"55.00$^\dagger$" in typeset and "n/r" in typeset and "failed" in typeset


def test_wide_tables_split_per_column_group_and_narrow_ones_take_one_column():
    wide = to_latex(_wide_table())
    assert re.findall(r"\\begin\{(table\*?)\}\[tp\]", wide) == ["table*", "table*"]
    assert re.findall(r"\\label\{([^}]*)\}", wide) == ["tab:wide", "tab:wide-2"]
    assert "columns: Llama-3-8B-Instruct." in wide and "columns: Mistral-7B-Instruct-v0.2." in wide
    narrow = to_latex(_narrow_table())
    assert re.findall(r"\\begin\{(table\*?)\}", narrow) == ["table"]


@pytest.mark.slow
@needs_latex
@pytest.mark.parametrize("document", sorted(DOCUMENTS))
def test_rendered_tables_compile_fit_and_match_their_estimated_width(document, tmp_path):
    """A paper-scale table (split, tall) and a narrow one compile cleanly, and the widths that
    chose their floats (`reproduce.report.latex.table_width`) are within 3% of pdfLaTeX's."""
    _require_pdflatex()
    for table in (_wide_table(rows=20), _narrow_table()):
        tex = tmp_path / f"{table.id}.tex"
        tex.write_text(to_latex(table))
        compiled = compile_table(tex, DOCUMENTS[document], tmp_path)
        assert not problems(compiled), f"{table.id}: {problems(compiled)}"
        estimated = [table_width(table, x.groups, SIZES[x.size], x.wrap, x.sep) for x in layouts(table)]
        measured = [widths[0] for _, widths, _ in compiled.floats]
        assert len(measured) == len(estimated)
        assert all(abs(e - m) <= 0.03 * m for e, m in zip(estimated, measured)), (estimated, measured)
