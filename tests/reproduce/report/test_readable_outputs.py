"""What a first-time reader sees: Markdown tables (one header row per backbone, the caption and the
legend once, wrapped notes), claims.md (verdicts first, evidence as lists), results/README.md (what
reproduced, links only to files that exist) and figures at print size (one column wide, 8-9 pt,
TrueType fonts in the PDF, a legend entry for every mark and error bar)."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from reproduce.cells.manifest import analysis_path, read_manifests
from reproduce.cells.tables import Cell, Table
from reproduce.judge.verdicts import MARKS, verdict
from reproduce.paper.presets import SCALE_PRESETS
from reproduce.paper.registry import REGISTRY, get_spec
from reproduce.plan.grid import expand, plan_manifest
from reproduce.report.builders import write_output
from reproduce.report.claims import CLAIMS, check_claims, claims_markdown
from reproduce.report.index import index_markdown
from reproduce.report.markdown import WIDTH, markdown_document, wrap
from reproduce.report.rebuild import rebuild_all
from t2t.evaluation.tasks import TASK_SETS
from tests.fakes import plan, store_run, unwrap, write_outputs

TINY = SCALE_PRESETS["tiny"]
TASKS = list(TASK_SETS["offline-lite"].tasks)


def _table3(root: Path, items: bool = False) -> None:
    """Table 3 at tiny: DD -> MD best on both backbones (as in test_tables)."""
    base = {"DD only": 0.30, "MD only": 0.32, "DD -> MD": 0.40, "MD -> DD": 0.35}
    for item in expand(get_spec("table3"), TINY):
        shift = 0.01 * (item.role == "mistral")
        scores = {task: base[item.row] + shift + 0.001 * i for i, task in enumerate(TASKS)}
        store_run(root, item.run, scores, items=items)


def _is_table_row(line: str) -> bool:
    return line.startswith("|")


# ---------------------------------------------------------------- Markdown tables


@pytest.mark.slow
def test_each_backbone_gets_one_table_with_one_plain_header_row(tmp_path):
    """No "tiny-llama · STS" header cells: each backbone is named once, above its own table, whose
    header row has the plain column names; caption and legend once; every other line wrapped."""
    _table3(tmp_path, items=True)
    markdown = write_outputs(get_spec("table3"), [TINY], tmp_path)[0].read_text()
    lines = markdown.splitlines()
    headers = [line for i, line in enumerate(lines[:-1]) if lines[i + 1].startswith("|---")]
    assert headers == ["|  | STS | Avg |", "|  | STS | Avg |"] and "·" not in markdown
    assert lines.count("**tiny-llama**") == 1 and lines.count("**tiny-mistral**") == 1
    llama, mistral = markdown.split("**tiny-mistral**")
    assert "| DD -> MD | **40.15 ±" in llama and "| DD -> MD | **41.15 ±" in mistral
    caption = get_spec("table3").caption
    assert " ".join(markdown.split()).count(caption) == 1  # once, under the title (no repeat per section)
    assert markdown.count("Legend: ") == 1 and "[Notes](#notes)" in markdown and "\n## Notes\n" in markdown
    assert all(len(line) <= WIDTH + 10 for line in lines if not _is_table_row(line)), max(lines, key=len)
    assert "± half the 95% interval" in unwrap(markdown)  # the legend names what the cells use


def test_a_backbone_and_its_budget_share_one_table():
    """Groups whose column names do not repeat (compare: one backbone, its budget) are one table
    named "**backbone** (first … last), **Budget** (...)", so a row's score and budget share a line."""
    table = Table(
        "t",
        "T",
        "Caption.",
        [("Model X", ["STS", "Avg"]), ("Budget", ["steps", "train time"])],
        [("A", [Cell(1.0), Cell(2.0), Cell(text="100"), Cell(text="1.0 min")])],
    )
    markdown = markdown_document("T", "Caption.", [table])
    assert "**Model X** (STS … Avg), **Budget** (steps … train time)" in markdown
    assert "|  | STS | Avg | steps | train time |" in markdown
    assert "| A | 1.00 | 2.00 | 100 | 1.0 min |" in markdown


def test_notes_every_section_shares_are_listed_once_the_others_under_their_section():
    def section(preset: str, notes: list[str]) -> Table:
        return Table("t", f"T — preset {preset}", "Caption.", [("X", ["Avg"])], [("A", [Cell(1.0)])], notes)

    markdown = markdown_document(
        "T", "Caption.", [section("tiny", ["shared", "4 tasks"]), section("smol", ["shared", "9 tasks"])]
    )
    notes = markdown.split("## Notes")[1]
    assert markdown.count("- shared") == 1 and notes.index("- shared") < notes.index("**preset tiny**")
    assert notes.index("**preset tiny**") < notes.index("- 4 tasks") < notes.index("**preset smol**")
    assert "## preset tiny" in markdown and "## preset smol" in markdown and "## T — preset" not in markdown


