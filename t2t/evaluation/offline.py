"""Offline mirror of MTEB tasks: mteb's own task classes, fed from local files.

Without the Hugging Face Hub, `mteb.evaluate` cannot download a task's dataset. This module rebuilds
that dataset from the public files under the data root (`t2t.core.paths.data_root()`, i.e. `T2T_DATA_DIR`,
described in `shared/assets/README.md`) in the layout mteb expects from the Hub copy, and hands it to
the real task object. Everything after loading (the evaluator, the classifier, the undersampling per
experiment, the main score) is mteb's own code, so scores are MTEB scores.

Layouts:

- STS (`AbsTaskSTS`): `DatasetDict({"test": Dataset(sentence1, sentence2, score)})` with raw gold
  scores in [min_score, max_score] = [0, 5]; mteb normalises them itself.
- Classification (`AbsTaskClassification`): `DatasetDict({"train", "test"})` of `(text, label)` with
  integer labels (a `ClassLabel`; ids as on the Hub). mteb draws `samples_per_label` training rows per label for each of `n_experiments`
  experiments from the *row order* of train, so train keeps the upstream file order.
- Multilingual tasks wrap that in `{hf_subset: DatasetDict}` and the task is restricted to the subsets
  (and splits) that MTEB(eng, v2) uses: AmazonCounterfactual `en`, split `test`.
- Retrieval, summarization, pair classification and clustering: `t2t.evaluation.offline_categories`
  (SciFact, SummEvalSummarization.v2, and our variants with names of their own,
  `t2t.evaluation.partial_tasks`, whose rows are checked against the assets README instead).

The text is MTEB's text, not just the same sentences: STS12-STS15 on the Hub went through SentEval's
Moses tokenisation and lowercasing (`senteval_tokenize`), and AmazonCounterfactual's TSVs use CSV
quoting. `tests/t2t/evaluation/test_offline.py` checks every split against mteb's `descriptive_stats` (rows,
unique texts and pairs, characters, labels). Residual differences, all tiny: STS12-15 characters
(<0.01%, Perl vs Python Moses), STS-B 13 characters, and BIOSSES, whose Hub copy has one
different sentence and one different score (mean 2.196 vs 2.198).

Example:
    >>> task = offline_task("STS12", data_root())
    >>> len(task.dataset["test"])
    3108
    >>> mteb.evaluate(encoder, [task], cache=None)  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mteb
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from mteb.abstasks import AbsTask, AbsTaskClassification, AbsTaskRetrieval

from t2t.core.config import choose
from t2t.core.fingerprint import DataIntegrityError, data_files_fingerprint
from t2t.evaluation.data_files import OfflineDataError, OfflineSource, require_file
from t2t.evaluation.offline_categories import CATEGORY_SOURCES
from t2t.evaluation.partial_tasks import task_metadata

__all__ = ["OfflineDataError", "OfflineSource", "require_file"]  # kept importable from here

SEED = 42
"""Seed of the `limit` caps (shuffle for STS, stratified split for classification)."""

STS_FEATURES = Features(
    {"sentence1": Value("string"), "sentence2": Value("string"), "score": Value("float64")}
)


# ---------------------------------------------------------------- STS files


def _sts_dataset(pairs: Sequence[tuple[str, str, float]]) -> Dataset:
    first, second, score = zip(*pairs, strict=True)
    data = {"sentence1": list(first), "sentence2": list(second), "score": list(score)}
    return Dataset.from_dict(data, features=STS_FEATURES)


def semeval_files(folder: str, parts: Sequence[str]) -> tuple[str, ...]:
    """The official SemEval file pair per part: `STS.input.<part>.txt` (s1<TAB>s2) and `STS.gs.<part>.txt`."""
    return tuple(f"{folder}/STS.{kind}.{part}.txt" for part in parts for kind in ("input", "gs"))


def senteval_tokenize(texts: Sequence[str]) -> list[str]:
    """SentEval's STS preprocessing, which MTEB's STS12-STS16 Hub copies carry: Moses-tokenise, lowercase.

    SentEval's `get_transfer_data.bash` pipes each column through `tokenizer.perl -l en -no-escape` and
    `lowercase.perl`; mteb uploaded those files. `sacremoses` is the Python port of that tokenizer. With
    it, the unique sentence and pair counts of all four tasks equal mteb's descriptive statistics
    exactly, and the total characters agree to 0.01% (the Perl tokenizer of 2017 differs in a few
    edge cases). Uncased WordPiece models hardly notice; cased BPE tokenizers of decoder LLMs do.

    Example: "He said, \"It's fine.\"" -> 'he said , " it \'s fine . "'
    """
    try:
        from sacremoses import MosesTokenizer
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "STS12-STS15 need `sacremoses` to reproduce MTEB's (SentEval-tokenised) text: pip install sacremoses"
        ) from error
    tokenizer = MosesTokenizer(lang="en")
    return [tokenizer.tokenize(text, escape=False, return_str=True).lower() for text in texts]


@functools.lru_cache(maxsize=8)
def _semeval_pairs(root: Path, folder: str, parts: tuple[str, ...]) -> tuple[tuple[str, str, float], ...]:
    raw: list[tuple[str, str, float]] = []
    for part in parts:
        inputs = require_file(root, f"{folder}/STS.input.{part}.txt").read_text(encoding="utf-8")
        gold = require_file(root, f"{folder}/STS.gs.{part}.txt").read_text(encoding="utf-8")
        input_lines, gold_lines = inputs.split("\n"), gold.split("\n")
        if len(input_lines) != len(gold_lines):
            raise ValueError(
                f"{folder}/{part}: {len(input_lines)} input lines but {len(gold_lines)} gold lines"
            )
        for line, score in zip(input_lines, gold_lines, strict=True):
            if score.strip():
                first, second = line.split("\t")[:2]
                raw.append((first, second, float(score)))
    first = senteval_tokenize([pair[0] for pair in raw])
    second = senteval_tokenize([pair[1] for pair in raw])
    return tuple(zip(first, second, (pair[2] for pair in raw), strict=True))


def read_semeval(root: Path, folder: str, parts: Sequence[str]) -> DatasetDict:
    """All scored pairs of the SemEval STS parts, SentEval-preprocessed, as MTEB's test split.

    Line i of the input file (s1<TAB>s2) pairs with line i of the gold file. STS15 gold files leave the
    line of an unscored pair empty: those pairs are skipped (8,500 input pairs give MTEB's 3,000).
    Both columns then go through `senteval_tokenize`, as in MTEB's copy. Parsed pairs are cached per
    process (Moses-tokenising the four tasks takes about a second).
    """
    return DatasetDict({"test": _sts_dataset(_semeval_pairs(Path(root), folder, tuple(parts)))})


def read_stsbenchmark(root: Path) -> DatasetDict:
    """STS-B test: `stsb-en-test.csv`, rows `s1,s2,score` with NO header (1,379 pairs)."""
    path = require_file(root, STSB_FILE)
    with path.open(newline="", encoding="utf-8") as handle:
        pairs = [(first, second, float(score)) for first, second, score in csv.reader(handle)]
    return DatasetDict({"test": _sts_dataset(pairs)})


def read_sick(root: Path) -> DatasetDict:
    """SICK relatedness: MTEB's SICK-R test is all 9,927 pairs of train + trial + test_annotated."""
    pairs = []
    for relative in SICK_FILES:
        with require_file(root, relative).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                pairs.append((row["sentence_A"], row["sentence_B"], float(row["relatedness_score"])))
    return DatasetDict({"test": _sts_dataset(pairs)})


def read_biosses(root: Path) -> DatasetDict:
    """BIOSSES: 100 pairs, score = mean of the 5 annotators (0-4), from the derived `biosses.tsv`."""
    with require_file(root, BIOSSES_FILE).open(newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        pairs = [(row["sentence1"], row["sentence2"], float(row["score_mean"])) for row in rows]
    return DatasetDict({"test": _sts_dataset(pairs)})


# ---------------------------------------------------------------- classification files


def _text_dataset(texts: list[str], labels: list[int], label_names: list[str]) -> Dataset:
    """`(text, label)` rows; `label` is a ClassLabel, so ids stay put under stratified subsampling."""
    features = Features({"text": Value("string"), "label": ClassLabel(names=label_names)})
    return Dataset.from_dict({"text": texts, "label": labels}, features=features)


def banking77_label_names(root: Path) -> list[str]:
    """The 77 intents in the order of the Hub's `banking77` ClassLabel (= mteb's label ids).

    That order is `categories.json` sorted case-insensitively ("Refund_not_showing_up" sits between
    "receiving_money" and "request_refund"); the per-label train counts in mteb's descriptive
    statistics confirm every id.
    """
    categories = json.loads(require_file(root, BANKING77_CATEGORIES).read_text(encoding="utf-8"))
    return sorted(categories, key=str.lower)


def read_banking77(root: Path) -> DatasetDict:
    """Banking77: `train.csv` (10,003) and `test.csv` (3,080), columns `text,category`, file order kept."""
    names = banking77_label_names(root)
    label_id = {name: i for i, name in enumerate(names)}
    splits = {}
    for split, relative in BANKING77_SPLITS.items():
        with require_file(root, relative).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        splits[split] = _text_dataset(
            [r["text"] for r in rows], [label_id[r["category"]] for r in rows], names
        )
    return DatasetDict(splits)


def read_amazon_counterfactual_en(root: Path) -> DatasetDict:
    """AmazonCounterfactual `en`: `EN_{train,valid,test}.tsv` (4,018/335/670), `sentence<TAB>is_counterfactual`."""
    splits = {}
    for split, relative in AMAZON_EN_SPLITS.items():
        with require_file(root, relative).open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))  # CSV quoting: '""' is one '"'
        splits[split] = _text_dataset(
            [r["sentence"] for r in rows], [int(r["is_counterfactual"]) for r in rows], AMAZON_LABEL_NAMES
        )
    return DatasetDict(splits)


