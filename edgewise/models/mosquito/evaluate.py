"""Held-out evaluation and detection: per-window and per-clip ROC-AUC / PR-AUC, false alarms per hour.

Per window: windows of held-out recordings labelled under the weak-label policy of
``edgewise.data.mosquito`` (unlabelled windows of weak recordings are left out). Per clip: the clip
score is the mean of its top-3 window probabilities (``edgewise.runtime.mosquito.clip_score``, what
``edgewise detect`` reports as ``p_clip``), the truth is "mosquito present" (``mosquito`` and both weak
labels count as positive, ``unknown`` recordings are never scored). Clips shorter than one window are
tiled into it (``edgewise.models.mosquito.clips``); clips under 0.05 s are not scored, flagged
``too-short`` and left out of every figure (counted in ``n_clips_too_short``).

False alarms per hour: the events (``edgewise.runtime.events.merge_events`` with ``hysteresis_for``:
opens at the operating threshold, closes 0.2 below it, gaps < 1 s merged) raised on the negative clips'
windows (2 s, hop 1 s), summed over those clips, divided by their summed duration in hours (a clip's own
length, also when it was tiled). Recall at the threshold: the share of positive clips whose highest window
probability (``ClipResult.peak``) reaches the threshold (equivalently, that raise at least one event).
ROC-AUC and average precision (PR-AUC) come from scikit-learn.

By source (``metrics_by_source``), within one fold's held-out clips: a positive source's clips are ranked
against all of the fold's negative clips (its own negatives included); a negative-only source's clips
against the fold's positive clips; false alarms count the source's own negatives only.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from edgewise.data.mosquito import ClipLabel, Recording, WindowConfig, window_labels
from edgewise.models.mosquito.train import predict_logits
from edgewise.models.spec import ModelSpec
from edgewise.runtime.events import Event, merge_events, window_times
from edgewise.runtime.mosquito import (
    ClipTooShortError,
    MosquitoDetector,
    clip_score,
    detector_windows,
    hysteresis_for,
    mosquito_probability,
)

__all__ = ["ClipResult", "window_probabilities", "score_clips", "metrics_from_clips", "hysteresis_for",
           "rethreshold", "choose_threshold", "metrics_by_source", "false_alarm_offenders"]


@dataclass
class ClipResult:
    """Scores of one recording: window probabilities, labels (NaN = unlabelled), events.

    ``threshold`` is the operating threshold ``events`` were merged at; ``flags`` holds ``"tiled"`` (shorter
    than a window) or ``"too-short"`` (not scored: no windows, left out of the metrics).
    """

    name: str
    mosquito: bool
    duration_s: float
    p: np.ndarray
    times: np.ndarray
    labels: np.ndarray
    events: list[Event]
    source: str = ""
    threshold: float = float("nan")
    flags: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        """The clip's score, what clips are ranked by: the mean of its top-3 window probabilities (``clip_score``)."""
        return clip_score(self.p)

    @property
    def peak(self) -> float:
        """The highest window probability: the clip raises an event at a threshold it reaches."""
        return float(self.p.max()) if self.p.size else 0.0


