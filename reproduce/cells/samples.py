"""What a table cell's intervals rest on: its runs' item outputs and the seed variance that applies.

    cell_runs(manifest)             {(row, role, sweep, value): [RunItems, one per seed]}
    seed_variances(manifest)        {(backbone, method): SeedVariance}: per training method, pooled
                                    over its trained cells with >= 2 seeds in every score table of
                                    the preset on the same tasks; a method with none borrows the
                                    pool of another (the source says whose)
    samples(manifest)               {(row, role, sweep, value): t2t.stats.Sample}

A cell's runs may evaluate only some of the table's tasks (`run_tasks`: a run restricted to task
types, e.g. BM25 on retrieval): its items then cover those tasks only, and only the columns over
them get an interval (`reproduce.report.builders`); such a cell has no average, so it enters no seed pool,
degenerate check or claim.

A cell's seed variance (`t2t.stats.intervals`): zero-shot cells (runs with no training stage) have
none; every trained cell gets its method's pooled s² on its backbone, a single-seed cell included
(s²/1), in its own interval (the table's ±) as in its comparisons (bold marks, degenerate cells,
claims): the other seed it could have been is part of its uncertainty, so no single-seed cell looks
more precise than its multi-seed twin. Methods differ in how much the seed moves them (LLM2Vec's
MNTP + SimCSE, SimCSE's dropout, Text2Token's targets), so each has its own s²; a method with no
multi-seed cell yet (LLM2Vec and SimCSE until their seeds are run) borrows the pool with the most
df on the backbone, and says so; the borrowed s² is the lender's estimate, one term with it.

Everything is read from manifests and run folders. Item files are parsed once per process, and
what is derived from a manifest's runs is kept per process too, keyed by the state of the files
(`_state`: path, size and modification time of each run's run.json and item and task folders,
which every atomic write changes), so every table, figure and claim shares them and the scores
resampled from them (`t2t.stats.resample`), and a run finished in between is seen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

from reproduce.cells.manifest import Manifest, ManifestCell, read_manifests
from reproduce.cells.manifest import outputs as manifest_outputs
from t2t.evaluation.task_types import config_task_types, tasks_of_types
from t2t.runs.results import RunStore
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
    has item outputs for every task it evaluates (`t2t.evaluation.items`, `run_tasks`). Incomplete
    seeds other than seed 0 are left out; a cell whose seed 0 is unfinished, or with a complete run
    lacking items (stored before item outputs), gets no entry."""
    return _memo(("cell_runs", _state(manifest, root)), lambda: _cell_runs(manifest, root))


def _cell_runs(manifest: Manifest, root: Path | None) -> dict[CellKey, list[RunItems]]:
    grouped: dict[CellKey, list[str]] = {}
    for cell in manifest.cells:
        grouped.setdefault((cell.row, cell.role, cell.sweep, cell.value), []).append(cell.run_id)
    out = {}
    for key, run_ids in grouped.items():
        runs = []
        for number, run_id in enumerate(dict.fromkeys(run_ids)):
            tasks = run_tasks(run_id, manifest, root)
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


def run_tasks(run_id: str, manifest: Manifest, root: Path | None = None) -> tuple[str, ...]:
    """The tasks of `manifest` a run evaluates: all of them, or those of the task types its
    `run.json` config restricts it to (`t2t.evaluation.task_types`; BM25: the Retrieval tasks)."""
    store = RunStore(run_id, root)
    types = _memo(
        ("task_types", _stat(store.run_json)), lambda: config_task_types(store.read().get("config") or {})
    )
    return tasks_of_types(manifest.tasks, types, manifest.categories.get)


def restricted(run_id: str, manifest: Manifest, root: Path | None = None) -> bool:
    """Whether a run evaluates only some of `manifest`'s tasks (see `run_tasks`): its cell has
    numbers in the columns over those tasks only, and no average."""
    return run_tasks(run_id, manifest, root) != tuple(manifest.tasks)


