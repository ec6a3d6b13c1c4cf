"""`results/README.md`: first what reproduced (the claims' verdicts, `reproduce.report.claims`), what changed
where outputs moved to another task set (`reproduce.report.changes`), then every
table and figure, the presets it has results for, when, its files (links only to files that exist)
and how to regenerate it. Rebuilt from the stored files after every run (and by `nox -s tables`), as one
`reproduce.cells.results.Results` holds them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reproduce.cells.collect import run_dates, scores_frame
from reproduce.cells.manifest import analysis_path
from reproduce.cells.results import Results, Source, as_results
from reproduce.paper.registry import REGISTRY
from reproduce.report.changes import changes_lines
from reproduce.report.claims import Checked, check_claims, reproduction_summary
from reproduce.report.markdown import wrap
from t2t.core.atomic import atomic_write_text


def _presets_with_results(output: str, results: Results) -> list[tuple[str, str]]:
    found = []
    for manifest in results.manifests(output):
        cells = manifest.seed_cells()
        if not manifest.scores:
            if any(analysis_path(manifest.analysis, c.analysis_id, results.root).is_file() for c in cells):
                found.append((manifest.preset, "see analyses/"))
            continue
        if not scores_frame(cells, results).empty:
            dates = run_dates(cells, results)
            found.append((manifest.preset, max(dates)[:10] if dates else "?"))
    return found


def _plans_only(output: str, results: Results, with_results: list[tuple[str, str]]) -> list[str]:
    """Presets whose manifest of `output` names cells but no stored result: a plan, not a result."""
    done = {name for name, _ in with_results}
    return [m.preset for m in results.manifests(output) if m.preset not in done]


def _links(output: str, base: Path) -> str:
    """Links to the files of `output` that exist (tables, then figures); `--` when none does."""
    candidates = [
        ("md", "tables", "md"),
        ("tex", "tables", "tex"),
        ("png", "figures", "png"),
        ("pdf", "figures", "pdf"),
    ]
    found = [
        f"[{label}]({folder}/{output}.{suffix})"
        for label, folder, suffix in candidates
        if (base / folder / f"{output}.{suffix}").is_file()
    ]
    return " ".join(found) or "--"


def _row(output: str, paper_number: str | None, results: Results) -> str:
    """`| output | paper | presets with results; planned, nothing run: ... | links |`."""
    presets = _presets_with_results(output, results)
    plans = _plans_only(output, results, presets)
    shown = ", ".join(f"{name} ({date})" for name, date in presets) or "none yet"
    if plans:
        shown += f"; planned, nothing run: {', '.join(plans)}"
    return f"| {output} | {paper_number or '--'} | {shown} | {_links(output, results.base)} |"


def _command(output: str, results: Results) -> str:
    """How to regenerate `output` at the first preset with results (`smol` when none has)."""
    presets = _presets_with_results(output, results)
    preset = presets[0][0] if presets else "smol"
    if output.startswith("compare-"):
        backbone = next(iter(results.manifests(output)[0].backbones.values()))
        return f"`nox -s compare -- --backbone {backbone} --preset {preset}`"
    return f"`nox -s {output} -- --preset {preset}`"


def _run_cost(info: dict) -> tuple[float, float, int]:
    """`(training steps' seconds, evaluation seconds, tokens encoded)` that a stored run's record
    says it took: its first evaluation plus every later one (`reevaluations`)."""
    records = [info, *info.get("reevaluations", [])]
    train = float(info.get("timing", {}).get("train_steps_s", 0.0))
    evaluate = sum(float(r.get("timing", {}).get("evaluate_s", 0.0)) for r in records)
    tokens = sum(int(r.get("throughput", {}).get("encode_tokens", 0)) for r in records)
    return train, evaluate, tokens


def cost_section(results: Results) -> list[str]:
    """What each output's stored runs took, summed from their `run.json` records (`timing`,
    `throughput`, and `reevaluations`): measurements, not estimates. Runs shared between outputs
    count in each; the hardware is each run's own (`provenance.hardware`)."""
    rows = []
    for output in results.outputs():
        for manifest in results.manifests(output):
            if not manifest.scores:
                continue
            infos = [results.record(run_id) for run_id in dict.fromkeys(c.run_id for c in manifest.cells)]
            stored = [info for info in infos if info.get("status") == "complete"]
            if not stored:
                continue
            costs = [_run_cost(info) for info in stored]
            train, evaluate = sum(c[0] for c in costs) / 3600, sum(c[1] for c in costs) / 3600
            tokens = sum(c[2] for c in costs)
            rows.append(
                f"| {output} | {manifest.preset} | {len(stored)} of {len(infos)} | {train:.2f} h | "
                f"{evaluate:.2f} h | {tokens:,} |"
            )
    if not rows:
        return []
    return [
        "## What the stored runs took",
        "",
        "Summed from each run's `runs/<id>/run.json` (`timing.train_steps_s`, `timing.evaluate_s`,",
        "`throughput`, plus its `reevaluations`): measured on the machine each run records, one CPU",
        "thread per run at smol unless its `provenance.hardware.torch_threads` says otherwise. A run",
        "shared by several outputs counts in each.",
        "",
        "| output | preset | runs stored | training steps | evaluation | tokens encoded |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
    ]


