"""Mosquito detection held out by recording source: the protocol of issue 21, for the DS-CNN and HumBug recipes.

Each recipe is trained once per fold (leave-one-source-out over the positive sources, plus the fixed
by-source split; ``edgewise.models.mosquito.sources``), its operating threshold chosen on the fold's
validation sources for <= 5 false alarms per hour, and scored on the fold's held-out sources
(``edgewise.models.mosquito.protocol``). Printed per model: per held-out source and pooled, per-clip
ROC-AUC, PR-AUC, recall at the operating threshold and false alarms per hour of negative audio; the ROC-AUC
on 0.1-0.5 s excerpts of the held-out sources; the worst false alarms by source and by clip.

    nice -n 10 .venv/bin/python benchmarks/mosquito_by_source.py --steps 600          # train all folds (~1.5 h)
    nice -n 10 .venv/bin/python benchmarks/mosquito_by_source.py --reuse              # re-score saved fold models
    .venv/bin/python benchmarks/mosquito_by_source.py --tables-only                   # re-print from saved results

Ensembles of earlier runs (same folds, other seeds; each run's ``--out``), scored on the same protocol:

    .venv/bin/python benchmarks/mosquito_by_source.py --arch dscnn-robust --ensemble RUN0 RUN1 RUN2 --out ENS
    .venv/bin/python benchmarks/mosquito_by_source.py --arch dscnn-robust --distil-from RUN0 RUN1 RUN2 --out KD

``--ensemble`` scores each fold's mean member probability (``edgewise.models.ensemble.mean``); ``--distil-from``
trains one device-sized student per fold by plain knowledge distillation from that fold's ensemble
(``edgewise.compress.distill_mosquito.distill_plain_mosquito``: ``MOSQUITO_DISTILL``'s loss and learning rate, the
fold's recipe otherwise) on the fold's training windows; threshold and scores are the protocol's either way, so no
held-out source steers either.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ARCHS = ("dscnn", "dscnn-robust", "humbug")


def _f(x: float, nd: int = 3) -> str:
    return "–" if x is None or x != x else f"{x:.{nd}f}"


def _source_table(summary: dict) -> list[str]:
    head = ["held-out source", "fold", "pos / neg clips", "clip ROC-AUC", "clip PR-AUC", "recall @ thr", "FA/h",
            "events / neg h", "thr"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    rows = sorted(summary["per_source"], key=lambda r: (not r["positive"], r["fold"] != r["source"], r["source"]))
    for r in rows:
        n = r["n_clips"]
        out.append(f"| {r['source']} | {r['fold']} | {n['mosquito']} / {n['other']} | {_f(r['clip_roc_auc'])} | "
                   f"{_f(r['clip_pr_auc'])} | {_f(r['clip_recall_at_threshold'], 2)} | {_f(r['false_alarms_per_hour'], 1)} | "
                   f"{r['false_alarms']} / {r['negative_hours']:.3f} | {r['threshold']} |")
    for key, label in (("pooled", "**pooled** (each fold's threshold)"), ("pooled_at_0.5", "pooled at threshold 0.5")):
        m = summary[key]
        out.append(f"| {label} | all | {m['n_clips']['mosquito']} / {m['n_clips']['other']} | {_f(m['clip_roc_auc'])} | "
                   f"{_f(m['clip_pr_auc'])} | {_f(m['clip_recall_at_threshold'], 2)} | {_f(m['false_alarms_per_hour'], 1)} | "
                   f"{m['false_alarms']} / {m['negative_hours']:.3f} | |")
    return out


def _report(name: str, summary: dict, fixed: dict | None, *, title: str = "leave-one-source-out") -> str:
    lo, sh = summary["loso"], summary["short"]
    lines = [f"\n## {name}: {title}", ""]
    lines += _source_table(summary)
    lines += ["", f"LOSO mean per-clip ROC-AUC over positive sources: {_f(lo['mean_clip_roc_auc'])} "
              f"(target >= 0.95); lowest {_f(lo['min_clip_roc_auc'])} ({lo['worst_source']}; target >= 0.85)",
              f"pooled recall {_f(summary['pooled']['clip_recall_at_threshold'], 3)} at "
              f"{_f(summary['pooled']['false_alarms_per_hour'], 1)} false alarms / h (target >= 0.90 at <= 5 / h)",
              "one threshold for every fold (read on the test clips: the curve, not a protocol figure), recall @ FA/h: "
              + ", ".join(f"{r['threshold']:g}: {_f(r['clip_recall'], 2)} @ {_f(r['false_alarms_per_hour'], 1)}"
                          for r in summary.get("pooled_sweep", [])),
              f"short clips ({sh['length_s'][0]}-{sh['length_s'][1]} s excerpts of held-out sources): ROC-AUC "
              f"{_f(sh['roc_auc'])}, PR-AUC {_f(sh['pr_auc'])} ({sh['n_mosquito']} mosquito / {sh['n_other']} other; "
              "target ROC-AUC >= 0.9)", "",
              "| fold | short ROC-AUC | short mosquito / other | short recall @ thr | thr | val FA/h | budget met on val | "
              "best step | val window AUC | training s | scoring s |", "|" + "---|" * 11]
    for fo in summary["folds"]:
        s = sh["per_fold"][fo["name"]]
        lines.append(f"| {fo['name']} | {_f(s['roc_auc'])} | {s['n_mosquito']} / {s['n_other']} | "
                     f"{_f(s['recall_at_threshold'], 2)} | {fo['threshold']} | {_f(fo['val_false_alarms_per_hour'], 1)} | "
                     f"{'yes' if fo['target_met'] else 'NO'} | {fo['best_step']} | {_f(fo['val_window_roc_auc'])} | "
                     f"{fo['train_seconds']} | {fo['seconds'].get('score')} |")
    off = summary["offenders"]
    lines += ["", "False alarms by negative source (LOSO, each fold's threshold)", "",
              "| source | events | hours | per hour | clips with alarms |", "|---|---|---|---|---|"]
    for r in off["by_source"][:12]:
        lines.append(f"| {r['source']} | {r['false_alarms']} | {r['hours']:.3f} | {r['per_hour']:.1f} | "
                     f"{r['clips_with_alarms']} / {r['clips']} |")
    lines += ["", "Worst negative clips", "", "| clip | source | events | score | seconds |", "|---|---|---|---|---|"]
    for r in off["by_clip"]:
        lines.append(f"| {r['name']} | {r['source']} | {r['false_alarms']} | {r['score']:.4f} | {r['duration_s']:.1f} |")
    too_short = sorted({n for fo in summary["folds"] for n in fo["too_short"]})
    lines += ["", f"clips under 0.05 s, not scored: {too_short or 'none'}"]
    if fixed is not None:
        fo = fixed["folds"][0]
        lines += ["", f"## {name}: fixed by-source split (test {', '.join(fo['test'])})", ""]
        lines += _source_table(fixed)
        sh = fixed["short"]
        lines += ["", f"threshold {fo['threshold']} (val FA/h {_f(fo['val_false_alarms_per_hour'], 1)}); short clips "
                  f"ROC-AUC {_f(sh['roc_auc'])} ({sh['n_mosquito']} / {sh['n_other']}); training {fo['train_seconds']} s, "
                  f"best step {fo['best_step']}"]
    return "\n".join(lines)


def _short_variants(recs, audio_by, folds, arch: str, out: Path, seed: int) -> dict:
    """Short-excerpt ROC-AUC of the saved fold models when excerpts are tiled (crossfade), repeated, or zero-padded."""
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.models.mosquito.clips import cut_short_clips, tile_window
    from edgewise.models.mosquito.evaluate import _auc_pair
    from edgewise.models.mosquito.protocol import SHORT_CLIP_S
    from edgewise.models.mosquito.train import predict_logits

    def pad(y, n):
        x = np.zeros(n, np.float32)
        x[: y.size] = y
        return x

    variants = {"tiled, 5-ms crossfade (default)": lambda y, n: tile_window(y, n, sample_rate=8000),
                "tiled, plain repetition": lambda y, n: tile_window(y, n, sample_rate=8000, fade_s=0.0),
                "zero-padded (before issue 21)": pad}
    scores: dict[str, list] = {k: [] for k in variants}
    labels = []
    for fold in folds:
        if fold.name == "fixed":
            continue
        ckpt = load_checkpoint(out / arch / f"{fold.name}.pt")
        test = [r for r in fold.split(recs)["test"] if r.rel in audio_by]
        cuts = cut_short_clips(test, [audio_by[r.rel] for r in test], sample_rate=8000, seed=seed)
        labels += [c.mosquito for c in cuts]
        for name, make in variants.items():
            x = np.stack([make(c.samples, ckpt.spec.window) for c in cuts])
            z = predict_logits(ckpt.model, ckpt.spec, x).astype(np.float64)
            scores[name] += list(z[:, 1] - z[:, 0])  # the logit margin ranks like the probability
    y = np.array(labels, int)
    return {name: _auc_pair(y, np.array(v))[0] for name, v in scores.items()} | {"n": [int(y.sum()), int((1 - y).sum())]}


def _fold_members(runs: list[Path], arch: str, fold: str) -> list:
    """The fold models of earlier runs (``RUN/arch/fold.pt``), frozen."""
    from edgewise.models.checkpoint import load_checkpoint

    missing = [str(r / arch / f"{fold}.pt") for r in runs if not (r / arch / f"{fold}.pt").is_file()]
    if missing:
        raise SystemExit(f"no fold model at {', '.join(missing)}: run the benchmark with that --out first")
    return [load_checkpoint(r / arch / f"{fold}.pt").model.eval() for r in runs]


def _kd_trainer(members: list):
    """A ``run_fold`` trainer: plain KD from ``members``' mean prediction (``MOSQUITO_DISTILL``'s loss and learning
    rate, the fold's recipe otherwise: steps, validation interval, seed, augmentation)."""
    from dataclasses import replace

    from edgewise.compress.distill_mosquito import MOSQUITO_DISTILL, distill_plain_mosquito

    def train(cfg, tr, va, progress=None):
        # the fold's recipe (arch, steps, augmentation, p_short ...) at the distillation's learning rate
        config = replace(MOSQUITO_DISTILL, phase1=replace(cfg, lr=MOSQUITO_DISTILL.phase1.lr))
        t = time.time()
        student, log = distill_plain_mosquito(
            members, tr, va, config=config,
            progress=None if progress is None else (lambda desc, step, loss, score: progress(step, loss, score)))
        return student, {**log, "train_seconds": round(time.time() - t, 1), "teachers": len(members),
                         "distill": {"steps": config.phase1.steps, "lr": config.phase1.lr,
                                     "temperature": config.temperature, "hard_weight": config.hard_weight}}

    return train


