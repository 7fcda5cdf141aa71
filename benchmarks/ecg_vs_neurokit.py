"""ECG delineation: edgewise vs NeuroKit2's ecg_delineate (dwt, prominence) on the same LUDB records.

Prints one table: wave F1 (P, QRS, T) and per-boundary error mean ± SD (ms) beside the CSE tolerance
2·σ_CSE that the SD is held to, for each method, on held-out records (those the edgewise model never trained on).

    python benchmarks/ecg_vs_neurokit.py [--data DIR] [--model PATH] [--lead ii] [--json]
"""
from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from edgewise.runtime.ecg.metrics import BOUNDARIES, CSE_2SD_MS, DelineationScore, score_waves
from edgewise.runtime.ecg.waves import Wave


def neurokit_waves(signal: np.ndarray, fs: int, method: str) -> list[Wave]:
    import neurokit2 as nk

    cleaned = nk.ecg_clean(signal, sampling_rate=fs)
    _, info = nk.ecg_peaks(cleaned, sampling_rate=fs)
    rpeaks = info["ECG_R_Peaks"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, d = nk.ecg_delineate(cleaned, rpeaks, sampling_rate=fs, method=method)
    waves = []
    for kind, key in (("P", "P"), ("QRS", "R"), ("T", "T")):
        on, off = d.get(f"ECG_{key}_Onsets", []), d.get(f"ECG_{key}_Offsets", [])
        for a, b in zip(on, off):
            if a is None or b is None or np.isnan(a) or np.isnan(b) or b < a:
                continue
            waves.append(Wave(kind, int(a), int(b)))
    return sorted(waves, key=lambda w: w.onset)


def main() -> None:
    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.ecg.dataset import load_records
    from edgewise.models.ecg.evaluate import evaluate_records
    from edgewise.models.ecg.workflow import heldout_records, load_model_fn
    from edgewise.models.pretrained import PRETRAINED_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
    ap.add_argument("--model", type=Path, default=PRETRAINED_DIR / "ecg" / "ecg-unet.pt")
    ap.add_argument("--lead", default="ii")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.data is None:
        raise SystemExit("no LUDB folder: pass --data")
    fn, info, training = load_model_fn(args.model)
    ids = heldout_records(args.data, training)
    recs = load_records(args.data, ids)
    results: dict[str, dict] = {}
    t0 = time.time()
    results["edgewise"] = {"score": evaluate_records(recs, fn, leads=(args.lead,), window=info.window,
                                                     hop=info.hop, post=info.post)[args.lead], "seconds": time.time() - t0}
    for method in ("dwt", "prominence"):
        total, failed, t0 = DelineationScore(), 0, time.time()
        for r in recs:
            if args.lead not in r.spans:
                continue
            try:
                pred = neurokit_waves(r.lead(args.lead).astype(np.float64), r.fs, method)
            except Exception:  # NeuroKit2 raises on some records; count them as all-missed
                pred, failed = [], failed + 1
            total.add(score_waves(r.waves[args.lead], pred, r.fs, span=r.spans[args.lead]))
        results[f"neurokit2-{method}"] = {"score": total, "seconds": time.time() - t0, "failed": failed}

    out = {}
    print(f"LUDB lead {args.lead}, {len(recs)} held-out records, ±150 ms tolerance inside the annotated span\n")
    head = f"{'method':20} {'P F1':>7} {'QRS F1':>7} {'T F1':>7} " + " ".join(f"{b:>13}" for b in BOUNDARIES)
    print(head + "   time s")
    print(f"{'CSE tol. 2σ (ms)':20} {'':>7} {'':>7} {'':>7} " +
          " ".join(f"{('≤ %.1f' % CSE_2SD_MS[b]) if b in CSE_2SD_MS else '—':>13}" for b in BOUNDARIES))
    for name, r in results.items():
        s: DelineationScore = r["score"]
        cells = []
        for b in BOUNDARIES:
            c = s.counts[b]
            cells.append(f"{c.mean_ms:+5.1f}±{c.sd_ms:5.1f}" if c.errors else "—")
        print(f"{name:20} {s.wave_f1('P'):7.4f} {s.wave_f1('QRS'):7.4f} {s.wave_f1('T'):7.4f} " +
              " ".join(f"{c:>13}" for c in cells) + f"   {r['seconds']:.1f}")
        out[name] = {**s.summary(), "seconds": r["seconds"], "failed": r.get("failed", 0)}
    print("\nboundary cells: mean ± SD of (prediction − truth) in ms over matched boundaries; "
          "CSE row: tolerated 2·SD")
    if args.json:
        print(json.dumps({"records": ids, "lead": args.lead, "methods": out}, default=float))


if __name__ == "__main__":
    main()