# ---------------------------------------------------------------- the mirror


STSB_FILE = "sts/stsbenchmark/stsb-en-test.csv"
SICK_FILES = ("sts/sick/SICK_train.txt", "sts/sick/SICK_trial.txt", "sts/sick/SICK_test_annotated.txt")
BIOSSES_FILE = "sts/biosses/biosses.tsv"
STS12_PARTS = ("MSRpar", "MSRvid", "SMTeuroparl", "surprise.OnWN", "surprise.SMTnews")
STS13_PARTS = ("FNWN", "headlines", "OnWN")  # the LDC-licensed SMT part is not public; MTEB omits it too
STS14_PARTS = ("deft-forum", "deft-news", "headlines", "images", "OnWN", "tweet-news")
STS15_PARTS = ("answers-forums", "answers-students", "belief", "headlines", "images")
BANKING77_CATEGORIES = "classification/banking77/categories.json"
BANKING77_SPLITS = {
    "train": "classification/banking77/train.csv",
    "test": "classification/banking77/test.csv",
}
AMAZON_LABEL_NAMES = ["not-counterfactual", "counterfactual"]
AMAZON_EN_SPLITS = {
    "train": "classification/amazon_counterfactual/EN_train.tsv",
    "validation": "classification/amazon_counterfactual/EN_valid.tsv",
    "test": "classification/amazon_counterfactual/EN_test.tsv",
}


