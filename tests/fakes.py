"""Synthetic results for table-builder tests: TaskResult files written like a real run's."""

from __future__ import annotations

from pathlib import Path

from mteb.results import TaskResult

from t2t.core.hardware import describe_hardware
from t2t.runs.results import RunStore


def task_result(name: str, score: float) -> TaskResult:
    """A minimal mteb TaskResult with `main_score` = score (in [0, 1], as mteb stores it)."""
    return TaskResult.from_dict(
        {
            "dataset_revision": "fixture",
            "task_name": name,
            "mteb_version": "2.26.24",
            "scores": {"test": [{"main_score": score, "hf_subset": "default", "languages": ["eng-Latn"]}]},
            "evaluation_time": 1.0,
            "kg_co2_emissions": None,
        }
    )


ITEMS = 2000
"""Items per task of `accuracy_items`: scores with three decimals are represented exactly."""


def accuracy_items(score: float, n: int = ITEMS, shuffle: int | None = None) -> dict:
    """Per-item outputs whose main score is `score`: `round(score * n)` of `n` items right (the first
    ones, or a random set when `shuffle` gives a seed: errors unrelated to other runs')."""
    import random

    right = round(score * n)
    predicted = [0] * right + [1] * (n - right)
    if shuffle is not None:
        random.Random(shuffle).shuffle(predicted)
    record = {"gold": [0] * n, "predicted": [predicted]}
    return {"type": "Classification", "main_score": "accuracy", "subsets": {"default": {"test": record}}}


def store_run(
    root: Path, run, scores: dict[str, float], complete: bool = True, items: bool | int = False
) -> RunStore:
    """Write `scores` ({task: main score in [0, 1]}) as the results of `run` (a RunSpec), with
    per-item outputs of the same scores when `items` (so cells get intervals; an int other than
    True/1 is a shuffle seed, see `accuracy_items`)."""
    store = RunStore(run.run_id, root)
    for task, score in scores.items():
        store.save_task(task_result(task, score))
        if items:
            shuffle = None if items is True or items == 1 else int(items)
            store.save_items(task, {"task": task, **accuracy_items(score, shuffle=shuffle)})
    store.update(
        run_id=run.run_id,
        method=run.method,
        config=run.to_dict(),
        status="complete" if complete else "running",
        provenance={"written_at": "2026-11-28T00:00:00+00:00", "hardware": describe_hardware()},
    )
    return store


def plan(root: Path, spec, preset) -> list:
    """Record `spec`'s plan at `preset` as the runner does (its manifest); returns the planned cells."""
    from reproduce.cells.manifest import write_manifest
    from reproduce.plan.grid import expand, plan_manifest

    planned = expand(spec, preset)
    write_manifest(plan_manifest(spec, preset, planned), root)
    return planned


def write_outputs(spec, presets, root: Path) -> list[Path]:
    """Plan `spec` at each preset (manifests), then build its files as `nox -s tables` does."""
    from reproduce.report.builders import write_output

    for preset in presets:
        plan(root, spec, preset)
    return write_output(spec.id, root)


def unwrap(markdown: str) -> str:
    """Generated Markdown with each wrapped list item or paragraph back on one line (`reproduce.report.markdown.wrap`
    indents continuation lines by two spaces), so a test can search one note or comparison whole."""
    return markdown.replace("\n  ", " ")


def claim_block(markdown: str, claim: str) -> str:
    """A claim in claims.md, unwrapped: its verdict row (`| <claim> | verdict | per backbone |`), then
    its evidence items ("- ✓ [role] ..."), one per line, from the first preset section that has it."""
    lines = unwrap(markdown).splitlines()
    row = next(line for line in lines if line.startswith(f"| {claim}"))
    text = row.split(" | ")[0].removeprefix("| ")
    heading = next((i for i, line in enumerate(lines) if line.startswith(f"**{text}**")), None)
    items = []
    for line in lines[heading + 2 :] if heading is not None else []:
        if not line.startswith("- "):
            break
        items.append(line)
    return "\n".join([row, *items])


def hashing_encoder(dim: int = 64):
    """A deterministic, nearly free mteb encoder with meaningful similarities: each lowercased word
    adds a fixed random vector (seeded by the word's CRC) to its text's embedding, so texts that share
    words are close. Evaluations of every task type run in seconds with it."""
    import zlib

    import numpy as np
    from mteb.models.abs_encoder import AbsEncoder

    from t2t.embedding.encoder import base_meta

    def word(token: str) -> np.ndarray:
        return np.random.default_rng(zlib.crc32(token.encode())).standard_normal(dim)

    class HashingEncoder(AbsEncoder):
        def __init__(self) -> None:
            self.mteb_model_meta = base_meta(
                "t2t-repro/hashing", n_parameters=0, max_tokens=None, embed_dim=dim
            )
            self.vectors: dict[str, np.ndarray] = {}

        def embed(self, text: str) -> np.ndarray:
            words = text.lower().split() or [""]
            return np.sum([self.vectors.setdefault(w, word(w)) for w in words], axis=0)

        def encode(self, inputs, **kwargs) -> np.ndarray:
            texts = [text for batch in inputs for text in batch["text"]]
            return np.asarray([self.embed(t) for t in texts], dtype=np.float32)

    return HashingEncoder()
