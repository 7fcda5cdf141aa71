"""`edgewise delineate`: intervals in the output, and `--lead all` (every lead + a consensus) on a LUDB record."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

BLOCK_HOST = ("import sys\nfor m in ('torch', 'tensorflow', 'onnx', 'keras', 'wfdb', 'scipy'):\n"
              "    sys.modules[m] = None\nfrom edgewise.cli import main\nsys.exit(main(sys.argv[1:]))\n")
LEADS = ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"]


def run(*args: str) -> subprocess.CompletedProcess:
    """The CLI with the host stack unimportable, as on a device (the default model is the fp32 ONNX)."""
    return subprocess.run([sys.executable, "-c", BLOCK_HOST, *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def record(ludb_dir) -> str:
    return str(ludb_dir / "data" / "1")


@pytest.fixture(scope="module")
def all_leads(record) -> dict:
    out = run("delineate", record, "--lead", "all", "--json")
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.strip().splitlines()) == 1
    return json.loads(out.stdout)


def test_lead_all_gives_twelve_leads_and_a_consensus(record, all_leads, ludb_dir):
    from edgewise.data.ludb import read_record
    from edgewise.runtime.ecg.consensus import REFERENCE, consensus_waves

    obj = all_leads
    assert set(obj) == {"input", "fs", "lead", "leads", "consensus", "beats", "summary"}
    assert obj["lead"] == "all" and list(obj["leads"]) == LEADS
    assert all(set(w) == {"wave", "onset", "offset"} for ld in obj["leads"].values() for w in ld["waves"])
    cons = obj["consensus"]["waves"]
    assert all(set(w) == {"wave", "onset", "offset", "leads"} and 6 <= w["leads"] <= 12 for w in cons)
    # lead II inside --lead all is exactly what --lead ii gives
    ii = run("delineate", record, "--json")
    assert obj["leads"]["ii"]["waves"] == json.loads(ii.stdout)["waves"]
    # every QRS of the annotation consensus (earliest onset over the 12 annotated leads) is found within 20 ms
    rec = read_record(ludb_dir, 1)
    ref = [w.onset for w in consensus_waves(rec.waves, rec.fs, config=REFERENCE)[0] if w.kind == "QRS"]
    got = [w["onset"] for w in cons if w["wave"] == "QRS"]
    assert len(ref) >= 6 and all(min(abs(g - r) for g in got) <= 10 for r in ref)
    # beats and summary are computed on the consensus
    assert [b["qrs_onset"] for b in obj["beats"]] == got
    assert obj["summary"]["n_beats"] == len(got)


def test_intervals_in_the_json_and_the_text_line(record, all_leads):
    s = all_leads["summary"]
    # record 1: sinus bradycardia near 46 bpm with a normal PR and QRS (LUDB's diagnosis and annotations)
    assert 40 <= s["heart_rate_bpm"] <= 52
    assert 120 <= s["pr_ms"]["median"] <= 200 and 70 <= s["qrs_ms"]["median"] <= 120
    qtc = s["qtc_bazett_ms"]
    assert s["qt_ms"]["n"] >= 5 and qtc["min"] <= qtc["median"] <= qtc["max"]
    b = all_leads["beats"][1]
    assert b["pr_ms"] == (b["qrs_onset"] - b["p_onset"]) * 2.0 and b["qt_ms"] == (b["t_offset"] - b["qrs_onset"]) * 2.0
    text = run("delineate", record, "--lead", "all")
    assert text.returncode == 0, text.stderr
    line = text.stdout.strip()
    assert line.startswith(f"{record}: 12 leads, 500 Hz, 10.0 s: consensus ") and "median PR" in line and "QTc" in line
    single = run("delineate", record)
    assert "lead ii" in single.stdout and "median PR" in single.stdout


def test_lead_all_on_a_npy_with_three_rows(record, tmp_path):
    from edgewise.runtime.ecg.io import read_ecg_input

    x = read_ecg_input(record).signal[:3]
    np.save(tmp_path / "three.npy", x)
    out = run("delineate", str(tmp_path / "three.npy"), "--fs", "500", "--lead", "all", "--json")
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert list(obj["leads"]) == ["lead0", "lead1", "lead2"]
    assert all(2 <= w["leads"] <= 3 for w in obj["consensus"]["waves"])  # 2 of 3 leads suffice
