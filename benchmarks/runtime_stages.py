"""Where the time of one unit of work goes, per stage, for every shipped artifact and runtime, side by side.

    nice -n 5 .venv/bin/python benchmarks/runtime_stages.py [--runs 200] [--threads 1] [--quick]
        [--record 1] [--clock-ghz 2.6] [--int8-macs-per-cycle 32] [--fp32-macs-per-cycle 16] [--isa avx2]
        [--baseline-ecg DIR]

``--isa avx2`` re-runs the script on an AVX2-only view of this x86 CPU (``scripts/testbed/cpuid-mask.sh``:
CPUID faulting hides AVX-512 and VNNI, so every runtime takes its AVX2 kernels, natively): what an
AVX2-only host of the same micro-architecture would run; the ISA line says which kernels were picked.

Units of work (what ``edgewise delineate`` / ``edgewise detect`` run, through ``edgewise.runtime``):
- ECG: 10 s of LUDB lead II (record ``--record``, 500 Hz) delineated by ``edgewise.runtime.ecg.delineate``:
  the stream engine's windows every 128 samples (25 windows of 2048 for 10 s), batched as the engine
  batches them (every window one feed completes in one call: 24, then the end-aligned 1);
- mosquito: one 2-s window at 8 kHz of a real mosquito recording (../shared/data/mosquito,
  abuzz_phone_species) scored by ``MosquitoDetector.detect``.
Artifacts: the fp32 checkpoint (.pt, torch eager), fp32 .onnx (onnxruntime), fp32 .tflite (LiteRT), and
for ECG the pruned int8 .onnx and .tflite; all at ``--threads`` threads.

Stages, each timed on its own with the functions the engine calls (median, p10, p90 over ``--runs``, the
stages of one run timed back to back so that load changes hit them alike):
- pre: ECG ``check_signal`` + ``StreamResampler`` + ``stitch.model_input`` (windows, standardised);
  mosquito: ``detector_windows`` + log-Mel features;
- model: the model function alone on the exact batches the engine passes it (recorded from one run);
- post: ECG ``WaveTracker`` (argmax, gap filling, wave rules) on the stitched scores; mosquito: softmax
  + events;
- e2e: the whole call; ``other`` = e2e - pre - model - post (stitching, bookkeeping, Python).
``e2e 1 call``: ``EcgStream.flush(x)``, the same waves with every window in one batch.

Roofline: MACs per unit of work are counted from the artifact's graph (``edgewise.devices.estimate``; the
.pt from its own fp32 ONNX export) and the floor is MACs / (peak MACs per cycle x clock) of one core at
the layer's precision (``edgewise.devices.profiles.this_machine``: ISA from the CPU flags, rates and clock
with their sources printed; override with the flags). ``floor/model`` is the fraction of the peak reached.

The machine's 1-min load average is printed before and after: on a shared machine others' work inflates
every figure; compare runs only at similar load.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
PRETRAINED = REPO / "edgewise" / "models" / "pretrained"
LUDB = REPO.parent / "shared" / "data" / "ludb" / "data"
MOSQUITO = REPO.parent / "shared" / "data" / "mosquito"
MOSQUITO_CLIP = "abuzz_phone_species/aedes_sierrensis1.flac"  # mosquito, 8 kHz, 2.5 s
ECG_ARTIFACTS = ["ecg-unet.pt", "ecg-unet.onnx", "ecg-unet.tflite", "ecg-unet-int8.onnx",
                 "ecg-unet-int8.tflite"]


def _mosquito_artifacts() -> list[str]:
    """The shipped detector's files: checkpoint, fp32 ONNX/TFLite, INT8 ONNX/TFLite (named after api.PRETRAINED)."""
    from edgewise.models.mosquito.api import PRETRAINED as ship

    return [ship.name, "model.onnx", "model.tflite", f"{ship.stem}-int8.onnx", f"{ship.stem}-int8.tflite"]


MOSQUITO_ARTIFACTS = _mosquito_artifacts()
STAGES = ("pre", "model", "post", "e2e")


