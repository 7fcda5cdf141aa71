"""The shipped ECG Hydra: listed with its heads, and on the device runtime it reports how much to trust an
input — a real held-out strip is familiar, mains hum from a loose electrode is not (3-30x the threshold
on every file, where real strips sit below 0.2x; subtler corruption is often missed, see the model card)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from edgewise.models.pretrained import PRETRAINED_DIR

FOLDER = PRETRAINED_DIR / "ecg-hydra"


def _edgewise(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgewise", *args], capture_output=True, text=True, timeout=300)


def test_models_list_shows_the_hydra_heads():
    rows = [r for r in json.loads(_edgewise("models", "list", "--json").stdout) if r["folder"] == "ecg-hydra"]
    assert {(r["format"], r["precision"]) for r in rows} >= {("onnx", "fp32"), ("onnx", "int8"), ("tflite", "fp32"),
                                                             ("tflite", "int8"), ("torch", "fp32")}
    assert all(r.get("heads") == 5 for r in rows) and not any(r.get("error") for r in rows)


@pytest.mark.parametrize("name", ["ecg-unet-hydra.onnx", "ecg-unet-hydra-int8.onnx", "ecg-unet-hydra-int8.tflite"])
def test_hydra_flags_a_strip_unlike_ecg(ludb_dir, tmp_path, name):
    from edgewise.data.ludb import read_record
    from edgewise.runtime.artifact import read_metadata

    model = FOLDER / name
    rid = read_metadata(model)["training"]["test_records"][0]
    strip = read_record(ludb_dir, rid).lead("ii")
    np.save(tmp_path / "real.npy", strip.astype(np.float32))
    hum = 0.5 * np.sin(2 * np.pi * 50 * np.arange(strip.size) / 500)  # an electrode off: 50-Hz mains pickup
    np.save(tmp_path / "noise.npy", hum.astype(np.float32))
    res = _edgewise("delineate", str(tmp_path / "real.npy"), str(tmp_path / "noise.npy"), "--fs", "500",
                    "--model", str(model), "--json")
    assert res.returncode == 0, res.stderr
    real, noise = (json.loads(line) for line in res.stdout.splitlines())
    t = read_metadata(model)["uncertainty_threshold"]
    assert real["uncertainty"]["threshold"] == noise["uncertainty"]["threshold"] == t
    assert real["uncertainty"]["unfamiliar"] is False and noise["uncertainty"]["unfamiliar"] is True
    assert all(0 <= w["confidence"] <= 1 for w in real["waves"])
    text = _edgewise("delineate", str(tmp_path / "noise.npy"), "--fs", "500", "--model", str(model))
    assert "unlike its training ECG" in text.stdout