def main(argv: list[str] | None = None) -> int:
    import torch

    from edgewise.data.mosquito import ClipLabel, read_recordings
    from edgewise.data.paths import default_dataset_dir
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.models.mosquito.api import decode_recordings
    from edgewise.models.mosquito.protocol import load_results, run_fold, save_results, summarise
    from edgewise.models.mosquito.sources import assignment_fingerprint, assignment_markdown, fixed_split, loso_folds
    from edgewise.models.mosquito.train import AUGMENT_SHARES, recipe

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_dataset_dir("mosquito"))
    ap.add_argument("--arch", nargs="+", choices=ARCHS, default=list(ARCHS))
    ap.add_argument("--folds", nargs="+", help="fold names to run (held-out positive sources, 'fixed'); default all")
    ap.add_argument("--steps", type=int, default=600, help="optimiser steps per fold (shipped recipe: 1500)")
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--max-fa", type=float, default=5.0, help="false alarms per hour allowed on validation sources")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--widths", type=int, nargs="+", metavar="W",
                    help="DS-CNN widths (stem, blocks...) instead of the recipe's 24 48 64 96 96, e.g. a wider "
                         "32 64 96 128 128; dscnn archs only")
    ap.add_argument("--p-short", type=float, default=None,
                    help="share of training windows cut to 0.05-1 s and tiled (TrainConfig.p_short; default: its default)")
    ap.add_argument("--p-decoy", type=float, default=None,
                    help="share of training windows replaced by a synthetic tone outside the mosquito pitch range, "
                         "labelled 0 (TrainConfig.p_decoy; default: the recipe's, 0.1 for dscnn-robust; 0 repeats runs before 2026-12-07)")
    ap.add_argument("--p-sweep", type=float, default=None,
                    help="share of training windows replaced by a synthetic tone sweeping through the mosquito pitch "
                         "range (siren-like), labelled 0 (TrainConfig.p_sweep; default: the recipe's, 0)")
    for flag in ("speed", "band", "codec"):
        ap.add_argument(f"--p-{flag}", type=float, default=None,
                        help=f"share of training windows given a random channel {flag} (TrainConfig.p_{flag}, "
                             "edgewise.data.audio_channel; default: the recipe's)")
    ap.add_argument("--ema", type=float, default=None,
                    help="decay of a moving average of the weights, scored and kept instead of the raw weights "
                         "(TrainConfig.ema; default: the recipe's, 0 = off)")
    ap.add_argument("--out", type=Path, default=Path("/tmp/edgewise-bench-mosquito-by-source"))
    ap.add_argument("--reuse", action="store_true", help="load fold checkpoints from --out instead of training")
    ap.add_argument("--tables-only", action="store_true", help="print tables from results saved in --out")
    ap.add_argument("--short-variants", action="store_true",
                    help="also score the short excerpts tiled without crossfade and zero-padded (saved fold models)")
    ap.add_argument("--ensemble", type=Path, nargs="+", metavar="RUN",
                    help="score the mean of these runs' fold models (their --out folders) instead of training")
    ap.add_argument("--distil-from", type=Path, nargs="+", metavar="RUN",
                    help="train each fold's model by plain KD from the mean of these runs' fold models")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.ensemble and args.distil_from:
        ap.error("--ensemble and --distil-from are two different models: run them with two --out folders")
    if args.widths and any(a == "humbug" for a in args.arch):
        ap.error("--widths sets a DS-CNN's widths: pass --arch dscnn or dscnn-robust")
    if args.ensemble and (args.short_variants or args.reuse):
        ap.error("--ensemble saves no fold models: --short-variants and --reuse need a trained run's --out")
    torch.set_num_threads(1)
    if args.data is None:
        print("no mosquito data (pass --data DIR): this benchmark only runs on real recordings", file=sys.stderr)
        return 2
    recs = read_recordings(args.data)
    folds = loso_folds(recs) + [fixed_split(recs)]
    if args.folds:
        unknown = set(args.folds) - {f.name for f in folds}
        if unknown:
            print(f"unknown folds {sorted(unknown)}; known: {[f.name for f in folds]}", file=sys.stderr)
            return 2
        folds = [f for f in folds if f.name in args.folds]
    out: dict[str, dict] = {}
    if not args.tables_only:
        kept, audio = decode_recordings([r for r in recs if r.label is not ClipLabel.UNKNOWN], sample_rate=8000)
        audio_by = {r.rel: y for r, y in zip(kept, audio)}
        print(f"folds {assignment_fingerprint(folds)}\n\n{assignment_markdown(recs, folds)}\n", file=sys.stderr)
    for arch in args.arch:
        res_path = args.out / arch / "results.json"
        if args.tables_only:
            results = [r for r in load_results(res_path) if r.fold.name in {f.name for f in folds}]
        else:
            extra = {k: getattr(args, k) for k in (*AUGMENT_SHARES, "ema") if getattr(args, k) is not None}
            if args.widths:
                extra["model_kwargs"] = {"widths": tuple(args.widths)}
            cfg = recipe(arch, steps=args.steps, eval_every=args.eval_every, seed=args.seed, **extra)
            results = []
            for fold in folds:
                ckpt_path = args.out / arch / f"{fold.name}.pt"
                ckpt = load_checkpoint(ckpt_path) if args.reuse and ckpt_path.is_file() else None
                model = ckpt.model if ckpt is not None else None
                trainer = None
                if args.ensemble:
                    from edgewise.models.ensemble.mean import MeanOfMembers

                    model = MeanOfMembers(_fold_members(args.ensemble, arch, fold.name))
                elif args.distil_from and model is None:
                    trainer = _kd_trainer(_fold_members(args.distil_from, arch, fold.name))
                t = time.time()
                score = "val -KL to the teachers" if args.distil_from else "val window AUC"

                def progress(step: int, loss: float, auc: float, arch: str = arch, fold: str = fold.name) -> None:
                    print(f"    {arch} {fold} step {step} loss {loss:.3f} {score} {auc:.3f}", file=sys.stderr, flush=True)

                model, r = run_fold(fold, recs, audio_by, cfg, max_false_alarms_per_hour=args.max_fa, seed=args.seed,
                                    model=model, progress=progress, trainer=trainer)
                if ckpt is not None:
                    r.training = dict(ckpt.training)
                elif args.ensemble:
                    r.training = {"ensemble": [str(p) for p in args.ensemble]}
                else:
                    save_checkpoint(ckpt_path, spec=cfg.spec, model=model, model_kwargs=dict(cfg.model_kwargs), training={
                        "threshold": r.threshold["threshold"], "seed": args.seed, "fold": fold.name, "test": fold.test,
                        "val": fold.val, "train": fold.train, "config": dict(cfg.__dict__), **r.training})
                results.append(r)
                print(f"  {arch} {fold.name}: {time.time() - t:.0f} s, threshold {r.threshold['threshold']}",
                      file=sys.stderr, flush=True)
            save_results(res_path, results)
        loso = [r for r in results if r.fold.name != "fixed"]
        fixed = [r for r in results if r.fold.name == "fixed"]
        out[arch] = {"loso": summarise(loso) if loso else None, "fixed": summarise(fixed) if fixed else None,
                     "steps": (results[0].training.get("steps") if results else None)}
        if args.short_variants and not args.tables_only:
            out[arch]["short_variants"] = _short_variants(recs, audio_by, folds, arch, args.out, args.seed)
    if args.json:
        print(json.dumps(out, default=float))
        return 0
    names = {"dscnn": "mosquito-dscnn (first recipe)", "dscnn-robust": "mosquito-dscnn-robust (window level removed, bands to 3.4 kHz)", "humbug": "mosquito-humbug-cnn (HumBug baseline, same loop)"}
    kind = (f", mean of {len(args.ensemble)} runs" if args.ensemble else
            f", plain KD from the mean of {len(args.distil_from)} runs" if args.distil_from else "")
    for arch, o in out.items():
        names[arch] += kind
        steps = "" if o["steps"] is None else f", {o['steps']} steps per fold"
        if args.widths:
            steps += f", widths {' '.join(map(str, args.widths))}"
        if o["loso"] is not None:
            print(_report(names[arch] + steps, o["loso"], o["fixed"]))
        elif o["fixed"] is not None:
            print(_report(names[arch] + steps, o["fixed"], None, title="fixed by-source split"))
        if "short_variants" in o:
            v = o["short_variants"]
            print(f"\nshort excerpts (LOSO fold models, {v['n'][0]} mosquito / {v['n'][1]} other): ROC-AUC "
                  + "; ".join(f"{k} {_f(a)}" for k, a in v.items() if k != "n"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
