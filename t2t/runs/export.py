"""Export a trained encoder as a sentence-transformers model folder, with its adapters and a card.

    python -m t2t export <run id | results/runs/<id>> OUT

writes

    OUT/                    a sentence-transformers folder: SentenceTransformer(OUT).encode(texts)
                            returns the run's embeddings (merged weights, pooling, attention, prompt)
    OUT/adapters/<n>-<objective>/   each training stage's peft adapter (from the stage cache)
    OUT/README.md           a model card from run.json: method, stages, corpora, steps, seed, scores

How each part of our encoder is carried, with no custom code in the folder (so no
`trust_remote_code`):

- **Pooling**: sentence-transformers' `Pooling` module, `lasttoken` or `mean`.
- **PromptEOL** (last-token pooling): the prompt wraps the text on both sides, which a
  sentence-transformers prompt (a prefix) cannot express. It becomes the tokenizer's **chat
  template**, and the `Transformer` module's modality config includes `message`, so
  sentence-transformers renders every text through it. This also replaces the backbone's own chat
  template, which sentence-transformers 6 would otherwise wrap plain strings in (for SmolLM2 that
  changes the embeddings, cosine ≈ 0.59). Texts longer than the evaluation length are cut by
  sentence-transformers, which restores the template's suffix (`restore_suffix`); ours cuts the text
  before the template, so on such texts the two can differ slightly.
- **Mean pooling**: a text-only modality config (no chat template is applied). Our LLM2Vec mean
  leaves BOS out of the mean; `Pooling` cannot, so with a tokenizer that adds BOS that export is
  refused rather than silently different.
- **Bidirectional attention**: `config.json` keeps `is_causal: false`, which transformers (≥ 5.2)
  reads when it builds the attention mask (`t2t.models.backbones.set_attention`); a test checks that the
  reloaded model is bidirectional. Gemma-3 keeps its own flag instead,
  `use_bidirectional_attention: true` (EmbeddingGemma's), whose config rescales the sliding window
  on load as it did when we switched it.
- An empty text: we embed it as one special token; sentence-transformers' mean over no tokens is a
  zero vector (last-token pooling agrees).
- Other pooling modes (`t2t.embedding.pooling`) state whether they can be exported: a mode that pools
  a part of the prompt only (echo embeddings) or edits hidden states between layers (token
  prepending) needs code a plain folder does not run, so it is refused with the mode's reason
  rather than exported as a different model.
"""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path

from t2t.core.errors import UserError
from t2t.embedding.pooling import PoolingSpec, pooling_mode

logger = logging.getLogger(__name__)


class NotExportable(UserError, ValueError):
    """The encoder cannot be expressed as a plain sentence-transformers folder (see the reason)."""


def _special_tokens_around(tokenizer) -> tuple[str, str]:
    """The special tokens the tokenizer adds before and after a text (e.g. Llama-3's BOS), as text."""
    bare = tokenizer("x", add_special_tokens=False).input_ids
    full = tokenizer("x").input_ids
    start = next(i for i in range(len(full)) if full[i : i + len(bare)] == bare)
    before = tokenizer.convert_ids_to_tokens(full[:start])
    after = tokenizer.convert_ids_to_tokens(full[start + len(bare) :])
    return "".join(before), "".join(after)


def prompt_chat_template(template: str, tokenizer) -> str:
    """A Jinja chat template that renders a one-message conversation as `template` with the
    message's text in place of `{text}`, with the special tokens the tokenizer itself would add."""
    prefix, suffix = template.split("{text}")
    before, after = _special_tokens_around(tokenizer)
    content = "{%- set c = messages[0]['content'] -%}{{ c if c is string else c[0]['text'] }}"
    return f"{{% raw %}}{before}{prefix}{{% endraw %}}{content}{{% raw %}}{suffix}{after}{{% endraw %}}"


