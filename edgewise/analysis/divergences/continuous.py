"""Closed-form divergences for Gaussians and for exponential families through their log-partition.

Gaussians ``N(μ, Σ)`` (any dimension; a 1-D Gaussian takes scalars ``mu`` and ``var``):

- ``KL = ½ [tr(Σ₂⁻¹Σ₁) + (μ₂−μ₁)ᵀΣ₂⁻¹(μ₂−μ₁) − d + log(|Σ₂|/|Σ₁|)]``
- Rényi of order α: ``α/2 Δᵀ Σ_α⁻¹ Δ − 1/(2(α−1)) log(|Σ_α| / (|Σ₁|^{1−α} |Σ₂|^α))`` with
  ``Σ_α = αΣ₂ + (1−α)Σ₁`` (finite while Σ_α is positive definite).
- Squared Hellinger ``1 − exp(−½ D_½)`` and Pearson χ² ``exp(D_2) − 1`` follow from Rényi (also for
  exponential families).
- The escort of order α of ``N(μ, Σ)`` is ``N(μ, Σ/α)``, so the relative α-entropy
  (Kumar & Mishra, "Cramér–Rao Lower Bounds Arising from Generalized Csiszár Divergences") is the
  Rényi divergence of order 1/α between the escorts.

Exponential families ``p_η(x) = h(x) exp(ηᵀT(x) − A(η))``:

- ``KL(p_η₁‖p_η₂) = A(η₂) − A(η₁) − (η₂ − η₁)ᵀ∇A(η₁)`` (a Bregman divergence of A),
- ``D_α(p_η₁‖p_η₂) = [A(αη₁ + (1−α)η₂) − αA(η₁) − (1−α)A(η₂)] / (α − 1)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

__all__ = [
    "gaussian_kl", "gaussian_renyi", "gaussian_hellinger", "gaussian_chi2", "gaussian_escort",
    "gaussian_relative_alpha_entropy",
    "ExponentialFamily", "POISSON", "BERNOULLI", "EXPONENTIAL",
]


def _gauss(mu, cov) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    cov = np.asarray(cov, dtype=np.float64)
    cov = cov.reshape(1, 1) if cov.ndim == 0 else cov
    if cov.ndim == 1:
        cov = np.diag(cov)
    d = mu.shape[0]
    if cov.shape != (d, d):
        raise ValueError(f"a Gaussian with mean of length {d} needs a [{d}, {d}] covariance, got {cov.shape}")
    if np.any(np.linalg.eigvalsh(cov) <= 0):
        raise ValueError("the covariance must be positive definite (a 1-D variance must be > 0)")
    return mu, cov


def _logdet(a: np.ndarray) -> float:
    return float(np.linalg.slogdet(a)[1])


def gaussian_kl(mu1, cov1, mu2, cov2) -> float:
    """``KL(N(μ₁, Σ₁) ‖ N(μ₂, Σ₂))`` in nats; 1-D: pass means and variances."""
    mu1, cov1 = _gauss(mu1, cov1)
    mu2, cov2 = _gauss(mu2, cov2)
    d = mu1.shape[0]
    diff = mu2 - mu1
    sol = np.linalg.solve(cov2, np.column_stack([cov1, diff]))
    return 0.5 * float(np.trace(sol[:, :d]) + diff @ sol[:, d] - d + _logdet(cov2) - _logdet(cov1))


def gaussian_renyi(mu1, cov1, mu2, cov2, alpha: float) -> float:
    """Rényi divergence of order α > 0 between Gaussians (inf where Σ_α is not positive definite)."""
    alpha = float(alpha)
    if not alpha > 0:
        raise ValueError(f"the Rényi order must be > 0 here, got {alpha}")
    if alpha == 1.0:
        return gaussian_kl(mu1, cov1, mu2, cov2)
    mu1, cov1 = _gauss(mu1, cov1)
    mu2, cov2 = _gauss(mu2, cov2)
    cov_a = alpha * cov2 + (1 - alpha) * cov1
    if np.any(np.linalg.eigvalsh(cov_a) <= 0):
        return float("inf")
    diff = mu1 - mu2
    quad = float(diff @ np.linalg.solve(cov_a, diff))
    logs = _logdet(cov_a) - (1 - alpha) * _logdet(cov1) - alpha * _logdet(cov2)
    return 0.5 * alpha * quad - logs / (2 * (alpha - 1))


def gaussian_hellinger(mu1, cov1, mu2, cov2) -> float:
    """Squared Hellinger distance ``1 − ∫√(pq)`` between Gaussians (= 1 − exp(−½ D_½))."""
    return 1.0 - float(np.exp(-0.5 * gaussian_renyi(mu1, cov1, mu2, cov2, 0.5)))


def gaussian_chi2(mu1, cov1, mu2, cov2) -> float:
    """Pearson χ² ``∫ p²/q − 1`` between Gaussians (= exp(D_2) − 1; inf if 2Σ₂ − Σ₁ is not PD)."""
    return float(np.expm1(gaussian_renyi(mu1, cov1, mu2, cov2, 2.0)))


def gaussian_escort(mu, cov, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Escort ``p^α / ∫p^α`` of ``N(μ, Σ)``: it is ``N(μ, Σ/α)``."""
    if not alpha > 0:
        raise ValueError(f"the escort order must be > 0, got {alpha}")
    mu, cov = _gauss(mu, cov)
    return mu, cov / alpha


