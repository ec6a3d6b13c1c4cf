"""What a table cell's intervals rest on: its runs' item outputs and the seed variance that applies.

    cell_runs(manifest)             {(row, role, sweep, value): [RunItems, one per seed]}
    seed_variances(manifest)        {backbone: SeedVariance}: pooled over the table's trained cells
                                    with >= 2 seeds; where it has none, over every score table of
                                    the preset (the source says which)
    samples(manifest, comparison=)  {(row, role, sweep, value): t2t.stats.Sample}

A cell's seed variance (`t2t.stats.intervals`): zero-shot cells (runs with no training stage) have
none; trained cells get their backbone's pooled one. A **single-seed** cell's own interval (what a
table prints as ±) is over test items only; in a **comparison** (`comparison=True`: bold marks,
degenerate cells, claims) it gets the pooled seed variance, because the other seed it could have
been is part of what the comparison must rule out.

Everything is read from manifests and run folders. Item files are parsed once per process, and
what is derived from a manifest's runs is kept per process too, keyed by the state of the files
(`_state`: path, size and modification time of each run's run.json and item and task folders,
which every atomic write changes), so every table, figure and claim shares them and the scores
resampled from them (`t2t.stats.resample`), and a run finished in between is seen.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from reproduce.manifest import Manifest, read_manifests
from reproduce.manifest import outputs as manifest_outputs
from t2t.results import RunStore
from t2t.stats import (
    NOT_MEASURED,
    UNTRAINED,
    RunItems,
    Sample,
    SeedVariance,
    full_average,
    pooled_seed_variance,
)

CellKey = tuple  # (row, role, sweep, value)

_ITEMS: dict[tuple, dict | None] = {}
_MEMO: dict[tuple, object] = {}


def _stat(path: Path) -> tuple:
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), stat.st_mtime_ns, stat.st_size)


def _run_state(run_id: str, root: Path | None) -> tuple:
    folder = RunStore(run_id, root).dir
    return (run_id, _stat(folder / "run.json"), _stat(folder / "items"), _stat(folder / "tasks"))


def _state(manifest: Manifest, root: Path | None) -> tuple:
    """What a manifest's derived values depend on: its cells and the files of their runs."""
    cells = tuple(
        (c.row, c.role, c.sweep, c.value, c.seed, *_run_state(c.run_id, root)) for c in manifest.cells
    )
    return (str(root), manifest.output, manifest.preset, tuple(manifest.tasks), cells)


def _memo(key: tuple, compute):
    if key not in _MEMO:
        _MEMO[key] = compute()
    return _MEMO[key]


def run_items(store: RunStore, tasks: tuple[str, ...]) -> RunItems | None:
    """A run's items for `tasks` (None when a task has none), keyed by the files' identity."""
    stats = tuple(_stat(store.items_path(task)) for task in tasks)
    for stat, task in zip(stats, tasks):
        if stat not in _ITEMS:
            _ITEMS[stat] = store.load_items(task) if stat[1:] != (None,) else None
    items = {task: _ITEMS[stat] for stat, task in zip(stats, tasks)}
    if any(value is None for value in items.values()):
        return None
    return RunItems((store.run_id, stats), items)


def cell_runs(manifest: Manifest, root: Path | None = None) -> dict[CellKey, list[RunItems]]:
    """`{(row, role, sweep, value): [per-seed RunItems]}` for the cells whose every complete seed run
    has item outputs for every task (`t2t.evaluation.items`). Incomplete seeds other than seed 0 are
    left out; a cell whose seed 0 is unfinished, or with a complete run lacking items (stored
    before item outputs), gets no entry."""
    return _memo(("cell_runs", _state(manifest, root)), lambda: _cell_runs(manifest, root))


def _cell_runs(manifest: Manifest, root: Path | None) -> dict[CellKey, list[RunItems]]:
    grouped: dict[CellKey, list[str]] = {}
    for cell in manifest.cells:
        grouped.setdefault((cell.row, cell.role, cell.sweep, cell.value), []).append(cell.run_id)
    out = {}
    tasks = tuple(manifest.tasks)
    for key, run_ids in grouped.items():
        runs = []
        for number, run_id in enumerate(dict.fromkeys(run_ids)):
            store = RunStore(run_id, root)
            if store.read().get("status") != "complete" or store.missing_tasks(list(tasks)):
                if number == 0:  # seed 0 unfinished: the cell is partial, no interval over other seeds
                    break
                continue
            items = run_items(store, tasks)
            if items is None:
                runs = []
                break
            runs.append(items)
        if runs:
            out[key] = runs
    return out


def run_config(run_id: str, root: Path | None = None) -> dict:
    """The model part of a run's config (`run.json`: backbone, pooling, attention, stages)."""
    store = RunStore(run_id, root)
    return _memo(("config", _stat(store.run_json)), lambda: store.read().get("config", {}).get("model", {}))


