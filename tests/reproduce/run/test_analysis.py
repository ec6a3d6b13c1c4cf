"""The embedding analyses: spectral change and token alignment math, sampling, and one tiny run."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from reproduce.cells.manifest import items_path
from reproduce.run import analysis
from reproduce.run.analysis import (
    AnalysisRun,
    analyse,
    normalize_token,
    sample_sentences,
    spectral_change,
    token_alignment,
    token_id_alignment,
)
from t2t.core.runtime import Runtime
from t2t.training.spec import ModelSpec

SINGULAR = np.array([10.0, 6.0, 4.0, 2.5, 1.5, 1.0])


def known_base(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (n, 6) whose sample principal directions are exactly the rows of `rotation` and
    whose centered singular values are exactly `SINGULAR`, plus a large common mean (anisotropy)."""
    rng = np.random.default_rng(seed)
    d = len(SINGULAR)
    noise = rng.normal(size=(n, d))
    q, _ = np.linalg.qr(noise - noise.mean(0))  # orthonormal, centered columns
    rotation, _ = np.linalg.qr(rng.normal(size=(d, d)))
    mean = 5.0 * rng.normal(size=d)
    return (q * SINGULAR) @ rotation.T + mean, rotation.T  # rows of rotation.T = principal directions


def test_known_base_has_the_intended_spectrum():
    base, _ = known_base()
    result = spectral_change(base, base)
    np.testing.assert_allclose(result["raw"]["components"]["singular_value"], SINGULAR, rtol=1e-9)


@pytest.mark.parametrize("component", [0, 2])
def test_change_along_one_principal_direction_lands_on_that_component(component):
    base, directions = known_base()
    shift = np.random.default_rng(1).normal(scale=0.5, size=(len(base), 1))  # (n, 1), one per sentence
    trained = base + shift * directions[component]
    result = spectral_change(base, trained)
    raw = result["raw"]
    assert raw["top_component"] == component
    share = raw["components"]["change_share"]
    assert share[component] == pytest.approx(1.0, abs=1e-9)
    assert raw["outside_share"] == pytest.approx(0.0, abs=1e-9)
    # the RMS of the coefficient change is exactly the RMS of the shift
    rms = raw["components"]["rms_change"]
    assert rms[component] == pytest.approx(float(np.sqrt((shift**2).mean())), rel=1e-9)
    assert raw["first_component_share"] == pytest.approx(1.0 if component == 0 else 0.0, abs=1e-9)
    # small symmetric moves barely change the mean norm: the normalized variant agrees
    assert result["normalized"]["top_component"] == component
    assert result["normalized"]["components"]["change_share"][component] > 0.9


def test_identical_embeddings_have_no_change():
    base, _ = known_base()
    result = spectral_change(base, base.copy())
    for variant in ("raw", "normalized"):
        assert np.all(np.asarray(result[variant]["components"]["rms_change"]) == 0)
        assert result[variant]["top_component"] is None
        assert result[variant]["total_rms_change"] == 0


def test_pure_rescale_is_no_change_when_normalized_but_not_raw():
    base, directions = known_base()
    result = spectral_change(base, 3.0 * base)
    assert result["primary"] == "normalized"
    assert max(result["normalized"]["components"]["rms_change"]) < 1e-12
    assert result["normalized"]["total_rms_change"] < 1e-12
    # raw: coefficient j moves by 2 (c0_ij + mean . v_j), a squared change of 4 (S_j^2 + n (mean . v_j)^2)
    mean_along = (directions @ base.mean(0)) ** 2  # (6,): (mean . v_j)^2
    expected = 4 * (SINGULAR**2 + len(base) * mean_along) / len(base)
    np.testing.assert_allclose(
        np.asarray(result["raw"]["components"]["rms_change"]) ** 2, expected, rtol=1e-9
    )
    assert result["mean_norm"]["trained"] == pytest.approx(3 * result["mean_norm"]["base"])