def untrained(run_id: str, root: Path | None = None) -> bool:
    """Whether a run trains nothing (zero-shot): its score does not depend on a training seed."""
    config = run_config(run_id, root)
    return bool(config) and not config.get("stages")


def _first_runs(manifest: Manifest) -> dict[CellKey, ManifestCell]:
    """`{cell key: its seed-0 cell}` (backbone, method, run id)."""
    out: dict[CellKey, ManifestCell] = {}
    for cell in manifest.cells:
        key = (cell.row, cell.role, cell.sweep, cell.value)
        if key not in out or cell.seed == 0:
            out[key] = cell
    return out


def _trained(manifest: Manifest, root: Path | None) -> Iterator[tuple[ManifestCell, list[RunItems]]]:
    """`(seed-0 cell, per-seed runs)` of the trained cells of a table with item outputs (restricted
    runs left out: no task-set average)."""
    first = _first_runs(manifest)
    for key, runs in cell_runs(manifest, root).items():
        cell = first[key]
        if not untrained(cell.run_id, root) and not restricted(cell.run_id, manifest, root):
            yield cell, runs


def _seed_groups(manifest: Manifest, root: Path | None) -> Iterator[tuple[ManifestCell, list[float]]]:
    """`(seed-0 cell, per-seed averages)` of the trained cells of a table with >= 2 seeds."""
    for cell, runs in _trained(manifest, root):
        if len(runs) > 1:
            yield cell, [full_average(run, manifest.tasks) for run in runs]


def _pool(method: str, backbone: str, groups: dict[str, tuple[str, list[float]]]) -> SeedVariance:
    """A method's s² from `{seed-0 run id: (table, per-seed averages)}`, its source in words."""
    pooled = pooled_seed_variance([averages for _, averages in groups.values()])
    tables = ", ".join(dict.fromkeys(table for table, _ in groups.values()))
    cells = f"{len(groups)} cell{'s' * (len(groups) > 1)}"
    where = f"{tables} [{backbone}]: {cells}, {pooled.df} df"
    return SeedVariance(pooled.variance, pooled.df, f"{method} s² {pooled.variance:.3g} ({where})")


def _borrowed(method: str, lender: str, pool: SeedVariance) -> SeedVariance:
    """The lender's s² (equal to it: one estimate), labelled as borrowed."""
    return SeedVariance(
        pool.variance,
        pool.df,
        f"{method}: {lender}'s s² {pool.variance:.3g} ({pool.df} df; no {method} cell with 2 seeds yet)",
    )


def score_manifests(preset: str, root: Path | None = None) -> list[Manifest]:
    """Every score table (`Manifest.score_table`, registry and `compare-*` alike) at a preset."""
    found = []
    for output in manifest_outputs(root):
        found += [m for m in read_manifests(output, root) if m.preset == preset and m.score_table]
    return found


def _same_tasks(
    manifest: Manifest, preset: str, tasks: Sequence[str] | None, root: Path | None
) -> list[Manifest]:
    """The score tables of `preset` on the task set `tasks` (s² is the variance of its average; None:
    every task set), and `manifest` itself (a figure's own cells count too)."""
    found = [m for m in score_manifests(preset, root) if tasks is None or sorted(m.tasks) == sorted(tasks)]
    return found + ([manifest] if all(m.output != manifest.output for m in found) else [])


def seed_variances(manifest: Manifest, root: Path | None = None) -> dict[tuple[str, str], SeedVariance]:
    """`{(backbone, method): SeedVariance}` for every trained method of the preset's tables on the
    manifest's tasks (module docstring): its own pool, else borrowed. Where no method on a backbone
    has a cell with 2 seeds on these tasks (a task set being re-run), the pools of the preset's other
    task sets stand in, and say so; NOT_MEASURED where there are none either."""
    tables = _same_tasks(manifest, manifest.preset, manifest.tasks, root)
    every = _same_tasks(manifest, manifest.preset, None, root)
    key = ("pools", tuple(_state(table, root) for table in tables), tuple(_state(t, root) for t in every))
    return _memo(key, lambda: _with_other_task_sets(_seed_variances(tables, root), every, root))


