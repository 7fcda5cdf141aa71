"""Per-sample class probabilities -> waves with onset/offset (numpy only; runs on the device).

Steps: argmax; fill background gaps shorter than ``min_gap_ms`` inside a wave (Moskalenko et al. fill
gaps shorter than 10 samples at 500 Hz); drop waves shorter than a plausible minimum duration; and,
where the rhythm allows, enforce P–QRS–T order: a T wave needs a QRS before it, a P wave needs a QRS
after it (within physiological intervals). Complete heart block (P waves without QRS) is kept when P
waves come at a regular rate of their own, so the order rule never erases a real rhythm. In atrial
flutter or fibrillation, what looks like P waves are flutter/fibrillation waves, which annotators do
not mark as P: they are dropped (``enforce_rhythm``).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from edgewise.runtime.ecg.waves import Wave, mask_to_waves

__all__ = ["PostprocessConfig", "post_config", "probabilities_to_waves", "clean_mask", "clean_waves", "label_runs"]


@dataclass(frozen=True)
class PostprocessConfig:
    """Durations in milliseconds."""

    min_gap_ms: float = 20.0
    min_duration_ms: tuple[tuple[str, float], ...] = (("P", 30.0), ("QRS", 30.0), ("T", 50.0))
    enforce_order: bool = True
    enforce_rhythm: bool = True       # drop "P waves" in atrial flutter/fibrillation
    # fibrillation = an irregular rhythm whose "P waves" do not look alike. Both thresholds are
    # percentiles of the shipped model's training records in sinus rhythm (lead II annotations):
    # P-wave consistency (median pairwise correlation of their first 100 ms) 1st percentile 0.28,
    # RR coefficient of variation 90th percentile 0.086.
    min_p_consistency: float = 0.28
    max_sinus_rr_cv: float = 0.086
    max_pr_ms: float = 400.0          # P onset to next QRS onset
    max_qt_ms: float = 700.0          # QRS onset to T offset
    # The P-logit offset a calibrated model carries in its head (``edgewise.models.ecg.calibrate``): it finds
    # faint P waves but draws every P wave wider than the annotators do. With it given here, P waves are still
    # found (and judged by the rules) on the calibrated scores, and then each one's edges are drawn where P
    # wins without the offset (inside the wave; kept when that core is shorter than P's minimum duration).
    # <= 0: edges as found (a head biased against P draws no wave narrower). Artifacts name it in their metadata
    # (``post_config``).
    p_edge_offset: float = 0.0

    def __post_init__(self) -> None:
        if self.min_gap_ms < 0:
            raise ValueError(f"min_gap_ms must be >= 0, got {self.min_gap_ms}")
        if not -100 < self.p_edge_offset < 100:
            raise ValueError(f"p_edge_offset must be in (-100, 100) (a logit offset), got {self.p_edge_offset}")


def post_config(meta: dict | None) -> PostprocessConfig:
    """The post-processing a model asks for: ``meta["postprocess"]`` of an artifact's metadata or a
    checkpoint's training facts (``p_edge_offset``); the defaults when it names none."""
    post = (meta or {}).get("postprocess") or {}
    if not isinstance(post, dict):
        raise ValueError(f"'postprocess' must be a dict, got {type(post).__name__}")
    return PostprocessConfig(p_edge_offset=float(post.get("p_edge_offset", 0.0)))


