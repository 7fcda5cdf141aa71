"""CLI leaf: ``edgewise deploy MODEL... --device NAME[,NAME...|all] [--rollback]``.

Builds a bundle for each kind of device (artifacts + the wheels of edgewise's device install), copies it
over SSH, verifies it on the device, installs it into a new venv, self-checks every artifact there and
only then switches the device's ``current`` release (``edgewise.devices.deploy``). Each task's default
artifact on the device (what ``delineate``, ``detect`` and ``run`` use without ``--model``) is the fastest
one within the task's accuracy budget, from the device's stored bench results, a measurement during the
deploy, or (emulated device) the host's estimate (``edgewise.devices.autoselect``); ``--default MODEL``
names one instead, ``--no-auto-select`` records none. ``--rollback`` points ``current`` back at the
previous release. Several devices run in parallel; a summary table (or
``--json``, one object per device and line) ends the run, and any failed device makes the exit code 2.
"""
from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path


def deploy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="*", metavar="MODEL",
                   help="artifacts to deploy: .onnx/.tflite files, or shipped artifact file names "
                        "(e.g. ecg-unet-int8.tflite; see `edgewise models list`)")
    p.add_argument("--device", required=True,
                   help="a device from `edgewise devices list`, several comma-separated, or 'all'")
    p.add_argument("--rollback", action="store_true",
                   help="point each device's current release back at the previous one (no MODEL)")
    p.add_argument("--python", default="python3", help="the device's Python >= 3.10 that makes the venv (default python3)")
    p.add_argument("--keep", type=int, default=3, help="releases kept on each device, current and previous included (default 3)")
    p.add_argument("--bundle", type=Path, help="send this prebuilt bundle folder instead of building one")
    p.add_argument("--config", type=Path, help="devices config file (default: $EDGEWISE_CONFIG or "
                                                "~/.config/edgewise/devices.toml)")
    p.add_argument("--json", action="store_true", help="one JSON object per device and line instead of the table")
    p.add_argument("--no-auto-select", action="store_true",
                   help="record no per-task default on the device (its commands keep the shipped default)")
    p.add_argument("--default", action="append", default=[], metavar="MODEL",
                   help="record this deployed artifact (file name) as its task's default instead of choosing "
                        "the fastest within budget (repeatable, one per task)")
    p.add_argument("--measure", choices=("auto", "always", "never"), default="auto",
                   help="measure the artifacts on the device for the choice: auto (unless the results database "
                        "has them; an emulated device gets the host's estimate), always, never (stored or estimate)")
    p.add_argument("--measure-runs", type=int, default=50, help="runs per artifact when measuring (default 50)")
    p.add_argument("--db", type=Path, help="results database (default: $EDGEWISE_DB or the user data dir)")


def _resolve_model(text: str) -> Path:
    """A path, or the file name / stem of a shipped .onnx/.tflite artifact."""
    path = Path(text)
    if path.is_file():
        return path
    if path.exists():
        raise FileNotFoundError(f"{text} is not a file; pass .onnx/.tflite artifacts")
    from edgewise.models.pretrained import shipped_artifacts

    rows = [r for r in shipped_artifacts() if r["format"] in ("onnx", "tflite")]
    hits = [r for r in rows if Path(r["path"]).name == text] or [r for r in rows if r["name"] == text]
    if len(hits) == 1:
        return Path(hits[0]["path"])
    names = sorted(Path(r["path"]).name for r in rows)
    if hits:
        raise FileNotFoundError(f"{text!r} names several shipped artifacts ({', '.join(Path(r['path']).name for r in hits)}); "
                                f"give the file name")
    raise FileNotFoundError(f"no artifact file {text!r}, nor a shipped one of that name (shipped: {', '.join(names)})")


