"""Divergences between discrete distributions: Csiszár f-divergences, Rényi, relative α-entropy, escorts.

All functions take probability vectors along ``axis`` (default the last) and broadcast over the rest,
so ``kl(p, q)`` with ``p, q: [batch, classes]`` returns ``[batch]``. Units are nats.

Conventions (they differ between papers, so they are spelt out):

- f-divergence ``D_f(p‖q) = Σ q f(p/q)`` with ``0 f(0/0) = 0`` and ``q = 0 < p`` costing ``p·f'(∞)``.
- ``hellinger`` is the squared Hellinger distance ``1 − Σ √(pq) = ½ Σ (√p − √q)²`` ∈ [0, 1].
- ``total_variation`` is ``½ Σ |p − q|`` ∈ [0, 1]; ``chi2`` is Pearson's ``Σ (p − q)² / q``.
- ``alpha_divergence`` is Amari's α-family in the Cichocki–Amari form
  ``(Σ p^α q^{1−α} − 1) / (α(α − 1))`` (f(t) = (t^α − αt + α − 1)/(α(α−1))): α → 1 gives KL(p‖q),
  α → 0 gives KL(q‖p), α = ½ gives 4 × squared Hellinger.
- ``renyi`` is ``1/(α−1) log Σ p^α q^{1−α}`` (α → 1: KL).
- ``relative_alpha_entropy`` is Sundaresan's / Kumar & Sundaresan's
  ``I_α(p, q) = α/(1−α) log Σ p q^{α−1} − 1/(1−α) log Σ p^α + log Σ q^α`` (α > 0, α → 1: KL),
  the divergence behind Kumar & Mishra, "Cramér–Rao Lower Bounds Arising from Generalized Csiszár
  Divergences". It equals the Rényi divergence of order 1/α between the escorts,
  ``I_α(p, q) = D_{1/α}(p^(α) ‖ q^(α))``, with the escort ``p^(α) = p^α / Σ p^α``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from scipy.special import rel_entr, xlogy

__all__ = [
    "kl", "reverse_kl", "chi2", "hellinger", "total_variation", "jensen_shannon", "alpha_divergence",
    "renyi", "f_divergence", "escort", "relative_alpha_entropy", "mean_kl",
]

_TOL = 1e-5


def _pair(p, q, axis: int) -> tuple[np.ndarray, np.ndarray]:
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    try:
        p, q = np.broadcast_arrays(p, q)
    except ValueError as e:
        raise ValueError(f"p and q must broadcast, got shapes {p.shape} and {q.shape}") from e
    for name, a in (("p", p), ("q", q)):
        _check_prob(a, axis, name)
    return p, q


def _check_prob(a: np.ndarray, axis: int, name: str) -> None:
    if a.ndim == 0:
        raise ValueError(f"{name} must be a probability vector, got a scalar")
    if np.any(a < 0) or not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has negative or non-finite entries; expected probabilities")
    s = a.sum(axis=axis)
    if np.any(np.abs(s - 1) > _TOL):
        worst = float(np.max(np.abs(s - 1)))
        raise ValueError(f"{name} does not sum to 1 along axis {axis} (off by up to {worst:.3g}); "
                         f"normalise it first, e.g. {name} / {name}.sum(axis={axis}, keepdims=True)")


def kl(p, q, axis: int = -1) -> np.ndarray:
    """Kullback–Leibler divergence ``Σ p log(p/q)`` (inf where q = 0 < p)."""
    p, q = _pair(p, q, axis)
    return rel_entr(p, q).sum(axis=axis)


def reverse_kl(p, q, axis: int = -1) -> np.ndarray:
    """``KL(q‖p)``."""
    return kl(q, p, axis)


def chi2(p, q, axis: int = -1) -> np.ndarray:
    """Pearson χ² divergence ``Σ (p − q)² / q`` (inf where q = 0 < p)."""
    p, q = _pair(p, q, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(q > 0, (p - q) ** 2 / np.where(q > 0, q, 1), np.where(p > 0, np.inf, 0.0))
    return t.sum(axis=axis)


def hellinger(p, q, axis: int = -1) -> np.ndarray:
    """Squared Hellinger distance ``1 − Σ √(pq)`` ∈ [0, 1]."""
    p, q = _pair(p, q, axis)
    return np.clip(1.0 - np.sqrt(p * q).sum(axis=axis), 0.0, 1.0)


def total_variation(p, q, axis: int = -1) -> np.ndarray:
    """Total variation distance ``½ Σ |p − q|``."""
    p, q = _pair(p, q, axis)
    return 0.5 * np.abs(p - q).sum(axis=axis)


def jensen_shannon(p, q, axis: int = -1) -> np.ndarray:
    """Jensen–Shannon divergence ``½ KL(p‖m) + ½ KL(q‖m)``, ``m = (p + q)/2`` (≤ log 2)."""
    p, q = _pair(p, q, axis)
    m = 0.5 * (p + q)
    return 0.5 * (rel_entr(p, m).sum(axis=axis) + rel_entr(q, m).sum(axis=axis))


def _power_sum(p: np.ndarray, q: np.ndarray, alpha: float, axis: int) -> np.ndarray:
    """``Σ p^α q^{1−α}`` with 0^0 = 1 handled as 'terms with p = 0 (α > 0) or q = 0 (α < 1) vanish'."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.exp(xlogy(alpha, p) + xlogy(1 - alpha, q))
    t = np.where((p == 0) & (alpha > 0), 0.0, t)
    t = np.where((q == 0) & (alpha < 1), 0.0, t)
    return t.sum(axis=axis)


