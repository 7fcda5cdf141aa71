"""The timing core of `edgewise bench` and the artifacts' self-check, on the tiny committed fixtures
(numpy + onnxruntime / LiteRT only: this file runs in the bare device venv and in the arm64 test bed)."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.selfcheck import check, make_reference, reference_input

FIX = Path(__file__).parent / "fixtures"
REQUIRED = {"model", "sha256", "format", "precision", "runtime", "runtime_version", "threads", "load_ms", "first_ms",
            "p50_ms", "p90_ms", "p99_ms", "mean_ms", "runs", "peak_rss_mb", "realtime_factor", "device", "emulated",
            "isa", "selfcheck"}


def _litert_or_skip(name: str) -> None:
    if name.endswith(".tflite"):
        pytest.importorskip("ai_edge_litert")


@pytest.mark.parametrize("name", ["tiny.onnx", "tiny.tflite"])
def test_bench_reports_every_field_of_one_measurement(name):
    _litert_or_skip(name)
    from edgewise.runtime.bench import bench

    r = bench(FIX / name, runs=25, warmup=2)
    assert REQUIRED <= set(r)
    assert r["runs"] == 25 and r["threads"] == 1 and r["warmup_runs"] == 2
    assert 0 < r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
    assert r["load_ms"] > 0 and r["first_ms"] > 0 and r["model_p50_ms"] > 0 and r["peak_rss_mb"] > 10
    assert r["sha256"] == hashlib.sha256((FIX / name).read_bytes()).hexdigest()
    assert r["size_bytes"] == (FIX / name).stat().st_size
    assert r["format"] == name.split(".")[1] and r["runtime"] == ("onnxruntime" if name.endswith("onnx") else "litert")
    assert r["selfcheck"] == "no reference"  # the fixtures predate self-checks
    json.dumps(r)  # JSON-able as it is


def test_bench_time_budget_and_bad_arguments():
    from edgewise.runtime.bench import bench

    r = bench(FIX / "tiny.onnx", seconds=0.2, warmup=0)
    assert r["runs"] >= 10  # at least ten, however short the budget
    for kw, msg in ((dict(threads=0), "threads"), (dict(runs=0), "runs"), (dict(seconds=-1.0), "seconds")):
        with pytest.raises(ValueError, match=msg):
            bench(FIX / "tiny.onnx", **kw)


def test_reference_input_is_the_same_bits_everywhere():
    # built from integer arithmetic and IEEE-exact float32 operations only: these digests hold on every
    # CPU and numpy version (checked natively, under qemu-x86_64 -cpu max and in the arm64 test bed)
    ecg = reference_input((1, 2048), task="ecg-delineation")
    walk = reference_input((64, 63), task="mosquito-detection")
    assert ecg.shape == (1, 1, 2048) and ecg.dtype == np.float32 and walk.shape == (1, 64, 63)
    assert abs(float(np.median(ecg))) < 1e-6 and abs(float(ecg.std()) - 1) < 1e-3
    digests = [hashlib.sha256(a.tobytes()).hexdigest()[:16] for a in (ecg, walk)]
    assert digests == EXPECTED_DIGESTS, digests


EXPECTED_DIGESTS = ["96cb7ad9c96e52dd", "9354d27592a1d6b3"]


def test_self_check_passes_on_its_own_reference_and_names_a_mismatch():
    from edgewise.runtime.backends import load_model

    m = load_model(FIX / "tiny.onnx")
    ref = make_reference(m, task="ecg-delineation", atol=1e-4)
    assert check(m, ref, task="ecg-delineation") == "ok"
    assert len(json.dumps(ref, separators=(",", ":"))) < 1200  # small enough to embed in an int8 file
    bad = json.loads(json.dumps(ref))
    bad["values"][2][3] += 0.01
    msg = check(m, bad, task="ecg-delineation")
    assert msg.startswith("mismatch: output channel 2 at position") and "tolerance 0.0001" in msg
    assert check(m, None, task="ecg-delineation") == "no reference"
    assert check(m, {"values": 1}, task="ecg-delineation").startswith("mismatch: unreadable")
    wrong_shape = dict(ref, positions=ref["positions"][:-1])
    assert "does not match the reference" in check(m, wrong_shape, task="ecg-delineation")


def test_module_entry_point_prints_one_json_line_and_fails_clearly():
    ok = subprocess.run([sys.executable, "-m", "edgewise.runtime.bench", str(FIX / "tiny.onnx"), "--runs", "5"],
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout.strip())["runs"] == 5
    bad = subprocess.run([sys.executable, "-m", "edgewise.runtime.bench", str(FIX / "missing.onnx")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "no model artifact" in json.loads(bad.stdout.strip())["error"]


def test_cli_bench_json_runs_without_the_host_stack(tmp_path):
    # the device install: `edgewise bench --json` with torch, tensorflow and onnx unimportable
    code = ("import sys\nfor m in ('torch', 'tensorflow', 'onnx'):\n    sys.modules[m] = None\n"
            "from edgewise.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    p = subprocess.run([sys.executable, "-c", code, "bench", str(FIX / "tiny.onnx"), "--runs", "3", "--json",
                        "--db", str(tmp_path / "r.sqlite")], capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stderr
    [line] = [json.loads(s) for s in p.stdout.splitlines() if s.startswith("{")]
    assert line["model"] == "tiny.onnx" and line["runs"] == 3 and line["device"] == "this-machine"
    assert (tmp_path / "r.sqlite").is_file()  # filed in the results store (sqlite3 is standard library)
