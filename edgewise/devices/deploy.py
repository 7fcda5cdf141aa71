"""Deploy artifacts to a device over SSH: copy, verify there, install, self-check, then switch atomically.

On the device (``root`` = the device's ``root``, default ``~/edgewise``)::

    <root>/releases/<id>/          one release: models/, wheels/, bundle.json, manifest.json, venv/
    <root>/current -> releases/<id>     the release in use (a relative symlink)
    <root>/deployments.json        every deploy and rollback (time, release, previous, models, self-check)

Steps of ``deploy`` (the order is the safety argument; ``current`` changes only in the last one):
1. probe the device (architecture, Python >= 3.10, glibc, free space) - no Python is refused here;
2. build the bundle for that target (``edgewise.devices.bundle``; cached wheels) or check a given one fits;
3. stream it (tar over the SSH connection) into ``releases/<id>.partial``;
4. verify every sha256 and size in manifest.json *on the device*, and that no unlisted file came along;
5. rename to ``releases/<id>`` (marked ``.installing``), ``python3 -m venv --without-pip`` +
   ``pip install --no-index --find-links wheels`` with the bundle's own pip wheel (the device needs
   neither internet nor ensurepip);
6. self-check: ``venv/bin/edgewise bench --json --runs 1`` on every artifact; each must say ``"ok"`` (50 runs
   when it also measures them for the choice of defaults); then each task's default artifact, the fastest
   within its accuracy budget, is written to ``releases/<id>/defaults.json`` (``edgewise.devices.autoselect``);
7. switch: ``ln -sfn releases/<id> .current-<id> && mv -T .current-<id> current`` (rename(2): atomic),
   log it, and prune releases beyond the newest ``keep`` (never the current one nor the previous one).
Any failure in 3-6 removes the new release and leaves ``current`` as it was; the error says so. A deploy
killed on this side leaves at most a ``.partial`` or ``.installing`` release, which the next deploy removes.

``rollback`` points ``current`` back at the release that was current before it was deployed (a second
rollback goes one further back). ``deployed`` lists what is on a device (``edgewise devices show``).
``deploy_many`` runs several devices in parallel threads (one bundle per kind of device) and reports
per device.
"""
from __future__ import annotations

import json
import shlex
import socket
import subprocess
import tarfile
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from threading import Lock
from typing import Any, Callable, Sequence

from edgewise.devices.bundle import (
    Bundle,
    BundleError,
    Target,
    build_bundle,
    open_bundle,
    probe_device,
    target_of,
    wheel_bytes,
)
from edgewise.devices.ssh import SshError, SshSession, SshTarget, json_lines, remote_path
from edgewise.devices._device_scripts import LOG, STATE, VERIFY
from edgewise.devices.autoselect import SelectConfig, Selection, write_defaults
from edgewise.devices.errors import DeviceError
from edgewise.runtime.errors import EdgewiseError

__all__ = [
    "DeployError",
    "ChecksumError",
    "DiskFullError",
    "InstallError",
    "SelfCheckError",
    "WrongTargetError",
    "deploy",
    "deploy_many",
    "rollback",
    "deployed",
]

LOG_NAME = "deployments.json"
LOG_SCHEMA = "edgewise-deployments/1"
SELFCHECK_RUNS = 1  # the self-check is about the outputs; timing is `edgewise bench --device`
Log = Callable[[str], None]


class DeployError(DeviceError):
    """A deploy or rollback did not happen; the device keeps its current release."""


class ChecksumError(DeployError):
    """The copy on the device does not match the bundle's manifest (tampered, truncated or corrupt)."""


class DiskFullError(DeployError):
    """The device has not enough free space for the release."""


class InstallError(DeployError):
    """The venv or the pip install on the device failed (e.g. wheels for another architecture)."""


class SelfCheckError(DeployError):
    """An artifact did not reproduce its stored reference outputs on the device."""


class WrongTargetError(BundleError):
    """A prebuilt bundle's wheels are for another kind of device."""


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _release_id(bundle: Bundle) -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + bundle.manifest_sha256[:10]