def alpha_divergence(p, q, alpha: float, axis: int = -1) -> np.ndarray:
    """Amari α-divergence ``(Σ p^α q^{1−α} − 1) / (α(α−1))``; α = 1 → KL(p‖q), α = 0 → KL(q‖p)."""
    alpha = float(alpha)
    if alpha == 1.0:
        return kl(p, q, axis)
    if alpha == 0.0:
        return kl(q, p, axis)
    p, q = _pair(p, q, axis)
    return (_power_sum(p, q, alpha, axis) - 1.0) / (alpha * (alpha - 1.0))


def renyi(p, q, alpha: float, axis: int = -1) -> np.ndarray:
    """Rényi divergence of order α ≥ 0: ``1/(α−1) log Σ p^α q^{1−α}``; α = 1 → KL, α = inf → log max p/q."""
    alpha = float(alpha)
    if alpha < 0:
        raise ValueError(f"the Rényi order must be >= 0, got {alpha}")
    if alpha == 1.0:
        return kl(p, q, axis)
    p, q = _pair(p, q, axis)
    if np.isinf(alpha):
        with np.errstate(divide="ignore"):
            return np.log(np.max(np.where(p > 0, p / q, 0.0), axis=axis))
    with np.errstate(divide="ignore"):
        return np.log(_power_sum(p, q, alpha, axis)) / (alpha - 1.0)


def f_divergence(p, q, f: Callable[[np.ndarray], np.ndarray], *, f_slope_inf: float | None = None,
                 axis: int = -1) -> np.ndarray:
    """Generic Csiszár f-divergence ``Σ_{q>0} q f(p/q) + f'(∞) Σ_{q=0} p``.

    Args:
        f: convex, vectorised, with f(1) = 0.
        f_slope_inf: ``lim_{t→∞} f(t)/t``; needed only if some q = 0 < p (e.g. inf for KL, ½ for
            total variation with f(t) = |t − 1|/2).
    """
    p, q = _pair(p, q, axis)
    pos = q > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(pos, q * f(np.where(pos, p / np.where(pos, q, 1), 1.0)), 0.0)
    mass_off = np.where(pos, 0.0, p).sum(axis=axis)
    if np.any(mass_off > 0):
        if f_slope_inf is None:
            raise ValueError("q is 0 where p > 0: pass f_slope_inf = lim f(t)/t for this f")
        return t.sum(axis=axis) + f_slope_inf * mass_off
    return t.sum(axis=axis)


def escort(p, alpha: float, axis: int = -1) -> np.ndarray:
    """Escort distribution ``p^α / Σ p^α`` (α > 0)."""
    if not alpha > 0:
        raise ValueError(f"the escort order must be > 0, got {alpha}")
    p = np.asarray(p, dtype=np.float64)
    _check_prob(p, axis, "p")
    pa = np.where(p > 0, p, 0.0) ** alpha
    return pa / pa.sum(axis=axis, keepdims=True)


def relative_alpha_entropy(p, q, alpha: float, axis: int = -1) -> np.ndarray:
    """Relative α-entropy ``I_α(p, q)`` (α > 0); α = 1 gives KL(p‖q). See the module docstring."""
    alpha = float(alpha)
    if not alpha > 0:
        raise ValueError(f"the relative α-entropy needs α > 0, got {alpha}")
    if alpha == 1.0:
        return kl(p, q, axis)
    p, q = _pair(p, q, axis)
    with np.errstate(divide="ignore"):
        cross = np.where(p > 0, p * np.where(q > 0, q, np.nan) ** (alpha - 1.0), 0.0)
    cross = np.where(np.isnan(cross), np.inf if alpha < 1 else 0.0, cross).sum(axis=axis)
    zp = (np.where(p > 0, p, 0.0) ** alpha).sum(axis=axis)
    zq = (np.where(q > 0, q, 0.0) ** alpha).sum(axis=axis)
    with np.errstate(divide="ignore"):
        return alpha / (1 - alpha) * np.log(cross) - np.log(zp) / (1 - alpha) + np.log(zq)


def mean_kl(p, q, axis: int = -1, *, eps: float = 1e-12) -> float:
    """Mean over samples of ``KL(p_i‖q_i)`` for per-sample class distributions (a fidelity measure).

    Meant for compression and distillation reports: ``p`` from the reference model, ``q`` from the
    compressed one, e.g. softmax outputs ``[n_samples, n_classes]``. ``q`` is clipped to ``eps`` and
    renormalised so a class the compressed model rules out costs a large finite amount, not inf.

    Returns:
        The mean KL in nats (a Python float).
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.clip(np.asarray(q, dtype=np.float64), eps, None)
    q = q / q.sum(axis=axis, keepdims=True)
    return float(np.mean(kl(p, q, axis)))