def test_wrap_keeps_every_word_and_never_opens_a_markdown_block():
    """A continuation line that began with "- 1" would be a nested list item, "--" a rule, "->" fine
    but kept with its neighbour too: such words stay on the line before."""
    text = "✗ [llama] main: Text2Token > LLM2Vec, last + causal - 1 (same pooling) -- 1. + # > ->"
    for width in range(10, 60):
        lines = wrap(text, width=width, first="- ", rest="  ")
        assert " ".join(line.strip() for line in lines).removeprefix("- ") == text
        for line in lines[1:]:
            first_word = line.split()[0]
            assert line.startswith("  ") and not re.fullmatch(r"[-+*>#|=_]+|\d+[.)]", first_word), lines


# ---------------------------------------------------------------- alignment


def test_alignment_states_its_punctuation_rule_and_shows_the_count(tmp_path):
    """ "exact ids" can exceed "in input": in input skips top tokens with no letter or digit, exact
    ids counts a punctuation id the text contains. The note says so and a column shows how many
    top tokens are punctuation (not bold: more is not better)."""
    spec = get_spec("alignment")
    plan(tmp_path, spec, TINY)
    [manifest] = read_manifests("alignment", tmp_path)
    for i, cell in enumerate(manifest.seed_cells()):
        result = {  # in input 1.x, exact ids 2.x, punctuation 7.x: the largest is the last cell's
            "primary": "normalized",
            "normalized": {"mean": 1.0 + 0.1 * i, "ignored_mean": 7.0 + 0.1 * i},
            "exact_ids": {"mean": 2.0 + 0.1 * i},
        }
        path = analysis_path("alignment", cell.analysis_id, tmp_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"run_id": cell.analysis_id, "result": result}))
    markdown = write_output("alignment", tmp_path)[0].read_text()
    assert "|  | in input | exact ids | punctuation |" in markdown
    last = 0.1 * (len(manifest.seed_cells()) - 1)
    assert (
        f"| **{1 + last:.2f}** | **{2 + last:.2f}** | {7 + last:.2f} |" in markdown
    )  # punctuation: never bold
    notes = unwrap(markdown)
    assert "never counts, even when the text contains it" in notes
    assert "that is why exact ids can exceed in input" in notes


# ---------------------------------------------------------------- claims.md


