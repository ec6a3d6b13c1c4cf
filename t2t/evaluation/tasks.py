"""Named task sets: which MTEB tasks a run evaluates, and where their data comes from.

Three sets (`TASK_SETS`):

- `mteb-eng-v2`: the 41 tasks of MTEB(eng, v2), the paper's benchmark, with the benchmark's own
  subset/split restrictions. Tasks mirrored under the data root (`t2t.evaluation.offline`) are fed
  from it; the rest keep mteb's lazy Hub loading (nothing is fetched until `mteb.evaluate` runs them).
- `offline`: the 9 mirrored tasks at full size, from local files (from the Hub when there is no
  data root). Scores equal MTEB's.
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
from pathlib import Path

import mteb
from mteb.abstasks import AbsTask

from t2t import paths
from t2t.config import ConfigError, choose
from t2t.evaluation.offline import OFFLINE_TASK_NAMES, cap_rows, offline_available, offline_task

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
            (`t2t.run.RunSpec.run_id`), and evaluating a stored run on another set of its pool only
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
        "the 9 tasks mirrored from local files, full size (scores equal MTEB's)",
        OFFLINE_TASK_NAMES,
        mirrored=True,
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
    DATA_ROOT = "t2t.paths.data_root()"


FROM_ENVIRONMENT = _Default.DATA_ROOT
"""Default of `get_tasks(data_root=...)`: ask `t2t.paths.data_root()` (T2T_DATA_DIR) at call time."""


def get_tasks(task_set: str, data_root: Path | None | _Default = FROM_ENVIRONMENT) -> list[AbsTask]:
    """The mteb task objects of a named set, ready for `mteb.evaluate(model, tasks, cache=None)`.

    Args:
        task_set: a key of `TASK_SETS`; anything else raises `ConfigError` listing the valid names.
        data_root: folder of the offline assets; default `t2t.paths.data_root()`. None means "no local
            data": every task then loads from the Hub as mteb does (capped sets load eagerly).
    """
    spec: TaskSet = choose(TASK_SETS, task_set, "task set")
    root = paths.data_root() if data_root is FROM_ENVIRONMENT else data_root
    if spec.mirrored:
        if root is None:
            logger.info("no data root (T2T_DATA_DIR): task set %s loads its tasks from the Hub", task_set)
            return [hub_task(name, spec.limit) for name in spec.tasks]
        return [offline_task(name, Path(root), spec.limit) for name in spec.tasks]
    return _benchmark_tasks(MTEB_ENG_V2, root)


def hub_task(name: str, limit: int | None = None) -> AbsTask:
    """The same task loaded from the Hub as mteb does (eagerly when it must be capped)."""
    task = copy.deepcopy(next(t for t in mteb.get_benchmark(MTEB_ENG_V2).tasks if t.metadata.name == name))
    if limit is not None:
        task.load_data()
        cap_rows(task, limit)
    return task


def _benchmark_tasks(benchmark: str, root: Path | None) -> list[AbsTask]:
    """A benchmark's tasks: mirrored ones read from `root`, the others fresh copies that load lazily."""
    tasks = []
    for task in mteb.get_benchmark(benchmark).tasks:
        name = task.metadata.name
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
    """The MTEB type of a task ("STS", "Classification", "Retrieval", ...), for grouping table columns."""
    try:
        return mteb.get_task(name).metadata.type
    except KeyError:
        raise ConfigError(f"unknown MTEB task {name!r}") from None
