"""A per-strip rhythm flag — sinus or atrial fibrillation/flutter — from the delineation (numpy only).

Two features of the beats (``edgewise.runtime.ecg.intervals``) carry the rhythm:

- ``p_fraction``: the share of beats that have a P wave. In atrial fibrillation and flutter there is no
  P wave; the delineation model, which sees the whole strip, learnt to call none there (LUDB annotates
  no P wave on those records), so this is where the model's knowledge of the rhythm shows;
- ``rr_irregularity``: the median absolute difference of successive RR intervals over the median RR
  (0 for a perfectly regular rhythm; AF is "irregularly irregular"; flutter with fixed conduction is
  regular, which is why the P waves matter more).

A logistic model on ``p_fraction`` and ``log(rr_irregularity + 0.02)`` gives the probability of AF or
flutter. Its coefficients (``RHYTHM_MODEL``) were fitted on the out-of-fold delineations of the 5-fold
cross-validation (each LUDB record delineated, all 12 leads, by the fold model that never saw it), by
``benchmarks/ecg_rhythm.py``, which also reports its own cross-validated accuracy. With fewer than
``MIN_BEATS`` beats the rhythm is ``"unknown"``.

Not a diagnosis: a flag that says whether the P-wave and PR figures of a strip are meaningful.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["MIN_BEATS", "RHYTHM_MODEL", "rhythm_features", "classify_rhythm"]

MIN_BEATS = 4

# Fitted by `python benchmarks/ecg_rhythm.py --cv DIR --fit` (see the module docstring); "fitted_on" names the data.
RHYTHM_MODEL: dict[str, Any] = {
    "intercept": 3.5273,
    "p_fraction": -4.5081,
    "log_rr_irregularity": 1.3535,
    "threshold": 0.5,
    "fitted_on": "out-of-fold delineations of LUDB (160 records, 1920 lead strips), 5-fold CV of the shipped recipe "
                 "(0.3: half-rate U-Net distilled from each fold's kernel-9 model)",
}
# Cross-validated by the same folds (benchmarks/ecg_rhythm.py, 2026-12-07): lead II AUROC 0.906, sensitivity
# 10/14 AF/flutter strips, specificity 146/146; all leads AUROC 0.961, 120/168 and 1721/1752 (0.2's kernel-9
# recipe: 0.976, 10/14, 146/146; 0.958, 121/168, 1720/1752). It misses what
# the model misses: flutter waves called P (LUDB 52) and AF with a paced, regular ventricular rhythm (LUDB 93).


def rhythm_features(beats: Sequence[Any]) -> dict[str, float] | None:
    """``{"p_fraction", "rr_irregularity", "n_beats"}`` of a beat list (``intervals.Beat`` objects or their
    dicts), or None with fewer than ``MIN_BEATS`` beats or fewer than 3 RR intervals."""
    def get(b: Any, key: str) -> Any:
        return b.get(key) if isinstance(b, dict) else getattr(b, key)

    if len(beats) < MIN_BEATS:
        return None
    rr = np.array([get(b, "rr_ms") for b in beats if get(b, "rr_ms")], dtype=np.float64)
    if rr.size < 3:
        return None
    has_p = np.array([get(b, "p_onset") is not None for b in beats])
    return {"p_fraction": float(has_p.mean()),
            "rr_irregularity": float(np.median(np.abs(np.diff(rr))) / np.median(rr)),
            "n_beats": int(len(beats))}


def _logit(features: dict[str, float], model: dict[str, Any]) -> float:
    return (float(model["intercept"]) + float(model["p_fraction"]) * features["p_fraction"]
            + float(model["log_rr_irregularity"]) * float(np.log(features["rr_irregularity"] + 0.02)))


def classify_rhythm(beats: Sequence[Any], model: dict[str, Any] = RHYTHM_MODEL) -> dict[str, Any]:
    """``{"rhythm": "sinus" | "af" | "unknown", "p_af": float | None, "features": {...} | None}``;
    ``"af"`` stands for atrial fibrillation or flutter."""
    f = rhythm_features(beats)
    if f is None or model.get("fitted_on") == "not fitted":
        return {"rhythm": "unknown", "p_af": None, "features": f}
    p = float(1.0 / (1.0 + np.exp(-_logit(f, model))))
    return {"rhythm": "af" if p >= float(model["threshold"]) else "sinus", "p_af": round(p, 4),
            "features": {k: round(v, 4) if isinstance(v, float) else v for k, v in f.items()}}
