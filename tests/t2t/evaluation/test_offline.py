"""The offline mirror holds MTEB's data, and the named task sets are what they say.

Each mirrored split is compared with mteb's own `descriptive_stats` for the Hub dataset: rows exactly,
unique texts/pairs and label counts exactly, characters within the small documented differences.
Copies that are not MTEB's item list carry names of their own and the sizes the assets README states.
"""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from pathlib import Path

import mteb
import pytest
from mteb.abstasks import AbsTaskClassification, AbsTaskSTS

from t2t.core import paths
from t2t.core.config import ConfigError
from t2t.core.fingerprint import DataIntegrityError
from t2t.evaluation.offline import (
    OFFLINE_SOURCES,
    OFFLINE_TASK_NAMES,
    OfflineDataError,
    check_rows,
    offline_task,
    senteval_tokenize,
    split_counts,
    subset_datasets,
)
from t2t.evaluation.partial_tasks import LOCAL_TASKS, PARTIAL_TASKS
from t2t.evaluation.tasks import (
    MTEB_ENG_V2_TASKS,
    STS_AND_CLASSIFICATION_TASKS,
    TASK_SETS,
    get_tasks,
    task_category,
)

ROOT = paths.data_root()
pytestmark = pytest.mark.needs_data

# Rows of the evaluated split(s), as in shared/assets/README.md and mteb's metadata.
EXPECTED_ROWS = {
    "STSBenchmark": {"test": 1379},
    "SICK-R": {"test": 9927},
    "STS12": {"test": 3108},
    "STS13": {"test": 1500},
    "STS14": {"test": 3750},
    "STS15": {"test": 3000},
    "BIOSSES": {"test": 100},
    "Banking77Classification": {"train": 10003, "test": 3080},
    "AmazonCounterfactualClassification": {"train": 4018, "validation": 335, "test": 670},
    "SummEvalSummarization.v2": {"test": 100},
    "TwitterURLCorpus-testpart": {"test": 9334},
    "TwitterURLCorpus-testpart-lite": {"test": 3000},
    "TwentyNewsgroupsClustering-bydate-test": {"test": 7532},
}
EXPECTED_RETRIEVAL = {
    "SciFact": {"documents": 5183, "queries": 300, "relevant_docs": 339},
    "SciFact-lite": {"documents": 600, "queries": 300, "relevant_docs": 339},
}

# Largest relative difference in total characters per text column vs the Hub copy (0 = identical).
# STS12-15: Python (sacremoses) vs the Perl Moses tokenizer SentEval ran, <= 20 chars of 200k.
# STS-B: 7 and 6 chars (a few differently encoded characters). BIOSSES: one different sentence.
CHARACTER_TOLERANCE = {
    "STS12": 2e-4,
    "STS13": 2e-4,
    "STS14": 2e-4,
    "STS15": 2e-4,
    "STSBenchmark": 2e-4,
    "BIOSSES": 1e-2,
}
# SummEval: MTEB's reference summaries are the untokenized highlights (ours are PTB-tokenized, 1.7%
# longer: `read_summeval`); machine summaries agree to 0.1%.
SUMMEVAL_CHARACTER_TOLERANCE = {"human_summaries": 0.02, "machine_summaries": 1e-3}
# BIOSSES' Hub copy repeats one sentence2 and has one score 0.2 lower (mean 2.196 vs our 2.198).
BIOSSES_UNIQUE_TEXT_SLACK = 1
BIOSSES_MEAN_SCORE_SLACK = 0.005


@pytest.fixture(scope="module")
def full_tasks():
    return {name: offline_task(name, ROOT) for name in OFFLINE_TASK_NAMES}


def _split_stats(task, subset: str, split: str) -> dict:
    stats = task.metadata.descriptive_stats[split]
    return stats if subset == "default" else stats["hf_subset_descriptive_stats"][subset]


def _check_chars(name: str, ours: list[str], reference: dict) -> None:
    total, expected = sum(map(len, ours)), reference["total_text_length"]
    assert abs(total - expected) <= CHARACTER_TOLERANCE.get(name, 0.0) * expected, (name, total, expected)


def test_every_mirrored_task_has_an_expected_size():
    assert set(EXPECTED_ROWS) | set(EXPECTED_RETRIEVAL) == set(OFFLINE_TASK_NAMES)