def label_runs(mask: np.ndarray, max_gap: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of an int [n] mask after gap filling, without building the filled mask: int arrays (starts,
    lengths, labels) of every run, background included, in time order (``np.repeat(labels, lengths)`` is
    ``clean_mask``'s output). Background runs shorter than ``max_gap`` between two runs of the same wave
    class take that class and merge with both neighbours."""
    mask = np.asarray(mask)
    if mask.size == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), mask[:0]
    # bounds: run starts plus the end (array methods and slices: numpy's function wrappers cost more than the
    # work on a few dozen runs)
    bounds = np.concatenate([[0], (mask[1:] != mask[:-1]).nonzero()[0] + 1, [mask.size]])
    starts, lengths = bounds[:-1], bounds[1:] - bounds[:-1]
    values = mask[starts]
    if max_gap <= 0 or starts.size < 3:
        return starts, lengths, values
    # a background run between two runs of the same wave class; runs alternate in value, so a filled run's
    # neighbours are never themselves filled and every run can be decided at once
    fill = ((values[1:-1] == 0) & (lengths[1:-1] < max_gap) & (values[:-2] == values[2:]) & (values[:-2] != 0))
    if not fill.any():
        return starts, lengths, values
    values[1:-1][fill] = values[:-2][fill]
    first = np.concatenate([[True], values[1:] != values[:-1]])  # a filled run and its neighbours become one
    bounds = np.concatenate([starts[first], [mask.size]])
    return bounds[:-1], bounds[1:] - bounds[:-1], values[first]


def clean_mask(mask: np.ndarray, fs: float, config: PostprocessConfig = PostprocessConfig()) -> np.ndarray:
    """Fill short background gaps between two runs of the same wave class (``label_runs``)."""
    mask = np.asarray(mask).copy()
    max_gap = int(round(config.min_gap_ms * fs / 1000))
    if max_gap <= 0 or mask.size == 0:
        return mask
    starts, lengths, values = label_runs(mask, max_gap)
    return np.repeat(values, lengths)


def p_wave_consistency(signal: np.ndarray, p_waves: list[Wave], fs: float, length_ms: float = 100.0) -> float:
    """Median pairwise correlation of the first ``length_ms`` of each P wave (NaN for fewer than 3).

    P waves of one atrial rhythm look alike beat after beat; fibrillation waves that a model mistakes
    for P waves do not.
    """
    n = int(round(length_ms * fs / 1000))
    segs = [signal[w.onset : w.onset + n] for w in p_waves if w.onset + n <= len(signal)]
    if len(segs) < 3:
        return float("nan")
    a = np.asarray(segs, dtype=np.float64)
    a -= a.mean(axis=1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-12
    c = a @ a.T
    return float(np.median(c[np.triu_indices(len(a), 1)]))


def clean_waves(waves: list[Wave], fs: float, config: PostprocessConfig = PostprocessConfig(),
                n: int | None = None, signal: np.ndarray | None = None) -> list[Wave]:
    """Drop implausibly short waves and, where the rhythm allows, waves out of P–QRS–T order.

    With the single-lead ``signal`` (at ``fs``), in an irregular rhythm (RR coefficient of variation
    above ``max_sinus_rr_cv``) P waves that do not look alike beat to beat (``p_wave_consistency``
    below ``min_p_consistency``) are taken for fibrillation waves and dropped.

    Waves touching the signal's ends (sample 0 or ``n - 1``) are partial; they are dropped, since their
    cut boundary is not a real onset/offset.
    """
    min_dur = dict(config.min_duration_ms)
    out = [w for w in waves if (w.offset - w.onset + 1) * 1000 / fs >= min_dur.get(w.kind, 0.0)]
    if n is not None:
        out = [w for w in out if w.onset > 0 and w.offset < n - 1]
    if not config.enforce_order:
        return out
    qrs_on = np.array([w.onset for w in out if w.kind == "QRS"])
    if qrs_on.size == 0:
        return [w for w in out if w.kind == "QRS"] if out else out
    max_pr = config.max_pr_ms * fs / 1000
    max_qt = config.max_qt_ms * fs / 1000
    p_waves = [w for w in out if w.kind == "P"]
    fibrillation = (signal is not None and qrs_on.size >= 4 and _rr_cv_above(qrs_on, config.max_sinus_rr_cv)
                    and p_wave_consistency(signal, p_waves, fs) < config.min_p_consistency)
    if config.enforce_rhythm and (fibrillation or _atrial_fibrillation_or_flutter(p_waves, qrs_on, fs, max_pr)):
        out = [w for w in out if w.kind != "P"]
        p_waves = []
    keep_all_p = len(p_waves) >= 1.3 * qrs_on.size and _p_regular(p_waves, fs)  # dissociated P (AV block)
    kept = []
    for w in out:
        if w.kind == "T":
            prev = qrs_on[qrs_on < w.onset]
            if prev.size == 0 or w.offset - prev[-1] > max_qt:
                if w.onset > max_qt:  # near the start, the QRS may lie before the signal
                    continue
        elif w.kind == "P" and not keep_all_p:
            nxt = qrs_on[qrs_on > w.offset]
            if nxt.size == 0 or nxt[0] - w.onset > max_pr:
                if n is None or n - w.onset > max_pr:  # near the end, the QRS may lie after the signal
                    continue
        kept.append(w)
    return kept


def _rr_cv_above(qrs_on: np.ndarray, limit: float) -> bool:
    """``np.std(rr) / np.mean(rr) > limit`` for the RR intervals between int QRS onsets (two or more).

    Decided in Python floats when the answer is clear: the mean is exact either way (a sum of ints), and
    ``math.fsum`` of the squared deviations is within ~1e-15 (relative) of numpy's pairwise sum, so only a
    value within 1e-9 of ``limit`` is left to numpy itself. numpy's calls cost ~20 us on a dozen values.
    """
    rr = np.diff(qrs_on).tolist()
    mean = sum(rr) / len(rr)
    cv = math.sqrt(math.fsum((r - mean) * (r - mean) for r in rr) / len(rr)) / mean
    if abs(cv - limit) > 1e-9 * abs(limit):
        return cv > limit
    return bool(np.std(rr) / np.mean(rr) > limit)


def _atrial_fibrillation_or_flutter(p_waves: list[Wave], qrs_on: np.ndarray, fs: float, max_pr: float) -> bool:
    """True when the "P waves" are flutter/fibrillation waves, which LUDB (and clinicians) do not call P waves.

    Flutter: atrial activity faster than 200/min (median P-P interval < 300 ms). Fibrillation: an
    irregular ventricular rhythm (RR coefficient of variation > 0.15) in which fewer than half the
    QRS complexes have a P wave before them at a consistent PR interval.
    """
    # statistics.median of ints equals np.median (a middle pair's sum is exact in float64, then halved),
    # without numpy's per-call overhead on a dozen values
    if len(p_waves) >= 4 and statistics.median([b.onset - a.onset for a, b in zip(p_waves, p_waves[1:])]) < 0.3 * fs:
        return True
    if qrs_on.size < 5:
        return False
    if not _rr_cv_above(qrs_on, 0.15):
        return False
    pr = _pr_intervals(np.array([w.onset for w in p_waves]), qrs_on[1:], max_pr)
    consistent = pr.size >= 0.5 * (qrs_on.size - 1) and (pr.size < 2 or np.std(pr) <= 0.05 * fs)
    return not consistent


def _pr_intervals(p_on: np.ndarray, qrs_on: np.ndarray, max_pr: float) -> np.ndarray:
    """For each QRS onset with a P onset before it within ``max_pr``: the interval to the last such P onset
    (in ``p_on``'s order), as one [qrs, p] comparison instead of a numpy call per QRS."""
    if p_on.size == 0:
        return np.zeros(0, np.int64)
    ok = (p_on < qrs_on[:, None]) & (qrs_on[:, None] - p_on <= max_pr)  # [qrs, p]
    has = ok.any(axis=1)
    last = p_on.size - 1 - np.argmax(ok[:, ::-1], axis=1)  # index of the last True in each row
    return qrs_on[has] - p_on[last[has]]


def _p_regular(p_waves: list[Wave], fs: float) -> bool:
    if len(p_waves) < 4:
        return False
    pp = np.diff([w.onset for w in p_waves]) / fs
    return bool(np.std(pp) < 0.1 * np.mean(pp))


def probabilities_to_waves(probs: np.ndarray, fs: float, config: PostprocessConfig = PostprocessConfig(),
                           signal: np.ndarray | None = None) -> list[Wave]:
    """float [4, n] per-sample class probabilities (or logits) -> cleaned waves in time order.

    ``signal``: the single-lead input at ``fs`` (optional), for the P-wave consistency rule.
    """
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[0] != 4:
        raise ValueError(f"expected [4, samples] class scores, got shape {probs.shape}")
    if config.p_edge_offset > 0:
        raise ValueError("probabilities_to_waves draws P waves as found; P edges without the P offset are drawn by "
                         "the stream engine (edgewise.runtime.ecg.delineate)")
    mask = clean_mask(np.argmax(probs, axis=0), fs, config)
    return clean_waves(mask_to_waves(mask), fs, config, n=probs.shape[1], signal=signal)
