"""Faults of a deploy: each is one clear line, and the device keeps its last good release (``current``).

The good release is conftest.good_release (every shipped artifact). Faults: unknown device or profile;
SSH unreachable (times out within ConnectTimeout), refused, host key changed or unknown, key refused;
no Python or too old; wheels for the wrong architecture (refused before copying, and by the device's pip);
a tampered bundle; a copy interrupted half way; a full disk (before copying, while copying, while
installing); a self-check failure after install.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from edgewise.devices import deploy as dep
from edgewise.devices.bundle import PythonMissingError, Target, build_bundle
from edgewise.devices.deploy import (
    ChecksumError,
    DeployError,
    DiskFullError,
    InstallError,
    WrongTargetError,
    deploy,
)
from edgewise.devices.ssh import AuthError, HostKeyError, RefusedError, UnreachableError

from .conftest import DEVICE_NAME, assert_kept, run_cli, shipped

pytestmark = pytest.mark.device

SMALL = [p for p in shipped() if p.name in ("ecg-unet-int8.tflite", "model.onnx")]


def _one_line(e: BaseException) -> str:
    text = str(e)
    print(f"{type(e).__name__}: {text}")  # shown with -s: the messages a user gets
    assert "\n" not in text and text.startswith(f"{DEVICE_NAME}: ")
    return text


@pytest.fixture(scope="session")
def device_bundle(device, tmp_path_factory):
    """A bundle for the device (arm64, cp311) holding two small artifacts; tests copy it before changing it."""
    return build_bundle(SMALL, Target("aarch64", "3.11", "2.36"), tmp_path_factory.mktemp("bundle") / "arm64")


def _copy_bundle(bundle, tmp_path: Path) -> Path:
    dst = tmp_path / "bundle"
    shutil.copytree(bundle.path, dst)
    return dst


# -- names ----------------------------------------------------------------------------------------
def test_unknown_device(good_release, testbed):
    res = run_cli(["deploy", str(SMALL[0]), "--device", "nosuch"])
    assert res.rc == 2 and len(res.error_lines) == 1
    assert "unknown device 'nosuch'" in res.error_lines[0] and DEVICE_NAME in res.error_lines[0]
    assert_kept(testbed, good_release)


def test_unknown_profile(good_release, testbed, tmp_path):
    cfg = tmp_path / "devices.toml"
    cfg.write_text(f'[devices.oddpi]\nprofile = "pi9"\nssh = "pi@{testbed.addr}"\n'
                   f'identity = "{testbed.key}"\nknown_hosts = "{testbed.known_hosts}"\n')
    res = run_cli(["deploy", str(SMALL[0]), "--device", "oddpi", "--config", str(cfg)])
    assert res.rc == 2 and len(res.error_lines) == 1
    assert "pi9" in res.error_lines[0] and "pi4b" in res.error_lines[0]  # names the known profiles
    assert_kept(testbed, good_release)


# -- SSH -------------------------------------------------------------------------------------------
def test_unreachable_device_times_out_fast(good_release, testbed, device):
    ghost = replace(device, ssh=f"pi@{testbed.void_addr}")  # routed into the namespace, which drops it
    t0 = time.monotonic()
    with pytest.raises(UnreachableError) as e:
        deploy(SMALL, ghost)
    assert time.monotonic() - t0 < 15  # ConnectTimeout (5 s), not the kernel's minutes
    assert "cannot reach" in _one_line(e.value) and "timed out" in str(e.value)
    assert_kept(testbed, good_release)


def test_connection_refused(good_release, testbed, device):
    with pytest.raises(RefusedError) as e:
        deploy(SMALL, replace(device, port=2222))
    assert "refused the connection" in _one_line(e.value) and "port 2222" in str(e.value)
    assert_kept(testbed, good_release)


def test_host_key_changed(good_release, testbed, device, tmp_path):
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kh = tmp_path / "known_hosts"  # the device's address recorded with another key
    kh.write_text(f"{testbed.addr} {' '.join(other.with_suffix('.pub').read_text().split()[:2])}\n")
    with pytest.raises(HostKeyError) as e:
        deploy(SMALL, replace(device, known_hosts=str(kh)))
    assert "CHANGED" in _one_line(e.value) and f"ssh-keygen -R '{testbed.addr}' -f {kh}" in str(e.value)
    kh.write_text("")  # not recorded at all: refused too (StrictHostKeyChecking=yes, no prompt)
    with pytest.raises(HostKeyError, match="not recorded"):
        deploy(SMALL, replace(device, known_hosts=str(kh)))
    assert_kept(testbed, good_release)


def test_key_refused(good_release, testbed, device, tmp_path):
    key = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    with pytest.raises(AuthError) as e:
        deploy(SMALL, replace(device, identity=str(key)))
    assert "refused the key" in _one_line(e.value)
    assert_kept(testbed, good_release)


# -- Python ----------------------------------------------------------------------------------------
def test_no_python_on_the_device(good_release, testbed, device):
    with pytest.raises(PythonMissingError) as e:
        deploy(SMALL, device, python="/usr/bin/python3.9")
    assert "no /usr/bin/python3.9 on the device" in _one_line(e.value)
    py = testbed.root / "usr" / "bin" / "python3"  # a device without python3 at all
    py.rename(py.with_name("python3.hidden"))
    try:
        with pytest.raises(PythonMissingError, match="no python3 on the device; edgewise needs Python >= 3.10"):
            deploy(SMALL, device)
    finally:
        py.with_name("python3.hidden").rename(py)
    assert_kept(testbed, good_release)


def test_python_too_old(good_release, testbed, device):
    # no Python 3.9 for arm64 here: a stand-in that answers the version question like one
    old = testbed.root / "usr" / "local" / "bin" / "python3.9"
    old.write_text("#!/bin/sh\necho 3.9.2\n")
    old.chmod(0o755)
    try:
        with pytest.raises(PythonMissingError) as e:
            deploy(SMALL, device, python="/usr/local/bin/python3.9")
    finally:
        old.unlink()
    assert "Python 3.9.2 on the device is too old; edgewise needs >= 3.10" in _one_line(e.value)
    assert_kept(testbed, good_release)


# -- the bundle ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def x86_bundle(tmp_path_factory):
    return build_bundle(SMALL, Target("x86_64", "3.11", "2.36"), tmp_path_factory.mktemp("bundle") / "x86")


def test_wheels_for_the_wrong_architecture(good_release, testbed, device, x86_bundle):
    with pytest.raises(WrongTargetError) as e:  # refused before anything is copied
        deploy([], device, bundle=x86_bundle.path)
    assert "wheels are for x86_64 / Python 3.11, but the device is aarch64" in _one_line(e.value)
    with pytest.raises(InstallError) as e:  # and if sent anyway, the device's pip refuses the wheels
        deploy([], device, bundle=x86_bundle.path, check_target=False)
    assert "pip refused the bundle's wheels (built for x86_64" in _one_line(e.value)
    assert f"current on {DEVICE_NAME} is still {good_release['release']}" in str(e.value)
    assert_kept(testbed, good_release)


def test_tampered_bundle(good_release, testbed, device, device_bundle, tmp_path):
    path = _copy_bundle(device_bundle, tmp_path)
    art = path / "models" / "model.onnx"
    data = bytearray(art.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, after the manifest was written
    art.write_bytes(bytes(data))
    with pytest.raises(ChecksumError) as e:
        deploy([], device, bundle=path)
    assert "checksum mismatch on the device: models/model.onnx: sha256 differs" in _one_line(e.value)
    assert_kept(testbed, good_release)


def _transfer_pid() -> int | None:
    """The ssh process of this test's tar stream (a child of this process)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == os.getpid() and argv[0] == b"ssh" and any(b"tar -xf -" in a for a in argv):
            return int(pid)
    return None


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def test_copy_interrupted_half_way(good_release, testbed, device, device_bundle):
    outcome: dict = {}

    def run():
        try:
            deploy([], device, bundle=device_bundle.path)
        except Exception as e:  # noqa: BLE001 - checked below
            outcome["error"] = e

    th = threading.Thread(target=run)
    th.start()
    killed, total = None, device_bundle.size_bytes
    deadline = time.monotonic() + 120
    while killed is None and time.monotonic() < deadline and th.is_alive():
        parts = list((testbed.deploy_root / "releases").glob("*.partial"))
        pid = _transfer_pid()
        if parts and pid and _du(parts[0]) > 1_000_000:  # some of the bundle is there, not all of it
            os.kill(pid, signal.SIGKILL)
            killed = _du(parts[0])
        time.sleep(0.005)
    th.join(300)
    assert killed is not None and killed < total, "the transfer was not caught half way"
    e = outcome["error"]
    assert isinstance(e, DeployError) and "copy of the bundle was interrupted" in _one_line(e)
    assert "killed by signal 9" in str(e) and f"current on {DEVICE_NAME} is still" in str(e)
    assert_kept(testbed, good_release)