class _Device:
    """One device's SSH session plus the shell words of its paths."""

    def __init__(self, device: Any, session: SshSession, log: Log | None):
        self.device = device
        self.name = device.name
        self.s = session
        self.root_text = getattr(device, "root", None) or "~/edgewise"
        self.root = remote_path(self.root_text)
        self._log = log

    def say(self, text: str) -> None:
        if self._log:
            self._log(f"{self.name}: {text}")

    def state(self) -> dict[str, Any]:
        out = self.s.run(STATE.format(root=self.root), what="reading the deploy state").stdout
        return _parse_state(out, self.root_text)

    def py(self, python: str, script: str, *args: str, what: str, check: bool = True,
           timeout: float = 600) -> subprocess.CompletedProcess:
        argv = " ".join(shlex.quote(a) for a in args)
        return self.s.run(f"{shlex.quote(python)} -c {shlex.quote(script)} {argv}", what=what, check=check,
                          timeout=timeout)


def _parse_state(out: str, root: str) -> dict[str, Any]:
    state: dict[str, Any] = {"root": root, "current": None, "releases": {}, "events": []}
    if out.strip() == "root-missing":
        return state
    head, _, log_text = out.partition("\nlog\n")
    for line in head.splitlines():
        parts = line.split("\t")
        if parts[0] == "current" and len(parts) > 1 and parts[1]:
            state["current"] = parts[1].rstrip("/").rsplit("/", 1)[-1]
        elif parts[0] == "release" and len(parts) == 3:
            state["releases"][parts[1]] = parts[2]
    if log_text.strip():
        try:
            state["events"] = list(json.loads(log_text).get("events", []))
        except (ValueError, AttributeError):
            state["log_error"] = f"{root}/{LOG_NAME} is unreadable"
    return state


def _keep_current(e: Exception, dev: _Device, current: str | None) -> Exception:
    """Append where the device stands to an error's one-line message (same exception object and type)."""
    where = f"current on {dev.name} is still {current}" if current else f"nothing is deployed on {dev.name} yet"
    e.args = (f"{e}; the new release was removed, {where}",) + tuple(e.args[1:])
    return e