def test_shares_and_translation():
    base, _ = known_base()
    rng = np.random.default_rng(2)
    result = spectral_change(base, base + rng.normal(size=base.shape))
    raw = result["raw"]
    assert sum(raw["components"]["change_share"]) + raw["outside_share"] == pytest.approx(1.0)
    assert sum(raw["components"]["explained_variance_ratio"]) == pytest.approx(1.0)
    shifted = spectral_change(base, base + np.arange(6.0))  # one common translation
    assert shifted["raw"]["mean_shift_share"] == pytest.approx(1.0)


def test_components_capped_by_rank_and_argument():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(5, 20))  # 5 points span 4 centered directions
    trained = base + rng.normal(size=base.shape)
    result = spectral_change(base, trained)
    assert result["n_components"] == 4
    raw = result["raw"]
    assert raw["outside_share"] > 0.5  # most of a random change in 20 dimensions leaves the 4-dim span
    assert sum(raw["components"]["change_share"]) + raw["outside_share"] == pytest.approx(1.0)
    assert spectral_change(base, trained, n_components=2)["n_components"] == 2
    with pytest.raises(ValueError):
        spectral_change(base, trained[:, :10])


def test_normalize_token():
    assert normalize_token("Paris") == normalize_token("▁paris") == normalize_token("Ġparis") == "paris"
    assert normalize_token(" Paris ") == "paris"
    for ignored in ["", " ", ",", "Ġ.", "▁", "...", "Ċ", "--"]:
        assert normalize_token(ignored) == ""
    assert normalize_token("1990") == "1990"


def test_token_alignment_counts():
    top = [
        ["▁paris", "ĠFrance", ",", "Ġdog", "Paris"],  # paris (x2) and france match; "," ignored
        [".", "Ġthe", "Ġcat", "!", "Ġsat"],  # nothing in the input; two punctuation tokens
        ["Ġa", "Ġb", "Ġc", "Ġd", "Ġe"],  # all five
    ]
    inputs = [
        {"The", "ĠEiffel", "ĠParis", ",", "ĠFrance", "."},
        {"Dogs", "Ġbark", "."},
        {"a", "Ġb", "ĠC", "d", "E", "."},
    ]
    result = token_alignment(top, inputs)
    assert result["counts"] == [3, 0, 5]
    assert result["k"] == 5 and result["n"] == 3
    assert result["histogram"] == [1, 0, 0, 1, 0, 1]
    assert sum(result["histogram"]) == result["n"]
    assert result["mean"] == pytest.approx(8 / 3)
    assert result["std"] == pytest.approx(float(np.std([3, 0, 5])))
    assert result["fraction_with_any"] == pytest.approx(2 / 3)
    assert result["ignored_mean"] == pytest.approx(1.0)  # (1 + 2 + 0) / 3


def test_punctuation_in_the_input_never_matches():
    result = token_alignment([[",", ".", "Ġ("]], [{",", ".", "("}])
    assert result["counts"] == [0]


def test_token_id_alignment_is_exact():
    result = token_id_alignment([[5, 6, 7], [1, 2, 3]], [{5, 7, 9}, {4}])
    assert result["counts"] == [2, 0]
    assert result["histogram"] == [1, 0, 1, 0]


def test_sample_sentences_is_seeded_and_skips_short_lines():
    texts = [f"sentence number {i} has words" for i in range(50)] + ["too short", "x"] * 10
    first = sample_sentences(texts, 20, seed=1)
    assert first == sample_sentences(texts, 20, seed=1)
    assert first != sample_sentences(texts, 20, seed=2)
    assert len(set(first)) == 20 and all(len(t.split()) >= 4 for t in first)
    with pytest.raises(ValueError):
        sample_sentences(texts, 51)


def test_spectrum_needs_a_trained_model():
    with pytest.raises(ValueError):
        AnalysisRun.from_dict(
            {
                "analysis": "spectrum",
                "model": {"backbone": "tiny-llama"},
                "corpus": "wikitext2-sentences",
                "sentences": 8,
            }
        )


