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

Everything is read from one `reproduce.cells.results.Results` (every manifest and the files of the
runs they name, read once); what is derived from a manifest's runs (its cells' runs, its seed
pools) is kept with it (`Results.derived`), so every table, figure and claim of a rebuild shares
them and the scores resampled from them (`t2t.stats.resample`, keyed by the item files' identity).
The public functions also take a results folder, loaded for that call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from reproduce.cells.manifest import Manifest, ManifestCell
from reproduce.cells.results import Results, Source, as_results
from t2t.evaluation.task_types import config_task_types, tasks_of_types
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


def _per_manifest(results: Results, name: str, manifest: Manifest, compute: Callable[[], object]):
    """`compute()` once per `Results` and manifest (the manifest is kept with the value, so its
    `id` is never another's)."""
    return results.derived((name, id(manifest)), lambda: (manifest, compute()))[1]


def run_items(results: Results, run_id: str, tasks: tuple[str, ...]) -> RunItems | None:
    """A run's items for `tasks` (None when a task has none), keyed by the files' identity."""
    loaded = {task: results.items(run_id, task) for task in tasks}
    if any(data is None for _, data in loaded.values()):
        return None
    identities = tuple(identity for identity, _ in loaded.values())
    return RunItems((run_id, identities), {task: data for task, (_, data) in loaded.items()})


def cell_runs(manifest: Manifest, results: Results) -> dict[CellKey, list[RunItems]]:
    """`{(row, role, sweep, value): [per-seed RunItems]}` for the cells whose every complete seed run
    has item outputs for every task it evaluates (`t2t.evaluation.items`, `run_tasks`). Incomplete
    seeds other than seed 0 are left out; a cell whose seed 0 is unfinished, or with a complete run
    lacking items (stored before item outputs), gets no entry."""
    return _per_manifest(results, "cell_runs", manifest, lambda: _cell_runs(manifest, results))


def _cell_runs(manifest: Manifest, results: Results) -> dict[CellKey, list[RunItems]]:
    grouped: dict[CellKey, list[str]] = {}
    for cell in manifest.cells:
        grouped.setdefault((cell.row, cell.role, cell.sweep, cell.value), []).append(cell.run_id)
    out = {}
    for key, run_ids in grouped.items():
        runs = []
        for number, run_id in enumerate(dict.fromkeys(run_ids)):
            tasks = run_tasks(run_id, manifest, results)
            complete = results.record(run_id).get("status") == "complete"
            if not complete or results.missing_tasks(run_id, list(tasks)):
                if number == 0:  # seed 0 unfinished: the cell is partial, no interval over other seeds
                    break
                continue
            items = run_items(results, run_id, tasks)
            if items is None:
                runs = []
                break
            runs.append(items)
        if runs:
            out[key] = runs
    return out


def run_config(run_id: str, results: Results) -> dict:
    """The model part of a run's config (`run.json`: backbone, pooling, attention, stages)."""
    return results.record(run_id).get("config", {}).get("model", {})


def run_tasks(run_id: str, manifest: Manifest, results: Results) -> tuple[str, ...]:
    """The tasks of `manifest` a run evaluates: all of them, or those of the task types its
    `run.json` config restricts it to (`t2t.evaluation.task_types`; BM25: the Retrieval tasks)."""
    types = config_task_types(results.record(run_id).get("config") or {})
    return tasks_of_types(manifest.tasks, types, manifest.categories.get)


def restricted(run_id: str, manifest: Manifest, results: Results) -> bool:
    """Whether a run evaluates only some of `manifest`'s tasks (see `run_tasks`): its cell has
    numbers in the columns over those tasks only, and no average."""
    return run_tasks(run_id, manifest, results) != tuple(manifest.tasks)


def untrained(run_id: str, results: Results) -> bool:
    """Whether a run trains nothing (zero-shot): its score does not depend on a training seed."""
    config = run_config(run_id, results)
    return bool(config) and not config.get("stages")


def _first_runs(manifest: Manifest) -> dict[CellKey, ManifestCell]:
    """`{cell key: its seed-0 cell}` (backbone, method, run id)."""
    out: dict[CellKey, ManifestCell] = {}
    for cell in manifest.cells:
        key = (cell.row, cell.role, cell.sweep, cell.value)
        if key not in out or cell.seed == 0:
            out[key] = cell
    return out


def _trained(manifest: Manifest, results: Results) -> Iterator[tuple[ManifestCell, list[RunItems]]]:
    """`(seed-0 cell, per-seed runs)` of the trained cells of a table with item outputs (restricted
    runs left out: no task-set average)."""
    first = _first_runs(manifest)
    for key, runs in cell_runs(manifest, results).items():
        cell = first[key]
        if not untrained(cell.run_id, results) and not restricted(cell.run_id, manifest, results):
            yield cell, runs


def _seed_groups(manifest: Manifest, results: Results) -> Iterator[tuple[ManifestCell, list[float]]]:
    """`(seed-0 cell, per-seed averages)` of the trained cells of a table with >= 2 seeds."""
    for cell, runs in _trained(manifest, results):
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


def score_manifests(preset: str, results: Results) -> list[Manifest]:
    """Every score table (`Manifest.score_table`, registry and `compare-*` alike) at a preset."""
    return [m for m in results.all_manifests() if m.preset == preset and m.score_table]


def _same_tasks(
    manifest: Manifest, preset: str, tasks: Sequence[str] | None, results: Results
) -> list[Manifest]:
    """The score tables of `preset` on the task set `tasks` (s² is the variance of its average; None:
    every task set), and `manifest` itself (a figure's own cells count too)."""
    found = [m for m in score_manifests(preset, results) if tasks is None or sorted(m.tasks) == sorted(tasks)]
    return found + ([manifest] if all(m.output != manifest.output for m in found) else [])


def seed_variances(manifest: Manifest, results: Source = None) -> dict[tuple[str, str], SeedVariance]:
    """`{(backbone, method): SeedVariance}` for every trained method of the preset's tables on the
    manifest's tasks (module docstring): its own pool, else borrowed. Where no method on a backbone
    has a cell with 2 seeds on these tasks (a task set being re-run), the pools of the preset's other
    task sets stand in, and say so; NOT_MEASURED where there are none either."""
    results = as_results(results)

    def compute() -> dict[tuple[str, str], SeedVariance]:
        tables = _same_tasks(manifest, manifest.preset, manifest.tasks, results)
        every = _same_tasks(manifest, manifest.preset, None, results)
        every += [
            m for m in results.lenders if m.preset == manifest.preset and all(m is not e for e in every)
        ]
        return _with_other_task_sets(_seed_variances(tables, results), every, results)

    return _per_manifest(results, "seed_variances", manifest, compute)


def _with_other_task_sets(pools: dict, every: list[Manifest], results: Results) -> dict:
    missing = [key for key, pool in pools.items() if not pool.measured]
    if not missing:
        return pools
    others = _seed_variances(every, results)
    for key in missing:
        found = others.get(key, NOT_MEASURED)
        if found.measured:
            pools[key] = SeedVariance(found.variance, found.df, f"{found.source}, on another task set")
    return pools


def _seed_variances(tables: list[Manifest], results: Results) -> dict[tuple[str, str], SeedVariance]:
    groups: dict[tuple[str, str], dict[str, tuple[str, list[float]]]] = {}
    methods: set[tuple[str, str]] = set()
    for table in tables:
        methods |= {(cell.backbone, cell.method) for cell, _ in _trained(table, results)}
        for cell, averages in _seed_groups(table, results):
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


def preset_pools(preset: str, results: Results) -> dict[tuple[str, str], dict]:
    """`{(task set, backbone): {method: SeedVariance}}` over the preset's score tables (claims.md)."""
    out: dict[tuple[str, str], dict] = {}
    for manifest in score_manifests(preset, results):
        for (backbone, method), pool in seed_variances(manifest, results).items():
            out.setdefault((manifest.task_set, backbone), {})[method] = pool
    return out


def samples(manifest: Manifest, results: Source = None, *, comparison: bool = False) -> dict[CellKey, Sample]:
    """Every cell with item outputs as a `Sample`: untrained cells without a seed term, trained
    ones with their method's s² (module docstring). `comparison` is accepted for old callers: a
    cell's own interval and its comparisons now use the same seed variance."""
    results = as_results(results)
    first = _first_runs(manifest)
    pools = seed_variances(manifest, results)
    out = {}
    for key, runs in cell_runs(manifest, results).items():
        cell = first[key]
        if untrained(cell.run_id, results):
            variance = UNTRAINED
        else:
            variance = pools.get((cell.backbone, cell.method), NOT_MEASURED)
        out[key] = Sample(tuple(runs), variance)
    return out


def pool_sources(manifest: Manifest, results: Source) -> dict[str, str]:
    """Column label -> each trained method's s² on its backbone and where it was pooled, for the
    footnote (the methods of this table only)."""
    pools = seed_variances(manifest, results)
    methods = {cell.method for cell in manifest.cells}
    out = {}
    for role, backbone in manifest.backbones.items():
        found = [p.source or f"{m}: not measured (no trained cell with 2 seeds)" for (b, m), p in
                 sorted(pools.items()) if b == backbone and m in methods]  # fmt: skip
        if found:
            out[manifest.labels.get(role, role)] = "; ".join(found)
    return out


def resample_work(results: Source = None) -> list[tuple[RunItems, str]]:
    """Every `(run, task)` with item outputs named by a table or figure manifest, each once: what a
    full rebuild resamples (`t2t.stats.precompute` computes them up front, in parallel)."""
    results = as_results(results)
    seen, work = set(), []
    for manifest in results.all_manifests():
        if not manifest.scores:
            continue
        for runs in cell_runs(manifest, results).values():
            for run in runs:
                for task in manifest.tasks:
                    if task in run and (run.key, task) not in seen:  # a restricted run has some only
                        seen.add((run.key, task))
                        work.append((run, task))
    return work
