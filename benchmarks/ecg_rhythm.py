"""ECG rhythm flag (sinus vs atrial fibrillation/flutter) and false P waves, on out-of-fold delineations.

Reads the folds of ``benchmarks/ecg_cross_validation.py --out DIR``: each fold's model delineates its own
test records (which it never saw) on all 12 leads, so every LUDB record gets one out-of-fold delineation.
From each lead's beats come the two features of ``edgewise.runtime.ecg.rhythm`` (share of beats with a P
wave, RR irregularity). Then:

1. the logistic rhythm model is cross-validated by the same folds (fitted on the other folds' records,
   scored on the fold's): AUROC, sensitivity and specificity at the threshold, on lead II and all leads;
2. false P waves on the AF/flutter records, from the model alone and after dropping the P waves of
   strips flagged "af" (out-of-fold flags), with what that costs on sinus records' P F1;
3. ``--fit``: the coefficients fitted on every record, to put in ``RHYTHM_MODEL``.

    .venv/bin/python benchmarks/ecg_rhythm.py --cv /tmp/ecg_cv [--fit]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")


def delineate_folds(cv: Path, data: Path) -> list[dict]:
    """One row per (record, lead): fold, label, features and waves (cached per fold in cv)."""
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.calibrate import ecg_post
    from edgewise.models.ecg.dataset import load_records, rhythm_strata
    from edgewise.models.ecg.evaluate import torch_model_fn
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.intervals import build_beats
    from edgewise.runtime.ecg.rhythm import rhythm_features

    strata = rhythm_strata(data)
    rows = []
    for fj in sorted(cv.glob("fold*.json")):
        fold = json.loads(fj.read_text())
        cache = cv / f"rhythm_rows_fold{fold['fold']}.json"
        if cache.is_file():
            rows += json.loads(cache.read_text())
            continue
        ck = load_checkpoint(cv / f"fold{fold['fold']}" / "ecg-unet.pt")
        fn = torch_model_fn(ck.model, 1)
        part = []
        for r in load_records(data, fold["test_records"], progress=True):
            for lead in LEADS:
                if lead not in r.spans:
                    continue
                res = delineate(r.lead(lead), r.fs, fn, window=ck.spec.window, post=ecg_post(ck.training))
                beats = build_beats(res.waves, r.fs, n=r.signal.shape[1])
                part.append({"fold": fold["fold"], "record": r.record_id, "lead": lead,
                             "af": strata.get(r.record_id, "sinus") != "sinus",
                             "features": rhythm_features(beats),
                             "waves": [[w.kind, int(w.onset), int(w.offset)] for w in res.waves]})
        cache.write_text(json.dumps(part))
        rows += part
    return rows


def _design(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[1.0, r["features"]["p_fraction"], np.log(r["features"]["rr_irregularity"] + 0.02)]
                  for r in rows])
    y = np.array([float(r["af"]) for r in rows])
    return x, y


def fit_logistic(rows: list[dict], l2: float = 1e-2) -> np.ndarray:
    """Newton's method on the L2-penalised log-likelihood (intercept unpenalised); returns [b0, b_p, b_rr]."""
    x, y = _design(rows)
    w = np.zeros(3)
    pen = np.array([0.0, l2, l2])
    for _ in range(100):
        p = 1 / (1 + np.exp(-x @ w))
        g = x.T @ (p - y) + pen * w
        h = (x * (p * (1 - p))[:, None]).T @ x + np.diag(pen + 1e-9)
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def auroc(score: np.ndarray, y: np.ndarray) -> float:
    pos, neg = score[y == 1], score[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float(((pos[:, None] > neg[None]).sum() + 0.5 * (pos[:, None] == neg[None]).sum()) / (len(pos) * len(neg)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cv", type=Path, required=True, help="folder of benchmarks/ecg_cross_validation.py --out")
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/ludb")
    ap.add_argument("--threshold", type=float, default=0.5)
    ap.add_argument("--fit", action="store_true", help="print the coefficients fitted on every record")
    args = ap.parse_args(argv)
    from edgewise.data.ludb import read_record
    from edgewise.runtime.ecg.metrics import DelineationScore, score_waves
    from edgewise.runtime.ecg.waves import Wave

    all_rows = delineate_folds(args.cv, args.data)
    rows = [r for r in all_rows if r["features"] is not None]
    n_all = len(rows)
    folds = sorted({r["fold"] for r in rows})
    p_oof = np.zeros(len(rows))
    for f in folds:
        w = fit_logistic([r for r in rows if r["fold"] != f])
        idx = [i for i, r in enumerate(rows) if r["fold"] == f]
        x, _ = _design([rows[i] for i in idx])
        p_oof[idx] = 1 / (1 + np.exp(-x @ w))
    y = np.array([r["af"] for r in rows], dtype=float)
    print(f"rhythm flag, out-of-fold ({len(folds)} folds, {n_all} strips with >= 4 beats, "
          f"{int(y.sum())} AF/flutter strips), threshold {args.threshold}:")
    for name, sel in (("lead II", np.array([r["lead"] == "ii" for r in rows])), ("all leads", np.ones(len(rows), bool))):
        pred = p_oof[sel] >= args.threshold
        yy = y[sel] == 1
        print(f"  {name:9s}: AUROC {auroc(p_oof[sel], y[sel]):.4f}, sensitivity {pred[yy].mean():.4f} "
              f"({int(pred[yy].sum())}/{int(yy.sum())}), specificity {(~pred[~yy]).mean():.4f} "
              f"({int((~pred[~yy]).sum())}/{int((~yy).sum())})")
    flagged = {(r["record"], r["lead"]): p >= args.threshold for r, p in zip(rows, p_oof)}

    # false P on AF records, and P F1 on sinus records, with and without dropping P waves on flagged strips
    recs = {}
    for lead_set, name in ((("ii",), "lead II"), (LEADS, "all leads")):
        for drop in (False, True):
            af_fp, sinus, af_score = 0, DelineationScore(), DelineationScore()
            for r in all_rows:
                if r["lead"] not in lead_set:
                    continue
                rec = recs.get(r["record"]) or recs.setdefault(r["record"], read_record(args.data, r["record"]))
                waves = [Wave(k, a, b) for k, a, b in r["waves"]]
                if drop and flagged.get((r["record"], r["lead"])):
                    waves = [w for w in waves if w.kind != "P"]
                s = score_waves(rec.waves[r["lead"]], waves, rec.fs, span=rec.spans[r["lead"]])
                if r["af"]:
                    af_fp += s.counts["P on"].fp
                    af_score.add(s)
                else:
                    sinus.add(s)
            print(f"  {name:9s} {'P dropped on flagged strips' if drop else 'model alone':28s}: false P on AF/flutter "
                  f"records {af_fp}; sinus records P F1 {sinus.wave_f1('P'):.4f}, QRS {sinus.wave_f1('QRS'):.4f}, "
                  f"T {sinus.wave_f1('T'):.4f}")
    if args.fit:
        w = fit_logistic(rows)
        print(json.dumps({"intercept": round(float(w[0]), 4), "p_fraction": round(float(w[1]), 4),
                          "log_rr_irregularity": round(float(w[2]), 4), "threshold": args.threshold,
                          "fitted_on": f"out-of-fold delineations of LUDB ({len({r['record'] for r in rows})} records, "
                                       f"{n_all} lead strips), {len(folds)}-fold CV of the shipped recipe"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
