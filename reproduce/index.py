"""`results/README.md`: every table and figure, the presets it has results for, when, and how to
regenerate it. Rebuilt from the stored files after every run (and by `nox -s tables`)."""

from __future__ import annotations

from pathlib import Path

from reproduce.collect import run_dates, scores_frame
from reproduce.grid import expand
from reproduce.presets import PRESETS
from reproduce.registry import REGISTRY, AnalysisSpec
from t2t.atomic import atomic_write_text
from t2t.paths import results_root


def _presets_with_results(spec, root: Path | None) -> list[tuple[str, str]]:
    found = []
    for name in ("paper", "smol", "tiny"):
        planned = expand(spec, PRESETS[name])
        if isinstance(spec, AnalysisSpec):
            from reproduce.collect import analysis_path
            from reproduce.runner import analysis_run

            dates = [
                str(analysis_path(spec.analysis, analysis_run(spec, p, PRESETS[name]).run_id, root))
                for p in planned
            ]
            if any(Path(d).is_file() for d in dates):
                found.append((name, "see analyses/"))
            continue
        if not scores_frame(planned, root).empty:
            dates = run_dates(planned, root)
            found.append((name, max(dates)[:10] if dates else "?"))
    return found


def index_markdown(root: Path | None = None) -> str:
    lines = [
        "# Results",
        "",
        "Generated from the run folders under `runs/` (one per config hash: `run.json` with config, git sha,",
        "versions, hardware and timings, plus one mteb TaskResult JSON per task) and `analyses/`.",
        "Rebuild every file here without loading a model: `nox -s tables`.",
        "",
        "| output | paper | presets with results (latest run) | files | regenerate |",
        "|---|---|---|---|---|",
    ]
    for spec in REGISTRY.values():
        presets = _presets_with_results(spec, root)
        shown = ", ".join(f"{name} ({date})" for name, date in presets) or "none yet"
        files = [f"[md](tables/{spec.id}.md)", f"[tex](tables/{spec.id}.tex)"]
        if spec.kind != "table":
            files.append(f"[png](figures/{spec.id}.png)")
        command = f"`nox -s {spec.id} -- --preset {presets[0][0] if presets else 'smol'}`"
        lines.append(
            f"| {spec.id}: {spec.caption} | {spec.paper_number or '--'} | {shown} | "
            f"{' '.join(files)} | {command} |"
        )
    lines += ["", "Claims checked on these results: [tables/claims.md](tables/claims.md).", ""]
    return "\n".join(lines)


def write_index(root: Path | None = None) -> Path:
    path = (root or results_root()) / "README.md"
    atomic_write_text(path, index_markdown(root))
    return path