# ---- timing ----------------------------------------------------------------------------------------
def _time_stages(stages: dict[str, Callable[[], Any]], runs: int, warmup: int) -> dict[str, np.ndarray]:
    """Per stage, ``runs`` wall times in ms; each run times every stage once, back to back."""
    for _ in range(warmup):
        for f in stages.values():
            f()
    out: dict[str, list[float]] = {k: [] for k in stages}
    clock = time.perf_counter
    for _ in range(runs):
        for name, f in stages.items():
            t = clock()
            f()
            out[name].append((clock() - t) * 1e3)
    return {k: np.asarray(v) for k, v in out.items()}


def _pct(ms: np.ndarray) -> tuple[float, float, float]:
    p10, p50, p90 = np.percentile(ms, [10, 50, 90])
    return float(p50), float(p10), float(p90)


# ---- models -------------------------------------------------------------------------------------
def _torch_fn(path: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    from edgewise.models.checkpoint import load_checkpoint

    torch.set_num_threads(threads)
    model = load_checkpoint(path).model.eval()

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))).numpy()

    return fn


def _runtime_name(path: Path) -> str:
    return {".pt": "torch eager", ".onnx": "onnxruntime", ".tflite": "litert"}[path.suffix]


def _cost(path: Path, profile: Any, threads: int) -> tuple[float, float, str]:
    """(MACs per unit of work, roofline floor ms, precision) of an artifact; a .pt uses its fp32 ONNX export."""
    from edgewise.devices.estimate import artifact_cost, roofline_ms

    graph = path
    if path.suffix == ".pt":
        graph = path.with_name("ecg-unet.onnx" if path.name == "ecg-unet.pt" else "model.onnx")
    cost = artifact_cost(graph)
    floor, _ = roofline_ms(cost, profile, threads=threads)
    return float(cost.macs), floor, cost.precision


# ---- ECG ----------------------------------------------------------------------------------------
def ecg_signal(record: str) -> tuple[np.ndarray, str]:
    from edgewise.runtime.ecg.io import read_wfdb_signal

    sig = read_wfdb_signal(LUDB / record)
    x = sig.signal[sig.leads.index("ii")].astype(np.float32)[: int(10 * sig.fs)]
    return x, f"LUDB record {record} lead II, {x.size / sig.fs:g} s at {sig.fs:g} Hz"


def ecg_row(path: Path, x: np.ndarray, *, threads: int, runs: int, warmup: int) -> dict[str, Any]:
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.postprocess import post_config
    from edgewise.runtime.ecg.preprocess import check_signal
    from edgewise.runtime.ecg.stitch import model_input, window_starts
    from edgewise.runtime.ecg.stream import EcgStream, StreamConfig
    from edgewise.runtime.ecg.stream_resample import StreamResampler
    from edgewise.runtime.ecg.stream_waves import WaveTracker

    from edgewise.runtime.ecg.model import offline_hop
    from edgewise.runtime.ecg.preprocess import standardized_window

    fs = model_fs = 500
    if path.suffix == ".pt":
        from edgewise.models.checkpoint import load_checkpoint

        ck = load_checkpoint(path)
        fn, spec, post_cfg = _torch_fn(path, threads), ck.spec, post_config(ck.training)
        window, hop = spec.window, offline_hop(spec.window, spec.hop)
    else:
        from edgewise.runtime.ecg.model import load_artifact_fn

        fn, info = load_artifact_fn(path, threads=threads)
        model_fs, window, hop = info.sample_rate, info.window, info.hop  # delineate's (offline) hop
        post_cfg = info.post
    cfg = StreamConfig(window=window, hop=hop, post=post_cfg)
    batches: list[np.ndarray] = []

    def recording(b: np.ndarray) -> np.ndarray:
        batches.append(b.copy())
        return fn(b)

    ref = delineate(x, fs, recording, model_fs=model_fs, window=window, hop=hop, post=post_cfg)
    scores = ref.scores
    hop = cfg.stitching()[0]

    def pre() -> None:
        sig = check_signal(x, fs)
        res = StreamResampler(fs, model_fs)
        y = np.concatenate([res.push(sig), res.flush()], axis=1)
        if y.shape[1] < window:  # a whole-strip model: one standardised, zero-padded window
            standardized_window(y, window)
        else:
            model_input(y, window_starts(y.shape[1], window, hop), window)

    def model() -> None:
        for b in batches:
            fn(b)

    def post() -> None:
        wt = WaveTracker(model_fs, post_cfg, context_s=cfg.context_s, warmup_s=cfg.warmup_s)
        wt.push(scores, x)
        wt.flush()

    def e2e() -> None:
        delineate(x, fs, fn, model_fs=model_fs, window=window, hop=hop, post=post_cfg)

    def e2e_one_call() -> None:
        EcgStream(fn, fs, model_fs=model_fs, config=cfg).flush(x)

    one = sorted(EcgStream(fn, fs, model_fs=model_fs, config=cfg).flush(x), key=lambda w: (w.onset, w.offset))
    if one != ref.waves:
        raise AssertionError(f"{path.name}: EcgStream.flush(x) gave other waves than delineate()")
    t = _time_stages({"pre": pre, "model": model, "post": post, "e2e": e2e, "e2e 1 call": e2e_one_call},
                     runs, warmup)
    return {"name": path.name, "runtime": _runtime_name(path), "times": t, "batches": [len(b) for b in batches],
            "waves": len(ref.waves)}


