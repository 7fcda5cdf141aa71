"""Shortcut check of mosquito detectors (issue 21 part 3): the same held-out clips at 8 / 16 / 44.1 kHz and +-20 dB.

    .venv/bin/python benchmarks/mosquito_shortcuts.py --model M.pt [M2.onnx ...] [--clips 200] [--seed 0]

Clips: the test sources of the fixed by-source split (``edgewise.models.mosquito.sources.fixed_split``), which
the by-source benchmark's ``fixed`` fold models never trained on; with ``--unseen-by M`` instead every recording
that checkpoint did not train or validate on (its ``training.split_recordings``), at most ``--clips`` of them
(seeded). Clips are cut to their first 20 s. A ``.pt`` model is exported to fp32 ONNX first; every model is run
by the device runtime (``MosquitoDetector``). Variants and figures: ``edgewise.models.mosquito.shortcuts``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np


def _clips(data: Path, unseen_by: Path | None, n: int, seed: int) -> tuple[list, list, str]:
    from edgewise.data.mosquito import ClipLabel, read_recordings
    from edgewise.models.mosquito.api import decode_recordings
    from edgewise.models.mosquito.sources import fixed_split

    recs = [r for r in read_recordings(data) if r.label is not ClipLabel.UNKNOWN and r.duration_s >= 0.5]
    if unseen_by is None:
        test = set(fixed_split(recs).test)
        recs, what = [r for r in recs if r.set_name in test], "test sources of the fixed by-source split"
    else:
        from edgewise.models.checkpoint import load_checkpoint

        split = load_checkpoint(unseen_by).training["split_recordings"]
        seen = set(split["train"]) | set(split["val"])
        recs, what = [r for r in recs if r.rel not in seen], f"recordings {unseen_by.name} never trained on"
    if len(recs) > n:
        recs = [recs[i] for i in sorted(np.random.default_rng(seed).choice(len(recs), n, replace=False))]
    kept, audio = decode_recordings(recs, sample_rate=8000)
    return kept, [y[: 20 * 8000] for y in audio], what


def _detector(path: Path, tmp: Path):
    from edgewise.runtime.mosquito import MosquitoDetector

    if path.suffix == ".pt":
        from edgewise.export import export_checkpoint

        path = export_checkpoint(path, to="onnx", out=tmp / path.stem)[0].path
    return MosquitoDetector.open(path)


def main(argv: list[str] | None = None) -> int:
    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.mosquito.shortcuts import shortcut_scores, shortcut_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, nargs="+", required=True)
    ap.add_argument("--data", type=Path, default=default_dataset_dir("mosquito"))
    ap.add_argument("--unseen-by", type=Path, help="checkpoint whose untrained recordings to use instead")
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.data is None:
        print("no mosquito data (pass --data DIR)", file=sys.stderr)
        return 2
    recs, audio, what = _clips(args.data, args.unseen_by, args.clips, args.seed)
    y = np.array([r.mosquito for r in recs])
    print(f"clips: {len(recs)} {what} ({int(y.sum())} mosquito, {int((~y).sum())} other), first 20 s each\n")
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.model:
            rows = shortcut_table(shortcut_scores(_detector(path, Path(tmp)), audio), y)
            print(f"{path}\n| variant | clip ROC-AUC | max abs dp | p90 abs dp | median abs dp |\n|---|---|---|---|---|")
            for r in rows:
                print(f"| {r['variant']} | {r['clip_roc_auc']:.3f} | {r['max_abs_dp']:.3f} | {r['p90_abs_dp']:.3f} | "
                      f"{r['median_abs_dp']:.4f} |")
            print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