def _semeval_source(folder: str, parts: Sequence[str]) -> OfflineSource:
    return OfflineSource(semeval_files(folder, parts), lambda root: read_semeval(root, folder, parts))


OFFLINE_SOURCES: dict[str, OfflineSource] = {
    "STSBenchmark": OfflineSource((STSB_FILE,), read_stsbenchmark),
    "SICK-R": OfflineSource(SICK_FILES, read_sick),
    "STS12": _semeval_source("sts/sts12", STS12_PARTS),
    "STS13": _semeval_source("sts/sts13", STS13_PARTS),
    "STS14": _semeval_source("sts/sts14", STS14_PARTS),
    "STS15": _semeval_source("sts/sts15", STS15_PARTS),
    "BIOSSES": OfflineSource((BIOSSES_FILE,), read_biosses),
    "Banking77Classification": OfflineSource(
        (BANKING77_CATEGORIES, *BANKING77_SPLITS.values()), read_banking77
    ),
    "AmazonCounterfactualClassification": OfflineSource(
        tuple(AMAZON_EN_SPLITS.values()),
        read_amazon_counterfactual_en,
        hf_subset="en",
        task_filters={"eval_splits": ["test"], "hf_subsets": ["en"]},
    ),
    **CATEGORY_SOURCES,  # retrieval, summarization, pair classification, clustering
}
OFFLINE_TASK_NAMES: tuple[str, ...] = tuple(OFFLINE_SOURCES)
"""Every task with an offline copy (MTEB's own and ours, `t2t.evaluation.partial_tasks`)."""


