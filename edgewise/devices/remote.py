"""``edgewise bench --device NAME``: run the benchmark on a deployed device over SSH, bring the JSON back.

The device runs its own deployed install (``<root>/current/venv/bin/edgewise bench --json --no-store``)
on its deployed copies of the artifacts (``<root>/current/models/``): the numbers are the device's,
measured by the code and files that were verified and self-checked at deploy. A model is named by its
file name (or stem); when the name is also a local file, its sha256 must equal the deployed copy's, so a
result is never filed under a file the device does not have. Results are returned to the caller (the
``bench`` CLI files them in the results store), with ``device`` set to the device's name.

Emulation: a result is marked ``"emulated": true`` when the device's ``/proc/cpuinfo`` says qemu - the
test bed's rootfs (``scripts/testbed/arm64-rootfs.sh``) writes ``Model : edgewise test bed (qemu-user,
...)`` there, which ``edgewise.runtime.bench`` also reads; latency measured under emulation says nothing
about a real Pi and reports flag it.
"""
from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any, Sequence

from edgewise.devices.deploy import DeployError, _Device
from edgewise.devices.ssh import SshSession, SshTarget, json_lines
from edgewise.runtime.artifact import sha256_file

__all__ = ["bench_remote", "deployed_models"]

_EMULATED_MARK = "edgewise:emulated-device"


def deployed_models(dev: _Device) -> tuple[str, dict[str, dict[str, Any]]]:
    """``(current release id, {file name: manifest entry})`` of the device's current release."""
    state = dev.state()
    cur = state["current"]
    if cur is None:
        raise DeployError(f"{dev.name}: nothing is deployed; run `edgewise deploy MODEL... --device {dev.name}` first")
    text = dev.s.run(f"cat {dev.root}/current/manifest.json", what="reading the deployed manifest").stdout
    try:
        entries = json.loads(text)["artifacts"]
    except (ValueError, KeyError) as e:
        raise DeployError(f"{dev.name}: the deployed manifest of {cur} is unreadable ({e}); deploy again") from e
    return cur, {Path(k).name: {**v, "path": k} for k, v in entries.items() if v.get("kind") == "model"}


def _pick(model: str | Path, deployed: dict[str, dict[str, Any]], dev: _Device, cur: str) -> str:
    p = Path(model)
    name = p.name
    if name not in deployed:
        stems = [n for n in deployed if Path(n).stem == name]
        if len(stems) != 1:
            known = ", ".join(sorted(deployed)) or "none"
            raise DeployError(f"{dev.name}: {name} is not deployed in {cur} (deployed: {known}); "
                              f"run `edgewise deploy {model} --device {dev.name}`")
        name = stems[0]
    if p.is_file():
        local, remote = sha256_file(p), deployed[name].get("sha256")
        if local != remote:
            raise DeployError(f"{dev.name}: the deployed {name} differs from {p} (sha256 {str(remote)[:12]} vs "
                              f"{local[:12]}); deploy it again to measure this file")
    return deployed[name]["path"]


def bench_remote(device: Any, models: Sequence[str | Path], *, threads: Sequence[int] = (1,), runs: int | None = None,
                 seconds: float | None = None, warmup: int | None = None, timeout: float = 3600) -> list[dict[str, Any]]:
    """Benchmark deployed artifacts on ``device``; one result dict per model x thread count.

    Args:
        device: an ``edgewise.devices.config.Device`` with an SSH target.
        models: file names (or stems) of deployed artifacts, or local files whose copy is deployed.
        threads: thread counts.
        runs / seconds: steady-state runs, or a time budget per measurement (the device's default if neither).
        warmup: untimed runs after the first inference (the device's default if None).

    Raises:
        DeployError: nothing deployed, a model not deployed or different from the local file, or the
            benchmark failed on the device; SshError subclasses for connection problems.
    """
    if runs is not None and seconds is not None:
        raise ValueError("pass runs or seconds, not both")
    with SshSession(SshTarget.from_device(device)) as session:
        dev = _Device(device, session, None)
        cur, deployed = deployed_models(dev)
        paths = [_pick(m, deployed, dev, cur) for m in models]
        args = ["--json", "--no-store", "--threads", ",".join(str(int(t)) for t in threads)]
        args += ["--runs", str(int(runs))] if runs is not None else []
        args += ["--seconds", str(float(seconds))] if seconds is not None else []
        args += ["--warmup", str(int(warmup))] if warmup is not None else []
        cmd = (f"grep -qi qemu /proc/cpuinfo 2>/dev/null && echo {_EMULATED_MARK}; cd {dev.root}/current && "
               f"./venv/bin/edgewise bench {' '.join(args)} {' '.join(shlex.quote(p) for p in paths)}")
        p = session.run(cmd, what="edgewise bench", check=False, timeout=timeout)
    emulated = _EMULATED_MARK in p.stdout.splitlines()
    results = json_lines(p.stdout)
    if p.returncode not in (0, 3) or not results:  # 3: a self-check mismatch, reported in the results
        tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
        raise DeployError(f"{dev.name}: edgewise bench failed on the device (exit {p.returncode}): {tail}")
    for r in results:
        r["device"] = dev.name
        r["emulated"] = bool(r.get("emulated")) or emulated
    return results
