"""Named task sets: which MTEB tasks a run evaluates, and where their data comes from.

Four sets (`TASK_SETS`):

- `mteb-eng-v2`: the 41 tasks of MTEB(eng, v2), the paper's benchmark, with the benchmark's own
  subset/split restrictions. Tasks mirrored under the data root (`t2t.evaluation.offline`) are fed
  from it; the rest keep mteb's lazy Hub loading (nothing is fetched until `mteb.evaluate` runs them).
  Our variants of its tasks (`t2t.evaluation.partial_tasks`) carry other names and never stand in.
- `offline`: 7 STS and 2 classification tasks at full size, from local files (from the Hub when
  there is no data root). Scores equal MTEB's.
- `offline-balanced`: six task categories within `offline`'s token budget (`OFFLINE_BALANCED_TASKS`);
  three of its eight tasks are our smaller or partial variants, so only runs of the suite compare.
- `offline-lite`: 4 of the STS tasks capped at 128 pairs, for CI smoke tests on the CPU. Its scores
  are NOT comparable with MTEB's. (No classification task: mteb 2.26's classification evaluator
  spends ~5 s per task in sklearn metric checks iterating `datasets` columns row by row, which
  would dominate a smoke run of ~30 tiny models.)

Example:
    >>> [t.metadata.name for t in get_tasks("offline-lite")]
    ['STSBenchmark', 'SICK-R', 'BIOSSES', 'STS13']
    >>> task_category("STS12")
    'STS'
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import functools
import logging
from collections.abc import Sequence
from pathlib import Path

import mteb
from mteb.abstasks import AbsTask

from t2t.core import paths
from t2t.core.config import ConfigError, choose
from t2t.evaluation.data_files import OfflineDataError
from t2t.evaluation.offline import cap_rows, offline_available, offline_task
from t2t.evaluation.partial_tasks import LOCAL_TASKS, task_metadata

logger = logging.getLogger(__name__)

MTEB_ENG_V2 = "MTEB(eng, v2)"

MTEB_ENG_V2_TASKS: tuple[str, ...] = (
    # Classification (8)
    "AmazonCounterfactualClassification",
    "Banking77Classification",
    "ImdbClassification",
    "MTOPDomainClassification",
    "MassiveIntentClassification",
    "MassiveScenarioClassification",
    "ToxicConversationsClassification",
    "TweetSentimentExtractionClassification",
    # Clustering (8)
    "ArXivHierarchicalClusteringP2P",
    "ArXivHierarchicalClusteringS2S",
    "BiorxivClusteringP2P.v2",
    "MedrxivClusteringP2P.v2",
    "MedrxivClusteringS2S.v2",
    "StackExchangeClustering.v2",
    "StackExchangeClusteringP2P.v2",
    "TwentyNewsgroupsClustering.v2",
    # PairClassification (3)
    "SprintDuplicateQuestions",
    "TwitterSemEval2015",
    "TwitterURLCorpus",
    # Reranking (2)
    "AskUbuntuDupQuestions",
    "MindSmallReranking",
    # Retrieval (10)
    "ArguAna",
    "CQADupstackGamingRetrieval",
    "CQADupstackUnixRetrieval",
    "ClimateFEVERHardNegatives",
    "FEVERHardNegatives",
    "FiQA2018",
    "HotpotQAHardNegatives",
    "SCIDOCS",
    "TRECCOVID",
    "Touche2020Retrieval.v3",
    # STS (9)
    "BIOSSES",
    "SICK-R",
    "STS12",
    "STS13",
    "STS14",
    "STS15",
    "STS17",
    "STS22.v2",
    "STSBenchmark",
    # Summarization (1)
    "SummEvalSummarization.v2",
)
"""The tasks of `mteb.get_benchmark("MTEB(eng, v2)")` (mteb 2.26), grouped by type. A catalogue for
table builders; `get_tasks` itself reads the benchmark, and a test keeps the two equal."""


STS_AND_CLASSIFICATION_TASKS: tuple[str, ...] = (
    "STSBenchmark",
    "SICK-R",
    "STS12",
    "STS13",
    "STS14",
    "STS15",
    "BIOSSES",
    "Banking77Classification",
    "AmazonCounterfactualClassification",
)
"""The `offline` set: the 7 STS and 2 classification tasks of MTEB(eng, v2) mirrored first."""

OFFLINE_BALANCED_TASKS: tuple[str, ...] = (
    # STS (2 of the 7 mirrored; STS12-15 and SICK-R are more of the same kind of sentence pair)
    "STSBenchmark",
    "BIOSSES",
    # Classification (2)
    "Banking77Classification",
    "AmazonCounterfactualClassification",
    # Retrieval, Clustering, PairClassification, Summarization (1 each)
    "SciFact-lite",
    "TwentyNewsgroupsClustering-bydate-test",
    "TwitterURLCorpus-testpart-lite",
    "SummEvalSummarization.v2",
)
"""The `offline-balanced` set: six task categories within the `offline` set's token budget.

