"""The Fisher metric a divergence induces, and classical and generalised Cramér–Rao bounds.

Eguchi's construction: a divergence ``D`` on a parametric family ``p_θ`` induces the metric
``g_ij(θ) = −∂_{θ_i} ∂_{θ'_j} D(p_θ, p_θ')|_{θ'=θ}`` (for KL: the Fisher information). Kumar & Mishra,
"Cramér–Rao Lower Bounds Arising from Generalized Csiszár Divergences", apply it to the relative
α-entropy ``I_α``; with the Kumar–Sundaresan normalisation used here (see ``discrete``),

    g^(α)(θ) = α · Cov_{p_θ^(α)}[∇ log p_θ],

and the Fisher information of the escort model ``p_θ^(α) = p_θ^α / Σ p_θ^α`` is

    F_α(θ) = α² · Cov_{p_θ^(α)}[∇ log p_θ] = α · g^(α)(θ).

The generalised Cramér–Rao inequality bounds the variance of an estimator ``T`` that is unbiased for
``ψ(θ)`` under the escort model (``E_{p_θ^(α)}[T] = ψ(θ)``) from n i.i.d. escort draws:

    Var_{p_θ^(α)}(T) ≥ ∇ψᵀ F_α(θ)⁻¹ ∇ψ / n,

with equality exactly when the escort family is an exponential family in T with ψ its mean
parameter (then T̄ is efficient). As α → 1 the escort is the model itself, g^(1) = F_1 is the Fisher
information and the bound is the classical one. (Papers scale I_α differently, which rescales g^(α)
by a power of α; the variance bound, being the classical bound of the escort model, does not change.)

Families here are discrete: ``family(θ: float64 [k]) -> p: float64 [m]`` written in torch so that
derivatives come from autograd.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "torch_kl", "torch_relative_alpha_entropy", "divergence_metric", "fisher_information",
    "escort_fisher_information", "cramer_rao_bound", "generalized_cramer_rao_bound",
]

Family = Callable[[Tensor], Tensor]


def torch_kl(p: Tensor, q: Tensor) -> Tensor:
    """``KL(p‖q)`` for strictly positive probability vectors (torch, differentiable)."""
    return (p * (torch.log(p) - torch.log(q))).sum()


def torch_relative_alpha_entropy(alpha: float) -> Callable[[Tensor, Tensor], Tensor]:
    """``I_α(p, q)`` for strictly positive probability vectors (torch, differentiable); α = 1: KL."""
    if not alpha > 0:
        raise ValueError(f"the relative α-entropy needs α > 0, got {alpha}")
    if alpha == 1.0:
        return torch_kl

    def div(p: Tensor, q: Tensor) -> Tensor:
        return (alpha / (1 - alpha) * torch.log((p * q ** (alpha - 1)).sum())
                - torch.log((p**alpha).sum()) / (1 - alpha) + torch.log((q**alpha).sum()))

    return div


def _theta(theta) -> Tensor:
    return torch.atleast_1d(torch.as_tensor(theta, dtype=torch.float64)).detach()


def divergence_metric(divergence: Callable[[Tensor, Tensor], Tensor], family: Family, theta) -> np.ndarray:
    """Eguchi's metric ``g(θ) = −∂_θ ∂_θ' D(p_θ, p_θ')`` at θ' = θ, by autograd: ``[k, k]``."""
    from torch.func import jacfwd, jacrev

    th = _theta(theta)
    cross = jacfwd(jacrev(lambda a, b: divergence(family(a), family(b)), argnums=0), argnums=1)(th, th)
    g = -cross.detach().numpy()
    return 0.5 * (g + g.T)


def _scores(family: Family, th: Tensor) -> tuple[Tensor, Tensor]:
    """``p [m]`` and the score ``∇ log p [m, k]``."""
    from torch.func import jacrev

    p = family(th).detach()
    if p.ndim != 1 or torch.any(p <= 0):
        raise ValueError("the family must return a strictly positive probability vector [m]")
    return p, jacrev(lambda t: torch.log(family(t)))(th)


def fisher_information(family: Family, theta) -> np.ndarray:
    """Classical Fisher information ``Σ_x p ∇log p ∇log pᵀ``: ``[k, k]``."""
    p, s = _scores(family, _theta(theta))
    return (s.T @ (p[:, None] * s)).numpy()


def escort_fisher_information(family: Family, theta, alpha: float) -> np.ndarray:
    """Fisher information of the escort model, ``F_α = α² Cov_{p^(α)}[∇ log p_θ]``: ``[k, k]``."""
    if not alpha > 0:
        raise ValueError(f"the escort order must be > 0, got {alpha}")
    p, s = _scores(family, _theta(theta))
    w = p**alpha / (p**alpha).sum()
    c = s - (w[:, None] * s).sum(0)
    return (alpha**2 * c.T @ (w[:, None] * c)).numpy()


def _bound(info: np.ndarray, grad_psi: np.ndarray | None, n: int) -> np.ndarray:
    if n < 1:
        raise ValueError(f"the sample size n must be >= 1, got {n}")
    inv = np.linalg.inv(info)
    return (inv if grad_psi is None else grad_psi @ inv @ grad_psi.T) / n


def _grad_psi(psi: Callable[[Tensor], Tensor] | None, th: Tensor) -> np.ndarray | None:
    if psi is None:
        return None
    from torch.func import jacrev

    return np.atleast_2d(jacrev(psi)(th).detach().numpy())


def cramer_rao_bound(family: Family, theta, *, n: int = 1, psi: Callable[[Tensor], Tensor] | None = None) -> np.ndarray:
    """Classical bound on the covariance of an unbiased estimator of ``ψ(θ)`` (default θ) from n draws."""
    th = _theta(theta)
    return _bound(fisher_information(family, th), _grad_psi(psi, th), n)


def generalized_cramer_rao_bound(
    family: Family, theta, alpha: float, *, n: int = 1, psi: Callable[[Tensor], Tensor] | None = None,
) -> np.ndarray:
    """Generalised (α) bound: ``∇ψᵀ F_α⁻¹ ∇ψ / n`` for estimators unbiased under the escort model.

    Args:
        family: ``θ [k] -> p [m]`` in torch (strictly positive).
        theta: the parameter ``[k]``.
        alpha: escort order (> 0); α = 1 is the classical bound.
        n: i.i.d. draws from the escort ``p_θ^(α)``.
        psi: the estimand ``ψ(θ)`` (default θ itself).

    Returns:
        ``[k, k]`` (or ``[r, r]`` for an r-dimensional ψ) covariance bound.
    """
    th = _theta(theta)
    return _bound(escort_fisher_information(family, th, alpha), _grad_psi(psi, th), n)
