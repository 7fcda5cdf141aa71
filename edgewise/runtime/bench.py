"""The timing core of ``edgewise bench``: one artifact, one thread count, the task's real unit of work.

Measured like TFLite's ``benchmark_model`` and onnxruntime's ``onnxruntime_perf_test``: the time to open
the file (session / interpreter creation), the first inference, warm-up runs, then steady-state runs
(a fixed count or a time budget) reported as p50/p90/p99/mean/min, plus throughput, real-time factor
(seconds of signal per second of compute), the process's peak RSS, the file size and sha256, the
runtime and its version, and the CPU (``edgewise.runtime.platform``). The unit of work is what a user
runs, end to end:
- ECG delineation: 10 s of single-lead ECG at the model's rate (one call of a whole-strip model: window
  5024 samples at 500 Hz in edgewise 0.3, 5008 in 0.2; 25 stream windows of 2048 for a 0.1 model):
  checks, standardisation, windowing, the model, stitching and wave post-processing
  (``edgewise.runtime.ecg.delineate``);
- mosquito detection: one window of audio (2 s at 8 kHz): the log-Mel front end, the model, softmax;
- anything else: one model call on the self-check input.
``model_p50_ms`` is the model call alone on the same unit (all of its windows in one batch).
Every run ends with the artifact's self-check (``edgewise.runtime.selfcheck``) on the same session.

Only numpy + the runtime's backends: this runs in the bare device install.
"""
from __future__ import annotations

import os
import resource
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["bench", "unit_of_work"]


def _ms(seconds: float) -> float:
    return round(seconds * 1e3, 4)


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    return round(kb / 1024.0, 1)


def ecg_unit(meta: dict[str, Any], shape: tuple[int, ...] = (1, 2048)) -> tuple[int, int, int, list[int], str]:
    """ECG's unit of work, 10 s of signal as ``edgewise delineate`` scores it: ``(fs, window, hop, window
    starts, description)`` — 25 overlapping windows on a 2048-sample model, one call on a whole-strip one."""
    from edgewise.runtime.ecg.model import offline_hop
    from edgewise.runtime.ecg.stitch import window_starts

    fs = int(meta.get("sample_rate") or 500)
    window = int(meta.get("window") or shape[-1])
    hop = offline_hop(window, meta.get("hop"))
    starts = window_starts(10 * fs, window, hop)
    return fs, window, hop, starts, f"10 s of ECG at {fs} Hz ({len(starts)} window{'s' if len(starts) > 1 else ''})"


def unit_of_work(model: Any) -> tuple[str, float, Callable[[], Any], Callable[[], Any]]:
    """``(description, seconds of signal, run the unit end to end, run the model alone on it)``."""
    from edgewise.runtime.selfcheck import reference_input

    meta = model.metadata or {}
    task = str(meta.get("task", ""))
    shape = tuple(int(d) for d in model.input_shape)
    if task == "ecg-delineation" and len(shape) == 2:
        from edgewise.runtime.ecg.delineate import delineate
        from edgewise.runtime.ecg.postprocess import post_config
        from edgewise.runtime.ecg.preprocess import standardized_window

        post = post_config(meta)
        fs, window, hop, starts, unit = ecg_unit(meta, shape)
        base = reference_input((shape[0], 10 * fs), task=task, fs=fs)[0]
        signal = base[0] if shape[0] == 1 else base
        # the windows delineate scores, standardised and zero-padded as the stream does
        batch = np.stack([standardized_window(base[:, s:s + window], window) for s in starts]).astype(np.float32)

        def run():
            return delineate(signal, fs, lambda x: np.asarray(model.run(x)), model_fs=fs, window=window, hop=hop,
                             in_channels=shape[0], post=post)

        return unit, 10.0, run, lambda: model.run(batch)
    prep = meta.get("preprocessing") or {}
    if task == "mosquito-detection" and prep.get("kind") == "logmel":
        from edgewise.runtime.features.logmel import LogMelConfig, log_mel

        cfg = LogMelConfig.from_dict({k: v for k, v in prep.items() if k in LogMelConfig.__dataclass_fields__})
        sr, window = int(meta.get("sample_rate") or cfg.sample_rate), int(meta.get("window") or 2 * cfg.sample_rate)
        k = np.arange(window, dtype=np.float32) / np.float32(sr)
        audio = (0.1 * np.sin(2 * np.pi * 600.0 * k) + 0.01 * reference_input((window,), task="", seed=1)[0])
        audio = audio.astype(np.float32)[None]
        feats = log_mel(audio, cfg)[:, None]

        def run():
            logits = np.asarray(model.run(log_mel(audio, cfg)[:, None]), dtype=np.float64)
            z = logits - logits.max(axis=1, keepdims=True)
            return np.exp(z[:, -1]) / np.exp(z).sum(axis=1)

        return (f"{window / sr:g} s of audio at {sr} Hz (1 window)", window / sr, run, lambda: model.run(feats))
    x = reference_input(shape, task=task)
    return ("one model call", 0.0, lambda: model.run(x), lambda: model.run(x))


def _timed(fn: Callable[[], Any], *, runs: int | None, seconds: float | None, min_runs: int = 10) -> list[float]:
    times: list[float] = []
    deadline = time.perf_counter() + (seconds if seconds is not None else 0.0)
    while True:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
        if runs is not None and len(times) >= runs:
            break
        if runs is None and len(times) >= min_runs and time.perf_counter() >= deadline:
            break
    return times


