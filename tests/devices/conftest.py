"""Fixtures of the deploy tests: the emulated arm64 device (scripts/testbed/device-netns.sh) and a deploy on it.

The device is brought up once per session (fresh overlay: a clean device) and torn down at the end. It
listens on a link-local /30 of its own network namespace: the first free slot from ``EW_TEST_SLOT``
(default 3: 169.254.77.13 host / .14 device), so a developer's ``pi0`` on slot 0 and a concurrent test
session are not disturbed. Only these
addresses and loopback are used. Tests marked ``device`` need root; CI runs them from .ci/run:
``python -m pytest -m device tests/devices``.

``good_release`` deploys every shipped .onnx/.tflite once (the "last good bundle" of every fault test);
tests that deploy again leave ``current`` on it when they finish.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "testbed" / "device-netns.sh"
DEVICE_NAME = "testpi"
TESTBED_PREFIX = "ewt"  # + the slot: one test device per pytest session
RUN = Path(os.environ.get("EDGEWISE_TESTBED_RUN", "/tmp/edgewise-testbed"))


@dataclass(frozen=True)
class Testbed:
    """The emulated device as ``device-netns.sh up`` described it."""

    addr: str
    void_addr: str
    key: Path
    known_hosts: Path
    root: Path          # the device's file system, seen from the host (an overlay)
    netns: str

    @property
    def home(self) -> Path:
        return self.root / "home" / "pi"

    @property
    def deploy_root(self) -> Path:
        return self.home / "edgewise"

    def current(self) -> str | None:
        link = self.deploy_root / "current"
        return os.readlink(link).rstrip("/").rsplit("/", 1)[-1] if link.is_symlink() else None

    def releases(self) -> list[str]:
        rel = self.deploy_root / "releases"
        return sorted(p.name for p in rel.iterdir()) if rel.is_dir() else []


def _script(*args: str) -> str:
    p = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        raise RuntimeError(f"device-netns.sh {' '.join(args)} failed (exit {p.returncode}): {p.stderr[-2000:]}")
    return p.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


@contextlib.contextmanager
def _claim_slot():
    """A link-local slot (and test-bed name) of this session's own: concurrent sessions get different devices.

    Devices of earlier sessions whose pytest process is gone are taken down first.
    """
    import fcntl

    RUN.mkdir(parents=True, exist_ok=True)
    with open(RUN / ".tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for owner in RUN.glob(f"{TESTBED_PREFIX}*/owner.pid"):
            if not _alive(int(owner.read_text() or 0)):
                _script("down", owner.parent.name)
        used = {int(o.parent.name[len(TESTBED_PREFIX):]) for o in RUN.glob(f"{TESTBED_PREFIX}*/owner.pid")}
        addrs = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True).stdout
        used |= {s for s in range(32) if f" 169.254.77.{4 * s + 1}/" in addrs}  # e.g. a developer's pi0
        first = int(os.environ.get("EW_TEST_SLOT", "3"))
        slot = next(s for s in range(first, 32) if s not in used)
        name = f"{TESTBED_PREFIX}{slot}"
        _script("down", name)
        out = _script("up", name, str(slot))
        (RUN / name / "owner.pid").write_text(str(os.getpid()))
    yield name, out


@pytest.fixture(scope="session")
def testbed() -> Testbed:
    if os.geteuid() != 0:
        pytest.skip("the emulated device needs root (network namespace, overlay mount, chroot)")
    with _claim_slot() as (name, out):
        env = dict(line.split("=", 1) for line in out.strip().splitlines() if "=" in line)
    bed = Testbed(addr=env["EW_DEVICE_ADDR"], void_addr=env["EW_DEVICE_VOID_ADDR"], key=Path(env["EW_DEVICE_KEY"]),
                  known_hosts=Path(env["EW_DEVICE_KNOWN_HOSTS"]), root=Path(env["EW_DEVICE_ROOT"]),
                  netns=env["EW_DEVICE_NETNS"])
    yield bed
    if not os.environ.get("EW_TEST_KEEP_DEVICE"):
        _script("down", name)


@pytest.fixture(scope="session")
def device_config(testbed: Testbed, tmp_path_factory) -> Path:
    """A fresh devices config ($EDGEWISE_CONFIG) holding the test device, added with `edgewise devices add`,
    and a fresh results database ($EDGEWISE_DB: deploy reads and files bench results there)."""
    path = tmp_path_factory.mktemp("config") / "devices.toml"
    old = {k: os.environ.get(k) for k in ("EDGEWISE_CONFIG", "EDGEWISE_DB")}
    os.environ["EDGEWISE_CONFIG"] = str(path)
    os.environ["EDGEWISE_DB"] = str(path.parent / "results.sqlite")
    res = run_cli(["devices", "add", DEVICE_NAME, "--profile", "pi4b", "--ssh", f"pi@{testbed.addr}",
                   "--identity", str(testbed.key), "--known-hosts", str(testbed.known_hosts)])
    assert res.rc == 0, res.err
    yield path
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def device(device_config: Path):
    from edgewise.devices.config import get_device

    return get_device(DEVICE_NAME, device_config)


def shipped() -> list[Path]:
    """The shipped .onnx/.tflite artifacts of the ECG and mosquito folders (ECG fp32 + int8, mosquito fp32).
    The ECG Hydra's four files are left out: they exercise no other deploy path and only lengthen every
    deploy under arm64 emulation (three more MB to copy, four more self-checks)."""
    base = REPO / "edgewise" / "models" / "pretrained"
    return sorted(p for d in ("ecg", "mosquito") for p in (base / d).glob("*") if p.suffix in (".onnx", ".tflite"))


@dataclass
class CliResult:
    rc: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith("edgewise: error:")]


# the leaves these tests drive, as cli.COMMANDS lists them (added here while cli.py does not list them yet)
LEAVES = {"deploy": "deploy:deploy", "devices add": "devices:add", "devices show": "devices:show",
          "devices remove": "devices:remove", "bench": "bench:bench"}


def run_cli(argv: list[str]) -> CliResult:
    """Run ``edgewise ARGV`` in this process (``edgewise.cli.main``: one-line errors, exit code 2)."""
    from unittest import mock

    from edgewise import cli

    out, err = io.StringIO(), io.StringIO()
    missing = {k: v for k, v in LEAVES.items() if k not in cli.COMMANDS}
    with mock.patch.dict(cli.COMMANDS, missing), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return CliResult(rc, out.getvalue(), err.getvalue())


@pytest.fixture(scope="session")
def good_release(testbed: Testbed, device_config: Path, device) -> dict:
    """Every shipped artifact deployed from a clean device with `edgewise deploy` (the last good bundle)."""
    assert testbed.current() is None, "the test device must start clean"
    import json

    res = run_cli(["deploy", *map(str, shipped()), "--device", DEVICE_NAME, "--json"])
    assert res.rc == 0, res.err
    result = json.loads(res.out.strip().splitlines()[-1])
    assert result["ok"] and testbed.current() == result["release"]
    return result


def assert_kept(testbed: Testbed, good: dict) -> None:
    """The device still runs the good release, and no unfinished release was left behind."""
    assert testbed.current() == good["release"]
    leftovers = [r for r in testbed.releases() if r.endswith(".partial")
                 or (testbed.deploy_root / "releases" / r / ".installing").exists()]
    assert leftovers == []
