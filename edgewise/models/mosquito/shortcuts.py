"""Does a mosquito detector read the recording instead of the sound? (issue 21 part 3, "no shortcuts")

The same clips are scored through the device runtime (``MosquitoDetector.detect``: resampling, front end,
model, as ``edgewise detect`` runs them) as they would arrive from other recorders:

- ``16k`` / ``44.1k``: the 8-kHz clip written at 16 or 44.1 kHz (polyphase upsampling), resampled back to
  8 kHz by the runtime: only the band edge near 4 kHz differs, where decode paths' anti-alias filters differ;
- ``-20 dB``: 20 dB quieter and quantised to int16, as a quiet recorder stores it;
- ``+20 dB``: 20 dB louder in float, without clipping (level alone);
- ``+20 dB clipped``: 20 dB louder and saturated at full scale, as an overdriven microphone records it (this one
  also changes the sound: clipping adds harmonics, so it is reported, not required to score alike).

Per variant: the clip-score change against the 8-kHz original (max, 90th percentile, median of |dp|) and the
clip ROC-AUC. A detector without these shortcuts keeps every clip's score and the ROC-AUC.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

__all__ = ["REFERENCE", "VARIANTS", "shortcut_scores", "shortcut_table"]


def _int16(y: np.ndarray) -> np.ndarray:
    return (np.round(np.clip(y, -1, 1) * 32767) / 32767).astype(np.float32)


def _at_rate(rate: int) -> Callable[[np.ndarray], tuple[np.ndarray, int]]:
    from edgewise.data.audio import resample

    return lambda y: (resample(y, 8000, rate), rate)


VARIANTS: dict[str, Callable[[np.ndarray], tuple[np.ndarray, int]]] = {
    "8k": lambda y: (y, 8000),
    "16k": _at_rate(16000),
    "44.1k": _at_rate(44100),
    "-20 dB": lambda y: (_int16(y * 0.1), 8000),
    "+20 dB": lambda y: (y * 10.0, 8000),
    "+20 dB clipped": lambda y: (np.clip(y * 10.0, -1, 1), 8000),
}


REFERENCE = "8k"  # the original clip every variant is compared with


def shortcut_scores(detector: Any, audio: list[np.ndarray], *,
                    variants: tuple[str, ...] = tuple(VARIANTS)) -> dict[str, np.ndarray]:
    """Clip scores float [n_clips] of 8-kHz clips under each variant, by variant name; the reference (``"8k"``,
    the clip as it is) is always scored. The score here is the highest window probability, not ``p_clip``: it is
    what decides an alarm, so a shortcut that moves it moves detections.

    Raises:
        ValueError: a variant name not in ``VARIANTS``.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    names = [REFERENCE] + [v for v in dict.fromkeys(variants) if v != REFERENCE]
    out = {v: np.zeros(len(audio)) for v in names}
    for i, y in enumerate(audio):
        for v in names:
            x, rate = VARIANTS[v](np.asarray(y, np.float32))
            res = detector.detect(x, rate, threshold=0.5)
            out[v][i] = max(w["p"] for w in res["windows"])
    return out


def shortcut_table(scores: dict[str, np.ndarray], mosquito: np.ndarray) -> list[dict]:
    """Per variant (the reference first): clip ROC-AUC and |dp| against the reference (the 8-kHz original)."""
    from sklearn.metrics import roc_auc_score

    if REFERENCE not in scores:
        raise ValueError(f"scores hold no {REFERENCE!r} reference to compare with (variants: {list(scores)})")
    ref = scores[REFERENCE]
    rows = []
    for v in [REFERENCE] + [k for k in scores if k != REFERENCE]:
        d = np.abs(scores[v] - ref)
        rows.append({"variant": v, "clip_roc_auc": float(roc_auc_score(mosquito, scores[v])),
                     "max_abs_dp": float(d.max()), "p90_abs_dp": float(np.quantile(d, 0.9)),
                     "median_abs_dp": float(np.median(d))})
    return rows
