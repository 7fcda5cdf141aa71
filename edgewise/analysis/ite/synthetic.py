"""Synthetic observational data with controllable overlap (clearly synthetic; for demos and tests).

Covariates ``x ~ N(0, I_d)``. Treatment is assigned with propensity
``e(x) = sigmoid(imbalance * (x_0 + x_1) / sqrt(2))``: ``imbalance = 0`` is a randomised trial (full
overlap); as it grows the treated and control groups separate along ``x_0 + x_1`` and the regions where
one arm is never observed grow (poor overlap). The effect varies along the same direction, so a model
must extrapolate the counterfactual arm exactly where overlap is poor — the situation DKLITE's
counterfactual-variance regulariser targets (Zhang, Bellot & van der Schaar, AISTATS 2020).

    mu0(x) = sin(x_0) + 0.5 x_1 + 0.5 x_2^2 - 0.5
    tau(x) = 1 + x_0 + 0.5 tanh(2 x_1)
    mu1(x) = mu0(x) + tau(x),       y = mu_t(x) + noise * eps
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.analysis.ite.ihdp import CausalData


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of the synthetic generator.

    Attributes:
        n: number of units.
        d: number of covariates (at least 3; those beyond x_2 are irrelevant noise dimensions).
        imbalance: slope of the propensity along x_0 + x_1; 0 = randomised, 4 = very poor overlap.
        noise: standard deviation of the outcome noise.
        seed: random seed.
    """

    n: int = 1000
    d: int = 10
    imbalance: float = 1.0
    noise: float = 0.5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 10:
            raise ValueError(f"n must be at least 10, got {self.n}")
        if self.d < 3:
            raise ValueError(f"d must be at least 3 (the outcome uses x_0..x_2), got {self.d}")
        if self.imbalance < 0:
            raise ValueError(f"imbalance must be >= 0 (0 = randomised trial), got {self.imbalance}")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")


def true_outcomes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noiseless potential outcomes ``(mu0, mu1)``, each float64 [n], for covariates ``x`` [n, d]."""
    mu0 = np.sin(x[:, 0]) + 0.5 * x[:, 1] + 0.5 * x[:, 2] ** 2 - 0.5
    tau = 1.0 + x[:, 0] + 0.5 * np.tanh(2.0 * x[:, 1])
    return mu0, mu0 + tau


def propensity(x: np.ndarray, imbalance: float) -> np.ndarray:
    """True P(t=1 | x), float64 [n]."""
    score = imbalance * (x[:, 0] + x[:, 1]) / np.sqrt(2.0)
    return 1.0 / (1.0 + np.exp(-score))


def make_synthetic(config: SyntheticConfig = SyntheticConfig()) -> CausalData:
    """Draw one synthetic data set (``name`` says it is synthetic and at which imbalance)."""
    rng = np.random.default_rng(config.seed)
    x = rng.standard_normal((config.n, config.d))
    e = propensity(x, config.imbalance)
    t = (rng.random(config.n) < e).astype(np.int64)
    mu0, mu1 = true_outcomes(x)
    y = np.where(t == 1, mu1, mu0) + config.noise * rng.standard_normal(config.n)
    return CausalData(x=x, t=t, y=y, mu0=mu0, mu1=mu1, propensity=e,
                      name=f"synthetic(imbalance={config.imbalance:g})")