def window_probabilities(model: torch.nn.Module | MosquitoDetector, spec: ModelSpec, y: np.ndarray, *,
                         hop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mosquito probability per window of ``y`` (mono float32 at ``spec.sample_rate``).

    ``model`` is a torch module, a device artifact (``edgewise.runtime.mosquito.MosquitoDetector``: scored by
    the runtime itself, exactly as on the device) or any callable mapping log-Mel features
    ``[n, 1, n_mels, frames]`` to logits ``[n, 2]``. Windows, front end, softmax and times are the runtime's
    (``edgewise.runtime.mosquito``) in every case: only the model call differs.

    Returns:
        ``p`` float ``[n_windows]`` and ``times`` float ``[n_windows, 2]`` (start, end seconds).

    Raises:
        ClipTooShortError: ``y`` is shorter than 0.05 s (``edgewise.runtime.mosquito.windows``); shorter than a
            window, ``y`` is tiled into one window.
    """
    if isinstance(model, MosquitoDetector):
        return model.window_probabilities(y, hop=hop)
    hop = spec.hop if hop is None else hop
    w, _ = detector_windows(y, spec.window, hop, sample_rate=spec.sample_rate)
    if isinstance(model, torch.nn.Module):
        logits = predict_logits(model, spec, w.x)
    else:  # a features -> logits callable
        from edgewise.models.mosquito.specs import frontend
        from edgewise.runtime.features.logmel import log_mel

        logits = model(log_mel(w.x, frontend(spec))[:, None])
    p, _ = mosquito_probability(logits)
    times = window_times(len(p), spec.window / spec.sample_rate, hop / spec.sample_rate,
                         duration_s=max(y.size, 1) / spec.sample_rate)
    return p, times


def score_clips(model: torch.nn.Module, spec: ModelSpec, recs: list[Recording], audio: list[np.ndarray], *,
                threshold: float = 0.5) -> list[ClipResult]:
    """Score held-out recordings (audio already at the model rate); too-short clips come back flagged, unscored."""
    wcfg = WindowConfig(sample_rate=spec.sample_rate, window_s=spec.window / spec.sample_rate,
                        hop_s=spec.hop / spec.sample_rate)
    out = []
    for r, y in zip(recs, audio):
        if r.label is ClipLabel.UNKNOWN:
            raise ValueError(f"{r.rel} is labelled 'unknown' and has no truth to score against; leave it out")
        dur = y.size / spec.sample_rate
        try:
            p, times = window_probabilities(model, spec, y)
        except ClipTooShortError:
            out.append(ClipResult(name=r.rel, mosquito=r.mosquito, duration_s=dur, p=np.zeros(0), times=np.zeros((0, 2)),
                                  labels=np.zeros(0), events=[], source=r.set_name, threshold=threshold,
                                  flags=("too-short",)))
            continue
        out.append(ClipResult(name=r.rel, mosquito=r.mosquito, duration_s=dur, p=p, times=times,
                              labels=window_labels(r, times[:, 0], wcfg),
                              events=merge_events(p, times, hysteresis_for(threshold)), source=r.set_name,
                              threshold=threshold, flags=("tiled",) if y.size < spec.window else ()))
    return out


def rethreshold(clips: list[ClipResult], threshold: float) -> list[ClipResult]:
    """The same clips with events merged again at another operating threshold."""
    cfg = hysteresis_for(threshold)
    return [replace(c, events=merge_events(c.p, c.times, cfg) if c.p.size else [], threshold=threshold) for c in clips]


def _auc_pair(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if y.size == 0 or len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def _false_alarms(clips: list[ClipResult]) -> tuple[int, float]:
    """Events on the negative clips and their hours of audio."""
    neg = [c for c in clips if not c.mosquito]
    return sum(len(c.events) for c in neg), sum(c.duration_s for c in neg) / 3600


def metrics_from_clips(clips: list[ClipResult], *, threshold: float | None = 0.5) -> dict[str, Any]:
    """ROC-AUC and PR-AUC per window and per clip; false alarms per hour of negative audio; clip recall.

    ``threshold=None``: recall uses each clip's own ``threshold`` (clips pooled over folds that each chose
    their operating threshold); false alarms always count the events the clips carry.
    """
    short = [c for c in clips if "too-short" in c.flags]
    clips = [c for c in clips if "too-short" not in c.flags]
    lab = np.concatenate([c.labels for c in clips]) if clips else np.zeros(0)
    p = np.concatenate([c.p for c in clips]) if clips else np.zeros(0)
    keep = np.isfinite(lab)
    w_roc, w_pr = _auc_pair(lab[keep].astype(int), p[keep])
    c_y = np.array([c.mosquito for c in clips], dtype=int)
    c_s = np.array([c.score for c in clips])
    c_roc, c_pr = _auc_pair(c_y, c_s)
    n_fa, neg_h = _false_alarms(clips)
    pos_clips = [c for c in clips if c.mosquito]
    hit = [c.peak >= (c.threshold if threshold is None else threshold) for c in pos_clips]
    return {
        "window_roc_auc": w_roc, "window_pr_auc": w_pr, "clip_roc_auc": c_roc, "clip_pr_auc": c_pr,
        "false_alarms_per_hour": n_fa / neg_h if neg_h > 0 else float("nan"), "false_alarms": n_fa,
        "negative_hours": round(neg_h, 4), "threshold": threshold,
        "clip_recall_at_threshold": float(np.mean(hit)) if hit else float("nan"),
        "n_clips": {"mosquito": int(c_y.sum()), "other": int((1 - c_y).sum())}, "n_clips_too_short": len(short),
        "n_windows": {"mosquito": int((lab[keep] == 1).sum()), "other": int((lab[keep] == 0).sum()),
                      "unlabelled": int((~keep).sum())},
    }


# Candidate operating thresholds: a 0.01 grid, then ever closer to 1 (confident false alarms need them).
THRESHOLD_GRID = tuple(np.round(np.arange(0.05, 0.995, 0.01), 2)) + (0.995, 0.999, 0.9995, 0.9999, 0.99999, 0.999999)


def choose_threshold(val_clips: list[ClipResult], *, max_false_alarms_per_hour: float = 5.0,
                     grid: tuple[float, ...] = THRESHOLD_GRID) -> dict[str, Any]:
    """The operating threshold: the lowest grid value from which up the validation negatives stay within budget.

    Scanning the grid downwards from its top, the threshold is lowered while the validation negatives raise
    at most ``max_false_alarms_per_hour`` events per hour of their audio, and stops at the first value that
    raises more. (Event counts are not monotone in the threshold: hysteresis closes 0.2 below it and close
    events merge, so a lower threshold can merge two alarms into one; the downward scan never jumps past
    such a dip to a lower threshold the budget only meets by accident.) When even the top fails, the top is
    returned with ``target_met`` False.

    Returns:
        ``{"threshold", "val_false_alarms_per_hour", "val_clip_recall", "target_met", "max_false_alarms_per_hour"}``.
    """
    clips = [c for c in val_clips if "too-short" not in c.flags]
    neg = [c for c in clips if not c.mosquito]
    pos = [c for c in clips if c.mosquito]
    hours = sum(c.duration_s for c in neg) / 3600
    if hours <= 0:
        raise ValueError("choosing a threshold needs validation clips without mosquitoes (negative audio)")
    peak = max((c.peak for c in neg), default=0.0)

    def rate(t: float) -> float:
        if t > peak:  # above every negative window: no event opens
            return 0.0
        return sum(len(merge_events(c.p, c.times, hysteresis_for(t))) for c in neg) / hours

    ts = sorted(grid, reverse=True)
    chosen, fa = ts[0], rate(ts[0])
    for t in ts[1:]:
        r = rate(t)
        if r > max_false_alarms_per_hour or fa > max_false_alarms_per_hour:
            break
        chosen, fa = t, r
    return {"threshold": float(chosen), "val_false_alarms_per_hour": float(fa),
            "val_clip_recall": float(np.mean([c.peak >= chosen for c in pos])) if pos else float("nan"),
            "target_met": bool(fa <= max_false_alarms_per_hour), "max_false_alarms_per_hour": max_false_alarms_per_hour}


def _source_row(own: list[ClipResult], others: list[ClipResult]) -> dict[str, Any]:
    pos = [c for c in own if c.mosquito]
    ranked = own + [c for c in others if c.mosquito != bool(pos)]  # the other class from the same fold
    m = metrics_from_clips(ranked, threshold=None)
    n_fa, hours = _false_alarms(own)
    hits = [c.peak >= c.threshold for c in pos]
    return {"clip_roc_auc": m["clip_roc_auc"], "clip_pr_auc": m["clip_pr_auc"],
            "clip_recall_at_threshold": float(np.mean(hits)) if hits else float("nan"),
            "false_alarms": n_fa, "negative_hours": hours,
            "false_alarms_per_hour": n_fa / hours if hours > 0 else float("nan"),
            "n_clips": {"mosquito": len(pos), "other": sum(not c.mosquito for c in own)},
            "n_ranked_against": m["n_clips"]["other" if pos else "mosquito"]}


def metrics_by_source(clips: list[ClipResult]) -> dict[str, dict[str, Any]]:
    """Per-source figures within ONE fold's held-out clips (rule in the module docstring), by source name.

    Each row: clip ROC-AUC and PR-AUC (ranked against the other class of the same fold), recall at each
    clip's threshold (positive sources), false alarms and their rate on the source's own negatives.
    """
    clips = [c for c in clips if "too-short" not in c.flags]
    out = {}
    for src in sorted({c.source for c in clips}):
        own = [c for c in clips if c.source == src]
        out[src] = _source_row(own, [c for c in clips if c.source != src])
    return out


def false_alarm_offenders(clips: list[ClipResult], *, top: int = 10) -> dict[str, list[dict[str, Any]]]:
    """Where the false alarms come from: negative sources by events, and the worst negative clips.

    Returns:
        ``{"by_source": [{source, false_alarms, hours, per_hour, clips_with_alarms, clips}],
        "by_clip": [{name, source, false_alarms, score, duration_s}]}``, worst first.
    """
    neg = [c for c in clips if not c.mosquito and "too-short" not in c.flags]
    by_src: dict[str, list[ClipResult]] = {}
    for c in neg:
        by_src.setdefault(c.source, []).append(c)
    rows = []
    for src, cs in by_src.items():
        n, h = _false_alarms(cs)
        rows.append({"source": src, "false_alarms": n, "hours": h, "per_hour": n / h if h > 0 else float("nan"),
                     "clips_with_alarms": sum(bool(c.events) for c in cs), "clips": len(cs)})
    rows.sort(key=lambda r: (-r["false_alarms"], r["source"]))
    worst = sorted(neg, key=lambda c: (-len(c.events), -c.score, c.name))[:top]
    return {"by_source": rows,
            "by_clip": [{"name": c.name, "source": c.source, "false_alarms": len(c.events), "score": c.score,
                         "duration_s": c.duration_s} for c in worst]}