def bench(path: str | Path, *, threads: int = 1, runs: int | None = None, seconds: float | None = None,
          warmup: int = 10, device: str = "this-machine", emulated: bool | None = None,
          backend: str | None = None) -> dict[str, Any]:
    """Benchmark one artifact at one thread count; returns one JSON-able result (``edgewise bench --json``).

    Args:
        path: an .onnx / .tflite artifact.
        threads: intra-op threads of the runtime.
        runs: steady-state runs (default: as many as ``seconds`` allows, at least 10).
        seconds: time budget for the steady-state runs (default 2 s when ``runs`` is None).
        warmup: untimed runs after the first inference.
        device: the name results are filed under.
        emulated: mark the result as measured under emulation (default: detected from the CPU description
            the arm64 test bed writes).
        backend: force a runtime backend (default: by file type).
    """
    from edgewise.runtime.artifact import sha256_file
    from edgewise.runtime.backends import load_model
    from edgewise.runtime.platform import cpu_info
    from edgewise.runtime.selfcheck import check

    path = Path(path)
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if runs is not None and runs < 1:
        raise ValueError(f"runs must be >= 1, got {runs}")
    if seconds is not None and seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if runs is None and seconds is None:
        seconds = 2.0
    t = time.perf_counter()
    model = load_model(path, backend=backend, threads=threads, warmup=0)
    load_s = time.perf_counter() - t
    meta = model.metadata or {}
    unit, unit_s, run, run_model = unit_of_work(model)
    t = time.perf_counter()
    run()
    first_s = time.perf_counter() - t
    for _ in range(max(warmup, 0)):
        run()
    times = np.asarray(_timed(run, runs=runs, seconds=seconds))
    # the model call alone: as many runs as the unit got (at least 10 unless the caller asked for fewer)
    n_model = min(len(times), 200) if runs is not None else max(10, min(len(times), 200))
    model_times = np.asarray(_timed(run_model, runs=n_model, seconds=None))
    p50 = float(np.percentile(times, 50))
    cpu = cpu_info()
    selfcheck = check(model, meta.get("selfcheck"), task=str(meta.get("task", "")))
    runtime, version = _runtime_of(model)
    if emulated is None:
        emulated = "qemu" in cpu.model.lower()
    return {
        "model": path.name, "path": str(path.resolve()), "sha256": sha256_file(path), "format": model.format,
        "precision": str(meta.get("precision", "fp32")), "task": str(meta.get("task", "")),
        "runtime": runtime, "runtime_version": version, "threads": int(threads), "unit": unit,
        "load_ms": _ms(load_s), "first_ms": _ms(first_s), "warmup_runs": int(max(warmup, 0)), "runs": int(times.size),
        "p50_ms": _ms(p50), "p90_ms": _ms(float(np.percentile(times, 90))),
        "p99_ms": _ms(float(np.percentile(times, 99))), "mean_ms": _ms(float(times.mean())),
        "min_ms": _ms(float(times.min())), "model_p50_ms": _ms(float(np.median(model_times))),
        "throughput_per_s": round(1.0 / p50, 2) if p50 > 0 else None,
        "realtime_factor": round(unit_s / p50, 1) if p50 > 0 and unit_s else None,
        "peak_rss_mb": _peak_rss_mb(), "size_bytes": path.stat().st_size,
        "cpu": cpu.as_dict(), "isa": cpu.isa, "device": device, "emulated": bool(emulated),
        "selfcheck": selfcheck, "edgewise_version": _edgewise_version(),
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }


def _edgewise_version() -> str:
    """The installed package's version (the runtime imports nothing above itself, so not ``edgewise.__version__``)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("edgewise")
    except PackageNotFoundError:  # pragma: no cover (run from a source tree that was never installed)
        return "unknown"


def _runtime_of(model: Any) -> tuple[str, str]:
    """("onnxruntime" | "litert" | ..., version) of an opened model."""
    impl = str(getattr(model, "implementation", "") or getattr(model, "backend", ""))
    if model.format == "onnx" or "onnxruntime" in impl:
        import onnxruntime

        return "onnxruntime", onnxruntime.__version__
    try:
        import ai_edge_litert

        return "litert", str(getattr(ai_edge_litert, "__version__", "?"))
    except ImportError:  # the tflite-runtime fallback interpreter
        try:
            import tflite_runtime

            return "tflite-runtime", str(getattr(tflite_runtime, "__version__", "?"))
        except ImportError:
            return impl or "tflite", "?"


def _main(argv: list[str] | None = None) -> int:
    """``python -m edgewise.runtime.bench PATH [--threads N] [--runs N | --seconds S] ...``: one JSON line.

    ``edgewise bench`` runs every model x thread count in a fresh process through this entry point, so
    peak RSS and caches belong to that one measurement.
    """
    import argparse
    import json
    import sys

    ap = argparse.ArgumentParser(prog="python -m edgewise.runtime.bench")
    ap.add_argument("path")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int)
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--device", default="this-machine")
    ap.add_argument("--emulated", choices=("auto", "yes", "no"), default="auto")
    a = ap.parse_args(argv)
    emulated = None if a.emulated == "auto" else a.emulated == "yes"
    from edgewise.runtime.errors import EdgewiseError

    try:
        result = bench(a.path, threads=a.threads, runs=a.runs, seconds=a.seconds, warmup=a.warmup, device=a.device,
                       emulated=emulated)
    except (EdgewiseError, ValueError, OSError) as e:
        print(json.dumps({"model": Path(a.path).name, "path": a.path, "error": str(e) or type(e).__name__}))
        return 2
    print(json.dumps(result))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
