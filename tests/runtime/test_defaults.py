"""The device side of per-task defaults: reading a release's defaults.json, and falling back without a crash."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from edgewise.runtime.defaults import DEFAULTS_NAME, DEFAULTS_SCHEMA, recorded_default, release_dir

SHIPPED = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained" / "ecg"
TASK = "ecg-delineation"


def _doc(model: str = "models/ecg-unet-int8.tflite", **over) -> dict:
    entry = {"model": model, "sha256": "0" * 64, "timing": "measured", "p50_ms": 10.1,
             "reason": "chose ecg-unet-int8.tflite: 10.1 ms vs 41.0 ms fp32 ONNX"}
    return {"schema": DEFAULTS_SCHEMA, "device": "pi", "auto_select": True, "tasks": {TASK: entry}, **over}


@pytest.fixture()
def release(tmp_path) -> Path:
    """A release folder as deploy leaves it: bundle.json, models/, defaults.json."""
    rel = tmp_path / "releases" / "r1"
    (rel / "models").mkdir(parents=True)
    (rel / "bundle.json").write_text("{}")
    (rel / "models" / "ecg-unet-int8.tflite").write_bytes((SHIPPED / "ecg-unet-int8.tflite").read_bytes())
    (rel / DEFAULTS_NAME).write_text(json.dumps(_doc()))
    return rel


def test_the_recorded_artifact_is_found(release):
    rec = recorded_default(TASK, release=release, warn=pytest.fail)
    assert rec.path == (release / "models" / "ecg-unet-int8.tflite").resolve()
    assert rec.model == "models/ecg-unet-int8.tflite" and rec.reason.startswith("chose ")


def test_a_task_without_a_record_is_silent(release):
    assert recorded_default("mosquito-detection", release=release, warn=pytest.fail) is None


def test_the_release_is_the_folder_of_the_running_venv(release, tmp_path, monkeypatch):
    monkeypatch.delenv("EDGEWISE_RELEASE", raising=False)
    monkeypatch.setattr(sys, "base_prefix", "/usr")
    monkeypatch.setattr(sys, "prefix", str(release / "venv"))  # <release>/venv/bin/edgewise
    assert release_dir() == release.resolve()
    assert recorded_default(TASK, warn=pytest.fail).path.name == "ecg-unet-int8.tflite"
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "work" / ".venv"))  # a workstation's venv: no bundle.json
    assert release_dir() is None and recorded_default(TASK, warn=pytest.fail) is None
    monkeypatch.setattr(sys, "prefix", "/usr")  # no venv at all
    assert release_dir() is None


def test_release_dir_follows_the_environment(release, monkeypatch):
    monkeypatch.setenv("EDGEWISE_RELEASE", str(release))
    assert release_dir() == release
    assert recorded_default(TASK, warn=pytest.fail).path.name == "ecg-unet-int8.tflite"


def _break(release: Path, how: str) -> None:
    path = release / DEFAULTS_NAME
    if how == "missing":
        path.unlink()
    elif how == "not-json":
        path.write_bytes(b'{"schema": "edgewise-defaults/1", "tasks": {')
    elif how == "binary":
        path.write_bytes(bytes(range(256)) * 10)
    elif how == "newer-schema":
        path.write_text(json.dumps(_doc(schema="edgewise-defaults/9")))
    elif how == "dotdot":
        path.write_text(json.dumps(_doc(model="models/../../../etc/passwd")))
    elif how == "absolute":
        path.write_text(json.dumps(_doc(model="/etc/passwd")))
    elif how == "escaping-link":
        (release / "models" / "elsewhere.onnx").symlink_to(SHIPPED / "ecg-unet.onnx")
        path.write_text(json.dumps(_doc(model="models/elsewhere.onnx")))
    elif how == "model-gone":
        (release / "models" / "ecg-unet-int8.tflite").unlink()
    elif how == "huge":
        path.write_text(json.dumps(_doc(note="x" * (2 << 20))))
    elif how == "deep":
        path.write_text('{"schema": "edgewise-defaults/1", "tasks": {}, "x": ' + "[" * 5000 + "]" * 5000 + "}")
    elif how == "not-an-object":
        path.write_text("[1, 2, 3]")


CASES = {"missing": "is missing", "not-json": "is not valid JSON", "binary": "is not valid JSON",
         "newer-schema": "a newer schema needs a newer edgewise", "dotdot": "a path models/<file> inside the release",
         "absolute": "a path models/<file> inside the release", "escaping-link": "lies outside the release",
         "model-gone": "is not in the release", "huge": "the limit is 1 MB", "deep": "nested deeper than",
         "not-an-object": "not a JSON object"}


@pytest.mark.parametrize("how", list(CASES), ids=list(CASES))
def test_an_unusable_record_is_one_warning_and_no_default(release, how):
    _break(release, how)
    said: list[str] = []
    assert recorded_default(TASK, release=release, warn=said.append) is None
    assert len(said) == 1 and CASES[how] in said[0] and "\n" not in said[0], said
    assert said[0].endswith("using the model this command uses without a recorded default")


def test_the_default_warning_goes_to_stderr_as_one_line(release, capsys):
    (release / DEFAULTS_NAME).write_text("garbage")
    assert recorded_default(TASK, release=release) is None
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("edgewise: warning: ") and "defaults.json" in err