@pytest.mark.slow
@pytest.mark.parametrize("name", OFFLINE_TASK_NAMES)
def test_rows_equal_mteb(full_tasks, name):
    task = full_tasks[name]
    for subset, dataset in subset_datasets(task).items():
        found = {split: split_counts(task, data) for split, data in dataset.items()}
        if name in EXPECTED_RETRIEVAL:
            assert found == {"test": EXPECTED_RETRIEVAL[name]}
        else:
            assert found == {split: {"rows": n} for split, n in EXPECTED_ROWS[name].items()}
        if name in LOCAL_TASKS:  # not MTEB's item list: mteb has no statistics under this name
            assert task.metadata.descriptive_stats is None
            continue
        for split, data in dataset.items():
            stats = _split_stats(task, subset, split)
            if name in EXPECTED_RETRIEVAL:
                assert (stats["num_documents"], stats["num_queries"]) == (
                    len(data["corpus"]),
                    len(data["queries"]),
                )
            else:
                assert len(data) == stats["num_samples"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in STS_AND_CLASSIFICATION_TASKS if "Classification" not in n])
def test_sts_text_and_scores_match_mteb(full_tasks, name):
    task = full_tasks[name]
    assert isinstance(task, AbsTaskSTS)
    rows = task.dataset["test"]
    stats = _split_stats(task, "default", "test")
    slack = BIOSSES_UNIQUE_TEXT_SLACK if name == "BIOSSES" else 0
    for column, key in (("sentence1", "text1_statistics"), ("sentence2", "text2_statistics")):
        _check_chars(name, rows[column], stats[key])
        assert abs(len(set(rows[column])) - stats[key]["unique_texts"]) <= slack, column
    assert (
        abs(len(set(zip(rows["sentence1"], rows["sentence2"], strict=True))) - stats["unique_pairs"]) <= slack
    )
    scores = rows["score"]
    assert task.min_score <= min(scores) and max(scores) <= task.max_score
    labels = stats["label_statistics"]
    assert (min(scores), max(scores)) == (labels["min_score"], labels["max_score"])
    slack = BIOSSES_MEAN_SCORE_SLACK if name == "BIOSSES" else 1e-9
    assert sum(scores) / len(scores) == pytest.approx(labels["avg_score"], abs=slack)


@pytest.mark.parametrize("name", ["Banking77Classification", "AmazonCounterfactualClassification"])
def test_classification_text_and_label_ids_match_mteb(full_tasks, name):
    """Texts are identical and every label id has MTEB's count (so the id order is MTEB's)."""
    task = full_tasks[name]
    assert isinstance(task, AbsTaskClassification)
    for subset, dataset in subset_datasets(task).items():
        assert set(dataset[task.train_split].column_names) == {"text", "label"}
        for split, rows in dataset.items():
            stats = _split_stats(task, subset, split)
            _check_chars(name, rows["text"], stats["text_statistics"])
            assert len(set(rows["text"])) == stats["text_statistics"]["unique_texts"]
            counts = {str(label): n for label, n in Counter(rows["label"]).items()}
            assert counts == {k: v["count"] for k, v in stats["label_statistics"]["labels"].items()}


def test_scifact_matches_mteb(full_tasks):
    """BEIR's qrels and claims exactly; the abstracts within 0.2% of MTEB's characters (README)."""
    task = full_tasks["SciFact"]
    split = task.dataset["default"]["test"]
    stats = _split_stats(task, "default", "test")
    relevant = stats["relevant_docs_statistics"]
    assert (
        len({doc for docs in split["relevant_docs"].values() for doc in docs})
        == relevant["unique_relevant_docs"]
    )
    assert (
        max(len(docs) for docs in split["relevant_docs"].values()) == relevant["max_relevant_docs_per_query"]
    )
    queries = stats["queries_text_statistics"]
    assert sum(map(len, split["queries"]["text"])) == queries["total_text_length"]
    documents = stats["documents_text_statistics"]
    texts = [
        f"{t} {x}".strip() for t, x in zip(split["corpus"]["title"], split["corpus"]["text"], strict=True)
    ]
    assert (min(map(len, texts)), max(map(len, texts))) == (
        documents["min_text_length"],
        documents["max_text_length"],
    )
    assert abs(sum(map(len, texts)) - documents["total_text_length"]) <= 2e-3 * documents["total_text_length"]


def test_scifact_lite_keeps_every_claim_and_relevant_abstract(full_tasks):
    full = full_tasks["SciFact"].dataset["default"]["test"]
    lite = full_tasks["SciFact-lite"].dataset["default"]["test"]
    documents = list(lite["corpus"]["id"])
    assert set(documents) <= set(full["corpus"]["id"]) and len(set(documents)) == 600
    assert {doc for docs in lite["relevant_docs"].values() for doc in docs} <= set(documents)
    assert lite["relevant_docs"] == full["relevant_docs"]
    assert list(lite["queries"]["text"]) == list(full["queries"]["text"])
    again = offline_task("SciFact-lite", ROOT).dataset["default"]["test"]
    assert list(again["corpus"]["id"]) == documents


