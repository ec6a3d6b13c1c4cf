"""Offline copies of a retrieval, a summarization, a pair-classification and a clustering task.

The same idea as `t2t.evaluation.offline` (mteb's own task classes and evaluators, fed from local
files under the data root, `shared/assets/README.md`), for the four task categories beyond STS and
classification whose data is offline:

- **SciFact** (`AbsTaskRetrieval`, MTEB(eng, v1)/BEIR): the BEIR files `retrieval/scifact/`
  (corpus 5,183 abstracts, 300 test claims, 339 qrels), put into mteb 2's retrieval layout
  `{split: {"corpus", "queries", "relevant_docs", "top_ranked"}}` exactly as
  `mteb.abstasks.retrieval_dataset_loaders.RetrievalDatasetLoader` builds it from the Hub copy.
  MTEB's item list: the qrels and queries are BEIR's, documents within 0.2% of its characters.
- **SciFact-lite** (`t2t.evaluation.partial_tasks.SciFactLite`): all 300 claims, every relevant
  abstract and seeded random others, `scifact_lite`.
- **SummEvalSummarization.v2** (`AbsTaskSummarization`): 100 CNN/DailyMail articles, 11 reference
  summaries each and 16 machine summaries with the mean expert relevance score
  (`summeval_mteb_format.jsonl`). Which text field reproduces MTEB: see `read_summeval`.
- **TwitterURLCorpus-testpart** (`t2t.evaluation.partial_tasks`): the 9,334 test pairs of the
  Twitter URL corpus, i.e. only the test part of MTEB's 51,534 pairs; **-lite**: 3,000 of them.
- **TwentyNewsgroupsClustering-bydate-test** (`t2t.evaluation.partial_tasks`): the subject lines
  of the 7,532 posts of 20news-bydate's test half, in place of MTEB's own sampling of 20NG.

Sizes are checked twice: the whole file (against MTEB's descriptive statistics where the copy is
MTEB's item list, else against the README's count) and, for the smaller variants, what is kept.

`CATEGORY_SOURCES` describes each as an `OfflineSource` for `t2t.evaluation.offline.offline_task`.
"""

from __future__ import annotations

import csv
import functools
import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict, Features, Sequence, Value

from t2t.core.fingerprint import DataIntegrityError
from t2t.evaluation.data_files import OfflineSource, require_file
from t2t.evaluation.partial_tasks import (
    SCIFACT_LITE_DOCUMENTS,
    SCIFACT_LITE_SEED,
    TWITTER_LITE_PAIRS,
    SciFactLite,
    TwentyNewsgroupsClusteringBydateTest,
    TwitterURLCorpusTestPart,
    TwitterURLCorpusTestPartLite,
)

SCIFACT_CORPUS = "retrieval/scifact/corpus.jsonl.gz"
SCIFACT_QUERIES = "retrieval/scifact/queries.jsonl"
SCIFACT_QRELS = "retrieval/scifact/qrels/test.tsv"
SUMMEVAL_FILE = "summarization/summeval/summeval_mteb_format.jsonl"
TWITTER_URL_FILE = "pair_classification/twitter_url_corpus/twitterurl_test_pairs.tsv"
TWENTY_NEWSGROUPS_FILE = "clustering/twentynewsgroups/20news_bydate_test_subjects.tsv"

# Sizes the assets README states for the copies that are not MTEB's item list, and for SciFact's corpus
# (which the smaller variant draws from; mteb's statistics check the full task).
TWITTER_URL_TEST_PAIRS = 9334
TWENTY_NEWSGROUPS_TEST_POSTS = 7532
SCIFACT_DOCUMENTS = 5183
SEED = 42
"""Seed of TwitterURLCorpus-testpart-lite's draw (the seed of `t2t.evaluation.offline.cap_rows`)."""


def _whole(name: str, found: int, expected: int, relative: str) -> None:
    """A smaller variant is drawn from a whole file: check the file first (a cut file draws other rows)."""
    if found != expected:
        raise DataIntegrityError(
            f"{name}: {relative} has {found:,} rows, the assets README says {expected:,}: the file is "
            "truncated or changed. Restore the offline assets (see their README.md)."
        )


# ---------------------------------------------------------------- retrieval


def _jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@functools.lru_cache(maxsize=2)
def _scifact_files(root: Path) -> tuple[list[dict], list[dict], dict[str, dict[str, int]]]:
    corpus = _jsonl(require_file(root, SCIFACT_CORPUS))
    queries = _jsonl(require_file(root, SCIFACT_QUERIES))
    qrels: dict[str, dict[str, int]] = {}
    with require_file(root, SCIFACT_QRELS).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return corpus, queries, qrels


