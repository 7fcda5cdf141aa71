"""Held-out evaluation and detection: per-window and per-clip ROC-AUC / PR-AUC, false alarms per hour.

Per window: windows of held-out recordings labelled under the weak-label policy of
``edgewise.data.mosquito`` (unlabelled windows of weak recordings are left out). Per clip: the clip
score is the highest window probability, the truth is "mosquito present". False alarms: events
(``edgewise.runtime.events``, hysteresis) on negative recordings at the operating threshold, per hour of
negative audio. ROC-AUC and average precision (PR-AUC) come from scikit-learn.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from edgewise.data.audio import frame_windows
from edgewise.data.mosquito import Recording, WindowConfig, window_labels
from edgewise.models.mosquito.train import predict_logits
from edgewise.models.spec import ModelSpec
from edgewise.runtime.events import Event, HysteresisConfig, merge_events, window_times

__all__ = ["ClipResult", "window_probabilities", "score_clips", "metrics_from_clips", "hysteresis_for"]


@dataclass
class ClipResult:
    """Scores of one recording: window probabilities, labels (NaN = unlabelled), events."""

    name: str
    mosquito: bool
    duration_s: float
    p: np.ndarray
    times: np.ndarray
    labels: np.ndarray
    events: list[Event]

    @property
    def score(self) -> float:
        return float(self.p.max()) if self.p.size else 0.0


def hysteresis_for(threshold: float) -> HysteresisConfig:
    """The event merger used at an operating threshold (closes 0.2 below it; merges gaps < 1 s)."""
    return HysteresisConfig(on=threshold, off=max(0.0, threshold - 0.2), min_gap_s=1.0)


def window_probabilities(model: torch.nn.Module, spec: ModelSpec, y: np.ndarray, *,
                         hop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mosquito probability per window of ``y`` (mono float32 at ``spec.sample_rate``).

    ``model`` is a torch module, or for a device artifact any callable mapping log-Mel features
    ``[n, 1, n_mels, frames]`` to logits ``[n, 2]`` (only the model call differs; front end and events do not).

    Returns:
        ``p`` float ``[n_windows]`` and ``times`` float ``[n_windows, 2]`` (start, end seconds).
    """
    hop = spec.hop if hop is None else hop
    w = frame_windows(y, spec.window, hop)
    if isinstance(model, torch.nn.Module):
        logits = predict_logits(model, spec, w.x).astype(np.float64)
    else:  # a device artifact: features -> logits callable (edgewise.runtime model)
        from edgewise.models.mosquito.specs import frontend
        from edgewise.runtime.features.logmel import log_mel

        logits = np.asarray(model(log_mel(w.x, frontend(spec))[:, None]), dtype=np.float64)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z[:, 1]) / np.exp(z).sum(axis=1)
    times = window_times(len(p), spec.window / spec.sample_rate, hop / spec.sample_rate,
                         duration_s=max(y.size, 1) / spec.sample_rate)
    return p, times


def score_clips(model: torch.nn.Module, spec: ModelSpec, recs: list[Recording], audio: list[np.ndarray], *,
                threshold: float = 0.5) -> list[ClipResult]:
    """Score held-out recordings (audio already at the model rate)."""
    wcfg = WindowConfig(sample_rate=spec.sample_rate, window_s=spec.window / spec.sample_rate,
                        hop_s=spec.hop / spec.sample_rate)
    out = []
    for r, y in zip(recs, audio):
        p, times = window_probabilities(model, spec, y)
        out.append(ClipResult(name=r.rel, mosquito=r.mosquito, duration_s=y.size / spec.sample_rate, p=p, times=times,
                              labels=window_labels(r, times[:, 0], wcfg),
                              events=merge_events(p, times, hysteresis_for(threshold))))
    return out


def _auc_pair(y: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    if y.size == 0 or len(np.unique(y)) < 2:
        return float("nan"), float("nan")
    return float(roc_auc_score(y, s)), float(average_precision_score(y, s))


def metrics_from_clips(clips: list[ClipResult], *, threshold: float = 0.5) -> dict[str, Any]:
    """ROC-AUC and PR-AUC per window and per clip; false alarms per hour of negative audio."""
    lab = np.concatenate([c.labels for c in clips]) if clips else np.zeros(0)
    p = np.concatenate([c.p for c in clips]) if clips else np.zeros(0)
    keep = np.isfinite(lab)
    w_roc, w_pr = _auc_pair(lab[keep].astype(int), p[keep])
    c_y = np.array([c.mosquito for c in clips], dtype=int)
    c_s = np.array([c.score for c in clips])
    c_roc, c_pr = _auc_pair(c_y, c_s)
    neg = [c for c in clips if not c.mosquito]
    neg_h = sum(c.duration_s for c in neg) / 3600
    n_fa = sum(len(c.events) for c in neg)
    pos_clips = [c for c in clips if c.mosquito]
    return {
        "window_roc_auc": w_roc, "window_pr_auc": w_pr, "clip_roc_auc": c_roc, "clip_pr_auc": c_pr,
        "false_alarms_per_hour": n_fa / neg_h if neg_h > 0 else float("nan"), "false_alarms": n_fa,
        "negative_hours": round(neg_h, 4), "threshold": threshold,
        "clip_recall_at_threshold": float(np.mean([c.score >= threshold for c in pos_clips])) if pos_clips else float("nan"),
        "n_clips": {"mosquito": int(c_y.sum()), "other": int((1 - c_y).sum())},
        "n_windows": {"mosquito": int((lab[keep] == 1).sum()), "other": int((lab[keep] == 0).sum()),
                      "unlabelled": int((~keep).sum())},
    }
