"""Rewriting an artifact's metadata keeps its graph; a derived (quantised) file carries its own self-check
and never the ISAs its source file was verified on."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnx")

from edgewise.export.metadata import update_metadata, without_file_facts  # noqa: E402
from edgewise.runtime.artifact import read_metadata  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained" / "ecg"


@pytest.mark.parametrize("name", ["ecg-unet.onnx", "ecg-unet.tflite"])
def test_update_merges_or_replaces_and_leaves_the_graph(tmp_path, name):
    pytest.importorskip("tensorflow") if name.endswith(".tflite") else None
    from edgewise.runtime.backends import load_model

    path = tmp_path / name
    shutil.copy(SHIPPED / name, path)
    before = read_metadata(path)
    update_metadata(path, {"metrics": {"extra": 1.5}})
    merged = read_metadata(path)
    assert merged["metrics"]["extra"] == 1.5 and merged["metrics"]["verified_isa"] == before["metrics"]["verified_isa"]
    update_metadata(path, {"metrics": {"only": 2}}, merge=False)
    assert read_metadata(path)["metrics"] == {"only": 2}
    x = np.zeros((1, 1, before["window"]), np.float32)
    np.testing.assert_array_equal(load_model(path).run(x), load_model(SHIPPED / name).run(x))


def test_without_file_facts_drops_what_was_measured_on_one_file():
    meta = {"task": "t", "selfcheck": {"v": 1}, "metrics": {"verified_isa": ["x"], "verified_runtimes": ["r"], "f1": 1}}
    assert without_file_facts(meta) == {"task": "t", "metrics": {"f1": 1}}
    assert "selfcheck" in meta  # the input is left as it was


def test_a_quantised_copy_gets_its_own_self_check_not_the_float_files_isas(tmp_path):
    from edgewise.compress.calibration import synthetic_windows
    from edgewise.compress.quantize_onnx import quantize_onnx
    from edgewise.runtime.backends import load_model
    from edgewise.runtime.selfcheck import check

    src = read_metadata(SHIPPED / "ecg-unet.onnx")
    assert src["metrics"]["verified_isa"] and src["selfcheck"]  # the shipped float file carries both
    q = quantize_onnx(SHIPPED / "ecg-unet.onnx", tmp_path / "q.onnx", synthetic_windows(8, window=src["window"], seed=0))
    meta = read_metadata(q)
    assert "verified_isa" not in meta["metrics"] and "verified_runtimes" not in meta["metrics"]
    assert meta["selfcheck"] != src["selfcheck"] and meta["selfcheck"]["atol"] > src["selfcheck"]["atol"]
    assert check(load_model(q), meta["selfcheck"], task=meta["task"]) == "ok"
