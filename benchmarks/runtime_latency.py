"""Latency of the ECG model on 10 s of 500 Hz single-lead ECG: torch eager vs onnxruntime vs LiteRT.

    nice -n 10 .venv/bin/python benchmarks/runtime_latency.py [--checkpoint PATH] [--threads 1,2]

The checkpoint is exported once (``edgewise.export``: ONNX + TFLite, parity-checked on the same real
windows), then each runtime runs the windows that cover 10 s of LUDB lead II (standardised exactly as
the device does) — torch as one batch, onnxruntime as one batch (dynamic batch), LiteRT one window at a
time (its file has a fixed batch of 1), i.e. what each does behind ``edgewise.runtime``. Calls are
interleaved round-robin so that load changes on a shared machine hit every runtime alike; p50/p90/p99
of the per-call wall time are printed with ratios to torch eager, for each thread count.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = REPO / "edgewise" / "models" / "pretrained" / "ecg" / "ecg-unet.pt"


def ecg_windows(window: int, hop: int, *, seconds: float = 10.0, fs: int = 500) -> tuple[np.ndarray, str]:
    """float32 [n_windows, 1, window]: 10 s of LUDB lead II (else SYNTHETIC ECG), windowed and standardised."""
    from edgewise.data.paths import default_dataset_dir
    from edgewise.runtime.ecg.preprocess import standardize
    from edgewise.runtime.ecg.stitch import window_starts

    n = int(seconds * fs)
    ludb = default_dataset_dir("ludb")
    if ludb is not None:
        from edgewise.data.ludb import list_records, read_record

        rec = read_record(ludb, list_records(ludb)[0])
        x, source = rec.lead("ii")[:n], f"LUDB record {rec.record_id} lead II"
    else:
        t = np.arange(n) / fs
        x = np.sin(2 * np.pi * 1.2 * t) ** 63 + 0.05 * np.random.default_rng(0).standard_normal(n)
        source = "SYNTHETIC ECG-like signal (no LUDB folder found)"
    x = x[None].astype(np.float32)
    wins = np.stack([standardize(x[:, s:s + window]) for s in window_starts(n, window, hop)])
    return wins.astype(np.float32), source


def _percentiles(ms: list[float]) -> tuple[float, float, float, float]:
    """(min, p50, p90, p99) in ms; min shows the compute time when a shared machine left the cores free."""
    lo, p50, p90, p99 = np.percentile(np.asarray(ms), [0, 50, 90, 99])
    return float(lo), float(p50), float(p90), float(p99)


def bench(checkpoint: Path | None, *, threads: list[int], repeats: int, warmup: int) -> list[dict]:
    import torch

    from edgewise.export import export_checkpoint, resolve_checkpoint
    from edgewise.models.checkpoint import Checkpoint
    from edgewise.runtime.backends import load_model

    if checkpoint is None:
        import edgewise.models.ecg  # noqa: F401  (registers ecg-unet)
        from edgewise.models.spec import build_model, get_spec

        torch.manual_seed(0)
        ckpt = Checkpoint(spec=get_spec("ecg-unet"), model=build_model("ecg-unet").eval())
        print("model: ecg-unet with RANDOM weights (latency only)", file=sys.stderr)
    else:
        ckpt = resolve_checkpoint(checkpoint)
    spec = ckpt.spec
    from edgewise.runtime.ecg.stream import StreamConfig

    # the windows delineate and edgewise run score for 10 s (stream hop)
    x, source = ecg_windows(spec.window, StreamConfig(window=spec.window).stitching()[0], fs=spec.sample_rate)
    print(f"input: {source}; {len(x)} windows of {spec.window} samples", file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgewise-bench-") as tmp:
        arts = {a.format: a.path for a in export_checkpoint(ckpt, to=("onnx", "tflite"), out=tmp, inputs=x)}
        model = ckpt.model.eval()
        for t in threads:
            torch.set_num_threads(t)
            rt = {"onnxruntime": load_model(arts["onnx"], threads=t, warmup=warmup),
                  "litert": load_model(arts["tflite"], threads=t, warmup=warmup)}

            def torch_fn(a: np.ndarray) -> np.ndarray:
                with torch.inference_mode():
                    return model(torch.from_numpy(a)).numpy()

            fns = {"torch eager": torch_fn, **{k: m.run for k, m in rt.items()}}
            ref = torch_fn(x)
            for _ in range(warmup):
                for fn in fns.values():
                    fn(x)
            times: dict[str, list[float]] = {k: [] for k in fns}
            for _ in range(repeats):
                for name, fn in fns.items():
                    t0 = time.perf_counter()
                    fn(x)
                    times[name].append((time.perf_counter() - t0) * 1e3)
            for name, fn in fns.items():
                diff = float(np.max(np.abs(np.asarray(fn(x)) - ref)))
                rows.append({"threads": t, "runtime": name, "p": _percentiles(times[name]), "max_abs_vs_torch": diff})
    return rows


def print_table(rows: list[dict]) -> None:
    print(f"{'threads':>7}  {'runtime':12} {'min ms':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}  "
          f"{'p50/torch':>9} {'p99/torch':>9}  {'max|diff|':>9}")
    for r in rows:
        base = next(b for b in rows if b["threads"] == r["threads"] and b["runtime"] == "torch eager")["p"]
        lo, p50, p90, p99 = r["p"]
        print(f"{r['threads']:>7}  {r['runtime']:12} {lo:8.2f} {p50:8.2f} {p90:8.2f} {p99:8.2f}  "
              f"{p50 / base[1]:9.2f} {p99 / base[3]:9.2f}  {r['max_abs_vs_torch']:9.1e}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT.is_file() else None,
                   help="ECG checkpoint (default: the shipped ecg-unet.pt; without one, a RANDOM-weight ecg-unet)")
    p.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
    p.add_argument("--repeats", type=int, default=200, help="timed calls per runtime and thread count")
    p.add_argument("--warmup", type=int, default=10)
    args = p.parse_args(argv)
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    rows = bench(args.checkpoint, threads=threads, repeats=args.repeats, warmup=args.warmup)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{os.cpu_count()} CPUs, 1-min load average {load:.1f} before printing (others' work inflates p50-p99)")
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
