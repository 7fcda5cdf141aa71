"""Spectra of curvature operators: Lanczos extreme eigenvalues, spectral density, Hutchinson trace.

- Extreme eigenvalues: implicitly restarted Lanczos (ARPACK through ``scipy.sparse.linalg.eigsh``)
  on the operator's SciPy export; only matrix-vector products are needed.
- Spectral density: stochastic Lanczos quadrature (Papyan 2020, "Traces of class/cross-class
  structure pervade deep learning spectra", Alg. 2) as implemented by curvlinops — the same method as
  PyHessian's ``density()`` after its 2024 fix.
- Trace: Girard–Hutchinson with Rademacher probes (curvlinops ``hutchinson_trace``), with a standard
  error from the spread of the probes.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
import torch
from torch import Tensor

__all__ = ["Which", "extreme_eigenvalues", "spectral_density", "hutchinson_trace", "TraceEstimate"]


class Which(str, Enum):
    """Which end of the spectrum ``extreme_eigenvalues`` returns."""

    LARGEST = "largest"  # algebraically largest
    SMALLEST = "smallest"  # algebraically smallest (most negative)
    MAGNITUDE = "magnitude"  # largest |λ|


_ARPACK = {Which.LARGEST: "LA", Which.SMALLEST: "SA", Which.MAGNITUDE: "LM"}


def _n(op) -> int:
    n, m = op.shape
    if n != m:
        raise ValueError(f"expected a square operator, got shape {op.shape}")
    return int(n)


def extreme_eigenvalues(
    op, k: int = 5, *, which: Which | str = Which.LARGEST, tol: float = 1e-6, seed: int = 0,
    return_vectors: bool = False, ncv: int | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """The ``k`` extreme eigenvalues of a symmetric operator by Lanczos (ARPACK).

    Args:
        op: a curvlinops operator (``.to_scipy()``), a SciPy ``LinearOperator`` or a dense array.
        k: how many eigenvalues; must be < the operator's dimension.
        which: "largest", "smallest" or "magnitude".
        tol: relative accuracy of the Ritz values (0 = machine precision).
        seed: seed of the start vector (makes the result reproducible).
        return_vectors: also return the eigenvectors ``[n, k]``.
        ncv: Lanczos vectors kept between restarts (ARPACK default ``max(2k + 1, 20)``); more costs
            memory (``ncv`` parameter copies) and can save restarts.

    Returns:
        Eigenvalues ``[k]`` sorted in descending order (and eigenvectors in matching columns).
    """
    from scipy.sparse.linalg import aslinearoperator, eigsh

    which = Which(which)
    n = _n(op)
    if not 1 <= k < n:
        raise ValueError(f"k must be in [1, {n - 1}] for an operator of size {n}, got {k}")
    lin = op.to_scipy(dtype=np.float64) if hasattr(op, "to_scipy") else aslinearoperator(op)
    v0 = np.random.default_rng(seed).standard_normal(n)
    vals, vecs = eigsh(lin, k=k, which=_ARPACK[which], tol=tol, v0=v0, ncv=ncv)
    order = np.argsort(vals)[::-1]
    return (vals[order], vecs[:, order]) if return_vectors else vals[order]


def spectral_density(
    op, *, n_lanczos: int = 80, n_repeats: int = 4, n_points: int = 512, kappa: float = 3.0,
    boundaries: tuple[float, float] | None = None, seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Spectral density ``p(λ) = 1/n Σ δ(λ − λ_i)`` smoothed by Gaussians, by stochastic Lanczos quadrature.

    Args:
        op: a curvlinops operator.
        n_lanczos: Lanczos steps per probe (quadrature nodes); costs that many products per probe.
        n_repeats: random probes averaged.
        n_points: grid resolution.
        kappa: Gaussian width parameter on the spectrum rescaled to [−1, 1] (Papyan's default 3).
        boundaries: ``(λ_min, λ_max)`` if known; else estimated with Lanczos.
        seed: torch seed for the probes.

    Returns:
        ``(grid, density)``, both float64 ``[n_points]``; the density integrates to about 1.
    """
    from curvlinops import lanczos_approximate_spectrum

    n = _n(op)
    if not 2 <= n_lanczos <= n:
        raise ValueError(f"n_lanczos must be in [2, {n}], got {n_lanczos}")
    torch.manual_seed(seed)
    grid, dens = lanczos_approximate_spectrum(
        op, n_lanczos, num_points=n_points, num_repeats=n_repeats, kappa=kappa, boundaries=boundaries
    )
    return grid.detach().cpu().double().numpy(), dens.detach().cpu().double().numpy()


@dataclass(frozen=True)
class TraceEstimate:
    """A Hutchinson trace estimate with its Monte-Carlo standard error."""

    trace: float
    stderr: float
    n_probes: int


def hutchinson_trace(op, n_probes: int = 100, *, seed: int = 0, chunk: int = 16) -> TraceEstimate:
    """Estimate ``tr(op)`` with Rademacher probes: ``tr A ≈ 1/m Σ v_iᵀ A v_i``.

    Args:
        op: a square operator supporting ``op @ V`` with ``V: [n, m]`` (curvlinops or a tensor).
        n_probes: number of probes ``m``.
        seed: seed of the probes.
        chunk: probes multiplied at once (memory: ``chunk`` copies of the parameters).

    Returns:
        The estimate and its standard error (std of the per-probe values / √m).
    """
    if n_probes < 2:
        raise ValueError(f"n_probes must be >= 2 to report a standard error, got {n_probes}")
    n = _n(op)
    dtype = getattr(op, "dtype", torch.float64)
    gen = torch.Generator().manual_seed(seed)
    values: list[Tensor] = []
    for start in range(0, n_probes, chunk):
        m = min(chunk, n_probes - start)
        v = torch.randint(0, 2, (n, m), generator=gen).to(dtype) * 2 - 1
        av = op @ v
        values.append((v * av).sum(0).detach().cpu().double())
    vals = torch.cat(values).numpy()
    return TraceEstimate(float(vals.mean()), float(vals.std(ddof=1) / np.sqrt(n_probes)), n_probes)

