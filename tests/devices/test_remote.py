"""`edgewise bench --device`: the benchmark runs on the deployed device over SSH and its JSON comes back."""
from __future__ import annotations

import json
import shutil

import pytest

from edgewise.devices.deploy import DeployError
from edgewise.devices.remote import bench_remote

from .conftest import DEVICE_NAME, run_cli, shipped

pytestmark = pytest.mark.device

INT8_ECG = next(p for p in shipped() if p.name == "ecg-unet-int8.tflite")
MOSQUITO = next(p for p in shipped() if p.name == "model.onnx")


def test_bench_runs_on_the_device(good_release, device):
    results = bench_remote(device, [INT8_ECG.name, MOSQUITO], threads=[1, 2], runs=2, warmup=0)
    assert [(r["model"], r["threads"]) for r in results] == [(INT8_ECG.name, 1), (INT8_ECG.name, 2),
                                                            (MOSQUITO.name, 1), (MOSQUITO.name, 2)]
    release = f"/home/pi/edgewise/releases/{good_release['release']}/models/"
    for r in results:
        assert r["device"] == DEVICE_NAME and r["emulated"] is True  # the test bed's /proc/cpuinfo says qemu-user
        assert r["selfcheck"] == "ok" and r["runs"] == 2 and r["p50_ms"] > 0
        assert r["cpu"]["arch"] == "aarch64" and r["isa"].startswith("aarch64")
        assert r["path"].startswith(release)
    assert {r["runtime"] for r in results} == {"litert", "onnxruntime"}


def test_bench_cli_files_device_results_in_the_store(good_release, device, tmp_path):
    from edgewise.devices.store import ResultsStore

    db = tmp_path / "results.sqlite"
    res = run_cli(["bench", INT8_ECG.name, "--device", DEVICE_NAME, "--runs", "2", "--warmup", "0",
                   "--db", str(db), "--json"])
    assert res.rc == 0, res.err
    out = [json.loads(ln) for ln in res.out.splitlines() if ln.startswith("{")]
    assert [(r["device"], r["emulated"], r["selfcheck"]) for r in out] == [(DEVICE_NAME, True, "ok")]
    with ResultsStore(db) as store:
        rows = store.query(device=DEVICE_NAME)
    assert [(r["model"], r["profile"], r["emulated"]) for r in rows] == [(INT8_ECG.name, "pi4b", True)]


def test_bench_refuses_what_is_not_deployed(good_release, device, tmp_path):
    with pytest.raises(DeployError, match="nosuch.onnx is not deployed in .*; run `edgewise deploy"):
        bench_remote(device, ["nosuch.onnx"])
    changed = tmp_path / INT8_ECG.name  # same name, other bytes: not what the device would measure
    shutil.copy(INT8_ECG, changed)
    changed.write_bytes(changed.read_bytes() + b"\0")
    with pytest.raises(DeployError, match="differs from .*deploy it again"):
        bench_remote(device, [changed])