def index_markdown(results: Source = None, checked: Checked | None = None) -> str:
    """results/README.md: what reproduced (from the claims' verdicts, `checked`: `check_claims`),
    then every output with its presets, files (only those that exist) and command, and what each
    shows; what the stored runs took; bookkeeping."""
    results = as_results(results)
    base = results.base
    checked = check_claims(results) if checked is None else checked
    claims = (
        "[tables/claims.md](tables/claims.md)" if (base / "tables" / "claims.md").is_file() else "claims.md"
    )
    lines = [
        "# Results",
        "",
        *wrap(f"What reproduced: the verdicts of {claims} (a claim reads the worst of its comparisons)."),
        "",
        *reproduction_summary(checked),
        "",
        *changes_lines(results),
        "## Outputs",
        "",
        "Generated from the run folders under `runs/` (one per config hash: `run.json` with config, git sha,",
        "versions, hardware and timings, plus one mteb TaskResult JSON per task) and `analyses/`.",
        "Rebuild every file here without loading a model: `nox -s tables`.",
        "",
        "A preset listed as *planned, nothing run* has a manifest (the cells its output would show, with",
        "their run ids) but no stored result: a plan, e.g. the `paper` preset, which needs GPUs.",
        "",
        "| output | paper | presets with results (latest run) | files |",
        "|---|---|---|---|",
    ]
    shown = [(spec.id, spec.caption, spec.paper_number) for spec in REGISTRY.values()]
    shown += [  # `nox -s compare` tables, one per backbone
        (output, results.manifests(output)[0].caption, None)
        for output in results.outputs()
        if output.startswith("compare-")
    ]
    lines += [_row(output, paper_number, results) for output, _, paper_number in shown]
    lines += ["", "What each output shows, and the command that regenerates it:", ""]
    for output, caption, _ in shown:
        lines += wrap(f"**{output}**: {caption} {_command(output, results)}", first="- ", rest="  ")
    lines.append("")
    lines += cost_section(results)
    unnamed, missing = results.orphans()
    if unnamed or missing:
        lines += ["## Bookkeeping", ""]
    if unnamed:
        lines.append(
            f"Run folders no output names (left by a changed default; kept, not shown): {', '.join(unnamed)}."
        )
    if missing:
        per_preset = Counter(line.split(":")[0].split("/")[1] for line in missing)
        counts = ", ".join(f"{preset} {per_preset[preset]}" for preset in sorted(per_preset))
        lines.append(f"Planned cells with no run folder yet (not run, or deleted), per preset: {counts}.")
    if unnamed or missing:
        lines.append("")
    return "\n".join(lines)


def write_index(results: Source = None, checked: Checked | None = None) -> Path:
    results = as_results(results)
    path = results.base / "README.md"
    atomic_write_text(path, index_markdown(results, checked))
    return path
