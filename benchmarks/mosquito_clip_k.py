"""How many top windows a mosquito clip score should average: chosen on validation sources, checked on test.

    python benchmarks/mosquito_clip_k.py RUN [RUN ...] [--data ../shared/data/mosquito] [--k 1 2 3 4 5 6 8 10]

RUN: an ``--out`` folder of ``benchmarks/mosquito_by_source.py`` (its ``ARCH/FOLD.pt`` fold models and
``ARCH/results.json``). For every leave-one-source-out fold model, the fold's *validation* sources (never its
test sources) are scored clip by clip and each k is judged by per-clip ROC-AUC of the mean of the k highest
window probabilities (``edgewise.runtime.mosquito.clip_score``); the held-out test clips' ROC-AUC per k comes
from the saved ``results.json``. Printed: per fold, the validation AUC per k, the k a fold's own validation
sources prefer and the test AUC at it; then, over all folds, the mean validation AUC per k (what the shipped
``CLIP_TOP_K`` was checked on) and the LOSO mean / lowest test AUC at the highest window, at k = 3, and at
each fold's own choice.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    import torch
    from sklearn.metrics import roc_auc_score

    from edgewise.data.mosquito import ClipLabel, read_recordings
    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.mosquito.api import decode_recordings
    from edgewise.models.mosquito.evaluate import score_clips
    from edgewise.models.mosquito.protocol import _part
    from edgewise.models.mosquito.sources import loso_folds
    from edgewise.runtime.mosquito import clip_score

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path, nargs="+", metavar="RUN")
    ap.add_argument("--arch", default="dscnn-robust")
    ap.add_argument("--data", type=Path, default=default_dataset_dir("mosquito"))
    ap.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6, 8, 10])
    args = ap.parse_args(argv)
    args.k = sorted(set(args.k) | {1, 3})  # the highest window and the shipped k are always compared
    if args.data is None:
        print("no mosquito data (pass --data DIR)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    recs = read_recordings(args.data)
    kept, audio = decode_recordings([r for r in recs if r.label is not ClipLabel.UNKNOWN], sample_rate=8000)
    audio_by = {r.rel: y for r, y in zip(kept, audio)}
    folds = {f.name: f for f in loso_folds(recs)}

    def aucs(y: list[bool], ps: list[np.ndarray]) -> dict[int, float]:
        return {k: float(roc_auc_score(y, [clip_score(p, k) for p in ps])) for k in args.k}

    rows = []
    for run in args.runs:
        for fr in json.loads((run / args.arch / "results.json").read_text()):
            name = fr["fold"]["name"]
            if name not in folds:
                continue
            ck = load_checkpoint(run / args.arch / f"{name}.pt")
            val = [c for c in score_clips(ck.model.eval(), ck.spec, *_part(recs, audio_by, folds[name], "val")) if c.p.size]
            test = [c for c in fr["clips"] if c["p"]]
            v = aucs([c.mosquito for c in val], [c.p for c in val])
            t = aucs([c["mosquito"] for c in test], [np.asarray(c["p"]) for c in test])
            own = max(args.k, key=lambda k: (round(v[k], 6), -k))  # ties: the smaller k
            rows.append({"run": run.name, "fold": name, "val": v, "test": t, "own_k": own,
                         "val_clips": (sum(c.mosquito for c in val), sum(not c.mosquito for c in val))})
            print(f"{run.name} {name}: validation clips {rows[-1]['val_clips'][0]} mosquito / {rows[-1]['val_clips'][1]} "
                  f"other; validation AUC " + " ".join(f"k{k} {a:.3f}" for k, a in v.items())
                  + f"; own k {own}, test AUC at it {t[own]:.3f}", flush=True)
    print("\n| k | mean validation clip ROC-AUC (all fold models) |\n|---|---|")
    for k in args.k:
        print(f"| {k} | {np.mean([r['val'][k] for r in rows]):.4f} |")
    print("\n| run | test LOSO mean / lowest: highest window | k = 3 | each fold's own k |\n|---|---|---|---|")
    for run in args.runs:
        rr = [r for r in rows if r["run"] == run.name]
        cells = []
        for pick in (lambda r: 1, lambda r: 3, lambda r: r["own_k"]):
            a = [r["test"][pick(r)] for r in rr]
            cells.append(f"{np.mean(a):.3f} / {min(a):.3f}")
        print(f"| {run.name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
