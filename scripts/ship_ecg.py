"""Maintainer step: refresh and ship every ECG artifact from the shipped checkpoint's weights.

    .venv/bin/python scripts/ship_ecg.py [--data ../shared/data/ludb] [--skip-compress] [--window N] [--recipe FILE]

1. held-out metrics (test records, lead II and all leads) measured with the current code;
2. the checkpoint re-saved with them (same weights) and its model card rewritten;
3. ecg-unet.{onnx,tflite} exported, parity checked on real held-out windows;
   (``--window N``: the same weights re-saved to run on N-sample windows, e.g. 5008 = one call per 10-s strip);
4. the default compression recipe run (INT8; ``--recipe`` another); the kept artifact per runtime shipped as
   ecg-unet-int8.{onnx,tflite} (ecg-unet-pruned-int8.* from a pruning recipe) with its measured metrics;
5. manifest.json with checksums for everything in edgewise/models/pretrained/ecg/.
"""
from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
import tempfile
from pathlib import Path

from edgewise.data.paths import default_dataset_dir
from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
from edgewise.models.ecg.dataset import load_records
from edgewise.models.ecg.evaluate import evaluate_records, torch_model_fn
from edgewise.models.ecg.model_card import write_model_card
from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.pipelines.ecg import ALL_LEADS, real_windows
from edgewise.pipelines.ecg_export import ecg_postprocess
from edgewise.runtime.artifact import read_metadata, write_manifest

ap = argparse.ArgumentParser()
ap.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
ap.add_argument("--skip-compress", action="store_true")
ap.add_argument("--window", type=int, help="input window of the shipped files (the checkpoint's by default)")
ap.add_argument("--work", type=Path, help="keep the compression run (report, every artifact) in this folder")
ap.add_argument("--recipe", type=Path, help="compression recipe file (the task's default recipe by default)")
args = ap.parse_args()
folder = PRETRAINED_DIR / "ecg"
ckpt_path = folder / "ecg-unet.pt"
ck = load_checkpoint(ckpt_path)
if args.window and args.window != ck.spec.window:  # same weights, another input window (fully convolutional)
    from edgewise.models.ecg.spec import ecg_spec_for_window

    training = dict(ck.training)
    training["window_change"] = (f"trained on {training.get('config', {}).get('crop', ck.spec.window)}-sample crops; "
                                 f"runs on {args.window}-sample windows (one call per 10-s strip)")
    ck = replace(ck, spec=ecg_spec_for_window(args.window), training=training)

if "postprocess" not in ck.training:  # P edges without the P-logit offset (checkpoints before 2026-12-07)
    from edgewise.models.ecg.calibrate import p_edge_postprocess

    ck = replace(ck, training={**ck.training, "postprocess": p_edge_postprocess(ck.training)})

test = load_records(args.data, ck.training["test_records"])
from edgewise.runtime.ecg.model import offline_hop  # noqa: E402
from edgewise.runtime.ecg.postprocess import post_config  # noqa: E402

# scored at the window the files run on (one call per 10-s strip for a 5008-sample window), as `delineate` does
scores = evaluate_records(test, torch_model_fn(ck.model), leads=ALL_LEADS, window=ck.spec.window,
                          hop=offline_hop(ck.spec.window, ck.spec.hop), post=post_config(ck.training))
metrics = {"test_lead_ii": scores["ii"].summary(), "test_all_leads": scores["all"].summary(),
           "test_records": list(ck.training["test_records"])}
save_checkpoint(ckpt_path, spec=ck.spec, model=ck.model, model_kwargs=ck.model_kwargs, training=ck.training,
                metrics=metrics)
write_model_card(folder / "MODEL_CARD.md", ckpt_path)
print("held-out lead II wave F1:", {k: round(v, 4) for k, v in metrics["test_lead_ii"]["wave_f1"].items()})
ck = load_checkpoint(ckpt_path)

from edgewise.export import export_checkpoint  # noqa: E402

x = real_windows(test[:8], n=32, window=ck.spec.window)
entries = {}
with tempfile.TemporaryDirectory() as tmp:
    for a in export_checkpoint(ck, to=("onnx", "tflite"), out=tmp, inputs=x, postprocess=ecg_postprocess):
        dest = folder / f"ecg-unet.{a.format}"
        shutil.copy(a.path, dest)
        entries[dest.name] = {"format": a.format, "metadata": read_metadata(dest), "parity": a.parity}
        print(f"{dest.name}: {dest.stat().st_size} bytes, parity ok={a.parity.get('ok')}")
    if not args.skip_compress:
        from edgewise.compress import compress_checkpoint, default_recipe
        from edgewise.compress.run import stamp_metrics

        result = compress_checkpoint(ck, args.recipe or default_recipe("ecg-delineation"), (args.work or Path(tmp)) / "compressed",
                                     data_dir=args.data)
        for p in folder.glob("ecg-unet-*int8.*"):  # an earlier ship's compressed files (other names, windows)
            p.unlink()
        for row in result.kept.values():
            stem = "ecg-unet-pruned" if row.params < sum(t.numel() for t in ck.model.parameters()) else "ecg-unet"
            dest = folder / f"{stem}-{row.precision}{Path(row.path).suffix}"
            stamp_metrics(row.path, row, dest=dest)
            entries[dest.name] = {"format": dest.suffix[1:], "metadata": read_metadata(dest)}
            print(f"{dest.name}: {dest.stat().st_size} bytes, test F1 {row.f1_test}")
for p in sorted(folder.glob("ecg-unet*")):
    if p.suffix in (".onnx", ".tflite") and p.name not in entries:
        entries[p.name] = {"format": p.suffix[1:], "metadata": read_metadata(p)}
write_manifest(folder, entries)
write_model_card(folder / "MODEL_CARD.md", ckpt_path)  # again: now with the compressed artifacts
