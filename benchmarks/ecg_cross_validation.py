"""ECG delineation: k-fold cross-validation of the shipped training recipe on LUDB (by record).

One held-out split of 32 records decides the shipped model's figures; this estimates how the same
recipe (architecture, augmentation, epoch selection and P-offset calibration on validation records)
does on records it never saw, fold by fold. Records are split by rhythm stratum into ``k`` disjoint
test folds; of the rest, 1/8 (stratified) is the validation part, the others train. Each fold trains a
model from scratch (``train_ecg``) and scores its test fold on lead II and on all 12 leads.

    nice -n 10 .venv/bin/python benchmarks/ecg_cross_validation.py --out /tmp/ecg_cv [--folds 5] [--epochs 60]
    # two cores: run folds in two processes, then print the table of every fold found in --out
    ... --only 0 2 4 &  ... --only 1 3 ;  ... --table
    # another network on the same folds: the half-rate kernel-5 U-Net, optionally distilled from each fold's
    # model of an earlier run (e.g. the shipped kernel-9 recipe's --out)
    ... --out /tmp/ecg_cv_h5 --kernel 5 --decimate 2 [--teachers /tmp/ecg_cv]

Takes ~20 min of one core per fold at 60 epochs on the 2-core VM (2026-12-06: training plus the
validation every 5 epochs, the P-offset sweep and the test scoring, each over the stream's 25 windows per
strip); whole-strip training (``TrainConfig.min_crop``, window 5008) costs ~2.4x per epoch. Each fold's JSON also scores its test records by rhythm
class (sinus vs atrial fibrillation/flutter) and counts the false P waves on the fibrillation records.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def rhythm_scores(ckpt: Path, data_dir: Path, records: list[int]) -> dict:
    """Lead II and all-lead scores of a fold's test records by rhythm class, with the false P waves on
    atrial fibrillation / flutter records (LUDB annotates no P wave there, so every predicted P is false)."""
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.dataset import load_records, rhythm_strata
    from edgewise.models.ecg.evaluate import evaluate_records, torch_model_fn
    from edgewise.models.ecg.workflow import ALL_LEADS

    from edgewise.models.ecg.calibrate import ecg_post
    from edgewise.runtime.ecg.metrics import DelineationScore

    ck = load_checkpoint(ckpt)
    fn = torch_model_fn(ck.model, 1)
    strata = rhythm_strata(data_dir)
    out: dict = {}
    for group in ("sinus", "af"):
        ids = [i for i in records if (strata.get(i, "sinus") == "sinus") == (group == "sinus")]
        if not ids:
            continue
        pooled = {"ii": DelineationScore(), "all": DelineationScore()}
        per_record = {}
        for rec in load_records(data_dir, ids):  # each record scored once, then pooled
            s = evaluate_records([rec], fn, leads=ALL_LEADS, window=ck.spec.window, post=ecg_post(ck.training))
            for key in pooled:
                pooled[key].add(s[key])
            per_record[str(rec.record_id)] = int(s["ii"].counts["P on"].fp)
        row = {"records": ids}
        for key, sc in pooled.items():
            row[key] = {"wave_f1": {w: sc.wave_f1(w) for w in ("P", "QRS", "T")},
                        "false_p": int(sc.counts["P on"].fp), "true_p": int(sc.counts["P on"].tp + sc.counts["P on"].fn)}
        if group == "af":  # false P per record, lead II
            row["false_p_ii_per_record"] = per_record
        out[group] = row
    return out


def one_call_scores(ckpt: Path, data_dir: Path, records: list[int], window: int = 5008) -> dict:
    """The fold's test records delineated with one model call per 10-s strip (window ``window``, the
    strip standardised as a whole) instead of the stream's windows: what a fully convolutional offline
    path would give with the same weights."""
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.dataset import load_records
    from edgewise.models.ecg.evaluate import evaluate_records, torch_model_fn
    from edgewise.models.ecg.calibrate import ecg_post
    from edgewise.models.ecg.workflow import ALL_LEADS

    ck = load_checkpoint(ckpt)
    s = evaluate_records(load_records(data_dir, records), torch_model_fn(ck.model, 1), leads=ALL_LEADS, window=window,
                         post=ecg_post(ck.training))
    return {"window": window, "lead_ii": {w: s["ii"].wave_f1(w) for w in ("P", "QRS", "T")},
            "all_leads": {w: s["all"].wave_f1(w) for w in ("P", "QRS", "T")}}


def _strip_window(model, samples: int = 5000) -> int:
    """The smallest input window holding a 10-s strip that the U-Net takes (a multiple of its ``multiple``)."""
    m = getattr(model, "multiple", 16)
    return -(-samples // m) * m


def run_fold(data_dir: Path, out: Path, f: int, split, epochs: int, seed: int, kernel: int = 9, decimate: int = 1,
             teachers: Path | None = None, oversample_unannotated: bool = False) -> dict:
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.ecg.workflow import train_ecg

    ckpt = train_ecg(out / f"fold{f}", data_dir=data_dir, epochs=epochs, seed=seed, split=split, kernel=kernel,
                     decimate=decimate, teacher=teachers / f"fold{f}" / "ecg-unet.pt" if teachers else None,
                     oversample_unannotated=oversample_unannotated, progress=False, log=lambda m: None)
    ck = load_checkpoint(ckpt)
    facts = json.loads(ckpt.with_suffix(".json").read_text())
    m = facts["metrics"]
    row = {"fold": f, "n_test": len(split.test), "p_offset": ck.training["calibration"]["p_logit_bias"],
           "window": ck.spec.window, "epochs": epochs, "kernel": kernel, "decimate": decimate,
           "teacher": str(teachers / f"fold{f}") if teachers else None, "oversample_unannotated": oversample_unannotated,
           "lead_ii": m["test_lead_ii"]["wave_f1"], "all_leads": m["test_all_leads"]["wave_f1"],
           "by_rhythm": rhythm_scores(ckpt, data_dir, list(split.test)),
           "one_call": one_call_scores(ckpt, data_dir, list(split.test), window=_strip_window(ck.model)),
           "test_records": list(split.test)}
    (out / f"fold{f}.json").write_text(json.dumps(row, indent=1))
    return row


def table(out: Path) -> None:
    rows = sorted((json.loads(p.read_text()) for p in out.glob("fold*.json")), key=lambda r: r["fold"])
    if not rows:
        raise SystemExit(f"no fold results in {out}")
    print(f"LUDB {len(rows)} folds, ±150 ms, wave F1 on each fold's unseen records")
    print(f"{'fold':>4} {'records':>7} {'P off':>6} | {'II P':>6} {'II QRS':>6} {'II T':>6} | {'all P':>6} {'all QRS':>7} {'all T':>6}")
    for r in rows:
        a, b = r["lead_ii"], r["all_leads"]
        print(f"{r['fold']:>4} {r['n_test']:>7} {r['p_offset']:>+6.2f} | {a['P']:6.4f} {a['QRS']:6.4f} {a['T']:6.4f} | "
              f"{b['P']:6.4f} {b['QRS']:7.4f} {b['T']:6.4f}")
    af = [r["by_rhythm"]["af"] for r in rows if "af" in r.get("by_rhythm", {})]
    if af:
        n_rec = sum(len(a["records"]) for a in af)
        per = {k: v for a in af for k, v in a["false_p_ii_per_record"].items()}
        print(f"AF/flutter test records ({n_rec}): false P waves lead II {sum(a['ii']['false_p'] for a in af)} "
              f"(per record {per}), all leads {sum(a['all']['false_p'] for a in af)}")
        sin = [r["by_rhythm"]["sinus"] for r in rows if "sinus" in r.get("by_rhythm", {})]
        print("sinus records: lead II P " + ", ".join(f"{s['ii']['wave_f1']['P']:.4f}" for s in sin)
              + " | all leads P " + ", ".join(f"{s['all']['wave_f1']['P']:.4f}" for s in sin))
    oc = [r["one_call"] for r in rows if "one_call" in r]
    if oc:
        for key, name in (("lead_ii", "lead II"), ("all_leads", "all leads")):
            print(f"one call per strip ({oc[0]['window']}), {name}: " + ", ".join(
                f"{w} {np.mean([o[key][w] for o in oc]):.4f}" for w in ("P", "QRS", "T"))
                + " (stream windows: " + ", ".join(f"{w} {np.mean([r[key][w] for r in rows if 'one_call' in r]):.4f}"
                                                 for w in ("P", "QRS", "T")) + ")")
    for key, name in (("lead_ii", "lead II"), ("all_leads", "all leads")):
        vals = {w: np.array([r[key][w] for r in rows]) for w in ("P", "QRS", "T")}
        print(f"{name:>10} mean ± SD over folds: " + ", ".join(
            f"{w} {v.mean():.4f} ± {v.std(ddof=1) if len(v) > 1 else 0:.4f} (min {v.min():.4f})" for w, v in vals.items()))


def main(argv: list[str] | None = None) -> int:
    from edgewise.data.paths import default_dataset_dir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dataset_dir("ludb"))
    ap.add_argument("--out", type=Path, required=True, help="folder for each fold's model and result")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1, help="training seed (the shipped model's: 1)")
    ap.add_argument("--kernel", type=int, default=9, help="the U-Net's convolution kernel (the shipped model's: 9)")
    ap.add_argument("--decimate", type=int, default=1, choices=(1, 2), help="2: the U-Net runs at 250 Hz (UNet1d)")
    ap.add_argument("--teachers", type=Path, help="a CV folder of the same folds (e.g. of the kernel-9 recipe): each "
                    "fold's model distils into this fold's (train_ecg's teacher)")
    ap.add_argument("--oversample-unannotated", action="store_true",
                    help="also oversample 3x the records without any annotated P wave (LUDB's paced records; "
                         "measured 2026-12-07, not adopted)")
    ap.add_argument("--only", type=int, nargs="*", help="run only these folds")
    ap.add_argument("--table", action="store_true", help="only print the table of the folds in --out")
    args = ap.parse_args(argv)
    if not args.table:
        if args.data is None or not Path(args.data).is_dir():
            raise SystemExit("no LUDB folder: pass --data DIR")
        import torch

        torch.set_num_threads(1)
        args.out.mkdir(parents=True, exist_ok=True)
        from edgewise.data.ludb import list_records
        from edgewise.models.ecg.dataset import kfold_records, rhythm_strata

        splits = kfold_records(list_records(args.data), args.folds, strata=rhythm_strata(args.data))
        for f in args.only if args.only is not None else range(args.folds):
            r = run_fold(args.data, args.out, f, splits[f], args.epochs, args.seed, args.kernel, args.decimate,
                         args.teachers, args.oversample_unannotated)
            print(f"fold {f}: lead II {r['lead_ii']}", flush=True)
    table(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