def _with_other_task_sets(pools: dict, every: list[Manifest], root: Path | None) -> dict:
    missing = [key for key, pool in pools.items() if not pool.measured]
    if not missing:
        return pools
    others = _seed_variances(every, root)
    for key in missing:
        found = others.get(key, NOT_MEASURED)
        if found.measured:
            pools[key] = SeedVariance(found.variance, found.df, f"{found.source}, on another task set")
    return pools


def _seed_variances(tables: list[Manifest], root: Path | None) -> dict[tuple[str, str], SeedVariance]:
    groups: dict[tuple[str, str], dict[str, tuple[str, list[float]]]] = {}
    methods: set[tuple[str, str]] = set()
    for table in tables:
        methods |= {(cell.backbone, cell.method) for cell, _ in _trained(table, root)}
        for cell, averages in _seed_groups(table, root):
            found = groups.setdefault((cell.backbone, cell.method), {})
            if len(averages) > len(found.get(cell.run_id, ("", []))[1]):  # a run in two tables: once
                found[cell.run_id] = (table.output, averages)
    own = {key: _pool(key[1], key[0], found) for key, found in groups.items()}
    out: dict[tuple[str, str], SeedVariance] = {}
    for backbone, method in sorted(methods):
        lenders = sorted(((-p.df, m), p) for (b, m), p in own.items() if b == backbone)
        if (backbone, method) in own:
            out[(backbone, method)] = own[(backbone, method)]
        elif lenders:
            (_, lender), pool = lenders[0]
            out[(backbone, method)] = _borrowed(method, lender, pool)
        else:
            out[(backbone, method)] = NOT_MEASURED
    return out


def preset_pools(preset: str, root: Path | None = None) -> dict[tuple[str, str], dict]:
    """`{(task set, backbone): {method: SeedVariance}}` over the preset's score tables (claims.md)."""
    out: dict[tuple[str, str], dict] = {}
    for manifest in score_manifests(preset, root):
        for (backbone, method), pool in seed_variances(manifest, root).items():
            out.setdefault((manifest.task_set, backbone), {})[method] = pool
    return out


def samples(
    manifest: Manifest, root: Path | None = None, *, comparison: bool = False
) -> dict[CellKey, Sample]:
    """Every cell with item outputs as a `Sample`: untrained cells without a seed term, trained
    ones with their method's s² (module docstring). `comparison` is accepted for old callers: a
    cell's own interval and its comparisons now use the same seed variance."""
    first = _first_runs(manifest)
    pools = seed_variances(manifest, root)
    out = {}
    for key, runs in cell_runs(manifest, root).items():
        cell = first[key]
        if untrained(cell.run_id, root):
            variance = UNTRAINED
        else:
            variance = pools.get((cell.backbone, cell.method), NOT_MEASURED)
        out[key] = Sample(tuple(runs), variance)
    return out


def pool_sources(manifest: Manifest, root: Path | None) -> dict[str, str]:
    """Column label -> each trained method's s² on its backbone and where it was pooled, for the
    footnote (the methods of this table only)."""
    pools = seed_variances(manifest, root)
    methods = {cell.method for cell in manifest.cells}
    out = {}
    for role, backbone in manifest.backbones.items():
        found = [p.source or f"{m}: not measured (no trained cell with 2 seeds)" for (b, m), p in
                 sorted(pools.items()) if b == backbone and m in methods]  # fmt: skip
        if found:
            out[manifest.labels.get(role, role)] = "; ".join(found)
    return out


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
                        if task in run and (run.key, task) not in seen:  # a restricted run has some only
                            seen.add((run.key, task))
                            work.append((run, task))
    return work
