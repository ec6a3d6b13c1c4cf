"""Every bad input is one line, exit 2, and nothing written (issue 36, item 6).

Each case gives the command line its environment and arguments, and checks the first words of the
message (after "error: "), the exit code, that no traceback is printed and that nothing was
written under the results folder.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

import t2t.runs.preflight
from reproduce.__main__ import main
from reproduce.report import rebuild
from t2t.core.errors import report_user_errors

PLAN = ["table3", "--preset", "tiny", "--limit", "1"]


def backbone_folder(tmp_path: Path, tokenizer: bool = True, truncated: bool = False) -> str:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    if tokenizer:
        (folder / "tokenizer.json").write_text("{}")
    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    body = struct.pack("<Q", len(header)) + header + b"\0" * 16
    (folder / "model.safetensors").write_bytes(body[:-6] if truncated else body)
    return str(folder)


def case_missing_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("T2T_DATA_DIR", str(tmp_path / "no-such-assets"))
    return PLAN, "T2T_DATA_DIR="


def case_offline_without_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("T2T_DATA_DIR", "none")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return PLAN, "no data root and the Hugging Face Hub is offline"


def case_backbone_without_tokenizer(tmp_path, monkeypatch):
    return [*PLAN, "--backbone", backbone_folder(tmp_path, tokenizer=False)], "--backbone"


def case_truncated_weights(tmp_path, monkeypatch):
    return [*PLAN, "--backbone", backbone_folder(tmp_path, truncated=True)], "--backbone"


def case_read_only_results(tmp_path, monkeypatch):
    (tmp_path / "results").mkdir()
    real = t2t.runs.preflight.os.access
    monkeypatch.setattr(  # as root, only a read-only mount refuses writes: stand in for one
        t2t.runs.preflight.os,
        "access",
        lambda path, mode: Path(path) != tmp_path / "results" and real(path, mode),
    )
    return PLAN, f"{tmp_path / 'results'} is not writable"


def case_read_only_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("T2T_CACHE_DIR", str(tmp_path / "ro-cache"))
    (tmp_path / "ro-cache").mkdir()
    real = t2t.runs.preflight.os.access
    monkeypatch.setattr(
        t2t.runs.preflight.os,
        "access",
        lambda path, mode: Path(path) != tmp_path / "ro-cache" and real(path, mode),
    )
    return PLAN, f"{tmp_path / 'ro-cache'} is not writable"


def case_results_is_a_file(tmp_path, monkeypatch):
    (tmp_path / "results").rmdir() if (tmp_path / "results").is_dir() else None
    (tmp_path / "results").write_text("oops")
    return PLAN, "T2T_RESULTS_DIR="


def case_tables_on_a_mistyped_folder(tmp_path, monkeypatch):
    return ["tables"], f"{tmp_path / 'results'} has no manifests/ folder"


CASES = [
    case_missing_data_root,
    case_offline_without_data_root,
    case_backbone_without_tokenizer,
    case_truncated_weights,
    case_read_only_results,
    case_read_only_cache,
    case_results_is_a_file,
    case_tables_on_a_mistyped_folder,
]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("case_") for c in CASES])
def test_a_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, monkeypatch, capsys, cache, case):
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path / "results"))
    argv, words = case(tmp_path, monkeypatch)
    assert report_user_errors(main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {words}") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 2  # the message and the --debug hint
    results = tmp_path / "results"
    assert not results.is_dir() or not any(results.iterdir())


def test_ctrl_c_in_tables_says_nothing_is_half_written_and_exits_130(tmp_path, monkeypatch, capsys):
    (tmp_path / "manifests").mkdir()
    monkeypatch.setenv("T2T_RESULTS_DIR", str(tmp_path))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(rebuild, "write_output", interrupted)
    monkeypatch.setattr(rebuild, "outputs", lambda root=None: ["table3"])
    assert main(["tables"]) == 130
    assert capsys.readouterr().err.startswith("interrupted; nothing half-written")