def export_encoder(model, tokenizer, pooling: PoolingSpec, out: Path, *, max_length: int = 512) -> Path:
    """Write `model` (a merged causal LM, attention already set) as a sentence-transformers folder."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer

    reason = pooling_mode(pooling.mode).not_exportable
    if reason is not None:
        raise NotExportable(
            f"{pooling.mode} pooling cannot be exported as a sentence-transformers folder: {reason}"
        )
    tokenizer = copy.deepcopy(tokenizer)
    if pooling.mode == "mean" and pooling.mean_skip_bos:
        before, _ = _special_tokens_around(tokenizer)
        if before:
            raise NotExportable(
                f"mean pooling that leaves out {before!r} (mean_skip_bos) cannot be expressed with "
                "sentence-transformers' Pooling, which averages every token; not exported"
            )
    forward = {"method": "forward", "method_output_name": "last_hidden_state"}
    if pooling.mode == "last":
        tokenizer.chat_template = prompt_chat_template(pooling.template, tokenizer)
        modalities = {"text": forward, "message": forward}
    else:
        tokenizer.chat_template = None
        modalities = {"text": forward}
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise NotExportable(f"{out} exists and is not empty; choose a new folder")
    staging, source = out.with_name(out.name + ".partial"), out.with_name(out.name + ".source")
    for folder in (staging, source):
        shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(source)  # read back by the Transformer module, then saved anew below
    tokenizer.save_pretrained(source)
    module = Transformer(
        str(source),
        modality_config=modalities,
        module_output_name="token_embeddings",
        max_seq_length=max_length,
        model_kwargs={"dtype": model.dtype},
    )
    mode = {"last": "lasttoken", "mean": "mean"}[pooling.mode]
    encoder = SentenceTransformer(
        modules=[module, Pooling(module.get_embedding_dimension(), pooling_mode=mode)]
    )
    encoder.save(str(staging))
    shutil.rmtree(source)
    if out.exists():
        out.rmdir()
    staging.rename(out)  # nothing half-written under `out`
    return out


def load_exported(
    name: str, revision: str | None = None, *, folder: str, device: str | None = None, **kwargs
):
    """mteb loader of an exported folder: sentence-transformers' own mteb wrapper around it."""
    from mteb.models.sentence_transformer_wrapper import SentenceTransformerEncoderWrapper
    from sentence_transformers import SentenceTransformer

    return SentenceTransformerEncoderWrapper(SentenceTransformer(folder, device=device), revision=revision)


def exported_model_meta(folder: Path, name: str, revision: str | None = None):
    """A `ModelMeta` whose `load_model()` loads an exported folder, for users who evaluate with mteb:

    meta = exported_model_meta("OUT", "org/my-model")
    mteb.evaluate(meta.load_model(), mteb.get_tasks(["STS12"]))
    """
    from mteb.models.model_meta import ModelMeta
    from sentence_transformers import SentenceTransformer

    meta = ModelMeta.from_sentence_transformer_model(SentenceTransformer(str(folder), device="cpu"), revision)
    return meta.model_copy(
        update={
            "name": name,
            "revision": revision or "local",
            "loader": load_exported,
            "loader_kwargs": {"folder": str(folder)},
            "use_instructions": False,
        }
    )


def score_lines(store) -> list[str]:
    """Markdown rows `| task | score ± half-interval |` and the average, with 95% intervals over the
    test items and the evaluator's repeated fits (`t2t.stats`; no seeds: one run) where the run stored
    per-item outputs; point scores otherwise."""
    from t2t.stats import cell_interval

    scores = store.task_scores()
    items = {task: store.load_items(task) for task in scores}
    rows = []
    for task, score in sorted(scores.items()):
        if items[task]:
            interval = cell_interval([{task: items[task]}], [task])
            rows.append(f"| {task} | {score * 100:.2f} ± {(interval.high - interval.low) / 2:.2f} |")
        else:
            rows.append(f"| {task} | {score * 100:.2f} |")
    average = sum(scores.values()) / len(scores) * 100
    if all(items.values()):
        interval = cell_interval([items], list(scores))
        rows.append(f"| **average** | **{average:.2f} ± {(interval.high - interval.low) / 2:.2f}** |")
    else:
        rows.append(f"| **average** | **{average:.2f}** |")
    return rows


