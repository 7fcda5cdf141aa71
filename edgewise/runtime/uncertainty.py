"""Uncertainty of a multi-head (Hydra) or ensemble prediction, per sample, in numpy.

Given the M heads' class probabilities p_m (Depeweg et al. 2018; Tran et al., "Hydra"):

- total     = H[mean_m p_m]          entropy of the averaged prediction
- aleatoric = mean_m H[p_m]          what every head finds ambiguous (noise, boundaries between waves)
- epistemic = total - aleatoric      mutual information between the prediction and the head: the heads'
                                     disagreement, large on inputs unlike the training data

Entropies are in nats (natural log). A one-head model has epistemic 0 everywhere.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.runtime.errors import ArtifactError, InputError

__all__ = ["Uncertainty", "decompose", "softmax", "mean_probabilities", "uncertainty_threshold"]

_TINY = 1e-12


@dataclass(frozen=True)
class Uncertainty:
    """Per-sample total/aleatoric/epistemic entropies (nats), each shaped like the input without its head
    and class axes."""

    total: np.ndarray
    aleatoric: np.ndarray
    epistemic: np.ndarray

    def means(self) -> dict[str, float]:
        """Means over all samples: ``{"total": ..., "aleatoric": ..., "epistemic": ...}``."""
        return {k: float(np.mean(getattr(self, k))) for k in ("total", "aleatoric", "epistemic")}


def softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    """Numerically stable softmax along ``axis`` (float64 inside, float32 out)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=axis, keepdims=True)).astype(np.float32)


def _check(probs: np.ndarray, head_axis: int, class_axis: int) -> np.ndarray:
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim < 2:
        raise InputError(f"expected probabilities with a head and a class axis, got shape {p.shape}")
    h, c = head_axis % p.ndim, class_axis % p.ndim
    if h == c:
        raise InputError(f"head_axis and class_axis must differ, both are {h} for shape {p.shape}")
    if not np.all(np.isfinite(p)) or p.min() < -1e-6:
        raise InputError("probabilities must be finite and >= 0; pass softmax(logits, axis=class_axis)")
    sums = p.sum(axis=c)
    if not np.allclose(sums, 1.0, atol=1e-3):
        raise InputError(f"probabilities must sum to 1 over the class axis {c}; sums range "
                         f"{sums.min():.4f}..{sums.max():.4f} (logits? use softmax first)")
    return np.moveaxis(p, (h, c), (0, 1))


def mean_probabilities(probs: np.ndarray, *, head_axis: int = 0, class_axis: int = 1) -> np.ndarray:
    """The heads' averaged prediction, class axis first: float32 [classes, ...]."""
    return _check(probs, head_axis, class_axis).mean(axis=0).astype(np.float32)


def decompose(probs: np.ndarray, *, head_axis: int = 0, class_axis: int = 1) -> Uncertainty:
    """Total, aleatoric and epistemic uncertainty of probabilities with a head and a class axis.

    Args:
        probs: float [heads, classes, ...] by default (e.g. [M, 4, samples] for an ECG strip, or
            [batch, M, 4, samples] with ``head_axis=1, class_axis=2``); each head's probabilities sum to 1.
    Returns:
        ``Uncertainty`` whose arrays have the remaining axes (e.g. [samples]).
    """
    p = _check(probs, head_axis, class_axis)
    mean = p.mean(axis=0)
    total = -(mean * np.log(mean + _TINY)).sum(axis=0)
    aleatoric = -(p * np.log(p + _TINY)).sum(axis=1).mean(axis=0)
    epistemic = np.maximum(total - aleatoric, 0.0)  # >= 0 by Jensen; clip float rounding
    return Uncertainty(total.astype(np.float32), aleatoric.astype(np.float32), epistemic.astype(np.float32))


def uncertainty_threshold(meta: dict, path: object = "") -> float | None:
    """An artifact's ``uncertainty_threshold`` (mean epistemic uncertainty in nats above which an input is
    unlike its training data; 0 <= t < 100), or None when it carries none (ECG and mosquito artifacts alike)."""
    t = meta.get("uncertainty_threshold")
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t < 100:
        raise ArtifactError(f"{path}: metadata key 'uncertainty_threshold' is {t!r}: expected a number in 0..100 (nats)")
    return float(t)