def test_summeval_matches_mteb(full_tasks):
    """Same articles, summaries and expert scores; the text differences are in `read_summeval`."""
    task = full_tasks["SummEvalSummarization.v2"]
    rows = task.dataset["test"]
    stats = _split_stats(task, "default", "test")
    relevance = [score for scores in rows["relevance"] for score in scores]
    labels = stats["score_statistics"]
    assert (min(relevance), max(relevance)) == (labels["min_score"], labels["max_score"])
    assert sum(relevance) / len(relevance) == pytest.approx(labels["avg_score"], abs=1e-9)
    for column, key in (
        ("human_summaries", "human_summaries_statistics"),
        ("machine_summaries", "machine_summaries_statistics"),
    ):
        texts = [text for summaries in rows[column] for text in summaries]
        reference = stats[key]
        assert len(texts) == {"human_summaries": 1100, "machine_summaries": 1600}[column]
        assert abs(len(set(texts)) - reference["unique_texts"]) <= 2, column
        assert (
            abs(sum(map(len, texts)) - reference["total_text_length"])
            <= SUMMEVAL_CHARACTER_TOLERANCE[column] * reference["total_text_length"]
        )


def test_partial_tasks_are_named_apart_from_mtebs():
    """Each of our variants has a name mteb does not know, an MTEB task it adapts (same type and
    main score), a description and a footnote saying how it differs, and is not in MTEB(eng, v2)."""
    assert set(PARTIAL_TASKS) == set(LOCAL_TASKS)
    for name, cls in LOCAL_TASKS.items():
        with pytest.raises(KeyError):
            mteb.get_task(name)
        original = mteb.get_task(cls.metadata.adapted_from[0])
        assert isinstance(cls(), type(original)) and name != original.metadata.name
        assert (cls.metadata.type, cls.metadata.main_score) == (
            original.metadata.type,
            original.metadata.main_score,
        )
        assert task_category(name) == original.metadata.type
        assert "not comparable" in cls.metadata.description and PARTIAL_TASKS[name]
        assert name not in MTEB_ENG_V2_TASKS


def test_partial_copies_have_the_readmes_sizes(full_tasks):
    pairs = full_tasks["TwitterURLCorpus-testpart"].dataset["test"]
    assert Counter(pairs["labels"]) == {0: 7513, 1: 1821}
    assert set(pairs.column_names) == {"sentence1", "sentence2", "labels"}  # mteb's transform renamed them
    lite = full_tasks["TwitterURLCorpus-testpart-lite"].dataset["test"]
    whole = set(zip(pairs["sentence1"], pairs["sentence2"], pairs["labels"], strict=True))
    assert set(zip(lite["sentence1"], lite["sentence2"], lite["labels"], strict=True)) <= whole
    news = full_tasks["TwentyNewsgroupsClustering-bydate-test"]
    assert (
        len(set(news.dataset["test"]["labels"])) == 20 and len(set(news.dataset["test"]["sentences"])) == 4260
    )
    assert news.max_document_to_embed == 2381 and news.max_fraction_of_documents_to_embed is None


def test_a_partial_copy_of_another_size_is_refused(full_tasks):
    source = OFFLINE_SOURCES["TwitterURLCorpus-testpart"]
    with pytest.raises(DataIntegrityError, match=r"has 9334 rows .* README states 9333"):
        check_rows(
            full_tasks["TwitterURLCorpus-testpart"],
            dataclasses.replace(source, rows={"test": {"rows": 9333}}),
            ROOT,
        )


def test_tasks_are_loaded_and_restricted_like_the_benchmark(full_tasks):
    benchmark = {t.metadata.name: t for t in mteb.get_benchmark("MTEB(eng, v2)").tasks}
    for name, task in full_tasks.items():
        if name not in benchmark:
            continue
        assert task.data_loaded
        assert task.hf_subsets == benchmark[name].hf_subsets
        assert list(task.eval_splits) == list(benchmark[name].eval_splits)
    assert full_tasks["AmazonCounterfactualClassification"].hf_subsets == ["en"]
    assert list(full_tasks["AmazonCounterfactualClassification"].eval_splits) == ["test"]


def test_senteval_tokenize_is_moses_no_escape_lowercased():
    assert senteval_tokenize(['He said, "It\'s 1,650."']) == ['he said , " it \'s 1,650 . "']


