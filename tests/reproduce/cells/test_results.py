"""A rebuild reads the stored results once: every manifest file, run.json, task file and items file.

`reproduce.report.rebuild` loads one `reproduce.cells.results.Results` and hands it to the integrity
check, the samples and seed pools, judging and rendering; none of them reads a manifest or a run's
files again (before it, `python -m reproduce tables` parsed each manifest ~400 times).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from reproduce.paper.presets import SCALE_PRESETS
from reproduce.paper.registry import REGISTRY, get_spec
from reproduce.plan.grid import expand
from reproduce.report.rebuild import rebuild_all
from t2t.evaluation.tasks import TASK_SETS
from t2t.runs import results as store_module
from tests.fakes import plan, store_run

TINY = SCALE_PRESETS["tiny"]
TASKS = list(TASK_SETS[TINY.task_set].tasks)
SCORES = {  # llama column of main and pooling-attention, with item outputs: intervals, pools, claims
    ("main", "Zero-shot, mean"): 0.45,
    ("main", "LLM2Vec"): 0.30,  # degenerate: below the zero-shot mean cell
    ("main", "Text2Token"): 0.52,  # shared with pooling-attention and table3
    ("pooling-attention", "Text2Token, mean + causal"): 0.46,
    ("pooling-attention", "LLM2Vec, last + causal"): 0.525,
}


def _stored(root):
    """Runs with task and item files for `SCORES`, then every registry output planned at tiny (most
    of their cells name runs not stored: missing run folders are looked at once too)."""
    for (output, row), score in SCORES.items():
        item = next(i for i in expand(get_spec(output), TINY) if i.row == row and i.role == "llama")
        store_run(root, item.run, {task: score + 0.001 * i for i, task in enumerate(TASKS)}, items=True)
    for spec in REGISTRY.values():
        plan(root, spec, TINY)
    return root


def test_a_rebuild_reads_each_stored_file_once(tmp_path, monkeypatch):
    """`rebuild_all` (every output, claims, index) reads each manifest file, each named run's
    run.json, each task file and each items file once, and no other file twice."""
    root = _stored(tmp_path)
    expected = {
        *(root / "manifests").glob("*/*.json"),
        *(root / "runs").glob("*/run.json"),
        *(root / "runs").glob("*/tasks/*.json"),
        *(root / "runs").glob("*/items/*.json.gz"),
    }
    assert len(list((root / "runs").glob("*/items/*"))) == len(SCORES) * len(TASKS)
    reads: Counter = Counter()
    for name in ("read_text", "read_bytes"):
        real = getattr(Path, name)
        monkeypatch.setattr(
            Path, name, lambda path, *a, real=real, **k: reads.update([path]) or real(path, *a, **k)
        )
    monkeypatch.setenv("T2T_JOBS", "1")
    store_module._SCORES.clear()  # no task file read by an earlier test is skipped

    rebuild_all(root)

    reads = Counter({path: n for path, n in reads.items() if Path(path).is_relative_to(root)})
    assert set(reads) == expected, sorted(map(str, set(reads) ^ expected))
    assert set(reads.values()) == {1}, [(str(path), n) for path, n in reads.most_common(3)]
    assert (root / "tables" / "claims.md").is_file() and (root / "README.md").is_file()