def task_data_fingerprint(name: str, root: Path | None) -> dict[str, str]:
    """`{file: short sha256}` of the files task `name` reads from `root` (checked against the
    manifest), or `{"hub": "<dataset path>@<revision>"}` when the task loads from the Hub."""
    if offline_available(name, root):
        return data_files_fingerprint(Path(root), OFFLINE_SOURCES[name].files)
    dataset = task_metadata(name).dataset
    return {"hub": f"{dataset.get('path')}@{dataset.get('revision')}"}


def offline_available(name: str, root: Path | None) -> bool:
    """Whether `name` is mirrored and every file it needs is under `root`."""
    source = OFFLINE_SOURCES.get(name)
    return bool(root and source and all((Path(root) / f).is_file() for f in source.files))


def subset_datasets(task: AbsTask) -> dict[str, DatasetDict]:
    """`{hf_subset: {split: data}}` of a loaded task; monolingual tasks appear as `{"default": ...}`.

    Retrieval tasks keep their data by subset even when monolingual (mteb 2's layout), and a split's
    data is a `RetrievalSplitData` dict (`corpus`, `queries`, `relevant_docs`, `top_ranked`).
    """
    if task.metadata.is_multilingual or isinstance(task, AbsTaskRetrieval):
        return dict(task.dataset)
    return {"default": task.dataset}


def _set_subsets(task: AbsTask, subsets: dict[str, Any]) -> None:
    """Put `{hf_subset: data}` where `task.dataset` keeps it (the inverse of `subset_datasets`)."""
    keyed = task.metadata.is_multilingual or isinstance(task, AbsTaskRetrieval)
    task.dataset = subsets if keyed else subsets["default"]


def cap_rows(task: AbsTask, limit: int, seed: int = SEED) -> None:
    """Cap every split of a loaded task at `limit` rows, deterministically, in place.

    STS, pair-classification, clustering and summarization splits keep the first `limit` rows after
    a `seed` shuffle. Classification splits (train included, so the undersampling and the encoding
    stay small) use mteb's own `stratified_subsampling`: each label keeps its share of the rows,
    rounded up or down (it needs `limit` >= the number of labels). Retrieval tasks cannot be capped
    row by row (queries need their documents): use a smaller task such as SciFact-lite.
    """
    if isinstance(task, AbsTaskRetrieval):
        raise ValueError(f"{task.metadata.name}: a retrieval task cannot be capped at {limit} rows")
    capped = {}
    for subset, dataset in subset_datasets(task).items():
        if isinstance(task, AbsTaskClassification):
            splits = [s for s in dataset if len(dataset[s]) > limit]
            if splits:
                dataset = task.stratified_subsampling(
                    dataset, seed=seed, splits=splits, label=task.label_column_name, n_samples=limit
                )
        else:
            dataset = DatasetDict(
                {
                    s: d.shuffle(seed=seed).select(range(limit)) if len(d) > limit else d
                    for s, d in dataset.items()
                }
            )
        capped[subset] = dataset
    _set_subsets(task, capped)


