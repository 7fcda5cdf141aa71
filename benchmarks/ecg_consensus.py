"""12-lead consensus delineation (``edgewise delineate --lead all``) scored against LUDB's 12 annotations.

Every lead goes through the shipped single-lead model; ``edgewise.runtime.ecg.consensus`` turns the 12
wave lists into one (global onset = earliest agreeing onset, global offset = latest agreeing offset).
The reference is the CSE definition applied to the cardiologists' per-lead annotations: the same
grouping, every lead counted, plain earliest onset / latest offset (``consensus.REFERENCE``); it is
scored inside the union of the leads' annotated spans. Lead II (model lead II vs annotated lead II,
inside its span) is printed beside it. Scoring is ``edgewise.runtime.ecg.metrics.score_waves``: each
boundary type matched one-to-one, nearest first, within ±150 ms; unmatched truths inside the span are
misses, unmatched predictions inside it false positives. The SD is compared with the CSE tolerance 2·σ_CSE
(metrics.py).
Intervals of the consensus beats are compared with the reference's beats as in
``benchmarks/ecg_intervals.py``.

``--sweep`` prints the grid the defaults of ``ConsensusConfig`` were chosen from; run it on
``--records train`` (the model's training and validation records), never on the test records.

    nice -n 5 python benchmarks/ecg_consensus.py [--records heldout|train|all] [--sweep] [--json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ecg_intervals import LEADS, IntervalErrors, delineate_record, load, print_rows
from edgewise.runtime.ecg.consensus import REFERENCE, ConsensusConfig, consensus_waves
from edgewise.runtime.ecg.intervals import build_beats
from edgewise.runtime.ecg.metrics import BOUNDARIES, DelineationScore, score_waves
from edgewise.runtime.ecg.waves import WAVE_KINDS, Wave


def reference(rec) -> tuple[list[Wave], tuple[int, int]]:
    """The annotation consensus of one record and the span it is scored in (union of the leads' spans)."""
    ref, _ = consensus_waves(rec.waves, rec.fs, config=REFERENCE)
    spans = list(rec.spans.values())
    return ref, (min(a for a, _ in spans), max(b for _, b in spans))


def print_score(title: str, s: DelineationScore) -> None:
    wf = s.wave_f1
    print(f"\n{title}: wave F1  P {wf('P'):.4f}  QRS {wf('QRS'):.4f}  T {wf('T'):.4f}")
    print(f"  {'boundary':8} {'n':>5} {'Se':>7} {'PPV':>7} {'F1':>7} {'mean ms':>8} {'SD ms':>6} "
          f"{'CSE tol':>7}  SD within")
    for r in s.table():
        tol = r["cse_2sd_ms"]
        ok = "-" if r["meets_cse"] is None else ("yes" if r["meets_cse"] else "no")
        print(f"  {r['boundary']:8} {r['n_true']:5d} {r['se']:7.4f} {r['ppv']:7.4f} {r['f1']:7.4f} "
              f"{r['mean_ms']:+8.1f} {r['sd_ms']:6.1f} {tol if tol else '-':>7}  {ok}")


def sweep(cases: list[tuple[dict, list[Wave], tuple[int, int], float]]) -> None:
    """Wave F1 and per-boundary mean/SD/RMS error for a grid of min_share and one agree_ms for all boundaries."""
    for share in (1 / 12, 3 / 12, 5 / 12, 6 / 12, 7 / 12, 9 / 12):
        for agree in (20.0, 40.0, 60.0, 100.0, 150.0, None):
            cfg = ConsensusConfig(min_share=share, agree_ms=tuple((b, agree) for b in BOUNDARIES))
            s = DelineationScore()
            for per_lead, ref, span, fs in cases:
                s.add(score_waves(ref, consensus_waves(per_lead, fs, config=cfg)[0], fs, span=span))
            cells = " ".join(f"{b} {s.counts[b].mean_ms:+.1f}/{s.counts[b].sd_ms:.1f}/"
                             f"{np.hypot(s.counts[b].mean_ms, s.counts[b].sd_ms):.1f}" for b in BOUNDARIES)
            print(f"share {share:.3f} agree {agree}: F1 " + " ".join(f"{s.wave_f1(k):.4f}" for k in WAVE_KINDS)
                  + f" | mean/SD/RMS {cells}", flush=True)


def main() -> None:
    from edgewise.data.ludb import read_record
    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.pretrained import PRETRAINED_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
    ap.add_argument("--model", type=Path, default=PRETRAINED_DIR / "ecg" / "ecg-unet.onnx")
    ap.add_argument("--records", choices=("heldout", "train", "all"), default="heldout")
    ap.add_argument("--sweep", action="store_true", help="print the min_share x agree_ms grid instead")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.data is None:
        raise SystemExit("no LUDB folder: pass --data")
    fn, info, ids, label = load(args)
    lead_ii, cons, iv = DelineationScore(), DelineationScore(), IntervalErrors()
    support: list[int] = []
    cases = []
    t0 = time.time()
    for rid in ids:
        rec = read_record(args.data, rid)
        waves = delineate_record(rec, fn, info, LEADS)
        ref, span = reference(rec)
        if args.sweep:
            cases.append((waves, ref, span, rec.fs))
            continue
        if "ii" in rec.spans:
            lead_ii.add(score_waves(rec.waves["ii"], waves["ii"], rec.fs, span=rec.spans["ii"]))
        model, leads_found = consensus_waves(waves, rec.fs)
        support += leads_found
        cons.add(score_waves(ref, model, rec.fs, span=span))
        n = rec.signal.shape[1]
        iv.add(build_beats(ref, rec.fs, n=n), build_beats(model, rec.fs, n=n), rec.fs)
    if args.sweep:
        print(f"sweep on {len(ids)} {label}")
        sweep(cases)
        return
    out = {"model": str(args.model), "format": info.format, "precision": info.precision, "records": label,
           "n_records": len(ids), "seconds": round(time.time() - t0, 1), "config": str(ConsensusConfig()),
           "lead_ii": lead_ii.summary(), "consensus": cons.summary(), "consensus_intervals": iv.rows(),
           "leads_per_consensus_wave": {"median": float(np.median(support)), "min": int(min(support))}}
    if args.json:
        print(json.dumps(out))
        return
    print(f"model {args.model.name} ({info.format}, {info.precision}); {len(ids)} {label}; {out['seconds']} s")
    print(f"consensus rule: {ConsensusConfig()}")
    print_score("lead II vs lead II annotations", lead_ii)
    print_score("12-lead consensus vs annotation consensus (earliest onset / latest offset over 12 leads)", cons)
    print(f"  leads per accepted consensus wave: median {np.median(support):.0f}, min {min(support)}")
    print_rows(f"consensus intervals vs annotation-consensus intervals ({iv.beats_matched} of {iv.beats_ref} "
               "reference beats matched)", iv.rows())


if __name__ == "__main__":
    main()
