"""ECG intervals (RR, PR, QRS, QT, QTc) from the shipped model vs the same intervals from LUDB's annotations.

Both sides go through one function, ``edgewise.runtime.ecg.intervals.build_beats``: the model's waves
of a lead and the cardiologists' waves of that lead. Beats are matched one-to-one by QRS onset
(nearest first, within 150 ms: ``metrics.match_boundaries``); an interval is compared where both
beats define it ("ref only" / "model only": defined on one side only, mostly the first annotated
beat, whose predecessor lies before the annotated span). Errors are model − reference in ms; at
500 Hz they come in steps of 2 ms. Target: median |error| <= 10 ms for PR, QRS and QT.

Model: the shipped fp32 ONNX artifact (``ecg-unet.onnx``, onnxruntime, 1 thread; its waves equal the
fp32 checkpoint's, tests/cli/test_ecg_cli.py). Records: ``heldout`` = the 32 test records of the
model's split (in its metadata; never trained or validated on), ``train`` = its 128 training and
validation records, ``all`` = every record present (160 here), which INCLUDES TRAINING RECORDS.

    nice -n 5 python benchmarks/ecg_intervals.py [--records heldout|train|all] [--leads ii|all] [--json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from edgewise.runtime.ecg.intervals import INTERVALS, Beat, build_beats
from edgewise.runtime.ecg.metrics import match_boundaries
from edgewise.runtime.ecg.waves import Wave

LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
TARGET_MS = {"pr_ms": 10.0, "qrs_ms": 10.0, "qt_ms": 10.0}
MATCH_MS = 150.0


class IntervalErrors:
    """Model − reference errors per interval, plus counts of intervals defined on one side only."""

    def __init__(self) -> None:
        self.err: dict[str, list[float]] = {k: [] for k in INTERVALS}
        self.ref_only = dict.fromkeys(INTERVALS, 0)
        self.model_only = dict.fromkeys(INTERVALS, 0)
        self.beats_ref = self.beats_matched = 0

    def add(self, ref: list[Beat], model: list[Beat], fs: float) -> None:
        tq, pq = [b.qrs_onset for b in ref], [b.qrs_onset for b in model]
        pairs, _, _ = match_boundaries(np.array(tq), np.array(pq), MATCH_MS * fs / 1000)
        by_t, by_p = dict(zip(tq, ref)), dict(zip(pq, model))
        self.beats_ref += len(ref)
        self.beats_matched += len(pairs)
        for t, p in pairs:
            for k in INTERVALS:
                a, b = getattr(by_t[t], k), getattr(by_p[p], k)
                if a is not None and b is not None:
                    self.err[k].append(b - a)
                elif a is not None:
                    self.ref_only[k] += 1
                elif b is not None:
                    self.model_only[k] += 1

    def merge(self, other: "IntervalErrors") -> None:
        for k in INTERVALS:
            self.err[k] += other.err[k]
            self.ref_only[k] += other.ref_only[k]
            self.model_only[k] += other.model_only[k]
        self.beats_ref += other.beats_ref
        self.beats_matched += other.beats_matched

    def rows(self) -> list[dict]:
        out = []
        for k in INTERVALS:
            e = np.asarray(self.err[k], dtype=np.float64)
            a = np.abs(e)
            out.append({"interval": k, "n": int(e.size),
                        "median_abs_ms": float(np.median(a)) if e.size else None,
                        "p90_abs_ms": float(np.percentile(a, 90)) if e.size else None,
                        "median_err_ms": float(np.median(e)) if e.size else None,
                        "ref_only": self.ref_only[k], "model_only": self.model_only[k],
                        "target_ms": TARGET_MS.get(k),
                        "meets": (float(np.median(a)) <= TARGET_MS[k]) if k in TARGET_MS and e.size else None})
        return out


def load(args: argparse.Namespace):
    """(model fn, info, record ids, label) for ``--model`` and ``--records``."""
    from edgewise.data.ludb import list_records
    from edgewise.models.ecg.workflow import load_model_fn

    fn, info, training = load_model_fn(args.model, threads=1)
    if args.records == "heldout":
        ids, label = list(training["test_records"]), "held-out test records"
    elif args.records == "train":
        ids, label = sorted(training["train_records"] + training["val_records"]), \
            "TRAINING + VALIDATION records (not held out)"
    else:
        ids, label = list_records(args.data), "ALL records (INCLUDES TRAINING RECORDS)"
    return fn, info, ids, label


def delineate_record(rec, fn, info, leads: tuple[str, ...]) -> dict[str, list[Wave]]:
    """The model's waves for each requested lead of one LUDB record (leads batched together)."""
    from edgewise.runtime.ecg.multilead import delineate_leads

    rows = np.stack([rec.lead(lead) for lead in leads])
    res = delineate_leads(rows, rec.fs, fn, model_fs=info.sample_rate, window=info.window, hop=info.hop,
                          post=info.post)
    return {lead: r.waves for lead, r in zip(leads, res)}