# ---- mosquito -----------------------------------------------------------------------------------
def mosquito_window() -> tuple[np.ndarray, str]:
    import soundfile

    y, sr = soundfile.read(str(MOSQUITO / MOSQUITO_CLIP), dtype="float32", always_2d=False)
    if sr != 8000:
        raise RuntimeError(f"{MOSQUITO_CLIP} is at {sr} Hz; the benchmark wants an 8-kHz clip")
    return y[:16000], f"{MOSQUITO_CLIP} (mosquito, 8 kHz), first 2 s"


def mosquito_row(path: Path, y: np.ndarray, *, threads: int, runs: int, warmup: int) -> dict[str, Any]:
    from edgewise.runtime.mosquito import MosquitoDetector, detector_windows, hysteresis_for, mosquito_probability
    from edgewise.runtime.mosquito import windows_and_events
    from edgewise.runtime.events import window_times

    onnx_twin = path.with_name("model.onnx")
    det = MosquitoDetector.open(onnx_twin if path.suffix == ".pt" else path, threads=threads)
    model_fn = _torch_fn(path, threads) if path.suffix == ".pt" else det
    w, _ = detector_windows(y, det.window, det.hop, sample_rate=det.sample_rate)
    feats = det.features(w.x)
    logits = np.asarray(model_fn(feats))
    times = window_times(len(w.x), det.window_s, det.hop_s, duration_s=y.size / det.sample_rate)
    cfg = hysteresis_for(det.threshold)

    def pre() -> None:
        ww, _ = detector_windows(y, det.window, det.hop, sample_rate=det.sample_rate)
        det.features(ww.x)

    def model() -> None:
        model_fn(feats)

    def post() -> None:
        p, _ = mosquito_probability(logits, positive=det.positive)
        windows_and_events(p, times, cfg)

    if path.suffix == ".pt":
        def e2e() -> None:  # the detector's own steps with the torch model in place of the artifact
            ww, _ = detector_windows(y, det.window, det.hop, sample_rate=det.sample_rate)
            p, _ = mosquito_probability(model_fn(det.features(ww.x)), positive=det.positive)
            windows_and_events(p, times, cfg)
    else:
        def e2e() -> None:
            det.detect(y, det.sample_rate)

    t = _time_stages({"pre": pre, "model": model, "post": post, "e2e": e2e}, runs, warmup)
    return {"name": path.name, "runtime": _runtime_name(path), "times": t, "batches": [len(w.x)], "waves": None}


# ---- report -------------------------------------------------------------------------------------
def _fmt(ms: np.ndarray) -> str:
    p50, p10, p90 = _pct(ms)
    return f"{p50:8.3f} ({p10:.2f}-{p90:.2f})"