def _retrieval_split(corpus: list[dict], queries: list[dict], qrels: dict[str, dict[str, int]]) -> dict:
    """mteb 2's `RetrievalSplitData`: corpus `(id, title, text)`, the queries that have qrels
    `(id, text)`, qrels `{query id: {doc id: score}}`, no top-ranked lists (not a reranking task)."""
    documents = Dataset.from_dict(
        {
            "id": [str(d["_id"]) for d in corpus],
            "title": [d.get("title", "") for d in corpus],
            "text": [d["text"] for d in corpus],
        },
        features=Features({"id": Value("string"), "title": Value("string"), "text": Value("string")}),
    )
    kept = [q for q in queries if str(q["_id"]) in qrels]  # as RetrievalDatasetLoader.load
    questions = Dataset.from_dict(
        {"id": [str(q["_id"]) for q in kept], "text": [q["text"] for q in kept]},
        features=Features({"id": Value("string"), "text": Value("string")}),
    )
    relevant = {query: dict(docs) for query, docs in qrels.items()}
    return {"corpus": documents, "queries": questions, "relevant_docs": relevant, "top_ranked": None}


def read_scifact(root: Path) -> dict[str, dict]:
    """SciFact test: the whole corpus (5,183 abstracts), 300 claims, 339 qrels."""
    corpus, queries, qrels = _scifact_files(Path(root))
    return {"test": _retrieval_split(corpus, queries, qrels)}


def scifact_lite(
    root: Path, documents: int = SCIFACT_LITE_DOCUMENTS, seed: int = SCIFACT_LITE_SEED
) -> dict[str, dict]:
    """SciFact with a smaller corpus: every relevant abstract, then others drawn at random.

    The corpus keeps every document some claim is relevant to (so each query's ideal ranking is
    unchanged), then fills up to `documents` with distractors drawn uniformly without replacement
    from the rest by `numpy.random.default_rng(seed)`; file order is kept. All 300 claims and all
    339 qrels stay. Fewer distractors make retrieval easier, so scores are higher than SciFact's.
    """
    corpus, queries, qrels = _scifact_files(Path(root))
    _whole("SciFact-lite", len(corpus), SCIFACT_DOCUMENTS, SCIFACT_CORPUS)
    relevant = {doc for docs in qrels.values() for doc in docs}
    if documents < len(relevant):
        raise ValueError(
            f"SciFact-lite needs room for its {len(relevant)} relevant documents, got {documents}"
        )
    others = [i for i, d in enumerate(corpus) if str(d["_id"]) not in relevant]
    drawn = np.random.default_rng(seed).choice(len(others), documents - len(relevant), replace=False)
    keep = {others[i] for i in drawn.tolist()}
    kept = [d for i, d in enumerate(corpus) if str(d["_id"]) in relevant or i in keep]
    return {"test": _retrieval_split(kept, queries, qrels)}


# ---------------------------------------------------------------- summarization


SUMMEVAL_FEATURES = Features(
    {
        "id": Value("string"),
        "text": Value("string"),
        "human_summaries": Sequence(Value("string")),
        "machine_summaries": Sequence(Value("string")),
        "relevance": Sequence(Value("float64")),
    }
)


def read_summeval(root: Path) -> DatasetDict:
    """SummEval test: 100 articles, their 11 reference and 16 machine summaries, mean relevance.

    The text is the file's PTB-tokenized text as is ("Tottenham 's draw ."), both summary kinds. It
    is not quite MTEB's: by its descriptive statistics, MTEB's references are the untokenized
    highlights (248,982 characters; ours 253,300, 248,881 once Moses-detokenized) and its machine
    summaries are closest to the file's `machine_summaries_untokenized` (548,510 characters; that
    field 548,468, the tokenized 549,020). Which text reproduces MTEB's published score decided it
    (all-MiniLM-L6-v2, `tests/t2t/evaluation/test_mteb_parity.py`; MTEB 25.96): tokenized machine summaries give
    25.77, the untokenized ones 25.50 (they spell brackets `-lrb-`/`-rrb-` and lack 7 of the 1,600
    summaries); detokenizing the references changes nothing for that model (its WordPiece
    pre-tokenizer splits punctuation off either way: the same score to 1e-15). Decoder LLMs with
    byte-level BPE do see the spaces, as they see SentEval's tokenisation in STS12-16.
    """
    rows = _jsonl(require_file(root, SUMMEVAL_FILE))
    data = {
        "id": [r["id"] for r in rows],
        "text": [r["text"] for r in rows],
        "human_summaries": [r["human_summaries"] for r in rows],
        "machine_summaries": [r["machine_summaries"] for r in rows],
        "relevance": [[float(s) for s in r["relevance"]] for r in rows],
    }
    return DatasetDict({"test": Dataset.from_dict(data, features=SUMMEVAL_FEATURES)})


