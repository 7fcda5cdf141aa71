"""Maintainer step: export the shipped ECG checkpoint to the shipped ONNX/TFLite artifacts.

    .venv/bin/python scripts/ship_ecg.py [--data ../shared/data/ludb]

Parity is checked on real held-out LUDB windows; files are written as
edgewise/models/pretrained/ecg/ecg-unet.{onnx,tflite} (metadata embedded) with manifest.json.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from edgewise.data.paths import default_dataset_dir
from edgewise.export import export_checkpoint
from edgewise.models.checkpoint import load_checkpoint
from edgewise.models.ecg.dataset import load_records
from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.pipelines.ecg import real_windows
from edgewise.pipelines.ecg_export import ecg_postprocess
from edgewise.runtime.artifact import read_metadata, write_manifest

ap = argparse.ArgumentParser()
ap.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
args = ap.parse_args()
folder = PRETRAINED_DIR / "ecg"
ck = load_checkpoint(folder / "ecg-unet.pt")
recs = load_records(args.data, ck.training["test_records"][:8])
x = real_windows(recs, n=32, window=ck.spec.window)
with tempfile.TemporaryDirectory() as tmp:
    arts = export_checkpoint(ck, to=("onnx", "tflite"), out=tmp, inputs=x, postprocess=ecg_postprocess)
    entries = {}
    for a in arts:
        dest = folder / f"ecg-unet.{a.format}"
        shutil.copy(a.path, dest)
        entries[dest.name] = {"format": a.format, "metadata": read_metadata(dest), "parity": a.parity}
        print(f"{dest}: {dest.stat().st_size} bytes, parity ok={a.parity.get('ok')}")
write_manifest(folder, entries)