def print_rows(title: str, rows: list[dict[str, Any]], costs: dict[str, tuple[float, float, str]]) -> None:
    cols = [c for c in ("pre", "model", "post", "e2e", "e2e 1 call") if c in rows[0]["times"]]
    print(f"\n## {title}: ms, median (p10-p90)")
    head = f"{'artifact':30} {'runtime':12} {'batches':>8} " + " ".join(f"{c:>22}" for c in cols)
    head += f" {'other':>7} {'MMACs':>7} {'floor ms':>8} {'floor/model':>11}"
    print(head)
    for r in rows:
        t = r["times"]
        other = _pct(t["e2e"])[0] - sum(_pct(t[c])[0] for c in ("pre", "model", "post"))
        macs, floor, prec = costs[r["name"]]
        frac = floor / _pct(t["model"])[0]
        b = "+".join(str(n) for n in r["batches"])
        print(f"{r['name']:30} {r['runtime']:12} {b:>8} " + " ".join(f"{_fmt(t[c]):>22}" for c in cols)
              + f" {other:7.3f} {macs / 1e6:7.1f} {floor:8.3f} {frac:10.1%}")
    best, ms, ref = _fastest_vs_fp32(rows, rows, "e2e")
    vs = ", ".join(f"{ref[k] / ms:.1f}x faster than {k} fp32" for k in ("onnxruntime", "torch eager") if k in ref)
    print(f"fastest end to end: {best} {ms:.3f} ms ({vs})")


def _fastest_vs_fp32(rows: list[dict[str, Any]], ref_rows: list[dict[str, Any]], col: str
                     ) -> tuple[str, float, dict[str, float]]:
    """(fastest of ``rows`` by median ``col``, its ms, {runtime: median ms} of ``ref_rows``' fp32 files)."""
    by = {r["name"]: _pct(r["times"][col])[0] for r in rows}
    best = min(by, key=by.get)
    ref = {r["runtime"]: _pct(r["times"][col])[0] for r in ref_rows if ".pt" in r["name"] or "int8" not in r["name"]}
    return best, by[best], ref


