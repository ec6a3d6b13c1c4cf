"""The golden run ids: every registry output's run ids at the `smol` preset, as committed.

    python -m reproduce.plan.golden            # compare with tests/golden/run_ids.json; print the diff
    python -m reproduce.plan.golden --write    # regenerate it (on purpose: new rows, new runs)

A run id is the hash of the run's config, and committed results live under these ids
(`results/runs/<id>/`): a change that moves an id orphans a stored run. `tests/golden/run_ids.json`
holds `{output id: [run id of each planned cell, in plan order]}` (`reproduce.plan.grid.expand` of
each `reproduce.paper.registry` spec at `smol`); `tests/reproduce/plan/test_grid.py::test_run_ids_are_unchanged`
compares it with the code and, when they differ, prints this command and the whole diff. Adding a
row or a method adds ids (regenerate the file and commit it with the row); an id that changes or
disappears means stored runs no longer match the code.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys

from reproduce.paper.presets import SCALE_PRESETS
from reproduce.paper.registry import REGISTRY
from reproduce.plan.grid import expand
from t2t.core.paths import REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "golden" / "run_ids.json"
UPDATE_COMMAND = "python -m reproduce.plan.golden --write"


def run_ids() -> dict[str, list[str]]:
    """`{output id: [run id of each cell]}` of every registry output at `smol`, as the code plans them."""
    smol = SCALE_PRESETS["smol"]
    return {spec_id: [cell.run_id for cell in expand(spec, smol)] for spec_id, spec in REGISTRY.items()}


def render(ids: dict[str, list[str]]) -> str:
    """The golden file's text: sorted keys, one id a line (so a diff shows each id that moved)."""
    return json.dumps(ids, indent=1, sort_keys=True) + "\n"


def diff() -> str:
    """The unified diff from the committed golden file to the code's run ids ("" when equal)."""
    committed = GOLDEN.read_text(encoding="utf-8") if GOLDEN.is_file() else ""
    lines = difflib.unified_diff(
        committed.splitlines(keepends=True),
        render(run_ids()).splitlines(keepends=True),
        fromfile=f"{GOLDEN.relative_to(REPO_ROOT)} (committed)",
        tofile="run ids the code plans",
    )
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="regenerate tests/golden/run_ids.json")
    args = parser.parse_args(argv)
    if args.write:
        GOLDEN.write_text(render(run_ids()), encoding="utf-8")
        print(f"wrote {GOLDEN}")
        return 0
    changes = diff()
    print(changes or f"{GOLDEN.relative_to(REPO_ROOT)} matches the code")
    return 1 if changes else 0


if __name__ == "__main__":
    sys.exit(main())
