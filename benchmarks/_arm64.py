"""Run a benchmark's runtime-only worker in the arm64 Debian rootfs under qemu-aarch64 (root needed).

The rootfs comes from scripts/testbed/arm64-rootfs.sh (cached after the first ~3 min). ``arm64_work`` makes a
work folder inside it holding the device side of the package (``edgewise`` without models, training or
analysis), ``run_inside`` runs ``python3`` there with ``QEMU_CPU`` set. Used by int8_isa.py and op_profile.py
(imported inside their arm64 functions: the copied worker scripts run without this file).
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]


@contextmanager
def arm64_work(prefix: str) -> Iterator[tuple[Path, Path, str]]:
    """``(rootfs, work folder, its path inside the rootfs)`` with ``edgewise`` copied in; removed afterwards."""
    rootfs = Path(subprocess.run(["bash", str(REPO / "scripts" / "testbed" / "arm64-rootfs.sh")], check=True,
                                 capture_output=True, text=True).stdout.strip())
    work = Path(tempfile.mkdtemp(prefix=prefix, dir=rootfs / "tmp"))
    try:
        shutil.copytree(REPO / "edgewise", work / "edgewise",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pt", "analysis", "models", "compress"))
        yield rootfs, work, f"/{work.relative_to(rootfs)}"
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_inside(rootfs: Path, inside: str, cpu: str, argv: list[str]) -> subprocess.CompletedProcess:
    """``python3 *argv`` in the rootfs, emulating ``cpu`` (e.g. cortex-a72), with the work folder importable."""
    env = {"PATH": "/usr/bin:/bin", "QEMU_CPU": cpu, "PYTHONPATH": f"/opt/site:{inside}", "HOME": "/root"}
    return subprocess.run([shutil.which("chroot") or "/usr/sbin/chroot", str(rootfs), "python3", *argv],
                          env=env, capture_output=True, text=True)