# ---------------------------------------------------------------- pair classification


def read_twitter_url_test(root: Path) -> DatasetDict:
    """The Twitter URL corpus' test pairs as the Hub dataset's columns `sent1, sent2, labels`
    (mteb's `TwitterURLCorpus.dataset_transform` renames them to `sentence1, sentence2`).

    `twitterurl_test_pairs.tsv` is derived as Lan et al. (2017) and MTEB label pairs: pairs with 3
    of 6 votes dropped, label 1 with at least 4 votes (assets MANIFEST.json).
    """
    with require_file(root, TWITTER_URL_FILE).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    data = {
        "sent1": [r["sentence1"] for r in rows],
        "sent2": [r["sentence2"] for r in rows],
        "labels": [int(r["label"]) for r in rows],
    }
    return DatasetDict({"test": Dataset.from_dict(data)})


def read_twitter_url_test_lite(root: Path, pairs: int = TWITTER_LITE_PAIRS) -> DatasetDict:
    """`pairs` of the test part: the first after a seed-42 shuffle (`datasets.Dataset.shuffle`)."""
    test = read_twitter_url_test(root)["test"]
    _whole("TwitterURLCorpus-testpart-lite", len(test), TWITTER_URL_TEST_PAIRS, TWITTER_URL_FILE)
    return DatasetDict({"test": test.shuffle(seed=SEED).select(range(pairs))})


# ---------------------------------------------------------------- clustering


def read_twenty_newsgroups_test(root: Path) -> DatasetDict:
    """The subject lines of 20news-bydate's test posts, in the Hub dataset's layout: rows of
    `(sentences, labels)` lists, here a single row holding all 7,532 posts (mteb's
    `TwentyNewsgroupsClusteringFast.dataset_transform` flattens the rows).

    Labels are the newsgroups' indices in name order (`alt.atheism` = 0 ... `talk.religion.misc`
    = 19), the order of scikit-learn's `fetch_20newsgroups().target_names`.
    """
    with require_file(root, TWENTY_NEWSGROUPS_FILE).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))
    groups = sorted({r["label"] for r in rows})
    label = {name: i for i, name in enumerate(groups)}
    data = {"sentences": [[r["subject"] for r in rows]], "labels": [[label[r["label"]] for r in rows]]}
    return DatasetDict({"test": Dataset.from_dict(data)})


CATEGORY_SOURCES: dict[str, OfflineSource] = {
    "SciFact": OfflineSource((SCIFACT_CORPUS, SCIFACT_QUERIES, SCIFACT_QRELS), read_scifact),
    "SummEvalSummarization.v2": OfflineSource((SUMMEVAL_FILE,), read_summeval),
    SciFactLite.metadata.name: OfflineSource(
        (SCIFACT_CORPUS, SCIFACT_QUERIES, SCIFACT_QRELS),
        scifact_lite,
        task=SciFactLite,
        rows={"test": {"documents": SCIFACT_LITE_DOCUMENTS, "queries": 300, "relevant_docs": 339}},
    ),
    TwitterURLCorpusTestPart.metadata.name: OfflineSource(
        (TWITTER_URL_FILE,),
        read_twitter_url_test,
        task=TwitterURLCorpusTestPart,
        rows={"test": {"rows": TWITTER_URL_TEST_PAIRS}},
    ),
    TwitterURLCorpusTestPartLite.metadata.name: OfflineSource(
        (TWITTER_URL_FILE,),
        read_twitter_url_test_lite,
        task=TwitterURLCorpusTestPartLite,
        rows={"test": {"rows": TWITTER_LITE_PAIRS}},
    ),
    TwentyNewsgroupsClusteringBydateTest.metadata.name: OfflineSource(
        (TWENTY_NEWSGROUPS_FILE,),
        read_twenty_newsgroups_test,
        task=TwentyNewsgroupsClusteringBydateTest,
        rows={"test": {"rows": TWENTY_NEWSGROUPS_TEST_POSTS}},
    ),
}
