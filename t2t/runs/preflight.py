"""Check what a command will read and write before it plans or prints anything.

    check_folders()                 # the results and cache roots exist (or can) and are writable
    check_task_source("offline")    # a data root, or a Hub that can be reached
    check_backbone_folder(path)     # config, tokenizer and whole weight files in a local folder

Each failure is a `UserError` of one line that names the setting and the fix, raised before any
file is written, so the command lines (`t2t.core.errors.report_user_errors`) print it and exit 2. A
problem found half-way through a run instead (a Hub `ConnectionError` after the plan was printed, a
`SafetensorError` naming no file, an `OSError` on a read-only folder) is what these replace.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

from t2t.core.errors import UserError


class PreflightError(UserError, OSError):
    """An input or output location that would make the command fail later."""


def _writable(path: Path, what: str, variable: str) -> None:
    """`path` is a writable folder, or can be made one (its nearest existing parent is writable)."""
    if path.exists() and not path.is_dir():
        raise PreflightError(
            f"{variable}={path} is a file, not a folder: point {variable} at a folder ({what})."
        )
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise PreflightError(
            f"{probe} is not writable, so {what} cannot be written under {path}: make it writable, or point "
            f"{variable} at a writable folder."
        )


def check_folders() -> None:
    """The results root (`T2T_RESULTS_DIR`) and the cache root (`T2T_CACHE_DIR`) can be written."""
    from t2t.core.paths import results_location

    results = results_location()
    cache = Path(os.environ.get("T2T_CACHE_DIR", "~/.cache/t2t")).expanduser()
    _writable(results, "run folders, manifests and tables", "T2T_RESULTS_DIR")
    _writable(cache, "converted weights, adapters and embeddings", "T2T_CACHE_DIR")


def hub_offline() -> bool:
    """Whether the Hugging Face Hub is switched off for this process (`HF_HUB_OFFLINE`)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def check_task_source(task_set: str) -> None:
    """Tasks come from the data root, or from the Hub: not from nowhere. `T2T_DATA_DIR` at a missing
    folder, or no data root while the Hub is offline, is refused with the fix."""
    from t2t.core.paths import data_root
    from t2t.evaluation.tasks import TASK_SETS

    root = data_root()  # raises `DataRootMissing` for a T2T_DATA_DIR that is not a folder
    known = TASK_SETS.get(task_set)
    if root is None and hub_offline() and known is not None:
        raise PreflightError(
            f"no data root and the Hugging Face Hub is offline (HF_HUB_OFFLINE=1), so the tasks of "
            f"{task_set} cannot be loaded: set T2T_DATA_DIR to a copy of the offline assets, or unset "
            "HF_HUB_OFFLINE to load them from the Hub."
        )


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tiktoken.model")


def check_backbone_folder(backbone: str) -> None:
    """A local backbone folder has a `config.json`, a tokenizer (`TOKENIZER_FILES`) and weight files
    that are whole (each safetensors file as long as its header says). Not a folder: nothing to do."""
    folder = Path(backbone).expanduser()
    if not folder.is_dir():
        return
    if not (folder / "config.json").is_file():
        raise PreflightError(
            f"--backbone {folder}: no config.json, so it is not a Hugging Face model folder."
        )
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise PreflightError(
            f"--backbone {folder}: no tokenizer files (one of {', '.join(TOKENIZER_FILES)}): copy the "
            "model's tokenizer into the folder (`AutoTokenizer.from_pretrained(...).save_pretrained(folder)`)."
        )
    weights = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin"))
    if not weights:
        raise PreflightError(f"--backbone {folder}: no weight files (*.safetensors or *.bin).")
    for path in weights:
        if path.suffix == ".safetensors":
            problem = _safetensors_problem(path)
            if problem:
                raise PreflightError(
                    f"--backbone {folder}: {path.name} is {problem}: copy it again (a download or copy "
                    "was cut short)."
                )


def _safetensors_problem(path: Path) -> str:
    """Why a safetensors file is not whole ("" when it is): its 8-byte header length, JSON header
    and the largest tensor end offset must fit in the file."""
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            if length > size - 8:
                return f"truncated ({size:,} bytes; its header alone claims {length:,})"
            header = json.loads(handle.read(length))
    except (struct.error, ValueError, OSError) as error:
        return f"not a safetensors file ({type(error).__name__})"
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    needed = 8 + length + max(ends, default=0)
    return "" if size >= needed else f"truncated ({size:,} of {needed:,} bytes)"
