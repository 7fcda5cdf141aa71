"""Deploy to the emulated arm64 device, then run the artifacts there and compare with this (x86) machine.

Acceptance: from a clean device, `devices add` + `deploy` work (conftest.good_release); the ECG and
mosquito artifacts' outputs there equal the host's within each artifact's tolerance (fp32: the
metadata's export_atol on the raw model outputs) and give identical wave lists / events (int8: required;
fp32: checked too). Then a parallel deploy with one unreachable device, and rollbacks.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgewise.devices.deploy import deployed
from edgewise.devices.ssh import SshSession, SshTarget
from edgewise.runtime.artifact import read_metadata, verify_manifest

from .conftest import DEVICE_NAME, assert_kept, run_cli, shipped

pytestmark = pytest.mark.device

HERE = Path(__file__).resolve().parent
LUDB_RECORDS = ("1", "2", "3")
CLIPS = ("humbug_platform/record.wav", "minetest_sounds_mod/sounds_cicada_08.ogg")  # mosquito; cicada (p varies)
ECG = [p for p in shipped() if p.parent.name == "ecg"]
MOSQUITO = [p for p in shipped() if p.parent.name == "mosquito"]


def test_deploy_from_a_clean_device(good_release, testbed, device):
    r = good_release
    names = sorted(p.name for p in shipped())
    assert sorted(r["models"]) == names
    assert {s["model"]: s["selfcheck"] for s in r["selfcheck"]} == {n: "ok" for n in names}
    assert all(s["emulated"] and s["cpu"]["arch"] == "aarch64" for s in r["selfcheck"])
    assert os.readlink(testbed.deploy_root / "current") == f"releases/{r['release']}"  # relative link
    rel = testbed.deploy_root / "releases" / r["release"]
    verify_manifest(rel)  # the copy on the device is the bundle, byte for byte
    assert (rel / "venv" / "bin" / "edgewise").is_file()
    log = json.loads((testbed.deploy_root / "deployments.json").read_text())
    assert [e["release"] for e in log["events"]] == [r["release"]] and log["events"][0]["previous"] is None
    state = deployed(device)
    assert state["current"] == r["release"]
    assert [(x["id"], x["current"], sorted(x["models"])) for x in state["releases"]] == [(r["release"], True, names)]
    show = run_cli(["devices", "show", DEVICE_NAME, "--json"])  # `edgewise devices show` lists what is deployed
    assert show.rc == 0 and r["release"] in show.out


# -- outputs on the device vs this machine ---------------------------------------------------------
@pytest.fixture(scope="session")
def inputs(good_release, device, ludb_dir, mosquito_dir, tmp_path_factory) -> dict:
    """The same inputs on both sides: LUDB records as files; audio resampled once here (host reader) as .npy."""
    from edgewise.data.audio import load_audio

    local = tmp_path_factory.mktemp("inputs")
    records = [ludb_dir / "data" / r for r in LUDB_RECORDS]
    audio = []
    for clip in CLIPS:
        a = load_audio(mosquito_dir / clip, 8000, min_samples=16000)
        npy = local / (Path(clip).stem + ".npy")
        np.save(npy, a.samples)
        audio.append(npy)
    files = [f for r in records for f in (r.with_suffix(".hea"), r.with_suffix(".dat"))] + audio + [HERE / "_outputs.py"]
    with SshSession(SshTarget.from_device(device)) as s:
        s.run("mkdir -p ~/parity")
        s.put(files, "~/parity")
    return {"records": records, "audio": audio}


def _decode(raw: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(raw["data"]), dtype="<f4").reshape(raw["shape"])


def _host(kind: str, artifact: Path, data: Path) -> dict:
    p = subprocess.run([sys.executable, str(HERE / "_outputs.py"), kind, str(artifact), str(data)],
                       capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def _device(device, kind: str, artifact: Path, data: str) -> dict:
    with SshSession(SshTarget.from_device(device)) as s:
        out = s.run(f"cd ~/parity && ~/edgewise/current/venv/bin/python _outputs.py {kind} "
                    f"~/edgewise/current/models/{artifact.name} {data}", timeout=900).stdout
    return json.loads(out)


def _tolerance(artifact: Path, host_raw: np.ndarray) -> tuple[str, float]:
    meta = read_metadata(artifact)
    if meta["precision"] == "int8":  # two output quantisation steps (the self-check's int8 tolerance)
        return "int8", 2.0 * float(host_raw.max() - host_raw.min()) / 255.0
    return "fp32", float(meta["export_atol"])


@pytest.mark.parametrize("artifact", ECG, ids=lambda p: p.name)
def test_ecg_outputs_match_x86(artifact, inputs, device):
    for rec in inputs["records"]:
        here, there = _host("ecg", artifact, rec), _device(device, "ecg", artifact, rec.name)
        a, b = _decode(here["raw"]), _decode(there["raw"])
        precision, tol = _tolerance(artifact, a)
        err = float(np.abs(a - b).max())
        print(f"{artifact.name} LUDB {rec.name}: max |device - x86| {err:.3g} (tolerance {tol:.3g}); "
              f"waves identical: {here['waves'] == there['waves']} ({len(here['waves'])} waves)")
        np.testing.assert_allclose(b, a, rtol=0, atol=tol)
        assert there["waves"] == here["waves"], f"{artifact.name} on LUDB {rec.name}: wave lists differ"


@pytest.mark.parametrize("artifact", MOSQUITO, ids=lambda p: p.name)
def test_mosquito_outputs_match_x86(artifact, inputs, device, mosquito_dir):
    for clip, npy in zip(CLIPS, inputs["audio"]):
        here, there = _host("mosquito", artifact, npy), _device(device, "mosquito", artifact, npy.name)
        # the script is `edgewise detect` rebuilt from runtime parts: same windows and events here
        det = json.loads(run_cli(["detect", "--json", "--model", str(artifact), str(mosquito_dir / clip)]).out)
        assert here["p"] == [w["p"] for w in det["windows"]] and here["events"] == det["events"]
        a, b = _decode(here["raw"]), _decode(there["raw"])
        precision, tol = _tolerance(artifact, a)
        err = float(np.abs(a - b).max())
        print(f"{artifact.name} {clip}: max |device - x86| logits {err:.3g} (tolerance {tol:.3g}); "
              f"{len(here['events'])} events, identical: {here['events'] == there['events']}")
        np.testing.assert_allclose(b, a, rtol=0, atol=tol)
        assert there["events"] == here["events"] and there["p"] == here["p"]


@pytest.mark.parametrize("artifact", [p for p in ECG if read_metadata(p)["precision"] == "int8"], ids=lambda p: p.name)
def test_delineate_cli_gives_the_same_waves_on_the_device(artifact, inputs, device):
    """`edgewise delineate --json` itself, in the device's bare install and here."""
    here = run_cli(["delineate", "--json", "--model", str(artifact), *map(str, inputs["records"])])
    assert here.rc == 0, here.err
    with SshSession(SshTarget.from_device(device)) as s:
        there = s.run(f"cd ~/parity && ~/edgewise/current/venv/bin/edgewise delineate --json --model "
                      f"~/edgewise/current/models/{artifact.name} {' '.join(LUDB_RECORDS)}", timeout=900).stdout
    waves_here = [json.loads(ln)["waves"] for ln in here.out.splitlines()]
    waves_there = [json.loads(ln)["waves"] for ln in there.splitlines()]
    assert len(waves_here) == len(LUDB_RECORDS) and waves_there == waves_here