def gaussian_relative_alpha_entropy(mu1, cov1, mu2, cov2, alpha: float) -> float:
    """Relative α-entropy ``I_α(N₁, N₂) = D_{1/α}(N₁^(α) ‖ N₂^(α))`` (α > 0; α = 1: KL)."""
    m1, c1 = gaussian_escort(mu1, cov1, alpha)
    m2, c2 = gaussian_escort(mu2, cov2, alpha)
    return gaussian_renyi(m1, c1, m2, c2, 1.0 / alpha)


@dataclass(frozen=True)
class ExponentialFamily:
    """A one-parameter-vector exponential family given by its log-partition ``A(η)``.

    Attributes:
        name: for messages.
        log_partition: ``A``, a torch function of the natural parameter ``η: float64 [k]`` -> scalar.
        domain: a check that η is admissible (returns True/False).
    """

    name: str
    log_partition: Callable[[torch.Tensor], torch.Tensor]
    domain: Callable[[torch.Tensor], bool] = lambda eta: True

    def _eta(self, eta) -> torch.Tensor:
        t = torch.atleast_1d(torch.as_tensor(eta, dtype=torch.float64))
        if not self.domain(t):
            raise ValueError(f"natural parameter {t.tolist()} is outside the domain of the {self.name} family")
        return t

    def mean(self, eta) -> np.ndarray:
        """``E[T(X)] = ∇A(η)``."""
        t = self._eta(eta).requires_grad_(True)
        (g,) = torch.autograd.grad(self.log_partition(t), t)
        return g.detach().numpy()

    def fisher(self, eta) -> np.ndarray:
        """Fisher information in η: ``∇²A(η)``."""
        return torch.autograd.functional.hessian(self.log_partition, self._eta(eta)).numpy()

    def kl(self, eta1, eta2) -> float:
        """``KL(p_η₁ ‖ p_η₂)``."""
        e1, e2 = self._eta(eta1), self._eta(eta2)
        a = self.log_partition
        return float(a(e2) - a(e1)) - float((e2 - e1).numpy() @ self.mean(e1))

    def renyi(self, eta1, eta2, alpha: float) -> float:
        """Rényi divergence of order α (finite where αη₁ + (1−α)η₂ lies in the domain)."""
        if alpha == 1.0:
            return self.kl(eta1, eta2)
        e1, e2 = self._eta(eta1), self._eta(eta2)
        mix = alpha * e1 + (1 - alpha) * e2
        if not self.domain(mix):
            return float("inf")
        a = self.log_partition
        return float(a(mix) - alpha * a(e1) - (1 - alpha) * a(e2)) / (alpha - 1)


    def hellinger(self, eta1, eta2) -> float:
        """Squared Hellinger distance ``1 − exp(−½ D_½)``."""
        return 1.0 - float(np.exp(-0.5 * self.renyi(eta1, eta2, 0.5)))

    def chi2(self, eta1, eta2) -> float:
        """Pearson χ² ``exp(D_2) − 1`` (inf where 2η₁ − η₂ leaves the domain)."""
        return float(np.expm1(self.renyi(eta1, eta2, 2.0)))


POISSON = ExponentialFamily("Poisson", lambda eta: torch.exp(eta).sum())  # η = log λ, T(x) = x
BERNOULLI = ExponentialFamily("Bernoulli", lambda eta: torch.nn.functional.softplus(eta).sum())  # η = logit
EXPONENTIAL = ExponentialFamily(  # η = −λ < 0, T(x) = x
    "exponential", lambda eta: -torch.log(-eta).sum(), domain=lambda eta: bool(torch.all(eta < 0))
)
