"""Token counts of an evaluation: the texts mteb encodes per task type, and the set budgets."""

from __future__ import annotations

import pytest

from t2t.core.paths import data_root
from t2t.embedding.pooling import PoolingSpec, format_texts
from t2t.evaluation.offline import offline_task
from t2t.evaluation.replay import classification_training_rows
from t2t.evaluation.tasks import TASK_SETS, get_tasks
from t2t.evaluation.token_count import count_tokens, encoded_texts, task_set_tokens
from t2t.models.backbones import load_tokenizer


@pytest.fixture
def tokenizer(make_cache):
    make_cache()
    return load_tokenizer("tiny-llama")  # SmolLM2's tokenizer


def test_count_tokens_is_what_the_encoder_feeds_the_model(tokenizer):
    """The tokens `t2t.embedding.pooling.tokenize` gives each text (the Embedder's count), prompt and cut
    included (every registered mode: `tests/t2t/embedding/test_pooling.py`'s contract test)."""
    texts = ["A man is playing a guitar.", " ".join(["word"] * 2000), ""]
    assert count_tokens(texts[1:2], tokenizer, PoolingSpec(mode="mean"), max_length=64) == 64
    prompt = format_texts(texts[:1], tokenizer, PoolingSpec(mode="last"), 512)[0]
    assert count_tokens(texts[:1], tokenizer, PoolingSpec(mode="last")) == len(tokenizer(prompt).input_ids)


@pytest.mark.slow
@pytest.mark.needs_data
def test_encoded_texts_are_what_mteb_encodes_per_task_type():
    root = data_root()
    sts = offline_task("STSBenchmark", root)
    rows = sts.dataset["test"]
    assert encoded_texts(sts) == list(dict.fromkeys([*rows["sentence1"], *rows["sentence2"]]))

    banking = offline_task("Banking77Classification", root)
    train, test = banking.dataset["train"], banking.dataset["test"]
    used = classification_training_rows(banking, train)
    assert 77 * 8 <= len(used) <= 10 * 77 * 8 < len(train)  # the experiments' undersamples, not all of train
    assert set(encoded_texts(banking)) == set(train.select(used)["text"]) | set(test["text"])

    scifact = offline_task("SciFact-lite", root)
    split = scifact.dataset["default"]["test"]
    texts = encoded_texts(scifact)
    assert len(texts) == 300 + 600 and texts[:300] == list(split["queries"]["text"])
    assert texts[300] == f"{split['corpus']['title'][0]} {split['corpus']['text'][0]}"

    summeval = offline_task("SummEvalSummarization.v2", root)
    texts = set(encoded_texts(summeval))
    assert not texts & set(summeval.dataset["test"]["text"])  # the articles are not encoded
    assert len(texts) == 1100 + 1546  # distinct references + distinct machine summaries

    news = offline_task("TwentyNewsgroupsClustering-bydate-test", root)
    assert 1000 < len(encoded_texts(news)) <= 2381  # the 2,381 embedded posts' distinct subjects


@pytest.mark.slow
@pytest.mark.needs_data
def test_the_balanced_set_encodes_no_more_than_the_offline_set(make_cache, capsys):
    """With SmolLM2's tokenizer and PromptEOL last pooling (the tasks both sets share cancel out)."""
    make_cache()
    tokenizer = load_tokenizer("tiny-llama")  # SmolLM2-135M's tokenizer, without converting its weights
    offline, balanced = set(TASK_SETS["offline"].tasks), set(TASK_SETS["offline-balanced"].tasks)
    only_offline = task_set_tokens(
        [t for t in get_tasks("offline") if t.metadata.name not in balanced], tokenizer
    )
    only_balanced = task_set_tokens(
        [t for t in get_tasks("offline-balanced") if t.metadata.name not in offline], tokenizer
    )
    with capsys.disabled():
        print(f"\ntokens only in offline: {only_offline}\ntokens only in offline-balanced: {only_balanced}")
    assert set(only_balanced) == {
        "SciFact-lite",
        "TwentyNewsgroupsClustering-bydate-test",
        "TwitterURLCorpus-testpart-lite",
        "SummEvalSummarization.v2",
    }
    assert 0 < sum(only_balanced.values()) <= sum(only_offline.values())