# -- each task's default (issue 25) ---------------------------------------------------------------
def _budget_flags(rows: dict[str, dict]) -> dict[str, bool]:
    """Within budget, recomputed from the artifacts' own metadata: every wave F1 within 0.2 points of the
    best fp32 file's."""
    f1 = {}
    for name in rows:
        m = read_metadata(next(p for p in ECG if p.name == name))["metrics"]
        f1[name] = m.get("test_lead_ii_wave_f1") or m["test_lead_ii"]["wave_f1"]
    fp32 = [f1[n] for n in rows if rows[n]["precision"] == "fp32"]
    best = {k: max(f[k] for f in fp32) for k in ("P", "QRS", "T")}
    return {n: all(best[k] - f[k] <= 0.002 + 1e-12 for k in best) for n, f in f1.items()}


def test_each_tasks_default_is_recorded_and_delineate_uses_it(good_release, testbed, inputs, device):
    """The release records each task's fastest artifact within budget; `delineate` without --model uses it."""
    defaults = good_release["defaults"]
    assert set(defaults) == {"ecg-delineation", "mosquito-detection"} and good_release["defaults_warnings"] == []
    ecg = defaults["ecg-delineation"]
    # emulated device: not measured (an fp32 ECG unit of work takes ~11 s under qemu) but the host's estimate
    assert ecg["timing"] == "estimate" and "host estimate for pi4b" in ecg["reason"] and "emulated" in ecg["reason"]
    rows = {r["model"]: r for r in ecg["candidates"]}
    assert {n: r["within_budget"] for n, r in rows.items()} == _budget_flags(rows)
    name = Path(ecg["model"]).name
    assert rows[name]["within_budget"] and rows[name]["p50_ms"] == min(
        r["p50_ms"] for r in rows.values() if r["within_budget"])
    release = testbed.deploy_root / "releases" / good_release["release"]
    recorded = json.loads((release / "defaults.json").read_text())["tasks"]
    assert {t: e["model"] for t, e in recorded.items()} == {t: d["model"] for t, d in defaults.items()}
    with SshSession(SshTarget.from_device(device)) as s:
        there = s.run(f"cd ~/parity && ~/edgewise/current/venv/bin/edgewise delineate --json {LUDB_RECORDS[0]}",
                      timeout=900)
    assert there.stderr == f"edgewise: using {ecg['model']} (this release's default for ecg-delineation, chosen at deploy)\n"
    here = run_cli(["delineate", "--json", "--model", str(next(p for p in ECG if p.name == name)),
                    str(inputs["records"][0])])
    assert json.loads(there.stdout)["waves"] == json.loads(here.out)["waves"]


