"""`t2t.runs.export`: SentenceTransformer(exported folder) embeds texts as our Embedder does."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from t2t.embedding.encoder import Embedder
from t2t.embedding.pooling import PoolingSpec
from t2t.models.backbones import load_backbone
from t2t.runs.export import NotExportable, export_encoder, export_run

TEXTS = ["A man is playing a guitar.", "Hi", "The quick brown fox jumps over the lazy dog.", "Two dogs run."]


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def ours(model, tokenizer, spec: PoolingSpec, texts=TEXTS) -> np.ndarray:
    return Embedder(model, tokenizer, spec, dtype=torch.float32, progress=False).embed(texts)


def theirs(folder, texts=TEXTS) -> np.ndarray:
    return SentenceTransformer(str(folder), device="cpu").encode(list(texts), convert_to_numpy=True)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mode", "attention"), [("last", "causal"), ("mean", "bidirectional"), ("last", "bidirectional")]
)
def test_exported_folder_embeds_like_our_encoder(tmp_path, mode, attention):
    spec = PoolingSpec(mode=mode)
    model, tokenizer = load_backbone("tiny-llama", attention=attention)
    texts = TEXTS + ([""] if mode == "last" else [])  # an empty text: one special token in both
    out = export_encoder(model, tokenizer, spec, tmp_path / "encoder")
    assert cosines(ours(model, tokenizer, spec, texts), theirs(out, texts)).min() >= 0.9999
    assert not (tmp_path / "encoder.partial").exists() and not (tmp_path / "encoder.source").exists()


@pytest.mark.slow
def test_the_checks_above_could_fail(tmp_path):
    """Controls: the backbone's own chat template, or causal attention in a bidirectional export,
    change the embeddings, so the equality above is not vacuous."""
    spec = PoolingSpec(mode="last")
    model, tokenizer = load_backbone("tiny-llama", attention="bidirectional")
    assert tokenizer.chat_template  # SmolLM2's, which sentence-transformers 6 would wrap texts in
    out = export_encoder(model, tokenizer, spec, tmp_path / "encoder")
    reference = ours(model, tokenizer, spec)
    config = json.loads((out / "config.json").read_text())
    assert config["is_causal"] is False
    (out / "config.json").write_text(json.dumps({**config, "is_causal": True}))
    assert cosines(reference, theirs(out)).min() < 0.999
    (out / "config.json").write_text(json.dumps(config))
    (out / "chat_template.jinja").write_text(tokenizer.chat_template)
    assert cosines(reference, theirs(out)).min() < 0.999


def test_what_cannot_be_exported_is_refused(tmp_path):
    from baselines.parity.ours import with_bos

    model, tokenizer = load_backbone("tiny-llama")
    with pytest.raises(NotExportable, match="mean_skip_bos"):
        export_encoder(
            model, with_bos(tokenizer), PoolingSpec(mode="mean", mean_skip_bos=True), tmp_path / "a"
        )
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("")
    with pytest.raises(NotExportable, match="not empty"):
        export_encoder(model, tokenizer, PoolingSpec(), tmp_path / "b")


@pytest.mark.slow
@pytest.mark.needs_data
def test_export_run_rebuilds_the_runs_model_with_adapters_and_card(tmp_path, cache, monkeypatch):
    from reproduce.paper.methods import text2token
    from reproduce.paper.presets import get_preset
    from t2t.core.runtime import Runtime
    from t2t.runs.run import EvalSpec, RunSpec, execute
    from t2t.training.pipeline import build_model

    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "results"))
    spec = RunSpec(
        method="text2token",
        model=text2token(get_preset("tiny"), "tiny-llama", order=("dd",)),
        evaluation=EvalSpec(task_set="offline-lite"),
    )
    runtime = Runtime(device="cpu", precision="fp32", progress=False)
    store = execute(spec, runtime)
    out = export_run(spec.run_id, tmp_path / "export")
    assert (out / "adapters" / "1-data-driven" / "adapter_config.json").is_file()
    card = (out / "README.md").read_text()
    assert (
        spec.run_id in card and f"| STSBenchmark | {store.task_scores()['STSBenchmark'] * 100:.2f} ± " in card
    )
    assert "| **average** |" in card
    model, tokenizer, _ = build_model(spec.model, runtime)
    assert cosines(ours(model, tokenizer, spec.model.pooling), theirs(out)).min() >= 0.9999


@pytest.mark.slow
def test_a_run_whose_stages_left_the_cache_is_exported_only_with_retrain(tmp_path, make_cache, monkeypatch):
    """Its cache gone, export is refused with the flags of the run's recorded path; `--retrain`
    retrains on that path (fp32 here, not the default bf16) and the card says the scores are from
    the first training."""
    from reproduce.paper.methods import text2token
    from reproduce.paper.presets import get_preset
    from t2t.core.runtime import Runtime
    from t2t.runs.run import EvalSpec, RunSpec, execute

    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "results"))
    make_cache("first")
    spec = RunSpec(
        method="text2token",
        model=text2token(get_preset("tiny"), "tiny-llama", order=("dd",)),
        evaluation=EvalSpec(task_set="offline-lite"),
    )
    execute(spec, Runtime(device="cpu", precision="fp32", progress=False))
    make_cache("gone")
    with pytest.raises(
        NotExportable, match="--retrain retrains them as the run recorded \\(--precision fp32"
    ):
        export_run(spec.run_id, tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    out = export_run(spec.run_id, tmp_path / "export", retrain=True)
    assert "Retrained at export" in (out / "README.md").read_text()
    from t2t.training.pipeline import trained_with

    assert trained_with(spec.model)[0]["weights"] == "float32"


@pytest.mark.slow
@pytest.mark.needs_data
def test_mteb_loads_an_exported_folder_through_its_model_meta(tmp_path):
    import mteb

    from t2t.embedding.encoder import text_encoder
    from t2t.evaluation.tasks import get_tasks
    from t2t.runs.export import exported_model_meta

    spec = PoolingSpec(mode="last")
    model, tokenizer = load_backbone("tiny-llama")
    out = export_encoder(model, tokenizer, spec, tmp_path / "encoder")
    meta = exported_model_meta(out, "org/tiny-export")
    loaded = meta.load_model(device="cpu")
    task = next(t for t in get_tasks("offline-lite") if t.metadata.name == "STSBenchmark")
    score = mteb.evaluate(loaded, [task], cache=None, show_progress_bar=False).task_results[0].get_score()
    embedder = Embedder(model, tokenizer, spec, dtype=torch.float32, progress=False)
    reference = mteb.evaluate(text_encoder("t2t/tiny", embedder), [task], cache=None, show_progress_bar=False)
    assert score == pytest.approx(reference.task_results[0].get_score(), abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(("mode", "attention"), [("last", "causal"), ("mean", "bidirectional")])
def test_smollm2_export_embeds_like_our_encoder(tmp_path, mode, attention):
    """The real model, whose tokenizer has a chat template that sentence-transformers would apply."""
    spec = PoolingSpec(mode=mode)
    model, tokenizer = load_backbone("smollm2-135m", attention=attention)
    out = export_encoder(model, tokenizer, spec, tmp_path / "encoder")
    assert cosines(ours(model, tokenizer, spec), theirs(out)).min() >= 0.9999


@pytest.mark.slow
def test_a_tokenizer_that_adds_bos_keeps_one_bos_in_the_exported_prompt(tmp_path):
    """Llama-3's tokenizer adds BOS; the chat template must carry it once, as our tokenize() does."""
    from baselines.parity.ours import with_bos

    spec = PoolingSpec(mode="last")
    model, tokenizer = load_backbone("tiny-llama")
    tokenizer = with_bos(tokenizer)
    out = export_encoder(model, tokenizer, spec, tmp_path / "encoder")
    encoder = SentenceTransformer(str(out), device="cpu")
    ids = encoder.preprocess(["Two dogs run."])["input_ids"][0].tolist()
    assert ids == tokenizer(spec.template.format(text="Two dogs run.")).input_ids
    assert cosines(ours(model, tokenizer, spec), theirs(out)).min() >= 0.9999