def print_speedup(rows: list[dict[str, Any]], base: list[dict[str, Any]], tag: str) -> None:
    """The fastest shipped file (by median model call and by end to end) against the baseline's fp32 files."""
    for col in ("model", "e2e"):
        best, ms, ref = _fastest_vs_fp32(rows, base, col)
        vs = ", ".join(f"{ref[k] / ms:.1f}x faster than {tag}'s {k} fp32 ({ref[k]:.3f} ms)"
                       for k in ("onnxruntime", "torch eager") if k in ref)
        print(f"{col}: fastest {best} {ms:.3f} ms; {vs}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200, help="timed runs per stage (default 200)")
    ap.add_argument("--threads", type=int, default=1, help="threads of every runtime (default 1)")
    ap.add_argument("--quick", action="store_true", help="20 runs (a smoke run)")
    ap.add_argument("--record", default="1", help="LUDB record for the ECG signal (default 1)")
    ap.add_argument("--clock-ghz", type=float, help="core clock for the roofline (default: detected)")
    ap.add_argument("--int8-macs-per-cycle", type=float, help="peak int8 MACs/cycle/core (default: from the ISA)")
    ap.add_argument("--fp32-macs-per-cycle", type=float, help="peak fp32 MACs/cycle/core (default: from the ISA)")
    ap.add_argument("--baseline-ecg", type=Path, metavar="DIR",
                    help="also time the ECG files of DIR (e.g. an earlier release's, `git show REV:PATH`) in the same "
                         "run; the fastest shipped file is compared with its fp32 files too")
    ap.add_argument("--isa", choices=("native", "avx2"), default="native",
                    help="avx2: run on an AVX2-only view of this CPU (scripts/testbed/cpuid-mask.sh)")
    args = ap.parse_args(argv)
    if args.isa == "avx2":
        given = sys.argv[1:] if argv is None else list(argv)  # the last --isa wins: run natively in the masked view
        cmd = ["bash", str(REPO / "scripts" / "testbed" / "cpuid-mask.sh"), sys.executable, __file__, *given,
               "--isa", "native"]
        os.execvp(cmd[0], cmd)
    runs, warmup = (20, 3) if args.quick else (max(args.runs, 1), 10)
    try:  # numpy's BLAS (the log-Mel matmul) at the same thread count as the runtimes
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        blas = f"numpy BLAS limited to {args.threads} thread(s) (threadpoolctl)"
    except ImportError:
        blas = "numpy BLAS threads not limited (no threadpoolctl; set OPENBLAS_NUM_THREADS)"

    from dataclasses import replace

    from edgewise.devices.profiles import this_machine

    prof = this_machine()
    over = {k: v for k, v in (("clock_ghz", args.clock_ghz), ("int8_macs_per_cycle_per_core", args.int8_macs_per_cycle),
                              ("fp32_macs_per_cycle_per_core", args.fp32_macs_per_cycle)) if v}
    prof = replace(prof, **over)
    from edgewise.runtime.platform import cpu_info

    isa = cpu_info().isa  # from CPUID (what the runtimes' kernel selection sees), not /proc/cpuinfo
    if "cpuid-mask" in os.environ.get("LD_PRELOAD", ""):
        isa += " (AVX-512/VNNI hidden by scripts/testbed/cpuid-mask.sh)"
    load0 = os.getloadavg()
    print(f"# runtime stages, {args.threads} thread(s), {runs} runs per stage; {os.cpu_count()} CPUs, "
          f"1/5/15-min load {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} at start")
    print(f"CPU: {prof.title}; ISA {isa}; roofline: {prof.clock_ghz:g} GHz x {prof.int8_macs_per_cycle_per_core:g} "
          f"int8 / {prof.fp32_macs_per_cycle_per_core:g} fp32 MACs/cycle/core")
    for k in ("clock_ghz", "int8_macs_per_cycle_per_core", "fp32_macs_per_cycle_per_core"):
        print(f"  {k}: {'--flag' if k in over else prof.sources.get(k, '')}")
    print("  nominal per-core peaks assumed by ISA (profiles.py): AVX2+FMA 16 fp32 / 32 int8 (vpmaddubsw+vpmaddwd); "
          "AVX-512 VNNI 32 / 128 (Zen 4: 256-bit units, 16 / 64); Armv8.2 SDOT (A76) 8 / 32")

    from importlib.metadata import PackageNotFoundError, version

    def _v(dist: str) -> str:
        try:
            return version(dist)
        except PackageNotFoundError:
            return "not installed"

    print(", ".join(f"{d} {_v(d)}" for d in ("onnxruntime", "ai-edge-litert", "torch", "numpy")) + f"; {blas}")

    x, ecg_src = ecg_signal(args.record)
    ecg_paths = [PRETRAINED / "ecg" / n for n in ECG_ARTIFACTS if (PRETRAINED / "ecg" / n).is_file()]
    costs = {p.name: _cost(p, prof, args.threads) for p in ecg_paths}
    ecg_rows = [ecg_row(p, x, threads=args.threads, runs=runs, warmup=warmup) for p in ecg_paths]
    print(f"\nECG input: {ecg_src}; {ecg_rows[0]['waves']} waves")
    print_rows("ECG, 10 s end to end (edgewise.runtime.ecg.delineate)", ecg_rows, costs)
    if args.baseline_ecg:
        base = [args.baseline_ecg / n for n in ECG_ARTIFACTS if (args.baseline_ecg / n).is_file()]
        if not base:
            raise SystemExit(f"--baseline-ecg {args.baseline_ecg}: none of {', '.join(ECG_ARTIFACTS)} is there")
        tag = args.baseline_ecg.name
        b_rows = [{**ecg_row(p, x, threads=args.threads, runs=runs, warmup=warmup), "name": f"{tag}/{p.name}"}
                  for p in base]
        b_costs = {f"{tag}/{p.name}": _cost(p, prof, args.threads) for p in base}
        print_rows(f"ECG baseline {args.baseline_ecg}, same run", b_rows, b_costs)
        print_speedup(ecg_rows, b_rows, tag)

    y, mq_src = mosquito_window()
    mq_paths = [PRETRAINED / "mosquito" / n for n in MOSQUITO_ARTIFACTS if (PRETRAINED / "mosquito" / n).is_file()]
    mq_costs = {p.name: _cost(p, prof, args.threads) for p in mq_paths}
    mq_rows = [mosquito_row(p, y, threads=args.threads, runs=runs, warmup=warmup) for p in mq_paths]
    print(f"\nmosquito input: {mq_src}")
    print_rows("mosquito, one 2-s window end to end (MosquitoDetector.detect)", mq_rows, mq_costs)

    load1 = os.getloadavg()
    print(f"\n1/5/15-min load {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} at the end "
          f"(the machine has {os.cpu_count()} CPUs; a load above 1 means others shared this core at times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