def _send(dev: _Device, bundle: Bundle, dest: str) -> None:
    """Stream the bundle folder as a tar archive into ``dest`` (a shell word) on the device."""
    cmd = f"rm -rf {dest} && mkdir -p {dest} && tar -xf - -C {dest}"
    proc = dev.s.popen(cmd)
    broken = None
    try:
        with tarfile.open(fileobj=proc.stdin, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for f in sorted(bundle.path.rglob("*")):
                tar.add(f, arcname=str(f.relative_to(bundle.path)), recursive=False)
    except (BrokenPipeError, ConnectionResetError, OSError) as e:
        broken = e
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
    try:
        dev.s.check_popen(proc, cmd, what="copying the bundle", timeout=1800)
    except SshError as e:
        if "No space left on device" in getattr(e, "stderr", ""):
            raise DiskFullError(f"{dev.name}: the device ran out of disk space while receiving the bundle "
                                f"({bundle.size_bytes / 1e6:.0f} MB) in {dev.root_text}/releases") from e
        if proc.returncode is not None and proc.returncode < 0:
            raise DeployError(f"{dev.name}: the copy of the bundle was interrupted (the transfer process was "
                              f"killed by signal {-proc.returncode})") from e
        raise
    if broken is not None:  # ssh exited 0 but we could not write everything: never trust that copy
        raise DeployError(f"{dev.name}: the copy of the bundle was interrupted ({broken})") from broken


def _verify(dev: _Device, python: str, dest_text: str) -> None:
    p = dev.py(python, VERIFY, dest_text, what="verifying checksums", check=False)
    if p.returncode == 0:
        return
    try:
        bad = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise DeployError(f"{dev.name}: the checksum verification did not run (exit {p.returncode}): "
                          f"{(p.stderr.strip().splitlines() or ['no message'])[-1]}") from None
    more = f" (+{len(bad) - 2} more)" if len(bad) > 2 else ""
    raise ChecksumError(f"{dev.name}: checksum mismatch on the device: {'; '.join(bad[:2])}{more}")


def _install(dev: _Device, python: str, rel: str, bundle: Bundle) -> None:
    pip = f"{rel}/{shlex.quote(bundle.pip_wheel)}/pip"
    cmd = (f"{shlex.quote(python)} -m venv --without-pip {rel}/venv && {rel}/venv/bin/python {pip} install -q "
           f"--disable-pip-version-check --no-input --no-index --no-compile --find-links {rel}/wheels "
           f"{shlex.quote(bundle.install)}")
    p = dev.s.run(cmd, what="installing", check=False, timeout=1800)
    if p.returncode == 0:
        return
    lines = [ln.strip() for ln in p.stderr.strip().splitlines() if ln.strip()]
    text = " | ".join(lines[-2:]) or f"exit {p.returncode}"
    if "No space left on device" in p.stderr:
        raise DiskFullError(f"{dev.name}: the device ran out of disk space while installing into {dev.root_text}"
                            f"/releases: {lines[-1] if lines else ''}")
    if "not a supported wheel" in p.stderr or "No matching distribution" in p.stderr or "Could not find a version" in p.stderr:
        raise InstallError(f"{dev.name}: pip refused the bundle's wheels (built for {bundle.target.arch} / Python "
                           f"{bundle.target.python}) on this device: {text}")
    raise InstallError(f"{dev.name}: installing the bundle into a venv failed: {text}")


def _selfcheck(dev: _Device, rel: str, bundle: Bundle, runs: int, warmup: int = 0) -> list[dict[str, Any]]:
    models = " ".join(f"{rel}/{shlex.quote(m)}" for m in bundle.models)
    cmd = f"{rel}/venv/bin/edgewise bench --json --no-store --runs {int(runs)} --warmup {int(warmup)} {models}"
    p = dev.s.run(cmd, what="running the self-check", check=False, timeout=1800)
    results = json_lines(p.stdout)
    if not results:
        if p.returncode == 255 and not p.stderr.strip():
            raise SelfCheckError(f"{dev.name}: the self-check did not run: the SSH connection dropped (exit 255)")
        tail = " | ".join((p.stderr.strip() or p.stdout.strip()).splitlines()[-2:]) or "no output"
        raise SelfCheckError(f"{dev.name}: the self-check did not run (exit {p.returncode}): {tail}")
    names = {Path(m).name for m in bundle.models}
    bad = [f"{r.get('model')}: {r.get('selfcheck')}" + (" (no reference outputs stored in the artifact: re-export it)"
                                                        if r.get("selfcheck") == "no reference" else "")
           for r in results if r.get("selfcheck") != "ok"]
    missing = names - {str(r.get("model")) for r in results}
    if missing:
        tail = (p.stderr.strip().splitlines() or ["no message"])[-1]
        bad += [f"{m}: no result ({tail})" for m in sorted(missing)]
    if bad:
        raise SelfCheckError(f"{dev.name}: self-check failed after install: {'; '.join(bad)}")
    return results


def _switch(dev: _Device, release: str) -> None:
    tmp = f".current-{release}"
    dev.s.run(f"cd {dev.root} && rm -f releases/{shlex.quote(release)}/.installing && "
              f"ln -sfn releases/{shlex.quote(release)} {shlex.quote(tmp)} && mv -T {shlex.quote(tmp)} current",
              what="switching current")


def _log_event(dev: _Device, python: str, event: dict[str, Any]) -> str | None:
    try:
        dev.py(python, LOG, dev.root_text, json.dumps(event), LOG_SCHEMA, what="writing the deployment log")
        return None
    except SshError as e:  # the switch happened; a missing log line must not undo it
        return f"could not write {LOG_NAME}: {e}"


def _cleanup(dev: _Device, state: dict[str, Any]) -> None:
    """Remove what a killed deploy left (``.partial`` / ``.installing`` releases; never the current one)."""
    stale = [r for r, s in state["releases"].items() if s in ("partial", "installing") and r != state["current"]]
    if stale:
        dev.say(f"removing {len(stale)} unfinished release(s) of an earlier deploy")
        dev.s.run("cd " + dev.root + "/releases && rm -rf " + " ".join(shlex.quote(r) for r in stale),
                  what="removing unfinished releases")


def _prune(dev: _Device, keep: int) -> list[str]:
    state = dev.state()
    order = [e["release"] for e in state["events"] if e.get("action") == "deploy"]
    keep_set = set(order[-keep:]) | {state["current"]}
    keep_set |= {e.get("previous") for e in state["events"] if e.get("release") == state["current"]}
    old = [r for r, s in state["releases"].items() if s == "ok" and r not in keep_set and r in order]
    if old:
        dev.s.run("cd " + dev.root + "/releases && rm -rf " + " ".join(shlex.quote(r) for r in old),
                  what="pruning old releases", check=False)
    return old


class _Bundles:
    """One bundle per kind of device, built once, shared by the threads of ``deploy_many``."""

    def __init__(self, artifacts: Sequence[str | Path], log: Log | None):
        self.artifacts = list(artifacts)
        self.log = log
        self.lock = Lock()
        self.built: dict[Target, Bundle] = {}
        self.tmp = tempfile.TemporaryDirectory(prefix="ew-bundle-")

    def get(self, target: Target) -> Bundle:
        with self.lock:
            if target not in self.built:
                out = Path(self.tmp.name) / target.key
                self.built[target] = build_bundle(self.artifacts, target, out, log=self.log)
            return self.built[target]

    def close(self) -> None:
        self.tmp.cleanup()


def _space_needed(bundle: Bundle) -> int:
    """Bytes a release takes on the device: the copy + the unpacked venv (measured: 176 MB from 58 MB of wheels)."""
    return bundle.size_bytes + 3 * wheel_bytes(bundle)


def _check_fits(bundle: Bundle, target: Target, name: str) -> None:
    b = bundle.target
    if (b.arch, b.python) != (target.arch, target.python):
        raise WrongTargetError(f"{name}: the bundle's wheels are for {b.arch} / Python {b.python}, but the device is "
                               f"{target.arch} / Python {target.python}; build the bundle for this device")


def deploy(artifacts: Sequence[str | Path], device: Any, *, bundle: str | Path | Bundle | None = None,
           python: str = "python3", keep: int = 3, selfcheck_runs: int = SELFCHECK_RUNS, check_target: bool = True,
           select: SelectConfig | None = None, log: Log | None = None,
           _bundles: _Bundles | None = None) -> dict[str, Any]:
    """Deploy ``artifacts`` to ``device``; switch its ``current`` release only after every check passed.

    Args:
        artifacts: .onnx/.tflite files (ignored when ``bundle`` is given).
        device: an ``edgewise.devices.config.Device`` (name, ssh, port, identity, known_hosts, root).
        bundle: a prebuilt bundle folder to send instead of building one.
        python: the device's Python (>= 3.10) that makes the venv.
        keep: releases kept on the device (the current and the previous one always are).
        selfcheck_runs: ``edgewise bench --runs`` of the self-check.
        check_target: refuse a prebuilt bundle for another architecture/Python before copying it (off: let
            the device's pip refuse it, as tests do).
        select: how each task's default artifact is chosen and recorded in the release's defaults.json
            (``edgewise.devices.autoselect``; default ``SelectConfig()``: the fastest within budget).
        log: called with one progress line per step.

    Returns:
        ``{"device", "release", "previous", "models", "selfcheck": [bench results], "defaults": {task: choice},
        "defaults_warnings", "pruned", "seconds", "target", "warning"}``.

    Raises:
        SshError subclasses (unreachable, refused, host key, auth), PythonMissingError, BundleError,
        WrongTargetError, ChecksumError, DiskFullError, InstallError, SelfCheckError, DeployError: one line each,
        ending with the release the device kept.
    """
    if bundle is not None and len(artifacts):
        raise ValueError("pass artifacts to bundle, or a prebuilt bundle, not both")
    t0 = time.monotonic()
    with SshSession(SshTarget.from_device(device)) as session:
        dev = _Device(device, session, log)
        dev.say("probing")
        info = probe_device(session, python=python, root=f"{dev.root_text}/releases")
        target = target_of(info)
        py = info["executable"] or python
        state = dev.state()
        if state.get("log_error"):
            dev.say(f"warning: {state['log_error']}; a new log is started")
        own = None
        if bundle is not None:
            b = bundle if isinstance(bundle, Bundle) else open_bundle(bundle)
            if check_target:
                _check_fits(b, target, dev.name)
        else:
            own = _bundles or _Bundles(artifacts, log)
            b = own.get(target)
        try:
            need = _space_needed(b)
            if info["free_bytes"] < need:
                where = f"current is still {state['current']}" if state["current"] else "nothing is deployed yet"
                raise DiskFullError(f"{dev.name}: {info['free_bytes'] / 1e6:.0f} MB free in {dev.root_text}/releases, "
                                    f"the release needs about {need / 1e6:.0f} MB; free some space on the device "
                                    f"(nothing was copied; {where})")
            sel = Selection(select or SelectConfig(), b.path, b.models, sorted((b.path / "wheels").glob("*.whl")),
                            device, emulated=bool(info.get("emulated")), log=dev.say)
            return _deploy_bundle(dev, b, py, state, info, keep=keep, selfcheck_runs=selfcheck_runs, t0=t0, sel=sel)
        finally:
            if own is not None and _bundles is None:
                own.close()


def _deploy_bundle(dev: _Device, b: Bundle, py: str, state: dict[str, Any], info: dict[str, Any], *, keep: int,
                   selfcheck_runs: int, t0: float, sel: Selection) -> dict[str, Any]:
    _cleanup(dev, state)
    release = _release_id(b)
    rel_text = f"{dev.root_text}/releases/{release}"
    rel, part = remote_path(rel_text), remote_path(rel_text + ".partial")
    try:
        dev.say(f"copying the bundle ({b.size_bytes / 1e6:.1f} MB) into {rel_text}.partial")
        _send(dev, b, part)
        dev.say("verifying checksums on the device")
        _verify(dev, py, rel_text + ".partial")
        dev.s.run(f"touch {part}/.installing && mv -T {part} {rel}", what="renaming the verified release")
        dev.say("installing into a new venv (no network: the bundle's wheels)")
        _install(dev, py, rel, b)
        runs = max(selfcheck_runs, sel.selfcheck_runs or 0)
        dev.say(f"self-check (edgewise bench on every artifact{f', {runs} runs: measuring' if sel.measure else ''})")
        results = _selfcheck(dev, rel, b, runs, warmup=sel.warmup)
        doc, choices = sel.finish(results)
        write_defaults(dev, rel, doc)
    except (EdgewiseError, OSError) as e:
        try:
            # a killed transfer's tar may still be exiting on the device: retry until the folders are gone
            dev.s.run(f"for i in 1 2 3 4 5; do rm -rf {part} {rel} 2>/dev/null && break; sleep 1; done",
                      what="removing the failed release", check=False, timeout=120)
        except SshError:
            pass  # the device went away: the next deploy removes the leftovers
        raise _keep_current(e, dev, state["current"])
    _switch(dev, release)
    event = {"time": _now(), "action": "deploy", "release": release, "previous": state["current"],
             "models": [Path(m).name for m in b.models], "edgewise_version": b.edgewise_version,
             "target": b.target.key, "from": socket.gethostname(),
             "selfcheck": {r["model"]: r["selfcheck"] for r in results},
             "defaults": {t: c.name for t, c in choices.items()}}
    warning = _log_event(dev, py, event)
    pruned = _prune(dev, max(keep, 2))
    dev.say(f"current -> {release}")
    return {"device": dev.name, "ok": True, "release": release, "previous": state["current"],
            "models": event["models"], "selfcheck": results, "pruned": pruned, "target": b.target.key,
            "defaults": {t: c.as_dict() for t, c in choices.items()}, "defaults_warnings": sel.warnings,
            "emulated": bool(info.get("emulated")), "seconds": round(time.monotonic() - t0, 1), "warning": warning}


def rollback(device: Any, *, log: Log | None = None) -> dict[str, Any]:
    """Point ``current`` back at the release that was current before the current one was deployed.

    Raises:
        DeployError: nothing to go back to (no earlier release kept), or SSH errors.
    """
    with SshSession(SshTarget.from_device(device)) as session:
        dev = _Device(device, session, log)
        state = dev.state()
        cur = state["current"]
        if cur is None:
            raise DeployError(f"{dev.name}: nothing is deployed, nothing to roll back")
        made = [e for e in state["events"] if e.get("action") == "deploy" and e.get("release") == cur]
        prev = made[-1].get("previous") if made else None
        if not prev:
            raise DeployError(f"{dev.name}: no release before {cur} in {dev.root_text}/{LOG_NAME}; nothing to roll back to")
        if state["releases"].get(prev) != "ok":
            raise DeployError(f"{dev.name}: the previous release {prev} is no longer on the device; current stays {cur}")
        check = dev.s.run(f"test -x {dev.root}/releases/{shlex.quote(prev)}/venv/bin/edgewise", check=False)
        if check.returncode != 0:
            raise DeployError(f"{dev.name}: the previous release {prev} has no working venv; current stays {cur}")
        _switch(dev, prev)
        py_event = {"time": _now(), "action": "rollback", "release": prev, "previous": cur,
                    "from": socket.gethostname()}
        warning = None
        p = dev.s.run("command -v python3", check=False)
        if p.returncode == 0:
            warning = _log_event(dev, p.stdout.strip() or "python3", py_event)
        dev.say(f"current -> {prev} (rolled back from {cur})")
        return {"device": dev.name, "ok": True, "release": prev, "previous": cur, "warning": warning}


def deployed(device: Any) -> dict[str, Any]:
    """What is on a device: ``{"device", "root", "current", "releases": [{"id", "state", "current", "time",
    "models", "edgewise_version", "defaults": {task: file}}], "events": [...]}`` (newest release last)."""
    with SshSession(SshTarget.from_device(device)) as session:
        dev = _Device(device, session, None)
        state = dev.state()
    facts = {e["release"]: e for e in state["events"] if e.get("action") == "deploy" and "release" in e}
    order = list(facts)
    rows = []
    for rid in sorted(state["releases"], key=lambda r: (order.index(r) if r in order else -1, r)):
        e = facts.get(rid, {})
        rows.append({"id": rid, "state": state["releases"][rid], "current": rid == state["current"],
                     "time": e.get("time"), "models": e.get("models", []), "edgewise_version": e.get("edgewise_version"),
                     "defaults": e.get("defaults", {})})
    return {"device": dev.name, "root": state["root"], "current": state["current"], "releases": rows,
            "events": state["events"]}


def deploy_many(artifacts: Sequence[str | Path], devices: Sequence[Any], *, rollback_only: bool = False,
                max_workers: int | None = None, log: Log | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    """``deploy`` (or ``rollback``) on several devices in parallel threads; one result per device, in order.

    A failing device does not stop the others: its result is ``{"device", "ok": False, "error"}``.
    """
    bundles = _Bundles(artifacts, log)

    def one(dev: Any) -> dict[str, Any]:
        try:
            if rollback_only:
                return rollback(dev, log=log)
            return deploy(artifacts, dev, log=log, _bundles=bundles, **kwargs)
        except (EdgewiseError, ValueError, OSError) as e:
            return {"device": dev.name, "ok": False, "error": str(e), "error_type": type(e).__name__}

    try:
        with ThreadPoolExecutor(max_workers=max_workers or max(1, len(devices))) as pool:
            return list(pool.map(one, devices))
    finally:
        bundles.close()