@pytest.mark.slow
def test_claims_give_one_verdict_line_per_claim_then_the_evidence_as_a_list(tmp_path):
    """Per preset: a verdict table (claim, verdict, per backbone) first, then per measured claim its
    comparisons as list items with every number; the marks' legend at the top, the method once."""
    _table3(tmp_path, items=True)
    for spec in REGISTRY.values():
        plan(tmp_path, spec, TINY)
    checked = check_claims(tmp_path)
    markdown = claims_markdown(tmp_path, checked)
    lines = markdown.splitlines()
    assert markdown.index("Marks: ✓ holds") < markdown.index("## preset tiny") < markdown.index("## Method")
    section = markdown.split("## preset tiny")[1]
    verdicts = section.split("### Evidence at tiny")[0]
    rows = [line for line in verdicts.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(CLAIMS) and all(row.count(" | ") == 2 for row in rows)
    assert section.index("| claim | verdict | per backbone |") < section.index("### Evidence at tiny")
    flat = unwrap(markdown)
    [(_, claims)] = checked
    for claim, decided in claims:
        assert f"| {claim.text} | {verdict(decided)} |" in markdown
        for _, text, mark in decided:  # every comparison, whole, as one list item
            assert f"\n- {MARKS[mark]}{text}\n" in flat, text
    assert re.search(r"- ✓ \[llama\] DD -> MD > DD only: difference \+10\.00, Holm \d+\.\d% interval", flat)
    assert max(len(line) for line in lines if not _is_table_row(line)) <= WIDTH + 10
    assert max(len(line) for line in lines) <= 200


# ---------------------------------------------------------------- results/README.md


@pytest.mark.slow
def test_index_opens_with_what_reproduced_and_links_only_files_that_exist(tmp_path):
    _table3(tmp_path, items=True)
    for spec in REGISTRY.values():
        plan(tmp_path, spec, TINY)
    rebuild_all(tmp_path)
    (tmp_path / "tables" / "targets.tex").unlink()  # a file gone: its link must go too
    checked = check_claims(tmp_path)
    index = index_markdown(tmp_path, checked)
    links = re.findall(r"\]\(([^)]+)\)", index)
    assert links and all((tmp_path / link).is_file() for link in links), links
    assert "tables/targets.md" in links and "tables/targets.tex" not in links
    assert "figures/spectrum.png" not in links  # no spectrum results: no figure drawn, none linked
    summary = index.split("## Outputs")[0]
    [(_, claims)] = checked
    held = sum(verdict(decided) == "holds" for _, decided in claims)
    assert f"- **tiny**: {held} of {len(CLAIMS)} claims hold" in summary and held >= 1
    for claim, decided in claims:  # each claim's verdict, as claims.md decides it
        assert f"  - {verdict(decided)}: {claim.text.rstrip('.')}" in summary, claim.id
    assert max(len(line) for line in index.splitlines()) <= 200


# ---------------------------------------------------------------- figures


def _png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def _texts(figure) -> list[matplotlib.text.Text]:
    figure.canvas.draw()
    return [t for t in figure.findobj(matplotlib.text.Text) if t.get_text() and t.get_visible()]


@pytest.mark.slow
def test_figure5_is_one_column_wide_with_truetype_fonts_and_a_legend_for_its_error_bars(tmp_path):
    """3.3 in at 300 dpi; no Type 3 font in the PDF (TrueType, `pdf.fonttype` 42); every text 8-9 pt;
    units on the axes; the legend says what the error bar is and that only the point with item
    outputs has one; no preset id in any title."""
    from reproduce.report.builders import sweep_points
    from reproduce.report.figures import COLUMN_WIDTH, STYLE, sweep_panels

    spec = get_spec("figure5")
    items = expand(spec, TINY)
    for k, item in enumerate(items):
        store_run(tmp_path, item.run, {task: 0.5 + 0.01 * k for task in TASKS}, items=k == 0)
    paths = write_outputs(spec, [TINY], tmp_path)
    pdf = (tmp_path / "figures" / "figure5.pdf").read_bytes()
    assert b"/Subtype /Type3" not in pdf and b"/FontFile2" in pdf  # embedded TrueType
    width, _ = _png_size((tmp_path / "figures" / "figure5.png").read_bytes())
    assert width == pytest.approx(COLUMN_WIDTH * 300, abs=2)
    assert {p.name for p in paths} >= {"figure5.png", "figure5.pdf"}

    [manifest] = read_manifests("figure5", tmp_path)
    with matplotlib.rc_context(STYLE):
        figure = sweep_panels([(manifest, sweep_points(manifest, tmp_path))])
        texts = _texts(figure)
    assert figure.get_size_inches()[0] == pytest.approx(COLUMN_WIDTH)
    assert all(8 <= t.get_fontsize() <= 9 for t in texts), {t.get_text(): t.get_fontsize() for t in texts}
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == [
        "tiny-llama",
        "tiny-mistral",
        "95% interval over test items\n(only points with item outputs)",
    ]
    axes = figure.axes
    assert figure.get_supylabel() == "Avg. MTEB main score (×100)"  # one label for the stacked panels
    assert [ax.get_xlabel() for ax in axes] == ["samples N for Q(w)", "temperature τ"]
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["$10^{-4}$", "0.01"]
    assert not any("tiny" in ax.get_title() for ax in axes)
    figure.clf()


def test_spectrum_has_a_tick_at_pc1_and_a_legend_entry_for_its_band(tmp_path):
    from reproduce.report.figures import STYLE, spectrum_panels

    spec = get_spec("spectrum")
    manifest = plan_manifest(spec, TINY, expand(spec, TINY))
    shares = [0.3, 0.2, *[0.5 / 18] * 18]
    curve = {"share": shares, "low": [s * 0.9 for s in shares], "high": [s * 1.1 for s in shares]}
    roles = list(manifest.labels)
    with matplotlib.rc_context(STYLE):
        figure = spectrum_panels([(manifest, {roles[0]: {"Text2Token": curve, "LLM2Vec": curve}})])
        texts = _texts(figure)
    [ax] = figure.axes
    assert list(ax.get_xticks()) == [1, 5, 10, 15, 20]  # PC1, the claim's component, has its tick
    assert ax.get_title() == manifest.labels[roles[0]]  # the backbone, no preset id
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    assert labels == ["Text2Token", "LLM2Vec", "95% band over resampled sentences"]
    assert all(8 <= t.get_fontsize() <= 9 for t in texts)
    figure.clf()


@pytest.mark.slow
def test_sweep_points_record_the_seeds_behind_each_interval(tmp_path):
    """The legend's "over test items" (one seed) vs "test items and seeds" comes from the points."""
    from reproduce.report.builders import sweep_points
    from reproduce.report.figures import interval_label

    spec = get_spec("figure5")
    for item in expand(spec, TINY):
        store_run(tmp_path, item.run, {task: 0.5 for task in TASKS}, items=True)
    plan(tmp_path, spec, TINY)
    [manifest] = read_manifests("figure5", tmp_path)
    points = sweep_points(manifest, tmp_path)
    assert isinstance(points, pd.DataFrame) and set(points.seeds) == {1} and points.half.notna().all()
    assert interval_label(list(points.seeds), some_without=False) == "95% interval over test items"
    assert interval_label([3, 3], some_without=False) == "95% interval over test items and seeds"