TINY = {
    "backbone": "tiny-llama",
    "pooling": {"mode": "mean"},
    "stages": [
        {
            "objective": "data-driven",
            "steps": 2,
            "batch_size": 4,
            "max_length": 32,
            "corpus": "wikitext2-sentences",
            "learning_rate": 1e-3,
        }
    ],
}


@pytest.mark.slow
@pytest.mark.needs_data
def test_analyse_end_to_end_on_the_tiny_preset(tmp_path, monkeypatch, cache):
    runtime = Runtime(device="cpu", precision="fp32", progress=False, eval_batch_size=16)
    model = ModelSpec.from_dict(TINY)
    common = {"model": model.to_dict(), "corpus": "wikitext2-sentences", "sentences": 32, "max_length": 32}
    spectrum_run = AnalysisRun.from_dict({"analysis": "spectrum", **common})
    alignment_run = AnalysisRun.from_dict({"analysis": "alignment", **common})

    spectrum = analyse(spectrum_run, runtime, root=tmp_path)
    path = tmp_path / "analyses" / f"spectrum-{spectrum_run.run_id}.json"
    assert json.loads(path.read_text()) == spectrum
    assert spectrum["config"] == spectrum_run.to_dict()
    assert {"git", "versions", "hardware"} <= set(spectrum["provenance"])
    assert spectrum["timings"]["total_seconds"] > 0
    result = spectrum["result"]
    assert result["n_sentences"] == 32 and result["dim"] == 64
    assert 1 <= result["n_components"] <= 31  # 32 centered points span at most 31 directions
    for variant in ("normalized", "raw"):
        components = result[variant]["components"]
        assert {len(values) for values in components.values()} == {min(result["n_components"], 50)}
        assert np.all(np.isfinite(np.asarray(list(components.values()))))
        assert result[variant]["total_rms_change"] > 0  # two steps at lr 1e-3 do move the embeddings
        assert 0 <= result[variant]["top_component"] < result["n_components"]

    # the per-sentence file behind the figure's band: its sums give back the stored shares
    items = json.loads(gzip.decompress(items_path(path).read_bytes()))
    assert items["variant"] == result["primary"] == "normalized"
    squared, total = np.asarray(items["squared_change"]), np.asarray(items["total"])
    assert squared.shape == (32, min(result["n_components"], 20)) and total.shape == (32,)
    shares = result["normalized"]["components"]["change_share"][: squared.shape[1]]
    np.testing.assert_allclose(squared.sum(0) / total.sum(), shares, rtol=1e-5, atol=1e-7)
    assert "items" not in result and "per_sentence" not in result["normalized"]

    alignment = analyse(alignment_run, runtime, root=tmp_path)
    numbers = alignment["result"]["normalized"]
    assert numbers["k"] == 10 and numbers["n"] == 32
    assert sum(numbers["histogram"]) == 32 and len(numbers["histogram"]) == 11
    assert 0 <= numbers["mean"] <= 10 and np.isfinite(numbers["std"])
    assert sum(alignment["result"]["exact_ids"]["histogram"]) == 32
    assert len(alignment["result"]["examples"][0]["top_tokens"]) == 10

    def no_training(*args, **kwargs):
        raise AssertionError("a stored analysis must not rebuild the model")

    monkeypatch.setattr(analysis, "build_model", no_training)
    assert analyse(spectrum_run, runtime, root=tmp_path) == spectrum
    assert analyse(alignment_run, runtime, root=tmp_path) == alignment


def test_variance_ratio_is_of_all_the_variance_when_truncated():
    base, _ = known_base()
    ratio = spectral_change(base, base, n_components=2)["raw"]["components"]["explained_variance_ratio"]
    np.testing.assert_allclose(ratio, SINGULAR[:2] ** 2 / (SINGULAR**2).sum())
