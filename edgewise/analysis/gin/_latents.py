"""Reading a trained GIN's latent space: spread spectrum, informative count, MCC, traversals.

Sorrenson, Rother & Köthe (ICLR 2020), section 5: after training, the standard deviation of each latent
over the data separates a few informative latents from a floor of collapsed noise latents. We count the
informative ones at the largest drop of the sorted log-spectrum, and score recovered latents against a
known ground truth with the mean correlation coefficient (MCC) under the best one-to-one matching, up to
sign (Hyvärinen & Morioka's nonlinear-ICA score).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgewise.analysis.gin._flow import GinModel

__all__ = ["Spectrum", "latent_spectrum", "mean_corr_coef", "traverse", "reconstruct_from"]


@dataclass(frozen=True)
class Spectrum:
    """Per-latent spread and the informative latents it implies.

    Attributes:
        std: float64 [dim] standard deviation of each latent over the data.
        order: int [dim] latents sorted by decreasing std.
        informative: the latents above the largest drop, in decreasing std.
        drop: the ratio std[order[k-1]] / std[order[k]] at that drop (k = len(informative)).
    """

    std: np.ndarray
    order: np.ndarray
    informative: tuple[int, ...]
    drop: float

    @property
    def n_informative(self) -> int:
        return len(self.informative)


def latent_spectrum(z: np.ndarray, *, max_informative: int | None = None) -> Spectrum:
    """Sort latents by spread and cut at the largest drop of the log-spectrum.

    Args:
        z: float [samples, dim] latents of the data.
        max_informative: only look for the drop among the first this many (default: dim - 1).
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] < 2 or len(z) < 2:
        raise ValueError(f"expected latents as [samples >= 2, dim >= 2], got shape {z.shape}")
    std = z.std(0)
    order = np.argsort(-std)
    logs = np.log(np.maximum(std[order], np.finfo(float).tiny))
    gaps = logs[:-1] - logs[1:]
    limit = len(gaps) if max_informative is None else max(1, min(max_informative, len(gaps)))
    k = int(np.argmax(gaps[:limit])) + 1
    return Spectrum(std, order, tuple(int(i) for i in order[:k]), float(np.exp(gaps[k - 1])))


def mean_corr_coef(true: np.ndarray, est: np.ndarray) -> tuple[float, np.ndarray]:
    """MCC between true and estimated latents, best one-to-one matching, up to sign.

    Args:
        true: float [samples, k] ground-truth latents.
        est: float [samples, m] recovered latents (m >= k).

    Returns:
        The mean |Pearson r| over the k matched pairs, and int [k] the matched column of ``est``
        for each true latent.
    """
    from scipy.optimize import linear_sum_assignment

    true, est = np.asarray(true, np.float64), np.asarray(est, np.float64)
    if true.ndim != 2 or est.ndim != 2 or len(true) != len(est) or est.shape[1] < true.shape[1]:
        raise ValueError(
            f"expected true [n, k] and est [n, m >= k] latents, got shapes {true.shape} and {est.shape}"
        )
    k = true.shape[1]
    corr = np.abs(np.corrcoef(true.T, est.T)[:k, k:])
    rows, cols = linear_sum_assignment(-np.nan_to_num(corr))
    match = np.empty(k, dtype=np.int64)
    match[rows] = cols
    return float(corr[rows, cols].mean()), match


@torch.no_grad()
def traverse(model: GinModel, z0: np.ndarray, dim: int, values: np.ndarray) -> np.ndarray:
    """Decode ``z0`` with latent ``dim`` set to each of ``values``.

    Args:
        model: a trained GIN.
        z0: float [dim] the latent to start from (e.g. a class mean).
        dim: which latent to move.
        values: float [steps] the values it takes.

    Returns:
        float32 [steps, features] decoded data.
    """
    z = np.repeat(np.asarray(z0, np.float32)[None], len(values), 0)
    z[:, dim] = values
    return model.inverse(torch.as_tensor(z)).numpy()


@torch.no_grad()
def reconstruct_from(model: GinModel, x: np.ndarray, y: np.ndarray, keep: tuple[int, ...]) -> np.ndarray:
    """Reconstruct ``x`` from the ``keep`` latents only; the others are set to their class mean.

    Args:
        model: a trained GIN.
        x: float [samples, features].
        y: int [samples] classes.
        keep: latent indices to keep.

    Returns:
        float32 [samples, features].
    """
    z = model(torch.as_tensor(np.asarray(x), dtype=torch.float32))
    base = model.mu[torch.as_tensor(np.asarray(y), dtype=torch.int64)].clone()
    idx = torch.as_tensor(list(keep), dtype=torch.int64)
    base[:, idx] = z[:, idx]
    return model.inverse(base).numpy()
