"""Test beds of the live sources: a socat pty pair (a serial cable) and a PulseAudio virtual microphone.

Both are the scripts in scripts/testbed/ (../shared/TESTBEDS.md §2-3), brought up per test (serial:
cheap, and the unplug tests kill it) or per module (the microphone) and always torn down. The scripts
install their apt packages when missing, which needs root: without root and without the packages the
tests skip and say why; in CI (root, ``CI`` set) a test bed that cannot come up fails the run.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
TESTBED = REPO / "scripts" / "testbed"


def run_script(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(TESTBED / name), *args], capture_output=True, text=True, timeout=timeout)


def bring_up(name: str, *args: str) -> None:
    """Run ``NAME up ...``; skip (fail in CI) with the script's own words when it cannot."""
    p = run_script(name, "up", *args)
    if p.returncode != 0:
        why = f"{name} up failed: {p.stderr.strip()[-500:]}"
        if os.environ.get("CI") or os.geteuid() == 0:
            pytest.fail(why)
        pytest.skip(why + " (needs root to install its apt packages)")


@dataclass(frozen=True)
class SerialPair:
    dir: Path
    sensor: Path  # the sensor (writer) end
    host: Path    # what SerialSource opens

    def unplug(self) -> None:
        p = run_script("serial-pair.sh", "down", str(self.dir))
        assert p.returncode == 0, p.stderr

    def plug(self) -> None:
        p = run_script("serial-pair.sh", "up", str(self.dir))
        assert p.returncode == 0, p.stderr


@pytest.fixture
def serial_pair(tmp_path):
    d = tmp_path / "serial"
    bring_up("serial-pair.sh", str(d))
    try:
        yield SerialPair(d, d / "ttyECG-sensor", d / "ttyECG-host")
    finally:
        run_script("serial-pair.sh", "down", str(d))


@pytest.fixture(scope="module")
def vmic(tmp_path_factory):
    """PulseAudio with the null sink ``vmic_sink``; the test process talks to it through the env vars."""
    if importlib.util.find_spec("sounddevice") is None:
        pytest.skip("sounddevice is not installed (the bare device venv); the mic source needs edgewise[mic]")
    run = tmp_path_factory.mktemp("vmic")
    bring_up("vmic.sh", str(run))
    env = {"XDG_RUNTIME_DIR": str(run / "xdg"), "HOME": str(run / "home"), "PULSE_SERVER": f"unix:{run}/native"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield run
    finally:
        run_script("vmic.sh", "down", str(run))
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="session")
def ludb_record(ludb_dir) -> Path:
    return ludb_dir / "data" / "1"


@pytest.fixture(scope="session")
def lead_ii(ludb_record) -> np.ndarray:
    """LUDB record 1, lead ii: float32 [5000] in mV at 500 Hz."""
    from edgewise.runtime.ecg.io import read_wfdb_signal

    rec = read_wfdb_signal(ludb_record)
    return rec.signal[rec.leads.index("ii")].copy()
