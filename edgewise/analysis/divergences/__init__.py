"""Divergences as fidelity measures and the geometry behind generalised Cramér–Rao bounds.

Csiszár f-divergences, Rényi divergence, relative α-entropy and escort distributions for discrete
distributions; closed forms for Gaussians and exponential families; the Fisher metric a divergence
induces (Eguchi); classical and generalised (α) Cramér–Rao bounds (Kumar & Mishra, "Cramér–Rao Lower
Bounds Arising from Generalized Csiszár Divergences"); a Monte-Carlo demonstration of the bound.
Compression and distillation reports use ``mean_kl`` (and the others) between model outputs.
"""
from __future__ import annotations

from edgewise.analysis.divergences.continuous import (
    BERNOULLI,
    EXPONENTIAL,
    POISSON,
    ExponentialFamily,
    gaussian_chi2,
    gaussian_escort,
    gaussian_hellinger,
    gaussian_kl,
    gaussian_relative_alpha_entropy,
    gaussian_renyi,
)
from edgewise.analysis.divergences.discrete import (
    alpha_divergence,
    chi2,
    escort,
    f_divergence,
    hellinger,
    jensen_shannon,
    kl,
    mean_kl,
    relative_alpha_entropy,
    renyi,
    reverse_kl,
    total_variation,
)
from edgewise.analysis.divergences.geometry import (
    cramer_rao_bound,
    divergence_metric,
    escort_fisher_information,
    fisher_information,
    generalized_cramer_rao_bound,
    torch_kl,
    torch_relative_alpha_entropy,
)
from edgewise.analysis.divergences.simulation import SimulationConfig, escort_bound_report, simulate_escort_bound

__all__ = [
    "kl", "reverse_kl", "chi2", "hellinger", "total_variation", "jensen_shannon", "alpha_divergence",
    "renyi", "f_divergence", "escort", "relative_alpha_entropy", "mean_kl",
    "gaussian_kl", "gaussian_renyi", "gaussian_hellinger", "gaussian_chi2", "gaussian_escort",
    "gaussian_relative_alpha_entropy",
    "ExponentialFamily", "POISSON", "BERNOULLI", "EXPONENTIAL",
    "torch_kl", "torch_relative_alpha_entropy", "divergence_metric", "fisher_information",
    "escort_fisher_information", "cramer_rao_bound", "generalized_cramer_rao_bound",
    "SimulationConfig", "simulate_escort_bound", "escort_bound_report",
]
