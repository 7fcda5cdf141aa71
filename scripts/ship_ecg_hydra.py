"""Maintainer step: ship a distilled ECG Hydra (issue 23) as fp32 and INT8 ONNX/TFLite artifacts in
``edgewise/models/pretrained/ecg-hydra/``, each with its held-out metrics and its own epistemic threshold.

    .venv/bin/python scripts/ship_ecg_hydra.py --hydra STUDENTS/hydra.pt --members MEMBERS [--data DIR]

1. INT8 files through ``edgewise compress`` with a quantise-only recipe (the default ECG recipe's settings,
   no pruning: the Hydra is already distilled), fp32 files from the same run;
2. per artifact, the threshold on the mean epistemic uncertainty of an input: the 99th percentile over
   every lead of the validation records (never the test records), stored as ``uncertainty_threshold``;
   ``edgewise delineate --json`` then marks an input ``"unfamiliar"`` above it;
3. per artifact, on the test records: lead-II wave F1, the share of real strips (all leads) flagged, and
   the share of each named out-of-distribution kind (``edgewise.data.ood_ecg``, from the test strips)
   flagged — all through the device runtime;
4. the checkpoint (+ JSON sidecar), the four artifacts, ``manifest.json`` and ``MODEL_CARD.md``.
"""
from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from edgewise.compress.recipe import parse_recipe
from edgewise.compress.report import ALL_LEADS, wave_f1
from edgewise.compress.run import compress_checkpoint
from edgewise.data.ood_ecg import ood_set
from edgewise.data.paths import default_dataset_dir
from edgewise.export.metadata import update_metadata
from edgewise.models.checkpoint import load_checkpoint
from edgewise.models.ecg.dataset import load_records
from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.runtime.artifact import read_metadata, write_manifest
from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.model import load_artifact_fn

QUANTILE = 0.99
RECIPE = {"name": "hydra-int8", "budget": {"max_f1_drop": 0.005}, "eval_records": 8,
          "step": [{"kind": "quantize", "formats": ["onnx", "tflite"], "onnx_format": "qoperator", "per_channel": True,
                    "tflite_per_channel": False, "tflite_io": "float", "activations": "auto",
                    "calibration_windows": 64, "auto_mixed_precision": 0, "qat_epochs": 0}]}


def _epistemic(fn, info, strips) -> np.ndarray:
    out = []
    for x in strips:
        res = delineate(x, 500, fn, model_fs=info.sample_rate, window=info.window, hop=info.hop)
        out.append(res.uncertainty["epistemic"])
    return np.asarray(out)


def _measure(path: Path, val_strips, test_recs, test_strips, ood) -> dict:
    fn, info = load_artifact_fn(path)
    t0 = time.time()
    threshold = float(np.quantile(_epistemic(fn, info, val_strips), QUANTILE))
    test_ep = _epistemic(fn, info, test_strips)
    flagged = {k: float(np.mean(_epistemic(fn, info, xs) > threshold)) for k, xs in ood.items()}
    facts = {"uncertainty_threshold": round(threshold, 6),
             "test_lead_ii_wave_f1": wave_f1(fn, test_recs),
             "test_all_leads_flagged": float(np.mean(test_ep > threshold)),
             "ood_flagged": flagged}
    print(f"{path.name}: threshold {threshold:.5f} nats; lead II F1 {facts['test_lead_ii_wave_f1']}; real strips "
          f"flagged {facts['test_all_leads_flagged']:.3f}; OOD flagged {json.dumps(flagged)} ({time.time() - t0:.0f} s)",
          flush=True)
    return facts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hydra", type=Path, required=True, help="the distilled Hydra checkpoint (hydra.pt)")
    ap.add_argument("--members", type=Path, required=True, help="the ensemble folder it was distilled from")
    ap.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/ew-ship-hydra"))
    ap.add_argument("--out", type=Path, default=PRETRAINED_DIR / "ecg-hydra")
    args = ap.parse_args()

    ck = load_checkpoint(args.hydra)
    tr = ck.training
    res = compress_checkpoint(ck, parse_recipe(RECIPE), args.work, data_dir=args.data)
    picks = {}
    for r in res.rows:
        key = (r.format, r.precision)
        if r.format in ("onnx", "tflite") and r.within_budget and (key not in picks or r.latency_ms < picks[key].latency_ms):
            picks[key] = r
    missing = [k for k in (("onnx", "fp32"), ("tflite", "fp32"), ("onnx", "int8"), ("tflite", "int8")) if k not in picks]
    if missing:
        raise SystemExit(f"no artifact within budget for {missing}; see {args.work / 'compression.json'}")

    val = load_records(args.data, tr["val_records"])
    test = load_records(args.data, tr["test_records"])
    val_strips = [r.lead(lead) for r in val for lead in ALL_LEADS if lead in r.spans]
    test_strips = [r.lead(lead) for r in test for lead in ALL_LEADS if lead in r.spans]
    ood = ood_set([r.lead("ii") for r in test if "ii" in r.spans], seed=0,
                  audio_root=args.data.parent / "mosquito")

    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.hydra, args.out / "ecg-unet-hydra.pt")
    shutil.copyfile(args.hydra.with_suffix(".json"), args.out / "ecg-unet-hydra.json")
    entries, table = {}, {}
    for (fmt, prec), r in sorted(picks.items()):
        name = f"ecg-unet-hydra{'-int8' if prec == 'int8' else ''}.{fmt}"
        dest = args.out / name
        shutil.copyfile(r.path, dest)
        facts = _measure(dest, val_strips, test, test_strips, ood)
        metrics = {**((read_metadata(dest) or {}).get("metrics") or {}), **{k: v for k, v in facts.items()
                                                                               if k != "uncertainty_threshold"},
                   "threshold_chosen_on": f"{QUANTILE:.0%} quantile of the mean epistemic uncertainty over every lead "
                                          f"of the {len(val)} validation records",
                   "ensemble": str(args.members)}
        update_metadata(dest, {"uncertainty_threshold": facts["uncertainty_threshold"], "metrics": metrics})
        entries[name] = {"metadata": read_metadata(dest)}
        table[name] = {**facts, "size_bytes": dest.stat().st_size, "latency_ms_10s_1thread_host": r.latency_ms}
    write_manifest(args.out, entries)
    (args.work / "ship.json").write_text(json.dumps(table, indent=1))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