@pytest.mark.needs_data
@pytest.mark.slow
@pytest.mark.parametrize("method", ["llm2vec", "simcse"])
def test_python_m_t2t_export_knows_the_baselines(tmp_path, cache, method):
    """`python -m t2t export` in a fresh process (which imports only `t2t`) exports an LLM2Vec and a
    SimCSE run: the baselines' objectives come in through the `t2t.core.plugins` bootstrap. The folder
    loads in sentence-transformers and embeds as our encoder does."""
    import os
    import subprocess
    import sys

    from reproduce.paper.methods import run_spec
    from reproduce.paper.presets import get_preset
    from t2t.core.runtime import Runtime
    from t2t.runs.run import execute
    from t2t.training.pipeline import build_model

    env = {**os.environ, "T2T_RESULTS_DIR": str(tmp_path / "results"), "T2T_CACHE_DIR": str(cache)}
    os.environ["T2T_RESULTS_DIR"] = env["T2T_RESULTS_DIR"]
    try:
        spec = run_spec(method, get_preset("tiny"), "tiny-llama")
        runtime = Runtime(device="cpu", precision="fp32", progress=False)
        execute(spec, runtime)
    finally:
        del os.environ["T2T_RESULTS_DIR"]
    out = tmp_path / "export"
    done = subprocess.run(
        [sys.executable, "-m", "t2t", "export", spec.run_id, str(out)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "unknown objective" not in done.stderr
    model, tokenizer, _ = build_model(spec.model, runtime)
    assert [stage.objective for stage in spec.model.stages] == (
        ["mntp", "simcse"] if method == "llm2vec" else ["simcse"]
    )
    assert cosines(ours(model, tokenizer, spec.model.pooling), theirs(out)).min() >= 0.9999