Tokens one evaluation encodes (`t2t.evaluation.token_count`; SmolLM2-135M's tokenizer, last
pooling with PromptEOL, texts cut at 512 tokens, distinct texts per task):

    offline (today's 9 tasks)                    offline-balanced
    STSBenchmark                     56,555      STSBenchmark                             56,555
    SICK-R                          123,596      BIOSSES                                   8,377
    STS12                           125,355      Banking77Classification                 172,263
    STS13                            57,907      AmazonCounterfactualClassification       41,322
    STS14                           144,204      SciFact-lite                            203,716
    STS15                           120,605      TwentyNewsgroupsClustering-bydate-test   32,682
    BIOSSES                           8,377      TwitterURLCorpus-testpart-lite          105,790
    Banking77Classification         172,263      SummEvalSummarization.v2                209,754
    AmazonCounterfactualClassif.     41,322
    total                           850,184      total                                   830,459

How the budget was spent (our choices): the four new categories first, each at a size that still
gives a usable interval (SummEval whole, as it is MTEB's only summarization task: 100 articles;
SciFact's 300 claims against 600 abstracts; 3,000 tweet pairs; the 2,381 posts MTEB's own 20NG
protocol embeds), both classification tasks, then STS with what is left: STSBenchmark (the
canonical general-domain pairs) and BIOSSES (biomedical, 8k tokens). SICK-R and STS12-15 are
the pairs dropped. Three tasks are not MTEB's item list and say so in their names
(`t2t.evaluation.partial_tasks.PARTIAL_TASKS`): this set's average is comparable between runs of the
suite, not with MTEB's leaderboard.
"""


@dataclasses.dataclass(frozen=True)
class TaskSet:
    """A named list of MTEB tasks.

    Attributes:
        name: the set's name, as given on the command line.
        description: one line for `--help` and reports.
        tasks: MTEB task names, in evaluation order.
        mirrored: every task is mirrored: read from the data root when there is one, else from the Hub.
        limit: cap on the rows of each split (see `offline.cap_rows`); None = full size.
        pool: the set whose runs this one shares (default: itself). A task scores the same in every
            set that takes it at full size from the same source, so sets of one pool share run
            folders: a run id is computed with the pool in place of the set's name
            (`t2t.runs.run.RunSpec.run_id`), and evaluating a stored run on another set of its pool only
            adds the tasks it lacks. `offline-lite` caps rows (other scores): a pool of its own.
    """

    name: str
    description: str
    tasks: tuple[str, ...]
    mirrored: bool
    limit: int | None = None
    pool: str | None = None

    @property
    def pool_name(self) -> str:
        return self.pool or self.name


TASK_SETS: dict[str, TaskSet] = {
    "mteb-eng-v2": TaskSet(
        "mteb-eng-v2",
        "MTEB(eng, v2), 41 tasks: mirrored ones from the data root, the rest from the Hub",
        MTEB_ENG_V2_TASKS,
        mirrored=False,
    ),
    "offline": TaskSet(
        "offline",
        "the 9 STS and classification tasks mirrored from local files, full size (scores equal MTEB's)",
        STS_AND_CLASSIFICATION_TASKS,
        mirrored=True,
    ),
    "offline-balanced": TaskSet(
        "offline-balanced",
        "8 offline tasks over six categories (STS, classification, retrieval, clustering, pair "
        "classification, summarization) within offline's token budget; 3 are our variants",
        OFFLINE_BALANCED_TASKS,
        mirrored=True,
        pool="offline",  # its full-size tasks score as in `offline`: runs evaluated on both are one run
    ),
    "offline-lite": TaskSet(
        "offline-lite",
        "CI smoke set: 4 mirrored STS tasks capped at 128 pairs (not comparable with MTEB)",
        ("STSBenchmark", "SICK-R", "BIOSSES", "STS13"),
        mirrored=True,
        limit=128,
    ),
}


class _Default(enum.Enum):
    DATA_ROOT = "t2t.core.paths.data_root()"


FROM_ENVIRONMENT = _Default.DATA_ROOT
"""Default of `get_tasks(data_root=...)`: ask `t2t.core.paths.data_root()` (T2T_DATA_DIR) at call time."""


def get_tasks(
    task_set: str, data_root: Path | None | _Default = FROM_ENVIRONMENT, only: Sequence[str] | None = None
) -> list[AbsTask]:
    """The mteb task objects of a named set, ready for `mteb.evaluate(model, tasks, cache=None)`.

    Args:
        task_set: a key of `TASK_SETS`; anything else raises `ConfigError` listing the valid names.
        data_root: folder of the offline assets; default `t2t.core.paths.data_root()`. None means "no local
            data": every task then loads from the Hub as mteb does (capped sets load eagerly).
        only: these of the set's tasks (still in the set's order), e.g. a run restricted to some task
            types (`t2t.evaluation.task_types`): no other task's data is read. None: every task.
    """
    spec: TaskSet = choose(TASK_SETS, task_set, "task set")
    root = paths.data_root() if data_root is FROM_ENVIRONMENT else data_root
    names = [name for name in spec.tasks if only is None or name in only]
    if spec.mirrored:
        if root is None:
            logger.info("no data root (T2T_DATA_DIR): task set %s loads its tasks from the Hub", task_set)
            return [hub_task(name, spec.limit) for name in names]
        return [offline_task(name, Path(root), spec.limit) for name in names]
    return _benchmark_tasks(MTEB_ENG_V2, root, names)


def hub_task(name: str, limit: int | None = None) -> AbsTask:
    """The same task loaded from the Hub as mteb does (eagerly when it must be capped): with
    MTEB(eng, v2)'s restrictions when it is one of its tasks. Our own variants
    (`t2t.evaluation.partial_tasks`) exist only offline: `OfflineDataError`."""
    if name in LOCAL_TASKS:
        raise OfflineDataError(
            f"{name} is built from the offline assets only (it is not on the Hub): set T2T_DATA_DIR to a "
            "copy of shared/assets."
        )
    benchmark = [t for t in mteb.get_benchmark(MTEB_ENG_V2).tasks if t.metadata.name == name]
    task = copy.deepcopy(benchmark[0]) if benchmark else mteb.get_task(name)
    if limit is not None:
        task.load_data()
        cap_rows(task, limit)
    return task


def _benchmark_tasks(benchmark: str, root: Path | None, names: Sequence[str]) -> list[AbsTask]:
    """A benchmark's tasks of `names`: mirrored ones read from `root`, the others fresh copies that
    load lazily."""
    tasks = []
    for task in mteb.get_benchmark(benchmark).tasks:
        name = task.metadata.name
        if name not in names:
            continue
        if offline_available(name, root):
            tasks.append(offline_task(name, Path(root)))
        else:
            tasks.append(copy.deepcopy(task))  # the benchmark's objects are shared module state
    mirrored = [t.metadata.name for t in tasks if t.data_loaded]
    logger.info(
        "%s: %d tasks, %d from %s: %s", benchmark, len(tasks), len(mirrored), root, ", ".join(mirrored)
    )
    return tasks


@functools.cache
def task_category(name: str) -> str:
    """The MTEB type of a task ("STS", "Classification", "Retrieval", ...), for grouping table columns;
    our variants (`t2t.evaluation.partial_tasks`) have their MTEB task's type."""
    try:
        return task_metadata(name).type
    except KeyError:
        raise ConfigError(f"unknown MTEB task {name!r}") from None
