"""What would settle an inconclusive comparison: training seeds per cell, and what they cost here.

For a comparison its family leaves inconclusive, `settle_text` says how many seeds per trained cell
give 80% power (`t2t.stats.power`) to detect the claim's margin or the observed distance from the
null, whichever is larger, at the comparison's Holm level, from its item, evaluator and seed
variances, and what running the missing seeds costs at measured rates (`reproduce.plan.costs`:
each cell's run priced from its recorded config, stage by stage and task by task, from the stored
runs of the kind of machine it ran on, as its `run.json` records it), e.g.

    to settle: >= 9 seeds per cell (80% power against a difference 1.00 from the null at its Holm
    level 2.5%; ~6.3 h of runs at the rates measured on AMD EPYC, 2 CPUs)

Hours are the runs' wall times as measured (each run with the threads its `run.json` records),
summed over the seeds still to run. The machine is the runs' recorded one, not this process's:
describing this one needs torch, which `python -m reproduce tables` never imports; the smol runs
all ran on the machine that rebuilds the tables.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace

from reproduce.cells.results import Results, Source, as_results
from reproduce.plan.costs import MeasuredCosts, machine_kind, measured_costs
from t2t.stats import Interval, Sample
from t2t.stats.decisions import Decision
from t2t.stats.power import MOST_SEEDS, POWER, SeededCell, effect, power, seeds_for_power


def seed_seconds(run_id: str, tasks: Sequence[str], results: Source, costs: MeasuredCosts) -> float | None:
    """Seconds one more seed of a run's cell costs here (training every stage, evaluating `tasks`),
    priced from its `run.json` config at measured rates; None where nothing was measured."""
    model = as_results(results).record(run_id).get("config", {}).get("model", {})
    if not model or "backbone" not in model:
        return None
    backbone, pooling = model["backbone"], model.get("pooling", {}).get("mode")
    stages = [SimpleNamespace(**{"options": {}, **stage}) for stage in model.get("stages", [])]
    parts = [None if costs.step(backbone, s) is None else s.steps * costs.step(backbone, s) for s in stages]
    parts += [costs.setup(backbone, stage) for stage in stages]
    parts += [costs.evaluation(backbone, task, pooling) for task in tasks]
    return None if any(part is None for part in parts) else float(sum(parts))


def recorded_hardware(run_id: str, results: Results) -> dict:
    """The hardware a run's `run.json` records (`provenance.hardware`; empty when it has none)."""
    return results.record(run_id).get("provenance", {}).get("hardware", {}) or {}


def _costs(results: Results, hardware: dict) -> MeasuredCosts:
    """Measured costs of the stored runs of `hardware`'s kind, once per `Results` (their run.json
    as it holds them)."""
    return results.derived(
        ("measured costs", machine_kind(hardware)),
        lambda: measured_costs(results.root, hardware, read=lambda store: results.record(store.run_id)),
    )


def _cost_text(missing: dict[str | None, int], tasks: Sequence[str], results: Results) -> str:
    """What running `missing` more seeds of each cell (by its seed-0 run id) costs, in words."""
    seconds, machines = 0.0, set()
    for run, n in missing.items():
        if not n:
            continue
        hardware = recorded_hardware(run, results) if run else {}
        price = seed_seconds(run, tasks, results, _costs(results, hardware)) if hardware else None
        if price is None:
            return "no measured cost for their machine"
        seconds += n * price
        machines.add(f"{hardware.get('processor')}, {hardware.get('cpu_count')} CPUs")
    where = " / ".join(sorted(machines)) or "their machine"
    return f"≈ {seconds / 3600:.1f} h of runs at the rates measured on {where}"


def settle_text(
    terms: Sequence[tuple[float, Sample]],
    interval: Interval,
    decision: Decision,
    margin: float,
    tasks: Sequence[str],
    results: Source = None,
) -> str:
    """One clause for an inconclusive comparison `sum c x cell > -margin` (module docstring)."""
    cells = [SeededCell(c, sample.seed_variance, len(sample.runs)) for c, sample in terms]
    alpha = 1 - decision.level
    size = effect(interval.estimate, margin)
    if not any(cell.seed_variance.measured for cell in cells):
        return "to settle: more seeds cannot (no seed variance on either side), only more test items"
    seeds = seeds_for_power(interval, cells, size, alpha)
    if seeds is None:
        best = power(interval, cells, size, alpha, MOST_SEEDS)
        return (
            f"to settle: no number of seeds gives {POWER:.0%} power against {size:.2f} at its Holm level "
            f"{100 * alpha:.1f}% (the test items and evaluator fits alone leave {best:.0%}): more test items"
        )
    missing = {  # seeds still to run per trained cell, by its seed-0 run (a stored run's `RunItems` key)
        getattr(sample.runs[0], "key", (None,))[0]: max(0, seeds - cell.seeds)
        for (_, sample), cell in zip(terms, cells)
        if cell.seed_variance.measured
    }
    cost = _cost_text(missing, tasks, as_results(results))
    return (
        f"to settle: ≥ {seeds} seeds per cell ({POWER:.0%} power against a difference {size:.2f} from the "
        f"null at its Holm level {100 * alpha:.1f}%; {cost})"
    )
