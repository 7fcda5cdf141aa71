"""Maintainer step: re-measure the held-out metrics of every shipped ECG file with the current code,
without touching any weights (when delineation itself changes, e.g. its stitching).

    .venv/bin/python scripts/refresh_ecg_metrics.py [--data ../shared/data/ludb]

1. the checkpoint's held-out metrics (test records, lead II and all leads, torch), re-saved with the
   same weights, and its model card;
2. the fp32 exports: the same metrics in their metadata (they run the checkpoint's weights);
3. the compressed files: their own test lead-II and validation all-leads wave F1, measured with the
   file itself on the runtime, and the uncompressed model's metrics beside them;
4. manifest.json with the new checksums (parity facts kept). Only ``metrics`` and ``postprocess`` in the
   metadata change (and each file's ``content_sha256``, which ``update_metadata`` re-stamps): graphs, weights,
   self-checks and verified ISAs stay as they are.

``postprocess`` (P edges drawn without the P-logit offset, ``calibrate.p_edge_postprocess``) is added to the
checkpoint's training facts and to every file whose training facts name a calibration, unless already there.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgewise.compress.report import ALL_LEADS, wave_f1
from edgewise.compress.tasks.ecg import split_ids
from edgewise.data.paths import default_dataset_dir
from edgewise.export.metadata import update_metadata
from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
from edgewise.models.ecg.calibrate import p_edge_postprocess
from edgewise.models.ecg.dataset import load_records
from edgewise.models.ecg.evaluate import evaluate_records, torch_model_fn
from edgewise.models.ecg.model_card import write_model_card
from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.runtime.artifact import read_metadata, sha256_file, write_manifest
from edgewise.runtime.ecg.model import load_artifact_fn


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
    args = ap.parse_args()
    folder = PRETRAINED_DIR / "ecg"
    ckpt_path = folder / "ecg-unet.pt"
    ck = load_checkpoint(ckpt_path)
    if "postprocess" not in ck.training:
        ck.training["postprocess"] = p_edge_postprocess(ck.training)
    print("postprocess:", ck.training["postprocess"])
    test = load_records(args.data, ck.training["test_records"])
    from edgewise.runtime.ecg.model import offline_hop
    from edgewise.runtime.ecg.postprocess import post_config

    scores = evaluate_records(test, torch_model_fn(ck.model, threads=1), leads=ALL_LEADS, window=ck.spec.window,
                              hop=offline_hop(ck.spec.window, ck.spec.hop), post=post_config(ck.training))
    model_metrics = {"test_lead_ii": scores["ii"].summary(), "test_all_leads": scores["all"].summary()}
    save_checkpoint(ckpt_path, spec=ck.spec, model=ck.model, model_kwargs=ck.model_kwargs, training=ck.training,
                    metrics={**model_metrics, "test_records": list(ck.training["test_records"])})
    f1 = {k: {"wave_f1": v["wave_f1"]} for k, v in model_metrics.items()}
    ckpt_sha = sha256_file(ckpt_path)  # the file changed (its metrics), the weights did not: keep the link
    print("checkpoint, held-out lead II wave F1:", model_metrics["test_lead_ii"]["wave_f1"])

    manifest = json.loads((folder / "manifest.json").read_text())["artifacts"]
    _, va, _ = split_ids(ck, args.data)
    val = load_records(args.data, va)
    for name in sorted(manifest):
        path = folder / name
        if path.suffix not in (".onnx", ".tflite"):
            continue
        meta = read_metadata(path) or {}
        if "postprocess" not in meta and p_edge_postprocess(meta.get("training") or {}):
            update_metadata(path, {"postprocess": p_edge_postprocess(meta["training"])})
        old = meta.get("metrics") or {}
        if "test_lead_ii_wave_f1" in old:  # a compressed file: measured with itself
            fn, info = load_artifact_fn(path)
            at = {"window": info.window, "hop": info.hop, "post": info.post}  # as `delineate` runs the file
            new = {"test_lead_ii_wave_f1": wave_f1(fn, test, **at),
                   "val_all_leads_wave_f1": wave_f1(fn, val, leads=ALL_LEADS, **at),
                   "uncompressed_model": {**old.get("uncompressed_model", {}), **f1, "checkpoint_sha256": ckpt_sha}}
            update_metadata(path, {"metrics": new})
        else:
            new = f1
            update_metadata(path, {"metrics": new, "source_checkpoint_sha256": ckpt_sha})
        manifest[name]["metadata"] = read_metadata(path)
        print(f"{name}: {json.dumps(new.get('test_lead_ii_wave_f1') or new['test_lead_ii'])}")
    write_manifest(folder, {k: {kk: vv for kk, vv in v.items() if kk not in ("sha256", "size_bytes")}
                            for k, v in manifest.items()})
    write_model_card(folder / "MODEL_CARD.md", ckpt_path)


if __name__ == "__main__":
    main()
