"""CLI leaf: ``edgewise bench MODEL...`` (and ``edgewise bench report``).

Runs on the bare device install (numpy + onnxruntime / LiteRT): each model x thread count is measured in
a fresh process (``python -m edgewise.runtime.bench``), printed, and filed in the results store
(``edgewise.devices.store``; ``--no-store`` to skip). ``--device NAME`` runs the same on a deployed
device over SSH and brings the results back. A self-check mismatch fails the command (exit 3).
``edgewise bench report [--html FILE] [--db PATH]`` prints the stored results per device.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("models", nargs="+", metavar="MODEL",
                   help="artifacts (.onnx/.tflite) to measure; or 'report' to print the stored results")
    p.add_argument("--threads", default="1", help="comma-separated thread counts (default 1)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--runs", type=int, help="steady-state runs per measurement")
    g.add_argument("--seconds", type=float, help="time budget per measurement (default 2 s)")
    p.add_argument("--warmup", type=int, default=10, help="untimed runs after the first inference (default 10)")
    p.add_argument("--device", default="this-machine", help="a device from `edgewise devices list` (default: this machine)")
    p.add_argument("--json", action="store_true", help="one JSON object per model x thread count and line")
    p.add_argument("--db", type=Path, help="results database (default: $EDGEWISE_DB or the user data dir)")
    p.add_argument("--no-store", action="store_true", help="do not file the results in the database")
    p.add_argument("--html", type=Path, help="(report) also write an HTML report with a plot to this file")


def _threads(text: str) -> list[int]:
    try:
        out = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        out = []
    if not out or any(t < 1 for t in out):
        raise ValueError(f"--threads takes comma-separated positive integers (e.g. 1,2,4), got {text!r}")
    return out


def _local(models: list[Path], args: argparse.Namespace, threads: list[int]) -> list[dict]:
    import json
    import subprocess

    results = []
    for m in models:
        if not m.is_file():
            raise FileNotFoundError(f"no model artifact at {m}")
    for m in models:
        for t in threads:
            cmd = [sys.executable, "-m", "edgewise.runtime.bench", str(m), "--threads", str(t),
                   "--warmup", str(args.warmup)]
            cmd += ["--runs", str(args.runs)] if args.runs else []
            cmd += ["--seconds", str(args.seconds)] if args.seconds else []
            p = subprocess.run(cmd, capture_output=True, text=True)
            lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
            if not lines:
                tail = (p.stderr.strip().splitlines() or ["no output"])[-1]
                raise RuntimeError(f"benchmark of {m.name} at {t} thread(s) died (exit {p.returncode}): {tail}")
            r = json.loads(lines[-1])
            if "error" in r:
                from edgewise.runtime.errors import ArtifactError

                raise ArtifactError(f"{m}: {r['error']}")
            results.append(r)
    return results


def _print_table(results: list[dict]) -> None:
    if not results:
        return
    r0 = results[0]
    cpu = r0["cpu"]
    print(f"device {r0['device']}{' (EMULATED: latency not representative)' if r0.get('emulated') else ''}: "
          f"{cpu['model'] or cpu['arch']}, {cpu['cores']} cores, {r0['isa']} ({' '.join(cpu['features'])})")
    print(f"{'model':32} {'runtime':18} {'prec':5} {'thr':>3} {'load':>7} {'first':>7} {'p50':>8} {'p90':>8} "
          f"{'p99':>8} {'model':>8} {'RTF':>8} {'RSS MB':>7}  self-check")
    for r in results:
        print(f"{r['model'][:32]:32} {r['runtime'] + ' ' + r['runtime_version']:18} {r['precision']:5} {r['threads']:3d} "
              f"{r['load_ms']:7.2f} {r['first_ms']:7.2f} {r['p50_ms']:8.3f} {r['p90_ms']:8.3f} {r['p99_ms']:8.3f} "
              f"{r['model_p50_ms']:8.3f} {r['realtime_factor'] or 0:8.0f} {r['peak_rss_mb']:7.1f}  {r['selfcheck']}")
    units = "; ".join(sorted({f"{r['model']}: {r['unit']}" for r in results}))
    print(f"ms per unit of work ({units}); model = the model call alone; RTF = seconds of signal per second "
          f"of compute; {r0['runs']} runs after {r0['warmup_runs']} warm-up")


def _store(results: list[dict], args: argparse.Namespace) -> str | None:
    try:
        from edgewise.devices.config import get_device
        from edgewise.devices.store import ResultsStore, default_db_path, fingerprint
    except ImportError:  # pragma: no cover (devices package incomplete)
        return None
    dev = get_device(args.device)
    db = Path(args.db) if args.db else default_db_path()
    store = ResultsStore(db)
    for r in results:
        store.add(r, device=dev.name, profile=dev.profile, fingerprint=fingerprint(r))
    return str(db)


def bench(args: argparse.Namespace) -> int:
    """measure artifacts' latency on this machine or a deployed device (p50/p90/p99, load, first run, RSS)"""
    import json

    if args.models[0] == "report":
        if len(args.models) > 1:
            raise ValueError(f"`edgewise bench report` takes no models, got {args.models[1:]}")
        from edgewise.devices.report import report
        from edgewise.devices.store import default_db_path

        print(report(Path(args.db) if args.db else default_db_path(), html=args.html), end="")
        return 0
    threads = _threads(args.threads)
    models = [Path(m) for m in args.models]
    if args.device != "this-machine":
        from edgewise.devices.config import get_device

        device = get_device(args.device)  # an unknown name fails here, before anything else is imported
        from edgewise.devices.remote import bench_remote

        results = bench_remote(device, models, threads=threads, runs=args.runs, seconds=args.seconds,
                               warmup=args.warmup)
    else:
        results = _local(models, args, threads)
    if args.json:
        for r in results:
            print(json.dumps(r))
    else:
        _print_table(results)
    if not args.no_store:
        db = _store(results, args)
        if db and not args.json:
            print(f"stored in {db}")
    bad = [r for r in results if r.get("selfcheck") not in ("ok", "no reference")]
    for r in bad:
        print(f"edgewise: error: {r['model']} failed its self-check on {r['device']}: {r['selfcheck']}", file=sys.stderr)
    return 3 if bad else 0