def _devices(spec: str, config: Path | None) -> list:
    from edgewise.devices.config import THIS_MACHINE, device_profile, get_device, load_devices

    if spec == "all":
        devices = [d for d in load_devices(config).values() if d.name != THIS_MACHINE and d.ssh]
        if not devices:
            raise ValueError("--device all: no devices with an SSH target in the config; add one with "
                             "`edgewise devices add NAME --profile pi5 --ssh user@host`")
    else:
        names = [n.strip() for n in spec.split(",") if n.strip()]
        if not names:
            raise ValueError(f"--device needs a device name, a comma-separated list or 'all', got {spec!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"--device names a device twice: {spec!r}")
        devices = [get_device(n, config) for n in names]
    for d in devices:
        if d.name == THIS_MACHINE or not d.ssh:
            raise ValueError(f"{d.name!r} has no SSH target: deploy copies to a device over SSH "
                             f"(add one with `edgewise devices add NAME --profile pi5 --ssh user@host`)")
        device_profile(d, config)  # an unknown profile fails here, before anything is built
    return devices


def _check_defaults(names: list[str], models: list[Path]) -> None:
    """``--default`` must name one of the artifacts being deployed (checked again against a --bundle's)."""
    if not models:
        return
    files = {m.name for m in models} | {m.stem for m in models}
    for name in names:
        if Path(name).name not in files:
            raise ValueError(f"--default {name}: not among the artifacts being deployed "
                             f"({', '.join(sorted(m.name for m in models))})")


def _summary(results: list[dict]) -> None:
    print(f"{'device':16} {'result':8} {'release':28} {'time':>7}  detail")
    for r in results:
        if r.get("ok"):
            checks = r.get("selfcheck")
            detail = (f"self-check ok on {len(checks)} artifact(s): {', '.join(r['models'])}" if checks is not None
                      else f"rolled back from {r.get('previous')}")
            if r.get("emulated"):
                detail += " [emulated device]"
            if r.get("warning"):
                detail += f" (warning: {r['warning']})"
            secs = f"{r['seconds']:.0f} s" if "seconds" in r else "-"
            print(f"{r['device']:16} {'ok':8} {r['release']:28} {secs:>7}  {detail}")
        else:
            print(f"{r['device']:16} {'FAILED':8} {'-':28} {'-':>7}  {r['error']}")
    for r in results:
        for task, c in sorted((r.get("defaults") or {}).items()):
            print(f"{r['device']}: default for {task}: {c['reason']}")
        for w in r.get("defaults_warnings") or []:
            print(f"{r['device']}: warning: {w}")


def deploy(args: argparse.Namespace) -> int:
    """deploy artifacts to devices over SSH: bundle, verify, install, self-check, switch atomically (or roll back)"""
    from edgewise._cli._common import print_json_line
    from edgewise.devices import deploy as dep

    if args.rollback and args.models:
        raise ValueError("--rollback takes no MODEL: it points current back at the release before it")
    if args.rollback and (args.default or args.no_auto_select):
        raise ValueError("--rollback keeps the defaults the earlier release recorded; --default and "
                         "--no-auto-select apply to a deploy")
    if not args.rollback and not args.models and args.bundle is None:
        raise ValueError("name at least one MODEL to deploy (or --rollback)")
    if args.measure_runs < 1:
        raise ValueError(f"--measure-runs must be >= 1, got {args.measure_runs}")
    if args.keep < 2:
        raise ValueError(f"--keep must be >= 2 (the current and the previous release), got {args.keep}")
    devices = _devices(args.device, args.config)
    models = [_resolve_model(m) for m in args.models]
    lock = threading.Lock()

    def log(text: str) -> None:
        with lock:
            print(f"edgewise: {text}", file=sys.stderr, flush=True)

    select = None
    if not args.rollback:
        from edgewise.devices.autoselect import SelectConfig

        _check_defaults(args.default, models)
        select = SelectConfig(auto=not args.no_auto_select, measure=args.measure, measure_runs=args.measure_runs,
                              overrides=tuple(args.default), db=args.db)
    kwargs = {} if args.rollback else {"python": args.python, "keep": args.keep, "bundle": args.bundle,
                                       "select": select}
    if len(devices) == 1:  # one device: its error is the command's error (one line, exit 2)
        if args.rollback:
            results = [dep.rollback(devices[0], log=log)]
        else:
            results = [dep.deploy(models, devices[0], log=log, **kwargs)]
    else:
        results = dep.deploy_many(models, devices, rollback_only=args.rollback, log=log, **kwargs)
    if args.json:
        for r in results:
            print_json_line(r)
    else:
        _summary(results)
    failed = [r for r in results if not r.get("ok")]
    for r in failed:
        print(f"edgewise: error: {r['error']}", file=sys.stderr)
    return 2 if failed else 0
