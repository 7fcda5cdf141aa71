"""On the device: `edgewise delineate` on the shipped .onnx and .tflite with numpy + one runtime only.

Runs in the main venv (with the host stack made unimportable) and in the bare venv of scripts/test-bare.sh.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import edgewise

SHIPPED = Path(edgewise.__file__).parent / "models" / "pretrained" / "ecg"
RUN = ("import sys\nfor m in ('torch', 'tensorflow', 'onnx', 'keras', 'wfdb', 'scipy', 'nncf'):\n"
       "    sys.modules[m] = None\nfrom edgewise.cli import main\nsys.exit(main(sys.argv[1:]))\n")


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_delineate_artifact_without_host_stack(ludb_dir, fmt):
    if fmt == "tflite":
        pytest.importorskip("ai_edge_litert", reason="the LiteRT interpreter is part of the device install")
    model = SHIPPED / f"ecg-unet.{fmt}"
    out = subprocess.run([sys.executable, "-c", RUN, "delineate", str(ludb_dir / "data" / "1"), "--model", str(model),
                          "--json"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert obj["fs"] == 500 and obj["lead"] == "ii"
    qrs = [w for w in obj["waves"] if w["wave"] == "QRS"]
    # record 1, lead II: the annotated QRS onsets (sinus bradycardia) are all found within 20 ms
    from edgewise.runtime.ecg.io import read_mit_annotation

    sym, samp = read_mit_annotation(ludb_dir / "data" / "1.ii")
    true_on = [int(samp[i - 1]) for i, s in enumerate(sym) if s == "N" and i and sym[i - 1] == "("]
    assert all(min(abs(w["onset"] - t) for w in qrs) <= 10 for t in true_on)


def test_selftest_on_held_out_records_reproduces_the_recorded_f1(ludb_dir):
    """The device scores the held-out records by itself (its own WFDB reader, numpy + one runtime) and gets
    the lead II wave F1 that the host measured and recorded in the file when it was shipped."""
    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.ecg.selftest import selftest

    model = SHIPPED / "ecg-unet.onnx"
    meta = read_metadata(model)
    score = selftest(model, ludb_dir, meta["metrics"]["test_records"])
    assert score.counts["QRS on"].tp + score.counts["QRS on"].fn > 300
    recorded = meta["metrics"]["test_lead_ii"]["wave_f1"]
    assert {w: round(score.wave_f1(w), 6) for w in ("P", "QRS", "T")} == pytest.approx(recorded, abs=2e-6)
    assert score.wave_f1("QRS") > 0.99  # QRS is found essentially perfectly


def test_annotated_lead_reader_matches_record_1(ludb_dir):
    from edgewise.runtime.ecg.selftest import read_annotated_lead
    from edgewise.runtime.ecg.waves import Wave

    waves, span = read_annotated_lead(ludb_dir / "data" / "1", "ii")
    assert span == (644, 3996) and waves[0] == Wave("QRS", 644, 682, 662)
