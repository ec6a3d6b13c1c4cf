"""Per-item outputs: rescoring a task from its stored items gives mteb's main score exactly, for every
task category with items."""

from __future__ import annotations

import mteb
import numpy as np
import pytest
import torch

from t2t.core.paths import data_root
from t2t.embedding.encoder import Embedder, text_encoder
from t2t.embedding.pooling import PoolingSpec
from t2t.evaluation.items import rescorable, task_items
from t2t.evaluation.offline import offline_task
from t2t.evaluation.tasks import task_category
from t2t.models.backbones import load_backbone
from t2t.runs.results import RunStore
from t2t.stats import _resampled_scores, n_items, rescore
from tests.fakes import hashing_encoder

pytestmark = pytest.mark.needs_data


@pytest.mark.slow
@pytest.mark.parametrize(
    ("task_name", "limit"),
    [
        ("STSBenchmark", 300),
        ("BIOSSES", None),
        ("Banking77Classification", 400),
        ("AmazonCounterfactualClassification", 200),
    ],
)
def test_rescoring_stored_items_gives_mtebs_main_score_exactly(task_name, limit, tmp_path):
    torch.manual_seed(0)
    model, tokenizer = load_backbone("tiny-llama")
    embedder = Embedder(model, tokenizer, PoolingSpec(mode="mean"), dtype=torch.float32, progress=False)
    task = offline_task(task_name, data_root(), limit)
    folder = tmp_path / "predictions"
    result = mteb.evaluate(
        text_encoder("t2t-repro/tiny", embedder),
        [task],
        cache=None,
        show_progress_bar=False,
        prediction_folder=folder,
    ).task_results[0]

    store = RunStore("items", tmp_path)
    store.save_predictions(task_name, folder)
    store.save_items(task_name, task_items(task, store.load_predictions(task_name)))
    items = store.load_items(task_name)
    assert items["type"] in ("STS", "Classification")
    assert rescore(items) == result.get_score()


NEW_CATEGORIES = {  # task: row cap (None: full size; mteb's SummEval scoring loop is slow in Python)
    "SciFact-lite": None,
    "SummEvalSummarization.v2": 40,
    "TwitterURLCorpus-testpart-lite": None,
    "TwentyNewsgroupsClustering-bydate-test": None,
}


def evaluate_with_items(task, tmp_path, encoder) -> tuple[float, dict, dict]:
    """mteb's main score, the stored items (through a RunStore, as a run keeps them) and the raw
    prediction file of one evaluation of `task`."""
    name = task.metadata.name
    folder = tmp_path / "predictions"
    result = mteb.evaluate(
        encoder, [task], cache=None, show_progress_bar=False, prediction_folder=folder
    ).task_results[0]
    store = RunStore("items", tmp_path)
    store.save_predictions(name, folder)
    predictions = store.load_predictions(name)
    store.save_items(name, task_items(task, predictions))
    return result.get_score(), store.load_items(name), predictions


@pytest.mark.slow
@pytest.mark.parametrize("task_name", NEW_CATEGORIES)
def test_items_of_every_category_rescore_to_mtebs_main_score(task_name, tmp_path):
    """Retrieval, summarization, pair classification and clustering through mteb's evaluators with a
    hashing bag-of-words encoder (`tests.fakes`): the items give mteb's score exactly, and the
    vectorised resamples equal rescoring each resample."""
    assert rescorable(task_name)
    task = offline_task(task_name, data_root(), NEW_CATEGORIES[task_name])
    score, items, _ = evaluate_with_items(task, tmp_path, hashing_encoder())
    assert items["type"] == task_category(task_name)
    assert 0 < score < 1 and rescore(items) == score
    rng = np.random.default_rng(0)
    draws = [rng.integers(0, n, size=(8, n)) for n in n_items(items)]
    slow = [rescore(items, [draw[r] for draw in draws]) for r in range(8)]
    np.testing.assert_allclose(_resampled_scores(items, draws), slow, rtol=0, atol=1e-9)


@pytest.mark.slow
def test_clustering_items_refuse_a_replay_the_assignments_contradict(tmp_path, caplog):
    """An assignment list that is not the replayed draw's (here: experiments swapped, as another
    mteb version's order of draws would give) yields no items, not wrong ones."""
    task = offline_task("TwentyNewsgroupsClustering-bydate-test", data_root())
    _, items, predictions = evaluate_with_items(task, tmp_path, hashing_encoder())
    assert items["type"] == "Clustering" and len(items["subsets"]["default"]["test"]["predicted"]) == 10
    experiments = predictions["default"]["test"]["Level 0"]
    experiments[0], experiments[1] = experiments[1], experiments[0]
    assert task_items(task, predictions) is None
    assert "do not match" in caplog.text
