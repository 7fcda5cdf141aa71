"""CLI contracts of `edgewise delineate`, `evaluate ecg` and `models list`, and clear errors for bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgewise.models.pretrained import PRETRAINED_DIR

ECG_DIR = PRETRAINED_DIR / "ecg"
BLOCK_HOST = ("import sys\nfor m in ('torch', 'tensorflow', 'onnx', 'keras', 'wfdb', 'scipy'):\n    sys.modules[m] = None\n"
              "from edgewise.cli import main\nsys.exit(main(sys.argv[1:]))\n")


def run(*args: str, block_host: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", BLOCK_HOST, *args] if block_host else [sys.executable, "-m", "edgewise", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def record(ludb_dir) -> str:
    return str(ludb_dir / "data" / "1")


def test_delineate_json_contract(record):
    out = run("delineate", record, "--json")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert set(obj) == {"input", "fs", "lead", "waves", "beats", "summary"}
    assert obj["input"] == record and obj["fs"] == 500 and obj["lead"] == "ii"
    kinds = {w["wave"] for w in obj["waves"]}
    assert kinds == {"P", "QRS", "T"}
    assert all(set(w) == {"wave", "onset", "offset"} and 0 <= w["onset"] <= w["offset"] < 5000 for w in obj["waves"])
    # record 1 lead II is sinus bradycardia: every annotated QRS is found within 20 ms, and no more than
    # the ~8 beats that 10 s at about 48 bpm hold
    from edgewise.data.ludb import read_record

    ann = [w.onset for w in read_record(Path(record).parent, 1).waves["ii"] if w.kind == "QRS"]
    qrs = [w["onset"] for w in obj["waves"] if w["wave"] == "QRS"]
    assert all(min(abs(q - t) for q in qrs) <= 10 for t in ann) and len(qrs) <= 9


@pytest.mark.parametrize("fmt", ["onnx", "tflite"])
def test_delineate_on_device_without_host_stack(record, tmp_path, fmt):
    """The wall: delineate runs an artifact with torch, tensorflow, onnx, wfdb and scipy unimportable."""
    model = ECG_DIR / f"ecg-unet.{fmt}"
    out = run("delineate", record, "--model", str(model), "--json", block_host=True)
    assert out.returncode == 0, out.stderr
    ref = run("delineate", record, "--model", str(ECG_DIR / "ecg-unet.pt"), "--json")
    assert json.loads(out.stdout)["waves"] == json.loads(ref.stdout)["waves"]


def test_npy_and_csv_at_another_rate(record, tmp_path):
    from edgewise.data.ludb import read_record
    from scipy.signal import resample_poly

    r = read_record(Path(record).parent, 1)
    x250 = resample_poly(r.lead("ii"), 1, 2).astype(np.float32)
    np.save(tmp_path / "x.npy", x250)
    np.savetxt(tmp_path / "x.csv", np.stack([x250, -x250], 1), delimiter=",", header="ii,avr", comments="")
    a = run("delineate", str(tmp_path / "x.npy"), str(tmp_path / "x.csv"), "--fs", "250", "--json")
    assert a.returncode == 0, a.stderr
    objs = [json.loads(line) for line in a.stdout.splitlines()]
    assert [o["fs"] for o in objs] == [250, 250] and objs[1]["lead"] == "ii"
    assert objs[0]["waves"] == objs[1]["waves"]
    qrs = [w["onset"] for w in objs[0]["waves"] if w["wave"] == "QRS"]
    ref = [w.onset // 2 for w in r.waves["ii"] if w.kind == "QRS"]
    # every annotated QRS onset is found within 20 ms at 250 Hz
    assert all(min(abs(q - t) for q in qrs) <= 5 for t in ref)


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], str]]:
    np.save(tmp / "short.npy", np.zeros(500, np.float32))
    nan = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    nan[100] = np.nan
    np.save(tmp / "nan.npy", nan)
    (tmp / "text.csv").write_text("ii\n0.1\n0.2\nhello\n0.3\n")
    np.save(tmp / "ok.npy", np.zeros(5000, np.float32))
    return {
        "missing file": ([str(tmp / "nope.npy"), "--fs", "500"], "no such input"),
        "unknown lead": ([str(tmp / "ok.npy"), "--fs", "500", "--lead", "v9"], "unknown lead"),
        "shorter than 2 s": ([str(tmp / "short.npy"), "--fs", "500"], "at least 2 s"),
        "NaNs": ([str(tmp / "nan.npy"), "--fs", "500"], "NaN"),
        "no rate": ([str(tmp / "ok.npy")], "pass --fs"),
        "wrong rate": ([str(tmp / "ok.npy"), "--fs", "5"], "plausible ECG rate"),
        "CSV with text": ([str(tmp / "text.csv"), "--fs", "500"], "line 4 is not numeric"),
    }


@pytest.mark.parametrize("case", ["missing file", "unknown lead", "shorter than 2 s", "NaNs", "no rate", "wrong rate",
                                  "CSV with text"])
def test_bad_input_gives_one_clear_line(tmp_path, case):
    args, match = _bad_inputs(tmp_path)[case]
    out = run("delineate", *args)
    assert out.returncode != 0
    err = out.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in out.stderr, out.stderr
    assert match in err[0]


def test_wrong_rate_for_a_wfdb_record(record):
    out = run("delineate", record, "--fs", "360")
    assert out.returncode != 0 and "recorded at 500 Hz" in out.stderr and "Traceback" not in out.stderr


def test_flat_line_yields_no_waves(tmp_path):
    np.save(tmp_path / "flat.npy", np.full(5000, 0.3, np.float32))
    out = run("delineate", str(tmp_path / "flat.npy"), "--fs", "500", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["waves"] == []


def test_models_list_shows_shipped_artifacts():
    out = run("models", "list", "--json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    ecg = {(r["format"], r["precision"]) for r in rows if r.get("task") == "ecg-delineation"}
    assert {("torch", "fp32"), ("onnx", "fp32"), ("tflite", "fp32")} <= ecg


def test_evaluate_json_on_given_records(ludb_dir, tmp_path):
    ids = json.loads((ECG_DIR / "ecg-unet.json").read_text())["training"]["test_records"][:3]
    (tmp_path / "recs.txt").write_text("\n".join(map(str, ids)))
    out = run("evaluate", "ecg", "--data", str(ludb_dir), "--records", str(tmp_path / "recs.txt"), "--json")
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["records"] == ids and set(res["scores"]) == {"ii"}
    assert res["scores"]["ii"]["wave_f1"]["QRS"] > 0.95


def test_artifact_without_metadata_needs_fs_and_layout(record, tmp_path):
    import onnx

    m = onnx.load(str(ECG_DIR / "ecg-unet.onnx"))
    del m.metadata_props[:]
    onnx.save(m, str(tmp_path / "bare.onnx"))
    out = run("delineate", record, "--model", str(tmp_path / "bare.onnx"))
    assert out.returncode != 0 and "no edgewise metadata" in out.stderr and "--layout" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    ok = run("delineate", record, "--model", str(tmp_path / "bare.onnx"), "--fs", "500", "--layout", "NCW", "--json")
    assert ok.returncode == 0, ok.stderr
    ref = run("delineate", record, "--json")
    got, want = json.loads(ok.stdout)["waves"], json.loads(ref.stdout)["waves"]
    # the same model; without metadata it cannot know the P-logit offset, so its P waves keep the edges they
    # were found with (the shipped file draws them without the offset): the same waves, P edges aside
    assert [w for w in got if w["wave"] != "P"] == [w for w in want if w["wave"] != "P"]
    p_got, p_want = [w for w in got if w["wave"] == "P"], [w for w in want if w["wave"] == "P"]
    assert len(p_got) == len(p_want) and all(g["onset"] <= w["onset"] <= w["offset"] <= g["offset"]
                                              for g, w in zip(p_got, p_want))


def test_train_rejects_a_bad_context_flag(tmp_path):
    r = run("train", "ecg", "--synthetic", "--context", "2,x", "--out", str(tmp_path / "m"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "edgewise: error: --context: expected comma-separated integers, got '2,x'"
    assert not (tmp_path / "m").exists()
