"""Tokens one evaluation of a task encodes: the cost of a task, before running it.

Encoding is nearly all of an evaluation's time on the CPU, and it is proportional to tokens. So a
task set's budget is counted in tokens: the distinct texts mteb hands the encoder during one
evaluation (`encoded_texts`), formatted for the pooling (the PromptEOL template of last pooling
by default), tokenised and truncated at the evaluation's `max_length`, as
`t2t.embedding.pooling.tokenize` does, and summed.

Distinct per task: `t2t.embedding.encoder.Embedder` encodes identical texts of one call once, and a run's
embedding cache (`Runtime.embedding_cache`, on by default) answers the texts of a task's later calls
(STS' second column, retrieval's corpus after its queries) that it has already seen.

What mteb encodes, per task type (mteb 2.26):

- STS, pair classification: both text columns of the evaluated split(s).
- Classification: the test split and the union of the experiments' undersampled training rows
  (`t2t.evaluation.replay.classification_training_rows`), not the whole train split.
- Retrieval: the queries and the documents as `title + " " + text` (mteb's `_corpus_to_dict`).
- Clustering: the documents it embeds (`t2t.evaluation.replay.clustering_draws`).
- Summarization: the reference and the machine summaries (the articles are not encoded).

    python -m t2t.evaluation.token_count --task-set offline-balanced   # tokens per task, SmolLM2
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence

from mteb.abstasks import (
    AbsTask,
    AbsTaskClassification,
    AbsTaskPairClassification,
    AbsTaskRetrieval,
    AbsTaskSTS,
)
from mteb.abstasks.clustering import AbsTaskClustering
from mteb.abstasks.text.summarization import AbsTaskSummarization

from t2t.embedding.pooling import PoolingSpec, tokenize
from t2t.evaluation.offline import subset_datasets
from t2t.evaluation.replay import classification_training_rows, clustering_draws
from t2t.models.backbone_catalog import DEFAULT_BACKBONE

PROMPT_EOL_LAST = PoolingSpec(mode="last")
"""The default pooling counted: last-token pooling with the PromptEOL template (the paper's)."""


def _retrieval_texts(split) -> list[str]:
    documents = [
        (f"{title} {text}" if title else text).strip()
        for title, text in zip(split["corpus"]["title"], split["corpus"]["text"], strict=True)
    ]
    return [*split["queries"]["text"], *documents]


def _split_texts(task: AbsTask, data, split: str) -> list[str]:
    """The texts mteb encodes for one evaluated split of `task` (`data` as `subset_datasets` gives)."""
    if isinstance(task, AbsTaskRetrieval):
        return _retrieval_texts(data[split])
    if isinstance(task, AbsTaskClassification):
        train = data[task.train_split]
        rows = train.select(classification_training_rows(task, train))
        return [*rows[task.input_column_name], *data[split][task.input_column_name]]
    rows = data[split]
    if isinstance(task, AbsTaskSTS):
        return [*rows[task.column_names[0]], *rows[task.column_names[1]]]
    if isinstance(task, AbsTaskPairClassification):
        return [*rows[task.input1_column_name], *rows[task.input2_column_name]]
    if isinstance(task, AbsTaskClustering):
        embedded = clustering_draws(task, list(rows[task.label_column_name])).embedded
        return list(rows.select(embedded)[task.input_column_name])
    if isinstance(task, AbsTaskSummarization):
        human = [s for summaries in rows[task.human_summaries_column_name] for s in summaries]
        machine = [s for summaries in rows[task.machine_summaries_column_name] for s in summaries]
        return [*human, *machine]
    raise TypeError(f"{task.metadata.name}: no token count for {task.metadata.type} tasks")


def encoded_texts(task: AbsTask) -> list[str]:
    """The distinct texts one evaluation of a loaded task encodes, in first-seen order."""
    texts: list[str] = []
    for data in subset_datasets(task).values():
        for split in task.eval_splits:
            texts.extend(_split_texts(task, data, split))
    return list(dict.fromkeys(texts))


def count_tokens(
    texts: Sequence[str], tokenizer, pooling: PoolingSpec, max_length: int = 512, chunk: int = 256
) -> int:
    """Tokens of `texts` as the encoder feeds them: the rows `t2t.embedding.pooling.tokenize` builds for
    `pooling` (any registered mode: a PromptEOL template, an echo prompt's two copies, ...), counted
    by their attention masks, so padding is not counted and an empty text costs its one token.

    Texts go through in chunks of `chunk`, sorted by length, to keep the padded batches small.
    """
    ordered = sorted(texts, key=len)
    return sum(
        int(tokenize(ordered[i : i + chunk], tokenizer, pooling, max_length)["attention_mask"].sum())
        for i in range(0, len(ordered), chunk)
    )


def evaluation_tokens(
    task: AbsTask, tokenizer, pooling: PoolingSpec = PROMPT_EOL_LAST, max_length: int = 512
) -> int:
    """Tokens one evaluation of a loaded `task` encodes (module docstring)."""
    return count_tokens(encoded_texts(task), tokenizer, pooling, max_length)


def task_set_tokens(
    tasks: Iterable[AbsTask], tokenizer, pooling: PoolingSpec = PROMPT_EOL_LAST, max_length: int = 512
) -> dict[str, int]:
    """`{task name: tokens}` for the tasks of a set, in order."""
    return {task.metadata.name: evaluation_tokens(task, tokenizer, pooling, max_length) for task in tasks}


def main(argv: list[str] | None = None) -> None:
    from t2t.core.cli import integer
    from t2t.evaluation.tasks import TASK_SETS, get_tasks
    from t2t.models.backbones import load_tokenizer

    parser = argparse.ArgumentParser(description="Tokens one evaluation of each task of a set encodes.")
    parser.add_argument("--task-set", nargs="+", default=["offline"], choices=list(TASK_SETS))
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="whose tokenizer counts")
    parser.add_argument("--pooling", default="last", choices=["last", "mean"])
    parser.add_argument("--max-length", type=integer(minimum=1), default=512)
    args = parser.parse_args(argv)
    tokenizer = load_tokenizer(args.backbone)
    for name in args.task_set:
        counts = task_set_tokens(get_tasks(name), tokenizer, PoolingSpec(mode=args.pooling), args.max_length)
        print(f"{name} ({args.backbone} tokenizer, {args.pooling} pooling, max {args.max_length} tokens):")
        for task, tokens in counts.items():
            print(f"  {task:<40} {tokens:>9,}")
        print(f"  {'total':<40} {sum(counts.values()):>9,}")


if __name__ == "__main__":
    main()
