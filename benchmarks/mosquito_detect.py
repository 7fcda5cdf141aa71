"""Mosquito detection acceptance table: the shipped DS-CNN vs the HumBug baseline CNN on the same split.

Both models are trained by the same loop (class-balanced batches, same augmentation, same steps,
temperature scaling on the same validation recordings) on the same recordings, and scored on the same
held-out test recordings (split by recording): ROC-AUC and PR-AUC per window and per clip, false alarms
per hour of negative audio at the operating threshold, parameters and host latency per window.

    nice -n 10 .venv/bin/python benchmarks/mosquito_detect.py                       # train both (~2 x 10 min CPU)
    nice -n 10 .venv/bin/python benchmarks/mosquito_detect.py --dscnn A.pt --humbug B.pt   # score checkpoints
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _latency_ms(ckpt, n: int = 30) -> float:
    """Median host time per 2-s window: log-Mel front end (numpy) + torch model, 1 thread."""
    import torch

    from edgewise.models.mosquito.train import features

    x = np.random.default_rng(0).standard_normal((1, ckpt.spec.window)).astype(np.float32) * 0.1
    times = []
    with torch.no_grad():
        for _ in range(n):
            t = time.perf_counter()
            ckpt.model(features(x, ckpt.spec))
            times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def _tradeoff(clips, thresholds=(0.5, 0.8, 0.9, 0.95, 0.99)) -> list[dict]:
    """False alarms per hour and clip recall at several thresholds (same hysteresis rule)."""
    from edgewise.models.mosquito.evaluate import hysteresis_for
    from edgewise.runtime.events import merge_events

    neg = [c for c in clips if not c.mosquito]
    pos = [c for c in clips if c.mosquito]
    hours = sum(c.duration_s for c in neg) / 3600
    out = []
    for t in thresholds:
        fa = sum(len(merge_events(c.p, c.times, hysteresis_for(t))) for c in neg)
        out.append({"threshold": t, "false_alarms_per_hour": fa / hours if hours else float("nan"),
                    "clip_recall": float(np.mean([c.peak >= t for c in pos])) if pos else float("nan")})
    return out


def main(argv: list[str] | None = None) -> int:
    import torch

    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.mosquito.api import evaluate_detector, load_detector, train_detector
    from edgewise.models.mosquito.train import recipe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dataset_dir("mosquito"))
    ap.add_argument("--dscnn", type=Path, help="DS-CNN checkpoint to score (else trained here)")
    ap.add_argument("--humbug", type=Path, help="HumBug baseline checkpoint to score (else trained here)")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("/tmp/edgewise-bench-mosquito"), help="where trained checkpoints go")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.data is None:
        print("no mosquito data (pass --data DIR): this benchmark only runs on real recordings", file=sys.stderr)
        return 2
    rows, splits = [], []
    for arch, given in (("dscnn", args.dscnn), ("humbug", args.humbug)):
        path = given or args.out / f"mosquito-{arch}.pt"
        if given is None:
            train_detector(args.data, recipe(arch, steps=args.steps, seed=args.seed), out=path, seed=args.seed)
        ckpt = load_detector(path)
        res = evaluate_detector(args.data, model_path=path, seed=args.seed)
        splits.append(ckpt.training.get("split_recordings"))
        m = res["metrics"]
        rows.append({"model": ckpt.spec.name, "checkpoint": str(path), "params": sum(p.numel() for p in ckpt.model.parameters()),
                     "latency_ms": round(_latency_ms(ckpt), 2), "steps": ckpt.training.get("steps"),
                     "tradeoff": _tradeoff(res["clips"]), **m})
    same = splits[0] == splits[1] and splits[0] is not None
    if args.json:
        print(json.dumps({"same_split": same, "rows": rows}, default=float))
        return 0
    print(f"held-out test recordings, split by recording (seed {args.seed}); same split for both: {same}")
    print(f"clips: {rows[0]['n_clips']}, windows: {rows[0]['n_windows']}, negative audio: {rows[0]['negative_hours']:.3f} h")
    head = ["model", "params", "window ROC-AUC", "window PR-AUC", "clip ROC-AUC", "clip PR-AUC", "FA/h", "threshold",
            "ms/window"]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for r in rows:
        print(f"| {r['model']} | {r['params']} | {r['window_roc_auc']:.4f} | {r['window_pr_auc']:.4f} | "
              f"{r['clip_roc_auc']:.4f} | {r['clip_pr_auc']:.4f} | {r['false_alarms_per_hour']:.1f} | {r['threshold']} | "
              f"{r['latency_ms']:.2f} |")
    print("\nfalse alarms per hour of negative audio / clip recall, by threshold")
    ts = [t["threshold"] for t in rows[0]["tradeoff"]]
    print("| model | " + " | ".join(f"p >= {t}" for t in ts) + " |\n|" + "---|" * (len(ts) + 1))
    for r in rows:
        print(f"| {r['model']} | " + " | ".join(f"{t['false_alarms_per_hour']:.1f} / {t['clip_recall']:.2f}"
                                               for t in r["tradeoff"]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
