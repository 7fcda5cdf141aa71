"""`delineate`, `detect` and `run` without --model inside a deployed release use the release's recorded default;
an unusable record is one warning and the usual default (the JSON on stdout is unchanged either way)."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.runtime.defaults import DEFAULTS_NAME, DEFAULTS_SCHEMA

POSITIVE = "nsc2021_wingbeats_thai/Cx.Quin_1M_6D_25C_SmallCylinder_cut23.wav"
ECG_INT8 = PRETRAINED_DIR / "ecg" / "ecg-unet-int8.tflite"
MOSQUITO = PRETRAINED_DIR / "mosquito" / "model.tflite"


def cli(*argv: str) -> tuple[int, str, str]:
    from edgewise.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(argv))
    return rc, out.getvalue(), err.getvalue()


@pytest.fixture()
def release(tmp_path, monkeypatch) -> Path:
    """A release as deploy leaves it, with int8 TFLite (ECG) and fp32 TFLite (mosquito) recorded."""
    rel = tmp_path / "r1"
    (rel / "models").mkdir(parents=True)
    (rel / "bundle.json").write_text("{}")
    tasks = {}
    for task, src in (("ecg-delineation", ECG_INT8), ("mosquito-detection", MOSQUITO)):
        (rel / "models" / src.name).write_bytes(src.read_bytes())
        tasks[task] = {"model": f"models/{src.name}", "timing": "estimate", "p50_ms": 1.0,
                       "reason": f"chose {src.name}: a test"}
    (rel / DEFAULTS_NAME).write_text(json.dumps({"schema": DEFAULTS_SCHEMA, "tasks": tasks}))
    monkeypatch.setenv("EDGEWISE_RELEASE", str(rel))
    return rel


def test_delineate_uses_the_recorded_artifact(release, ludb_dir):
    record = str(ludb_dir / "data" / "1")
    rc, out, err = cli("delineate", record, "--json")
    assert rc == 0, err
    assert err == "edgewise: using models/ecg-unet-int8.tflite (this release's default for ecg-delineation, " \
                  "chosen at deploy)\n"
    rc, ref, _ = cli("delineate", record, "--json", "--model", str(ECG_INT8))
    assert rc == 0 and out == ref  # the same waves, beats and summary as naming the file


def test_a_corrupt_record_falls_back_with_one_warning(release, ludb_dir):
    (release / DEFAULTS_NAME).write_text("{ not json")
    record = str(ludb_dir / "data" / "1")
    rc, out, err = cli("delineate", record, "--json")
    assert rc == 0
    assert len(err.splitlines()) == 1 and err.startswith("edgewise: warning: ") and "is not valid JSON" in err
    rc, ref, _ = cli("delineate", record, "--json", "--model", str(PRETRAINED_DIR / "ecg" / "ecg-unet.onnx"))
    assert out == ref  # the shipped default, as before defaults existed


def test_detect_and_run_use_the_recorded_artifact(release, mosquito_dir):
    pytest.importorskip("soundfile")
    clip = str(mosquito_dir / POSITIVE)
    rc, out, err = cli("detect", clip, "--json")
    assert rc == 0, err
    assert "using models/model.tflite (this release's default for mosquito-detection" in err
    rc, ref, _ = cli("detect", clip, "--json", "--model", str(MOSQUITO))
    assert out == ref
    from edgewise._cli.run import _model

    assert _model(None, "ecg") == (release / "models" / ECG_INT8.name).resolve()
    assert _model(None, "mosquito") == (release / "models" / MOSQUITO.name).resolve()
