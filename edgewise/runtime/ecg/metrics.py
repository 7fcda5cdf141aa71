"""Delineation metrics (numpy only, so a device self-test can use them too).

Protocol after Moskalenko et al. (arXiv 2001.04689) and LUDB practice: each boundary type (P/QRS/T
onset and offset) is scored separately. True boundaries inside the lead's annotated span and predicted
all predicted boundaries are matched one-to-one, nearest first, within a tolerance (±150 ms);
matched pairs are true positives, unmatched truths false negatives, and unmatched predictions inside
the span false positives (outside it nothing was annotated, so nothing there can be called false). Sensitivity, PPV and F1 per boundary; a wave's F1 pools its onset and offset counts. Boundary
errors (prediction − truth, ms) give mean and SD; the SD is compared with the CSE tolerance 2·σ_CSE (the
tolerated SD of a delineator's errors: twice the SD among the CSE referee cardiologists; Martínez et al., IEEE
TBME 2004, and every LUDB delineation paper compare their SD with it, and so do issue 24's figures).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgewise.runtime.ecg.waves import WAVE_KINDS, Wave

BOUNDARIES: tuple[str, ...] = tuple(f"{k} {e}" for k in WAVE_KINDS for e in ("on", "off"))
# CSE working party: tolerance 2·σ_CSE for the SD of a delineator's boundary errors, ms (no T onset in the standard).
CSE_2SD_MS: dict[str, float] = {"P on": 10.2, "P off": 12.7, "QRS on": 6.5, "QRS off": 11.6, "T off": 30.6}

__all__ = ["BOUNDARIES", "CSE_2SD_MS", "BoundaryCounts", "DelineationScore", "match_boundaries", "score_waves"]


@dataclass
class BoundaryCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    errors: list[float] = field(default_factory=list)  # ms, prediction - truth

    def add(self, other: "BoundaryCounts") -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.errors.extend(other.errors)

    @property
    def se(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def ppv(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def f1(self) -> float:
        d = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / d if d else float("nan")

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.errors)) if self.errors else float("nan")

    @property
    def sd_ms(self) -> float:
        return float(np.std(self.errors)) if len(self.errors) > 1 else float("nan")


@dataclass
class DelineationScore:
    """Counts per boundary type, accumulated over leads/records."""

    counts: dict[str, BoundaryCounts] = field(default_factory=lambda: {b: BoundaryCounts() for b in BOUNDARIES})

    def add(self, other: "DelineationScore") -> None:
        for b in BOUNDARIES:
            self.counts[b].add(other.counts[b])

    def wave_f1(self, kind: str) -> float:
        on, off = self.counts[f"{kind} on"], self.counts[f"{kind} off"]
        tp, fp, fn = on.tp + off.tp, on.fp + off.fp, on.fn + off.fn
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")

    def table(self) -> list[dict]:
        """One row per boundary: se, ppv, f1, mean/sd error (ms), CSE tolerance (2·σ_CSE) and whether the SD is within it."""
        rows = []
        for b in BOUNDARIES:
            c = self.counts[b]
            tol = CSE_2SD_MS.get(b)
            rows.append({"boundary": b, "n_true": c.tp + c.fn, "se": c.se, "ppv": c.ppv, "f1": c.f1,
                         "mean_ms": c.mean_ms, "sd_ms": c.sd_ms, "cse_2sd_ms": tol,
                         "meets_cse": (c.sd_ms <= tol) if tol is not None and c.errors else None})
        return rows

    def summary(self) -> dict:
        return {"wave_f1": {k: self.wave_f1(k) for k in WAVE_KINDS}, "boundaries": self.table()}


def match_boundaries(true: np.ndarray, pred: np.ndarray, tol: float) -> tuple[list[tuple[int, int]], int, int]:
    """One-to-one nearest matching of two sorted 1-D sample arrays within ``tol`` samples.

    Returns:
        pairs (true, pred) matched, number of unmatched truths (FN), unmatched predictions (FP).
    """
    true, pred = np.asarray(true, dtype=np.int64), np.asarray(pred, dtype=np.int64)
    if true.size == 0 or pred.size == 0:
        return [], int(true.size), int(pred.size)
    d = np.abs(true[:, None] - pred[None, :])
    cand = np.argwhere(d <= tol)
    order = np.argsort(d[cand[:, 0], cand[:, 1]], kind="stable")
    used_t, used_p, pairs = set(), set(), []
    for i, j in cand[order]:
        if i not in used_t and j not in used_p:
            used_t.add(i)
            used_p.add(j)
            pairs.append((int(true[i]), int(pred[j])))
    return pairs, int(true.size - len(pairs)), int(pred.size - len(pairs))


def score_waves(true: list[Wave], pred: list[Wave], fs: float, *, span: tuple[int, int] | None = None,
                tol_ms: float = 150.0) -> DelineationScore:
    """Score predicted waves against true ones inside ``span`` (inclusive sample range).

    True boundaries count when inside the span. Predictions are matched wherever they lie (a
    prediction a few samples before the span's first annotated onset is a hit, not a miss), but an
    unmatched prediction is a false positive only inside the span, where annotators marked every wave.
    """
    score = DelineationScore()
    lo, hi = span if span is not None else (-np.inf, np.inf)
    tol = tol_ms * fs / 1000
    for kind in WAVE_KINDS:
        for end in ("on", "off"):
            get = (lambda w: w.onset) if end == "on" else (lambda w: w.offset)
            t = np.sort([get(w) for w in true if w.kind == kind and lo <= get(w) <= hi])
            p = np.sort([get(w) for w in pred if w.kind == kind])
            pairs, fn, _ = match_boundaries(t, p, tol)
            matched = {pj for _, pj in pairs}
            fp = sum(1 for v in p if lo <= v <= hi) - sum(1 for v in matched if lo <= v <= hi)
            c = score.counts[f"{kind} {end}"]
            c.tp, c.fn, c.fp = len(pairs), fn, fp
            c.errors = [(pj - ti) * 1000 / fs for ti, pj in pairs]
    return score