def untrained(run_id: str, root: Path | None = None) -> bool:
    """Whether a run trains nothing (zero-shot): its score does not depend on a training seed."""
    config = run_config(run_id, root)
    return bool(config) and not config.get("stages")


def _first_runs(manifest: Manifest) -> dict[CellKey, tuple[str, str]]:
    """`{cell key: (backbone, seed-0 run id)}`."""
    out: dict[CellKey, tuple[str, str]] = {}
    for cell in manifest.cells:
        key = (cell.row, cell.role, cell.sweep, cell.value)
        if key not in out or cell.seed == 0:
            out[key] = (cell.backbone, cell.run_id)
    return out


def _seed_groups(manifest: Manifest, root: Path | None) -> Iterator[tuple[str, tuple, list[float]]]:
    """`(backbone, run ids, per-seed averages)` of the trained cells of a table with >= 2 seeds."""
    first = _first_runs(manifest)
    for key, runs in cell_runs(manifest, root).items():
        backbone, run_id = first[key]
        if len(runs) > 1 and not untrained(run_id, root):
            averages = [full_average(run, manifest.tasks) for run in runs]
            yield backbone, tuple(run.key[0] for run in runs), averages


def _pool(groups: dict[tuple, list[float]], where: str) -> SeedVariance:
    pooled = pooled_seed_variance(list(groups.values()))
    if not pooled.df:
        return NOT_MEASURED
    cells = f"{len(groups)} cell{'s' * (len(groups) > 1)}"
    return SeedVariance(pooled.variance, pooled.df, f"{where}: {cells}, {pooled.df} df")


def score_manifests(preset: str, root: Path | None = None) -> list[Manifest]:
    """Every score table (`Manifest.score_table`, registry and `compare-*` alike) at a preset."""
    found = []
    for output in manifest_outputs(root):
        found += [m for m in read_manifests(output, root) if m.preset == preset and m.score_table]
    return found


def seed_variances(manifest: Manifest, root: Path | None = None) -> dict[str, SeedVariance]:
    """`{backbone: SeedVariance}` for a table: pooled over its own trained multi-seed cells, else
    (none on that backbone) over those of every score table at the preset, distinct runs once."""
    others = score_manifests(manifest.preset, root)
    key = ("pools", _state(manifest, root), tuple(_state(other, root) for other in others))
    return _memo(key, lambda: _seed_variances(manifest, others, root))


def _seed_variances(manifest: Manifest, others: list[Manifest], root: Path | None) -> dict[str, SeedVariance]:
    own: dict[str, dict[tuple, list[float]]] = {}
    for backbone, ids, averages in _seed_groups(manifest, root):
        own.setdefault(backbone, {})[ids] = averages
    out = {}
    for backbone in set(manifest.backbones.values()):
        if backbone in own:
            out[backbone] = _pool(own[backbone], f"{manifest.output} [{backbone}]")
            continue
        groups, tables = {}, []
        for other in others:
            for found, ids, averages in _seed_groups(other, root):
                if found == backbone and ids not in groups:
                    groups[ids] = averages
                    tables += [other.output] if other.output not in tables else []
        out[backbone] = _pool(groups, f"{', '.join(tables)} [{backbone}]") if groups else NOT_MEASURED
    return out


def samples(
    manifest: Manifest, root: Path | None = None, *, comparison: bool = False
) -> dict[CellKey, Sample]:
    """Every cell with item outputs as a `Sample` (see the module docstring for `comparison`)."""
    first = _first_runs(manifest)
    pools = seed_variances(manifest, root)
    out = {}
    for key, runs in cell_runs(manifest, root).items():
        backbone, run_id = first[key]
        if untrained(run_id, root):
            variance = UNTRAINED
        elif len(runs) > 1 or comparison:
            variance = pools.get(backbone, NOT_MEASURED)
        else:
            variance = NOT_MEASURED
        out[key] = Sample(tuple(runs), variance)
    return out


def pool_sources(manifest: Manifest, root: Path | None) -> dict[str, str]:
    """Column label -> where its seed variance was pooled (for the footnote)."""
    pools = seed_variances(manifest, root)
    return {
        manifest.labels.get(role, role): pools[backbone].source
        or "not measured: no trained cell with 2 seeds"
        for role, backbone in manifest.backbones.items()
        if backbone in pools
    }


def resample_work(root: Path | None = None) -> list[tuple[RunItems, str]]:
    """Every `(run, task)` with item outputs named by a table or figure manifest, each once: what a
    full rebuild resamples (`t2t.stats.precompute` computes them up front, in parallel)."""
    seen, work = set(), []
    for output in manifest_outputs(root):
        for manifest in read_manifests(output, root):
            if not manifest.scores:
                continue
            for runs in cell_runs(manifest, root).values():
                for run in runs:
                    for task in manifest.tasks:
                        if (run.key, task) not in seen:
                            seen.add((run.key, task))
                            work.append((run, task))
    return work