def split_counts(task: AbsTask, data: Any) -> dict[str, int]:
    """What a split holds: `{"rows": n}`, or for retrieval `documents`, `queries`, `relevant_docs`."""
    if isinstance(task, AbsTaskRetrieval):
        qrels = sum(len(docs) for docs in data["relevant_docs"].values())
        return {"documents": len(data["corpus"]), "queries": len(data["queries"]), "relevant_docs": qrels}
    return {"rows": len(data)}


def _mteb_counts(task: AbsTask, stats: dict[str, Any]) -> dict[str, int | None]:
    """`split_counts`' measures from mteb's descriptive statistics of a split (None: not stated)."""
    if isinstance(task, AbsTaskRetrieval):
        qrels = (stats.get("relevant_docs_statistics") or {}).get("num_relevant_docs")
        return {
            "documents": stats.get("num_documents"),
            "queries": stats.get("num_queries"),
            "relevant_docs": qrels,
        }
    return {"rows": stats.get("num_samples")}


def check_rows(task: AbsTask, source: OfflineSource, root: Path) -> None:
    """Every split must hold what MTEB's dataset holds (mteb's `descriptive_stats`: rows; for
    retrieval documents, queries and qrels), or, for copies that are not MTEB's item list, what the
    assets README states (`OfflineSource.rows`).

    The second guard against a truncated or edited file, after `MANIFEST.json`: derived files (e.g.
    `biosses.tsv`) are not in the manifest, and a copy of the data root may have none. Raises
    `DataIntegrityError` naming the task, split, counts and files.
    """
    stats = task.metadata.descriptive_stats or {}
    reference = "MTEB's dataset has" if source.rows is None else "the assets README states"
    for subset, dataset in subset_datasets(task).items():
        for split, data in dataset.items():
            if source.rows is not None:
                expected: dict[str, int | None] = dict(source.rows[split])
            else:
                split_stats = stats.get(split, {})
                if subset != "default":
                    split_stats = split_stats.get("hf_subset_descriptive_stats", {}).get(subset, {})
                expected = _mteb_counts(task, split_stats)
            found = split_counts(task, data)
            wrong = [
                (what, found[what], n) for what, n in expected.items() if n is not None and found[what] != n
            ]
            if wrong:
                have = ", ".join(f"{count} {what}" for what, count, _ in wrong)
                want = ", ".join(str(n) if what == "rows" else f"{n} {what}" for what, _, n in wrong)
                raise DataIntegrityError(
                    f"{task.metadata.name} ({split}) has {have} from {root}, but {reference} {want}: a data "
                    f"file is truncated or changed ({', '.join(source.files)}). Restore the offline assets "
                    "(see their README.md), or unset T2T_DATA_DIR to load from the Hub."
                )


def offline_task(name: str, root: Path, limit: int | None = None) -> AbsTask:
    """The mteb task `name` with its dataset read from `root`, ready for `mteb.evaluate`.

    Mirrors `AbsTask.load_data`: the dataset is put where the Hub copy would go, the task's own
    `dataset_transform` runs, then `data_loaded = True` so mteb uses the data as is (and does not unload
    it after evaluating). `limit` then caps each split (see `cap_rows`); scores of capped tasks are
    for smoke tests only and are not comparable with MTEB's.
    """
    source: OfflineSource = choose(OFFLINE_SOURCES, name, "offline task")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of rows, got {limit}")
    task = source.task() if source.task is not None else mteb.get_task(name, **source.task_filters)
    _set_subsets(task, {source.hf_subset or "default": source.load(Path(root))})
    task.dataset_transform(num_proc=None)
    check_rows(task, source, Path(root))
    if limit is not None:
        cap_rows(task, limit)
    task.data_loaded = True
    return task
