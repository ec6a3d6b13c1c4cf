"""Per-item outputs: rescoring a task from its stored items gives mteb's main score exactly."""

from __future__ import annotations

import mteb
import pytest
import torch

from t2t.backbones import load_backbone
from t2t.encoder import Embedder, text_encoder
from t2t.evaluation.items import task_items
from t2t.evaluation.offline import offline_task
from t2t.paths import data_root
from t2t.pooling import PoolingSpec
from t2t.results import RunStore
from t2t.stats import rescore

pytestmark = pytest.mark.needs_data


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