def print_rows(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"  {'interval':18} {'n':>5} {'med|e|':>7} {'P90|e|':>7} {'med e':>7} {'ref only':>8} {'model only':>10}"
          "  target")
    for r in rows:
        tgt = "" if r["target_ms"] is None else f"<= {r['target_ms']:g}: {'yes' if r['meets'] else 'NO'}"
        med = "-" if r["median_abs_ms"] is None else f"{r['median_abs_ms']:7.1f}"
        print(f"  {r['interval']:18} {r['n']:5d} {med:>7} {r['p90_abs_ms'] or 0:7.1f} {r['median_err_ms'] or 0:+7.1f} "
              f"{r['ref_only']:8d} {r['model_only']:10d}  {tgt}")


def main() -> None:
    from edgewise.data.ludb import read_record
    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.pretrained import PRETRAINED_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
    ap.add_argument("--model", type=Path, default=PRETRAINED_DIR / "ecg" / "ecg-unet.onnx")
    ap.add_argument("--records", choices=("heldout", "train", "all"), default="heldout")
    ap.add_argument("--leads", choices=("ii", "all"), default="all", help="lead II only, or every lead (default)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.data is None:
        raise SystemExit("no LUDB folder: pass --data")
    fn, info, ids, label = load(args)
    leads = ("ii",) if args.leads == "ii" else LEADS
    per_lead = {lead: IntervalErrors() for lead in leads}
    t0 = time.time()
    for rid in ids:
        rec = read_record(args.data, rid)
        waves = delineate_record(rec, fn, info, leads)
        n = rec.signal.shape[1]
        for lead in leads:
            if lead in rec.spans:
                per_lead[lead].add(build_beats(rec.waves[lead], rec.fs, n=n), build_beats(waves[lead], rec.fs, n=n),
                                   rec.fs)
    pooled = IntervalErrors()
    for e in per_lead.values():
        pooled.merge(e)
    out = {"model": str(args.model), "format": info.format, "precision": info.precision, "records": label,
           "n_records": len(ids), "seconds": round(time.time() - t0, 1),
           "lead_ii": per_lead["ii"].rows(), "per_lead": {k: v.rows() for k, v in per_lead.items()},
           "all_leads": pooled.rows() if len(leads) > 1 else None}
    if args.json:
        print(json.dumps(out))
        return
    print(f"model {args.model.name} ({info.format}, {info.precision}); {len(ids)} {label}; "
          f"{out['seconds']} s; errors = model - annotation, ms")
    print_rows(f"lead II ({per_lead['ii'].beats_matched} of {per_lead['ii'].beats_ref} annotated beats matched)",
               out["lead_ii"])
    if len(leads) > 1:
        print_rows(f"all 12 leads pooled ({pooled.beats_matched} of {pooled.beats_ref} annotated beats matched)",
                   out["all_leads"])
        print("\nper lead: median |error| / P90 |error|, ms")
        print(f"  {'lead':5} " + " ".join(f"{k:>13}" for k in ("pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms")))
        for lead in leads:
            rows = {r["interval"]: r for r in out["per_lead"][lead]}
            print(f"  {lead:5} " + " ".join(f"{rows[k]['median_abs_ms']:6.1f} / {rows[k]['p90_abs_ms']:4.0f}"
                                            for k in ("pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms")))


if __name__ == "__main__":
    main()