def model_card(info: dict, scores: list[str]) -> str:
    """A README for an exported run, from its run.json and its score rows (`score_lines`)."""
    model = info["config"]["model"]
    git = info.get("provenance", {}).get("git", {})
    lines = [
        f"# {info['method']} on {model['backbone']} (t2t-repro run {info['run_id']})",
        "",
        "Exported by `python -m t2t export` from a run of t2t-repro.",
        "",
        "```python",
        "from sentence_transformers import SentenceTransformer",
        "model = SentenceTransformer('<this folder>')",
        "embeddings = model.encode(['A sentence.'])",
        "```",
        "",
        f"- method: {info['method']}; backbone: {model['backbone']}",
        f"- pooling: {model['pooling']['mode']}; attention: {model['attention']}; seed: {model.get('seed', 0)}",
        f"- code: git {git.get('sha', 'unknown')}{' (dirty tree)' if git.get('dirty') else ''}",
        "",
        "Training stages (each adapter is in `adapters/`):",
        "",
        "| # | objective | steps | batch | max length | corpus | learning rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for number, stage in enumerate(model.get("stages", []), 1):
        lines.append(
            f"| {number} | {stage['objective']} | {stage['steps']} | {stage['batch_size']} | "
            f"{stage['max_length']} | {stage['corpus']} | {stage['learning_rate']:g} |"
        )
    if info.get("retrained_for_export"):
        lines += [
            "",
            f"**Retrained at export** ({', '.join(info['retrained_for_export'])}): the cached stages were gone, "
            "so they were trained again on the run's recorded path; the scores below were measured on the "
            "run's first training and were not re-measured on this one.",
        ]
    lines += [
        "",
        f"Scores (MTEB main score x100, task set `{info['config']['evaluation']['task_set']}`; ± is half "
        "the 95% bootstrap interval over the test items, this seed only):",
        "",
    ]
    lines += ["| task | score |", "|---|---|", *scores]
    return "\n".join(lines) + "\n"


def export_run(run: str, out: Path, runtime=None, retrain: bool = False) -> Path:
    """Rebuild a stored run's model from its cached stages (those trained on the path the run
    recorded) and export it with its adapters and a model card. A stage no longer cached is
    retrained only with `retrain`, on the recorded path, and the card says so; without it the export
    is refused, naming the flags."""
    from t2t.core.runtime import Runtime, path_flags
    from t2t.runs.publish import run_store
    from t2t.runs.run import RunSpec, recorded_paths
    from t2t.training.pipeline import build_model, stage_dir, stage_folder

    store = run_store(run)
    info = store.read()
    if info.get("status") != "complete":
        raise NotExportable(f"run {store.dir.name} is not complete; finish it before exporting")
    spec = RunSpec.from_dict(info["config"], where=str(store.run_json))
    if spec.run_id != store.dir.name:
        raise NotExportable(f"{store.run_json} describes run {spec.run_id}, not {store.dir.name}")
    if spec.model.searcher is not None:
        raise NotExportable(
            f"run {spec.run_id} is the searcher {spec.model.searcher.name!r} (`t2t.evaluation.searchers`): it has "
            "no embeddings, so there is no encoder to export"
        )
    runtime = runtime or Runtime(precision="fp32", progress=False)
    paths = recorded_paths(spec, store)
    missing = [
        index
        for index in range(len(spec.model.stages))
        if not (stage_folder(spec.model.stage_key(index), paths[index]) / "adapter").is_dir()
    ]
    if missing and not retrain:
        raise NotExportable(
            f"run {spec.run_id}: {len(missing)} of its {len(spec.model.stages)} trained stage(s) are not in "
            f"the cache ({stage_dir('').parent}), so its model would have to be trained again. --retrain "
            f"retrains them as the run recorded ({path_flags(paths[missing[0]])}) and exports that model; "
            "the model card then says its stored scores were measured on the first training."
        )
    if missing:
        logger.warning(
            "run %s: retraining %d stage(s) as recorded (%s)", spec.run_id, len(missing), path_flags(paths[0])
        )
        build_model(spec.model, runtime.following(paths[0], f"run {spec.run_id}"), paths=paths)
    model, tokenizer, _ = build_model(spec.model, runtime, paths=paths)
    out = export_encoder(
        model, tokenizer, spec.model.pooling, Path(out), max_length=spec.evaluation.max_length
    )
    if missing:
        info = {**info, "retrained_for_export": [spec.model.stages[i].objective for i in missing]}
    for index, stage in enumerate(spec.model.stages):
        adapter = stage_folder(spec.model.stage_key(index), paths[index] if paths else None) / "adapter"
        shutil.copytree(adapter, out / "adapters" / f"{index + 1}-{stage.objective}")
    (out / "README.md").write_text(model_card(info, score_lines(store)))
    (out / "t2t_run.json").write_text(json.dumps(info["config"], indent=2) + "\n")
    logger.info("exported run %s to %s", spec.run_id, out)
    return out
