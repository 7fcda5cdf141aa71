"""Compression acceptance table for the ECG model, side by side in ONE run.

    nice -n 10 .venv/bin/python benchmarks/compression.py [--checkpoint PT] [--compressed DIR ...] [--repeats 100]

Rows: torch eager fp32, onnxruntime fp32, LiteRT fp32 (exported here from the checkpoint), and every
compressed artifact — the shipped ``edgewise/models/pretrained/ecg/ecg-unet-*.onnx|tflite`` or, with
``--compressed DIR``, every artifact a ``edgewise compress`` run wrote (its ``compression.json``).
Columns: file size, size ratio against the original fp32 ONNX and against the artifact's own fp32
counterpart (recorded in its metadata), wave F1 (P, QRS, T) on held-out LUDB lead II (the checkpoint's
test records), and single-thread latency p50 of one call on the 25 model windows that delineation
scores for 10 s of ECG (the stream hop of ``edgewise.runtime.ecg.stream``; per call through
``edgewise.runtime``: ORT/torch run the 25 windows as one batch, LiteRT's fixed-batch file one window at
a time), with ratios against torch eager and ORT fp32. Calls are
interleaved round-robin so load changes on a shared machine hit every runtime alike. Latency is the
thread CPU time per call (every runtime runs on the calling thread at 1 thread), because on a shared
machine wall time inflates long calls (preempted mid-call) far more than short ones; wall p50 and min
are printed beside it.

A second table splits every file into weights, biases, quantisation scales and zero points, names,
embedded metadata and structure (``edgewise.compress.sizes``) and gives each INT8 file's size ratio
against its own fp32 counterpart (the fp32 file of the same model and format, found among the rows by
the ``fp32_size_bytes`` its metadata records), for the whole file and without the metadata.

``--qat-demo DIR`` instead shows quantisation-aware fine-tuning recovering what post-training int8
loses, on a case where PTQ misses: the checkpoint with one activation-outlier channel made by a
function-preserving rescaling (the first block's batch-norm channel 0 x50, the next conv's input
channel /50: ReLU commutes, float outputs unchanged; the channel-range imbalance Nagel et al., "Data-Free
Quantization through Weight Equalization and Bias Correction", ICCV 2019, find in trained networks),
compressed with a quantise-only recipe (ONNX QOperator, 0.5-point budget, ``qat_epochs = 4``, the other
QAT settings at their defaults).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "ecg"


def _artifacts(compressed: list[Path] | None) -> list[Path]:
    if compressed:
        out = []
        for folder in compressed:
            rows = json.loads((folder / "compression.json").read_text())["rows"]
            out += [Path(r["path"]) for r in rows if r["path"] and r["step"] != "original" and Path(r["path"]) not in out]
        return out
    return sorted(p for p in SHIPPED.glob("ecg-unet-*") if p.suffix in (".onnx", ".tflite"))


def _records(ck, data: Path):
    from edgewise.compress.tasks.ecg import split_ids
    from edgewise.models.ecg.dataset import load_records

    return load_records(data, split_ids(ck, data)[2])


def main(argv: list[str] | None = None) -> int:
    import torch

    from edgewise.compress.report import WAVES, wave_f1
    from edgewise.compress.sizes import breakdown
    from edgewise.compress.tasks.ecg import stream_hop, ten_seconds
    from edgewise.data.paths import default_dataset_dir
    from edgewise.export import export_checkpoint
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.calibrate import ecg_post
    from edgewise.models.ecg.evaluate import torch_model_fn
    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.backends import load_model
    from edgewise.runtime.ecg.postprocess import post_config

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, default=SHIPPED / "ecg-unet.pt")
    p.add_argument("--compressed", type=Path, action="append",
                   help="output folder of `edgewise compress` (repeatable; default: the shipped artifacts)")
    p.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
    p.add_argument("--repeats", type=int, default=100)
    p.add_argument("--qat-demo", type=Path, metavar="DIR", help="run the QAT demonstration into DIR instead")
    args = p.parse_args(argv)
    if args.data is None:
        raise SystemExit("no LUDB folder found; pass --data")
    torch.set_num_threads(1)
    ck = load_checkpoint(args.checkpoint)
    if args.qat_demo:
        return _qat_demo(ck, args.data, args.qat_demo)
    recs = _records(ck, args.data)
    post = ecg_post(ck.training)  # the P edges the checkpoint and its files ship with
    x = ten_seconds(recs[0].lead("ii"), ck.spec.window, stream_hop(ck.spec.window))
    print(f"checkpoint {args.checkpoint}; held-out: {len(recs)} LUDB records, lead II; latency input: "
          f"{len(x)} windows = 10 s of record {recs[0].record_id} lead II; 1 thread; p50 of {args.repeats} calls",
          file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="edgewise-cbench-") as tmp:
        arts = {a.format: a.path for a in export_checkpoint(ck, out=tmp, inputs=x)}
        entries = [("torch eager fp32", "torch", None, torch_model_fn(ck.model, 1))]
        entries += [(f"{f} fp32 (original)", f, arts[f], None) for f in ("onnx", "tflite")]
        entries += [(f"{a.parent.name}/{a.name}" if a.stem == "model" else a.name, a.suffix[1:], a, None)
                    for a in _artifacts(args.compressed)]
        fns, rows = {}, []
        for name, fmt, path, fn in entries:
            if fn is None:
                m = load_model(path, threads=1, warmup=3)
                fn = (lambda mm: (lambda a: np.asarray(mm.run(a))))(m)
            fns[name] = fn
            meta = read_metadata(path) if path is not None and fmt != "torch" else {}
            q = (meta or {}).get("quantization") or {}
            rows.append({"name": name, "format": fmt, "path": path,
                         "parts": breakdown(path) if path is not None else None, "precision": (meta or {}).get("precision", "fp32"),
                         "size": path.stat().st_size if path is not None else None, "fp32_counterpart": q.get("fp32_size_bytes"),
                         "f1": wave_f1(fn, recs, window=ck.spec.window, post=post_config(meta) if meta else post)})
        times = {k: [] for k in fns}
        cpu = {k: [] for k in fns}
        for _ in range(3):
            for fn in fns.values():
                fn(x)
        for _ in range(args.repeats):
            for k, fn in fns.items():
                t0, c0 = time.perf_counter(), time.thread_time()
                fn(x)
                cpu[k].append((time.thread_time() - c0) * 1e3)
                times[k].append((time.perf_counter() - t0) * 1e3)
    for r in rows:
        r["wall_p50_ms"] = float(np.median(times[r["name"]]))
        r["wall_min_ms"] = float(np.min(times[r["name"]]))
        r["p50_ms"] = float(np.median(cpu[r["name"]]))
    _print(rows)
    _print_sizes(rows)
    return 0


def _outlier_channel(model, block: str = "down.0", channel: int = 0, factor: float = 50.0):
    """A copy of the U-Net computing the same function with one activation channel ``factor`` x larger."""
    import copy

    import torch

    m = copy.deepcopy(model).eval()
    bn, conv = m.get_submodule(f"{block}.1"), m.get_submodule(f"{block}.3")
    with torch.no_grad():
        bn.weight[channel] *= factor
        bn.bias[channel] *= factor
        conv.weight[:, channel] /= factor
    return m


def _qat_demo(ck, data: Path, out: Path) -> int:
    from edgewise.compress import compress_checkpoint, parse_recipe
    from edgewise.compress.report import f1_drop
    from edgewise.compress.tasks.ecg import load_eval_data
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.models.ecg.evaluate import torch_model_fn
    from edgewise.runtime.errors import BudgetError

    out.mkdir(parents=True, exist_ok=True)
    model = _outlier_channel(ck.model)
    x = load_eval_data(ck, data, n_calibration=16).fidelity_windows
    same = float(np.abs(torch_model_fn(model, 1)(x) - torch_model_fn(ck.model, 1)(x)).max())
    path = out / "outlier.pt"
    save_checkpoint(path, spec=ck.spec, model=model, model_kwargs=ck.model_kwargs, training=ck.training, metrics={})
    recipe = parse_recipe({"name": "qat-demo", "budget": {"max_f1_drop": 0.005}, "step": [
        {"kind": "quantize", "formats": ["onnx"], "calibration_windows": 64, "qat_epochs": 4, "auto_mixed_precision": 0}]})
    try:
        res = compress_checkpoint(load_checkpoint(path), recipe, out / "compressed", data_dir=data, log=lambda s: None)
    except BudgetError as e:  # QAT did not recover either: still print what was measured
        res = e.result
    ref = next(r for r in res.rows if r.format == "torch").f1_val
    print(f"float model with an outlier channel: max |output change| {same:.2e} on held-out windows")
    print(f"{'artifact':34} {'val dP':>7} {'dQRS':>6} {'dT':>6} {'test P':>7} {'QRS':>6} {'T':>6} {'agree':>6} {'budget':>6}")
    for r in res.rows:
        d = f1_drop(r, ref)
        print(f"{r.variant + ' ' + r.format:34} " + " ".join(f"{-100 * d[k]:+6.2f}" for k in ("P", "QRS", "T"))
              + " " + " ".join(f"{r.f1_test[k]:6.4f}" for k in ("P", "QRS", "T"))
              + f" {r.agreement:6.4f} {'ok' if r.within_budget else 'MISSED':>6}")
    print("val dP/dQRS/dT: validation F1 change in points against the float model (budget: >= -0.5); test: "
          "held-out lead II wave F1; agree: argmax agreement with the float model")
    return 0


def _twin_parts(row: dict, files: list[dict]) -> dict[str, int] | None:
    """Size parts of an int8 artifact's own fp32 file: a row of the same format and the recorded size, else
    the fp32 file ``edgewise compress`` wrote beside it (``<out>/<model>/model.*`` or ``<out>/fp32/model.*``)."""
    from edgewise.compress.sizes import breakdown

    want = row.get("fp32_counterpart")
    if not want:
        return None
    for t in files:
        if t["format"] == row["format"] and t["precision"] == "fp32" and t["size"] == want:
            return t["parts"]
    folder = row["path"].parent
    for d in (folder.parent / folder.name.removesuffix("-int8"), folder.parent / "fp32"):
        f = d / f"model{row['path'].suffix}"
        if f.is_file() and f.stat().st_size == want:
            return breakdown(f)
    return None


def _print_sizes(rows: list[dict]) -> None:
    from edgewise.compress.sizes import PARTS, payload_ratio

    files = [r for r in rows if r["parts"] is not None]  # measured while the exported files existed
    parts = {r["name"]: r["parts"] for r in files}
    print()
    print(f"{'artifact':38} {'prec':5} " + " ".join(f"{p[:11]:>11}" for p in PARTS)
          + f" {'total B':>8} {'/own32':>6} {'w/o meta':>8}")
    for r in files:
        twin = _twin_parts(r, files)
        own = f"{r['fp32_counterpart'] / r['size']:6.2f}" if r.get("fp32_counterpart") else f"{'—':>6}"
        pay = f"{payload_ratio(twin, parts[r['name']]):8.2f}" if twin else f"{'—':>8}"
        print(f"{r['name']:38} {r['precision']:5} " + " ".join(f"{parts[r['name']][p]:11d}" for p in PARTS)
              + f" {r['size']:8d} {own} {pay}")
    print("bytes per part (edgewise.compress.sizes); structure: operators, attributes, shapes, framing and padding; "
          "/own32: file size ratio against the same model's fp32 file in the same format; w/o meta: the same "
          "ratio without the embedded metadata (identical JSON in both files apart from the quantisation record)")


def _print(rows: list[dict]) -> None:
    torch_ms = rows[0]["p50_ms"]
    onnx = next(r for r in rows if r["name"].startswith("onnx fp32"))
    print(f"{'artifact':38} {'prec':5} {'KiB':>7} {'/ONNX32':>7} {'/own32':>6} {'P F1':>6} {'QRS F1':>6} {'T F1':>6} "
          f"{'dP':>6} {'dQRS':>6} {'dT':>6} {'cpu p50':>7} {'wall p50':>8} {'wall min':>8} {'vs torch':>8} {'vs ORT32':>8}")
    ref = rows[0]["f1"]
    for r in rows:
        size = f"{r['size'] / 1024:7.1f}" if r["size"] else f"{'—':>7}"
        ratio = f"{onnx['size'] / r['size']:7.2f}" if r["size"] else f"{'—':>7}"
        own = f"{r['fp32_counterpart'] / r['size']:6.2f}" if r.get("fp32_counterpart") else f"{'—':>6}"
        f1 = " ".join(f"{r['f1'][k]:6.4f}" for k in ("P", "QRS", "T"))
        d = " ".join(f"{100 * (r['f1'][k] - ref[k]):+6.2f}" for k in ("P", "QRS", "T"))
        print(f"{r['name']:38} {r['precision']:5} {size} {ratio} {own} {f1} {d} {r['p50_ms']:7.2f} "
              f"{r['wall_p50_ms']:8.2f} {r['wall_min_ms']:8.2f} "
              f"{torch_ms / r['p50_ms']:8.2f} {onnx['p50_ms'] / r['p50_ms']:8.2f}")
    print("dP/dQRS/dT: F1 change in points against torch eager fp32; /ONNX32: size ratio vs the original fp32 ONNX; "
          "/own32: vs the same model's fp32 file; cpu p50: median thread CPU time per call (1 thread: the latency "
          "on an otherwise idle core); wall p50/min: wall clock, inflated on a shared machine when long calls are "
          "preempted; vs torch / vs ORT32: speed-up of the cpu p50")


if __name__ == "__main__":
    raise SystemExit(main())
