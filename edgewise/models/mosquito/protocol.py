"""The by-source protocol (issue 21): the one every mosquito model choice is made on.

For each fold of ``edgewise.models.mosquito.sources`` (leave-one-source-out, and the fixed split):

1. train the recipe with the existing trainer (``train.train_model``) on windows of the fold's *training*
   sources only;
   early stopping and temperature scaling use windows of its *validation* sources;
2. choose the operating threshold on the validation sources' clips: the lowest threshold from which up
   their negatives raise at most ``max_false_alarms_per_hour`` events per hour of their audio
   (``evaluate.choose_threshold``), so nothing about the held-out sources steers it;
3. score every clip of the *test* sources (``evaluate.score_clips``: per-clip score = mean of the top-3
   window probabilities, ``edgewise.runtime.mosquito.clip_score``; clips shorter than a window tiled; under
   0.05 s flagged and left out) and merge events at that threshold;
4. cut 0.1-0.5 s excerpts from the test sources (``clips.cut_short_clips``) and score them the same way.

``summarise`` then gives, per held-out source and pooled over folds, per-clip ROC-AUC and PR-AUC, recall
at each fold's threshold and false alarms per hour of negative audio (definitions in
``edgewise.models.mosquito.evaluate``), the short-clip ROC-AUC, and where the false alarms come from.
Pooled figures rank clips scored by different fold models together (pooled cross-validation).
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.data.mosquito import Recording, WindowConfig
from edgewise.models.mosquito.clips import cut_short_clips
from edgewise.models.mosquito.evaluate import (
    ClipResult, _auc_pair, choose_threshold, false_alarm_offenders, metrics_by_source, metrics_from_clips, rethreshold,
    score_clips, window_probabilities,
)
from edgewise.models.mosquito.sources import Fold
from edgewise.models.mosquito.train import TrainConfig, build_window_set, train_model
from edgewise.runtime.events import Event
from edgewise.runtime.mosquito import clip_score

__all__ = ["FoldResult", "run_fold", "summarise", "save_results", "load_results", "pooled_sweep", "SHORT_CLIP_S",
           "SWEEP"]

SHORT_CLIP_S = (0.1, 0.5)


@dataclass
class FoldResult:
    """One fold of one recipe: its threshold, training log, held-out clip scores and short-clip scores.

    Attributes:
        fold: the sources it trained, validated and tested on.
        arch: the recipe's architecture (``TrainConfig.arch``).
        threshold: ``evaluate.choose_threshold`` output on the validation sources.
        training: ``train.train_model`` log (steps, best step, temperature, seconds, windows).
        clips: held-out test clips, events at ``threshold["threshold"]``.
        short: one dict per excerpt: ``name, source, mosquito, score`` (clip score), ``peak`` (highest window: detected
            at a threshold it reaches; results saved before 2026-12-07 have none, their one window's score is it).
        seconds: wall time of ``train`` and ``score`` (validation + test + excerpts).
    """

    fold: Fold
    arch: str
    threshold: dict[str, Any]
    training: dict[str, Any]
    clips: list[ClipResult]
    short: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)


def _part(recs: list[Recording], audio: dict[str, np.ndarray], fold: Fold, part: str) -> tuple[list, list]:
    kept = [r for r in fold.split(recs)[part] if r.rel in audio]
    return kept, [audio[r.rel] for r in kept]


def run_fold(fold: Fold, recs: list[Recording], audio: dict[str, np.ndarray], cfg: TrainConfig, *,
             max_false_alarms_per_hour: float = 5.0, seed: int = 0, model: Any = None,
             progress: Callable[[int, float, float], None] | None = None,
             trainer: Callable[..., tuple[Any, dict[str, Any]]] | None = None) -> tuple[Any, FoldResult]:
    """Train (unless ``model`` is given) on the fold's training sources, threshold on validation, score test.

    Args:
        fold: which sources train, validate and test.
        recs: all recordings; ``audio`` maps ``Recording.rel`` to samples at the model rate (undecodable ones absent).
        cfg: the recipe.
        max_false_alarms_per_hour: the validation false-alarm budget that sets the operating threshold.
        seed: seeds the short excerpts.
        model: an already trained model for this fold (skips training; its ``training`` log is then empty).
        trainer: trains the fold's model instead of the recipe's ``train.train_model``, called as
            ``trainer(cfg, train_windows, val_windows, progress=progress)`` -> ``(model, log)`` (e.g. a student
            distilled from this fold's ensemble: the windows, threshold and scoring stay the protocol's).

    Returns:
        ``(model, FoldResult)``.
    """
    spec = cfg.spec
    train, val, test = (_part(recs, audio, fold, p) for p in ("train", "val", "test"))
    t0 = time.time()
    log: dict[str, Any] = {}
    if model is None:
        win = spec.window / spec.sample_rate
        tr = build_window_set(*train, WindowConfig(sample_rate=spec.sample_rate, window_s=win, hop_s=cfg.train_hop_s))
        va = build_window_set(*val, WindowConfig(sample_rate=spec.sample_rate, window_s=win,
                                                 hop_s=spec.hop / spec.sample_rate))
        model, log = (trainer or train_model)(cfg, tr, va, progress=progress)
    t1 = time.time()
    thr = choose_threshold(score_clips(model, spec, *val), max_false_alarms_per_hour=max_false_alarms_per_hour)
    clips = score_clips(model, spec, *test, threshold=thr["threshold"])
    short = []
    for c in cut_short_clips(*test, sample_rate=spec.sample_rate, length_s=SHORT_CLIP_S, seed=seed):
        p, _ = window_probabilities(model, spec, c.samples)  # one tiled window: score and peak are equal
        short.append({"name": c.name, "source": c.source, "mosquito": c.mosquito, "score": clip_score(p),
                      "peak": float(p.max()), "seconds": c.samples.size / spec.sample_rate})
    seconds = {"train": round(t1 - t0, 1), "score": round(time.time() - t1, 1)}
    return model, FoldResult(fold=fold, arch=cfg.arch, threshold=thr, training=log, clips=clips, short=short,
                             seconds=seconds)


def _nanmean(x: list[float]) -> float:
    x = [v for v in x if v == v]
    return float(np.mean(x)) if x else float("nan")


SWEEP = (0.5, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99, 0.995, 0.999)


def pooled_sweep(clips: list[ClipResult], thresholds: tuple[float, ...] = SWEEP) -> list[dict[str, float]]:
    """Clip recall and false alarms per hour of all ``clips`` at each of one set of common ``thresholds``.

    The curve a single threshold can reach over the pooled folds. It is read on the test clips, so it describes
    the models and is not a protocol figure (the protocol's threshold is chosen per fold on validation sources).
    """
    out = []
    for t in thresholds:
        m = metrics_from_clips(rethreshold(clips, t), threshold=t)
        out.append({"threshold": t, "clip_recall": m["clip_recall_at_threshold"],
                    "false_alarms_per_hour": m["false_alarms_per_hour"]})
    return out


def summarise(results: list[FoldResult]) -> dict[str, Any]:
    """Per-source rows, pooled figures, the leave-one-source-out mean and minimum, short clips, offenders.

    Returns:
        ``{"per_source": [row], "pooled", "pooled_at_0.5", "pooled_sweep", "loso": {mean, min, worst, per_source},
        "short": {pooled, per_fold}, "offenders", "folds": [{name, threshold, seconds, ...}]}``.
    """
    rows, pooled_clips, short = [], [], []
    for r in results:
        for src, m in metrics_by_source(r.clips).items():
            rows.append({"fold": r.fold.name, "source": src, "positive": m["n_clips"]["mosquito"] > 0,
                         "threshold": r.threshold["threshold"], **m})
        pooled_clips += r.clips
        short += [{**s, "fold": r.fold.name} for s in r.short]
    held = [row for row in rows if row["positive"] and row["source"] == row["fold"]]
    aucs = {row["source"]: row["clip_roc_auc"] for row in held}
    finite = {k: v for k, v in aucs.items() if v == v}
    s_y = np.array([s["mosquito"] for s in short], dtype=int)
    s_s = np.array([s["score"] for s in short])
    s_roc, s_pr = _auc_pair(s_y, s_s)
    per_fold_short = {}
    for r in results:
        y = np.array([s["mosquito"] for s in r.short], dtype=int)
        sc = np.array([s["score"] for s in r.short])
        hit = [s.get("peak", s["score"]) >= r.threshold["threshold"] for s in r.short if s["mosquito"]]
        per_fold_short[r.fold.name] = {"roc_auc": _auc_pair(y, sc)[0], "n_mosquito": int(y.sum()),
                                       "n_other": int((1 - y).sum()), "recall_at_threshold": _nanmean(hit)}
    return {
        "per_source": rows,
        "pooled": metrics_from_clips(pooled_clips, threshold=None),
        "pooled_at_0.5": metrics_from_clips(rethreshold(pooled_clips, 0.5), threshold=0.5),
        "pooled_sweep": pooled_sweep(pooled_clips),
        "loso": {"mean_clip_roc_auc": _nanmean(list(aucs.values())),
                 "min_clip_roc_auc": min(finite.values()) if finite else float("nan"),
                 "worst_source": min(finite, key=finite.get) if finite else None, "per_source": aucs},
        "short": {"roc_auc": s_roc, "pr_auc": s_pr, "n_mosquito": int(s_y.sum()), "n_other": int((1 - s_y).sum()),
                  "length_s": list(SHORT_CLIP_S), "per_fold": per_fold_short},
        "offenders": false_alarm_offenders(pooled_clips),
        "folds": [{"name": r.fold.name, "test": list(r.fold.test), "val": list(r.fold.val), **r.threshold,
                   "seconds": r.seconds, "train_seconds": r.training.get("train_seconds"),
                   "best_step": r.training.get("best_step"),
                   "val_window_roc_auc": r.training.get("val_window_roc_auc"),
                   "train_windows": r.training.get("train_windows"),
                   "too_short": [c.name for c in r.clips if "too-short" in c.flags]} for r in results],
    }


def _clip_json(c: ClipResult) -> dict[str, Any]:
    return {"name": c.name, "source": c.source, "mosquito": c.mosquito, "duration_s": c.duration_s,
            "p": c.p.tolist(), "times": np.round(c.times, 4).tolist(),
            "labels": [None if v != v else float(v) for v in c.labels], "threshold": c.threshold, "flags": list(c.flags),
            "events": [[e.start_s, e.end_s, e.p] for e in c.events]}


def save_results(path: str | Path, results: list[FoldResult]) -> Path:
    """Write fold results (every clip's window probabilities included) as JSON, to re-tabulate without training."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    blob = [{"fold": asdict(r.fold), "arch": r.arch, "threshold": r.threshold, "training": r.training,
             "seconds": r.seconds, "short": r.short, "clips": [_clip_json(c) for c in r.clips]} for r in results]
    path.write_text(json.dumps(blob, default=float))
    return path


def load_results(path: str | Path) -> list[FoldResult]:
    """Read what ``save_results`` wrote."""
    out = []
    for b in json.loads(Path(path).read_text()):
        f = b["fold"]
        clips = [ClipResult(name=c["name"], mosquito=c["mosquito"], duration_s=c["duration_s"], p=np.array(c["p"], float),
                            times=np.array(c["times"], float).reshape(-1, 2),
                            labels=np.array([np.nan if v is None else v for v in c["labels"]], float),
                            events=[Event(*e) for e in c["events"]], source=c["source"], threshold=c["threshold"],
                            flags=tuple(c["flags"])) for c in b["clips"]]
        out.append(FoldResult(fold=Fold(name=f["name"], test=tuple(f["test"]), val=tuple(f["val"]), train=tuple(f["train"])),
                              arch=b["arch"], threshold=b["threshold"], training=b["training"], clips=clips,
                              short=b["short"], seconds=b["seconds"]))
    return out