def test_lite_set_is_capped_deterministically_and_a_subset():
    spec = TASK_SETS["offline-lite"]
    first, second = get_tasks("offline-lite", ROOT), get_tasks("offline-lite", ROOT)
    assert [t.metadata.name for t in first] == list(spec.tasks)
    for lite, again in zip(first, second, strict=True):
        full = offline_task(lite.metadata.name, ROOT)
        for subset, splits in subset_datasets(lite).items():
            whole, repeat = subset_datasets(full)[subset], subset_datasets(again)[subset]
            for split, rows in splits.items():
                assert len(rows) <= spec.limit and len(rows) <= len(whole[split])
                assert rows.to_dict() == repeat[split].to_dict()
                column = "text" if "text" in rows.column_names else "sentence1"
                assert set(rows[column]) <= set(whole[split][column])
            if len(whole["test"]) > spec.limit:
                assert len(splits["test"]) == spec.limit


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Banking77Classification", "AmazonCounterfactualClassification"])
def test_capped_classification_is_stratified(name):
    capped, full = offline_task(name, ROOT, limit=128), offline_task(name, ROOT)
    for subset, splits in subset_datasets(full).items():
        for split in ("train", "test"):  # each label keeps its share, rounded up or down
            small = Counter(subset_datasets(capped)[subset][split]["label"])
            whole = Counter(splits[split]["label"])
            n = len(splits[split])
            assert sum(small.values()) <= 128 + len(whole)
            assert all(abs(small[label] - 128 * count / n) < 1 for label, count in whole.items())


def test_unknown_task_set_lists_valid_names():
    with pytest.raises(ConfigError) as error:
        get_tasks("mteb-eng-v3")
    for name in TASK_SETS:
        assert name in str(error.value)


def test_without_a_data_root_the_same_tasks_load_lazily_from_the_hub():
    tasks = get_tasks("offline", data_root=None)
    assert [t.metadata.name for t in tasks] == list(TASK_SETS["offline"].tasks)
    assert not any(t.data_loaded for t in tasks)  # mteb fetches them when evaluated
    with pytest.raises(OfflineDataError, match="SciFact-lite.*T2T_DATA_DIR"):
        get_tasks("offline-balanced", data_root=None)  # our variants exist only offline


def test_offline_set_is_unchanged_and_the_balanced_set_covers_six_categories():
    assert (
        TASK_SETS["offline"].tasks == STS_AND_CLASSIFICATION_TASKS and len(STS_AND_CLASSIFICATION_TASKS) == 9
    )
    balanced = get_tasks("offline-balanced", ROOT)
    assert [t.metadata.name for t in balanced] == list(TASK_SETS["offline-balanced"].tasks)
    assert all(t.data_loaded for t in balanced)
    categories = Counter(task_category(t.metadata.name) for t in balanced)
    assert set(categories) == {
        "STS",
        "Classification",
        "Retrieval",
        "Clustering",
        "PairClassification",
        "Summarization",
    }


def test_missing_file_error_names_the_file_and_setting(tmp_path: Path):
    with pytest.raises(OfflineDataError, match=r"stsb-en-test\.csv.*T2T_DATA_DIR"):
        offline_task("STSBenchmark", tmp_path)


def _reference_tasks() -> list[dict[str, str]]:
    reference = paths.reference_root()
    if reference is None:
        pytest.skip("no shared/reference folder")
    with (reference / "mteb_eng_v2_tasks.tsv").open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_mteb_eng_v2_is_the_reference_task_list():
    rows = _reference_tasks()
    names = [row["task_name"] for row in rows]
    assert len(names) == 41 and sorted(names) == sorted(MTEB_ENG_V2_TASKS)
    benchmark = {t.metadata.name: t for t in mteb.get_benchmark("MTEB(eng, v2)").tasks}
    assert sorted(benchmark) == sorted(names)
    for row in rows:
        task = benchmark[row["task_name"]]
        assert task_category(row["task_name"]) == row["type"]
        assert task.metadata.main_score == row["main_score"]
        assert ",".join(task.eval_splits) == row["eval_splits"]
        assert ",".join(task.hf_subsets) == row["hf_subsets"]
        assert task.metadata.dataset["revision"] == row["revision"]


def test_mteb_eng_v2_feeds_mirrored_tasks_and_leaves_the_rest_lazy():
    tasks = get_tasks("mteb-eng-v2", ROOT)
    assert len(tasks) == 41
    loaded = {t.metadata.name for t in tasks if t.data_loaded}
    assert loaded == set(OFFLINE_TASK_NAMES) & set(MTEB_ENG_V2_TASKS)
    assert "SummEvalSummarization.v2" in loaded
    # our partial copies never stand in for MTEB's: these two stay MTEB's own (lazy, from the Hub)
    assert {"TwitterURLCorpus", "TwentyNewsgroupsClustering.v2"} <= {t.metadata.name for t in tasks} - loaded
    assert all(t.dataset is None for t in tasks if not t.data_loaded)
    assert not any(t.data_loaded for t in get_tasks("mteb-eng-v2", data_root=None))


def test_task_category():
    assert task_category("STS12") == "STS"
    assert task_category("Banking77Classification") == "Classification"
    assert task_category("SciFact-lite") == "Retrieval"
    assert task_category("TwentyNewsgroupsClustering-bydate-test") == "Clustering"
    with pytest.raises(ConfigError, match="NoSuchTask"):
        task_category("NoSuchTask")