@pytest.fixture
def small_disk(testbed, good_release):
    """Mount a tmpfs of the given size over the device's releases folder (inside its root), unmount after."""
    target = testbed.deploy_root / "releases"
    mounted = []

    def mount(mb: int) -> Path:
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={mb}m,uid=1000,gid=1000,mode=0755", "tmpfs",
                        str(target)], check=True)
        mounted.append(target)
        return target

    yield mount
    for m in mounted:
        subprocess.run(["umount", str(m)], check=True)
    assert_kept(testbed, good_release)
    assert (target / good_release["release"] / "venv" / "bin" / "edgewise").is_file()  # visible again, intact


def test_disk_full_is_refused_before_copying(device, device_bundle, small_disk, testbed):
    small_disk(20)
    with pytest.raises(DiskFullError) as e:
        deploy([], device, bundle=device_bundle.path)
    assert "MB free in ~/edgewise/releases, the release needs about" in _one_line(e.value)
    assert testbed.current() is not None and not any((testbed.deploy_root / "releases").iterdir())


@pytest.mark.parametrize("mb, when", [(20, "while receiving the bundle"), (110, "while installing")],
                         ids=["copy", "install"])
def test_disk_fills_up_during_the_deploy(mb, when, device, device_bundle, small_disk, testbed, monkeypatch):
    monkeypatch.setattr(dep, "_space_needed", lambda bundle: 0)  # get past the up-front check
    small_disk(mb)
    with pytest.raises(DiskFullError) as e:
        deploy([], device, bundle=device_bundle.path)
    assert f"ran out of disk space {when}" in _one_line(e.value)
    assert "the new release was removed" in str(e.value)
    assert not any((testbed.deploy_root / "releases").iterdir())  # nothing half-installed is left


# -- self-check ------------------------------------------------------------------------------------
def test_selfcheck_failure_after_install(good_release, testbed, device, tmp_path):
    from edgewise.export.metadata import update_metadata
    from edgewise.runtime.artifact import read_metadata

    src = next(p for p in SMALL if p.name == "model.onnx")
    ref = read_metadata(src)["selfcheck"]
    wrong = {**ref, "values": [[v + 1.0 for v in row] for row in ref["values"]]}  # a wrong stored reference
    bad = update_metadata(src, {"selfcheck": wrong}, dest=tmp_path / "model.onnx")
    log = testbed.deploy_root / "deployments.json"
    before = json.loads(log.read_text())["events"]
    res = run_cli(["deploy", str(bad), "--device", DEVICE_NAME])
    assert res.rc == 2 and len(res.error_lines) == 1
    line = res.error_lines[0]
    assert "self-check failed after install: model.onnx: mismatch" in line
    assert f"current on {DEVICE_NAME} is still {good_release['release']}" in line
    assert_kept(testbed, good_release)
    assert json.loads(log.read_text())["events"] == before  # a failed deploy is not logged as one
