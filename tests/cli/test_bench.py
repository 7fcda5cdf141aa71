"""`edgewise bench`: JSON lines per model x thread count, filed in the results store, the report, and a
loud failure when an artifact's self-check does not match."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgewise.cli import main

SHIPPED = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained"
ECG_INT8 = SHIPPED / "ecg" / "ecg-unet-int8.onnx"
MOSQ = SHIPPED / "mosquito" / "model.tflite"


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEWISE_CONFIG", str(tmp_path / "devices.toml"))
    monkeypatch.setenv("EDGEWISE_DB", str(tmp_path / "results.sqlite"))
    return tmp_path


def test_bench_json_lines_are_stored_and_reported(env, capsys):
    pytest.importorskip("ai_edge_litert")
    from edgewise.devices.store import ResultsStore

    assert main(["bench", str(ECG_INT8), str(MOSQ), "--threads", "1,2", "--runs", "5", "--json"]) == 0
    lines = [json.loads(s) for s in capsys.readouterr().out.splitlines() if s.startswith("{")]
    assert [(r["model"], r["threads"]) for r in lines] == [
        (ECG_INT8.name, 1), (ECG_INT8.name, 2), (MOSQ.name, 1), (MOSQ.name, 2)]
    assert all(r["selfcheck"] == "ok" and r["runs"] == 5 for r in lines)  # shipped artifacts carry references
    assert {r["unit"] for r in lines} == {"10 s of ECG at 500 Hz (1 window)", "2 s of audio at 8000 Hz (1 window)"}
    rows = ResultsStore(env / "results.sqlite").query()
    assert len(rows) == 4 and {r["device"] for r in rows} == {"this-machine"}
    assert main(["bench", "report"]) == 0
    text = capsys.readouterr().out
    assert "this-machine" in text and ECG_INT8.name in text and "pi5" in text  # estimates for built-in profiles


def test_a_self_check_mismatch_fails_loudly(env, capsys):
    pytest.importorskip("onnx")
    from edgewise.export.metadata import update_metadata
    from edgewise.runtime.artifact import read_metadata

    bad = env / "tampered.onnx"
    shutil.copy(ECG_INT8, bad)
    ref = read_metadata(bad)["selfcheck"]
    ref["values"][1][4] += 1.0  # what the file computes no longer matches what it says it computes
    update_metadata(bad, {"selfcheck": ref})
    assert main(["bench", str(bad), "--runs", "3", "--no-store"]) == 3
    err = capsys.readouterr().err
    assert "tampered.onnx failed its self-check on this-machine: mismatch: output channel 1" in err


@pytest.mark.parametrize(("argv", "msg"), [
    (["--threads", "0"], "--threads takes comma-separated positive integers"),
    (["--threads", "a,b"], "--threads takes comma-separated positive integers"),
    (["--device", "nope"], "nope"),
], ids=["zero-threads", "not-numbers", "unknown-device"])
def test_bad_arguments_are_one_line_errors(env, capsys, argv, msg):
    assert main(["bench", str(ECG_INT8), "--runs", "3", *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgewise: error:") and msg in err[0]


def test_missing_model_file(env, capsys):
    assert main(["bench", str(env / "missing.onnx"), "--runs", "3"]) == 2
    assert "no model artifact at" in capsys.readouterr().err