# -- several devices, rollback ---------------------------------------------------------------------
def test_parallel_deploy_gives_one_row_per_device_then_rollback(good_release, testbed, device, device_config):
    from edgewise._cli.deploy import _devices
    from edgewise.devices.config import add_device, remove_device

    good = good_release["release"]
    add_device(replace(device, name="ghost", ssh=f"pi@{testbed.void_addr}"), device_config)
    try:
        assert [d.name for d in _devices("all", device_config)] == [DEVICE_NAME, "ghost"]
        # both mosquito files, measured on the device for the choice of default (3 runs: fast even under qemu)
        res = run_cli(["deploy", *map(str, MOSQUITO), "--device", f"{DEVICE_NAME},ghost", "--measure", "always",
                       "--measure-runs", "3"])
    finally:
        remove_device("ghost", device_config)
    assert res.rc == 2
    lines = res.out.splitlines()[1:]
    rows = {ln.split()[0]: ln.split()[1] for ln in lines if not ln.startswith(f"{DEVICE_NAME}:")}
    assert rows == {DEVICE_NAME: "ok", "ghost": "FAILED"}
    prefix = f"{DEVICE_NAME}: default for mosquito-detection: chose "
    chosen = [ln for ln in lines if ln.startswith(prefix)]
    assert len(chosen) == 1 and "(measured during deploy: 3 runs; emulated device, not representative)" in chosen[0]
    assert chosen[0][len(prefix):].split(":")[0] in {p.name for p in MOSQUITO}
    from edgewise.devices.store import ResultsStore, default_db_path

    with ResultsStore(default_db_path()) as store:  # the measurements were filed for the next deploy
        filed = store.query(device=DEVICE_NAME)
    assert sorted(r["model"] for r in filed if r["runs"] == 3) == sorted(p.name for p in MOSQUITO)
    assert len(res.error_lines) == 1 and "ghost: cannot reach" in res.error_lines[0]
    second = testbed.current()
    assert second not in (None, good)
    state = deployed(device)
    assert [x["id"] for x in state["releases"]] == [good, second] and state["current"] == second

    back = run_cli(["deploy", "--rollback", "--device", DEVICE_NAME])
    assert back.rc == 0, back.err
    assert testbed.current() == good and f"rolled back from {second}" in back.out
    again = run_cli(["deploy", "--rollback", "--device", DEVICE_NAME])  # the first release has no predecessor
    assert again.rc == 2 and "nothing to roll back to" in again.error_lines[0]
    assert_kept(testbed, good_release)
    events = json.loads((testbed.deploy_root / "deployments.json").read_text())["events"]
    assert [(e["action"], e["release"]) for e in events] == [("deploy", good), ("deploy", second), ("rollback", good)]
