"""Maintainer step: ship the mosquito detector's fp32 and INT8 artifacts from the shipped checkpoint's weights.

    .venv/bin/python scripts/ship_mosquito.py [--checkpoint NEW.pt] [--data ../shared/data/mosquito] [--recipe FILE]
                                              [--work DIR]

0. ``--checkpoint``: a newly trained detector (``edgewise train mosquito --out NEW.pt``) becomes the shipped one: it
   and its JSON sidecar are copied into edgewise/models/pretrained/mosquito/ (the previous checkpoint is removed;
   ``edgewise.models.mosquito.api.PRETRAINED`` must name it); without it the shipped checkpoint is re-shipped;
1. model.{onnx,tflite} exported from the checkpoint, parity checked against torch on real held-out log-Mel
   windows;
2. the task's default compression recipe (``recipes/mosquito.toml``: INT8, ONNX and TFLite) run through
   ``edgewise compress`` (``edgewise.compress.tasks.mosquito``): every file measured on the same recordings (the
   checkpoint's validation recordings for the budget; its test recordings and every recording added since, for
   the figures);
3. the INT8 files within budget shipped as <checkpoint stem>-int8.{onnx,tflite}; every shipped file stamped with
   the held-out window and clip ROC-AUC of this one run (the INT8 files also with the fp32 file's, their
   reference), so the deploy chooser compares figures measured on the same audio;
4. manifest.json with checksums for everything in edgewise/models/pretrained/mosquito/.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from edgewise.compress import compress_checkpoint, default_recipe
from edgewise.compress.run import stamp_metrics
from edgewise.compress.tasks import task_for
from edgewise.data.paths import default_dataset_dir
from edgewise.export import export_checkpoint
from edgewise.models.checkpoint import load_checkpoint
from edgewise.models.mosquito.api import PRETRAINED
from edgewise.runtime.artifact import read_metadata, write_manifest
from edgewise.runtime.errors import BudgetError

ap = argparse.ArgumentParser()
ap.add_argument("--checkpoint", type=Path, help="a new detector to ship (default: re-ship the shipped one)")
ap.add_argument("--data", type=Path, default=default_dataset_dir("mosquito"))
ap.add_argument("--recipe", type=Path, help="compression recipe (the task's default by default)")
ap.add_argument("--work", type=Path, help="keep the compression run (report, every artifact) in this folder")
args = ap.parse_args()
if args.data is None or not args.data.is_dir():
    raise SystemExit("no mosquito dataset: pass --data DIR (labels.csv layout)")
folder = PRETRAINED.parent
new = args.checkpoint is not None and args.checkpoint.resolve() != PRETRAINED.resolve()
if new and args.checkpoint.name != PRETRAINED.name:
    raise SystemExit(f"edgewise.models.mosquito.api.PRETRAINED names {PRETRAINED.name}; name the new checkpoint so")
ck = load_checkpoint(args.checkpoint if new else PRETRAINED)
task = task_for(ck.spec)
stem = PRETRAINED.stem

with tempfile.TemporaryDirectory() as tmp:
    work = args.work or Path(tmp)
    try:  # measured before anything in the pretrained folder changes
        result = compress_checkpoint(ck, args.recipe or default_recipe(task.name), work / "compressed",
                                     data_dir=args.data, progress=True)
    except BudgetError as e:  # ship the fp32 files and whatever INT8 file met the budget
        print(f"ship_mosquito: {e}")
        result = e.result
    if new:  # the new checkpoint replaces the shipped one
        for old in list(folder.glob("*.pt")) + [p.with_suffix(".json") for p in folder.glob("*.pt")]:
            old.unlink(missing_ok=True)
        for src in (args.checkpoint, args.checkpoint.with_suffix(".json")):
            shutil.copy(src, folder / src.name)
        ck = load_checkpoint(PRETRAINED)
    parity_x = task.load(ck, args.data, n_calibration=16).fidelity_windows  # real held-out log-Mel windows
    entries = {}
    for a in export_checkpoint(ck, to=("onnx", "tflite"), out=Path(tmp) / "fp32", inputs=parity_x):
        row = next(r for r in result.rows if r.step == "original" and r.format == a.format)
        dest = folder / f"model.{a.format}"
        stamp_metrics(a.path, row, dest=dest, task=task)
        entries[dest.name] = {"format": a.format, "metadata": read_metadata(dest), "parity": a.parity}
        print(f"{dest.name}: {dest.stat().st_size} bytes, parity ok={a.parity.get('ok')}, test {row.f1_test}")
    for p in folder.glob("*-int8.*"):
        p.unlink()
    name = ck.spec.name
    for fmt, variant in {"onnx": f"{name}-int8-qoperator", "tflite": f"{name}-int8"}.items():
        ref = next(r for r in result.rows if r.step == "original" and r.format == fmt)  # its own format's fp32
        row = next((r for r in result.rows if r.variant == variant and r.format == fmt), None)
        if row is None or not row.within_budget:
            print(f"not shipped: {variant} ({fmt}) {'missed the budget' if row else 'was not made'}")
            continue
        dest = folder / f"{stem}-int8.{fmt}"
        stamp_metrics(row.path, row, dest=dest, task=task, reference=ref)
        entries[dest.name] = {"format": fmt, "metadata": read_metadata(dest)}
        fp32 = folder / f"model.{fmt}"
        print(f"{dest.name}: {dest.stat().st_size} bytes ({fp32.stat().st_size / dest.stat().st_size:.2f}x smaller than "
              f"{fp32.name}), test {row.f1_test} vs fp32 {ref.f1_test}, {row.latency_ms:.3f} ms")
    if args.work:
        shutil.copy(work / "compressed" / "compression.json", args.work / "compression.json")
write_manifest(folder, entries)
print(f"data: {result.data}")
