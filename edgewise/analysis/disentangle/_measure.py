"""Leakage and reconstruction of a trained grouped VAE (Németh, AAAI 2020).

Leakage: how well a probe, trained separately on the frozen style codes of the training split, predicts
the group of held-out observations from their style code alone. Chance is the most frequent group of
the held-out split. Reconstruction: mean squared error on held-out observations, their content pooled
over held-out groups of the same size as in training, posterior means throughout.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgewise.analysis.disentangle._vae import GroupVAE

__all__ = ["Measures", "probe_accuracy", "heldout_reconstruction", "reconstruction_errors", "extra_error_share",
           "measure"]


@dataclass(frozen=True)
class Measures:
    """What one trained VAE leaks and how well it reconstructs (held-out split).

    Attributes:
        style_probe_acc: group accuracy of an MLP probe on the style code.
        style_linear_acc: the same with a linear (logistic-regression) probe.
        content_probe_acc: group accuracy of the MLP probe on the content code (should stay high).
        chance: accuracy of always guessing the most frequent held-out group.
        recon_mse: mean squared reconstruction error per feature (standardised units).
    """

    style_probe_acc: float
    style_linear_acc: float
    content_probe_acc: float
    chance: float
    recon_mse: float


def probe_accuracy(
    train_codes: np.ndarray, train_groups: np.ndarray, test_codes: np.ndarray, test_groups: np.ndarray,
    *, kind: str = "mlp", seed: int = 0,
) -> float:
    """Fit a probe on (codes, groups) of the training split, return its accuracy on the test split.

    Args:
        train_codes: float [n, d]; train_groups: int [n]; test_codes: float [m, d]; test_groups: int [m].
        kind: ``"mlp"`` (one hidden layer of 128) or ``"linear"`` (multinomial logistic regression).
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "mlp":
        clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=600, alpha=1e-3, random_state=seed)
    elif kind == "linear":
        clf = LogisticRegression(max_iter=2000)
    else:
        raise ValueError(f"probe kind must be 'mlp' or 'linear', got {kind!r}")
    model = make_pipeline(StandardScaler(), clf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train_codes, train_groups)
    return float((model.predict(test_codes) == test_groups).mean())


@torch.no_grad()
def reconstruction_errors(vae: GroupVAE, x: np.ndarray, groups: np.ndarray, *, group_size: int) -> np.ndarray:
    """Squared error per observation (mean over features) [n] on ``x [n, dim]``: content pooled over chunks
    of ``group_size`` of each group, posterior means."""
    xt = torch.as_tensor(np.asarray(x, np.float32))
    err = np.zeros(len(xt))
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        for start in range(0, len(idx), group_size):
            sel = idx[start : start + group_size]
            chunk = xt[sel][None]
            err[sel] = (vae(chunk, sample=False)["recon"] - chunk).pow(2).mean(-1)[0].numpy()
    return err


def heldout_reconstruction(vae: GroupVAE, x: np.ndarray, groups: np.ndarray, *, group_size: int) -> float:
    """MSE per feature on ``x [n, dim]``: content pooled over chunks of ``group_size`` of each group."""
    return float(reconstruction_errors(vae, x, groups, group_size=group_size).mean())


def extra_error_share(err_plain: np.ndarray, err_adv: np.ndarray, groups: np.ndarray, *, top: int = 5) -> float:
    """Share of the adversarial model's extra error (summed over observations) carried by the ``top`` groups
    with the most: 1 when a few groups carry all of it, about top / n_groups when it is spread evenly.
    Groups where the adversarial model is better lower the total, so the share can exceed 1.

    Args:
        err_plain, err_adv: float [n] per-observation errors of the two versions; groups: int [n].
    """
    extra = np.asarray(err_adv) - np.asarray(err_plain)
    _, gid = np.unique(groups, return_inverse=True)
    per_group = np.bincount(gid, weights=extra)
    total = extra.sum()
    if total <= 0:
        return float("nan")
    return float(np.sort(per_group)[::-1][:top].sum() / total)


def measure(
    vae: GroupVAE, x_train: np.ndarray, g_train: np.ndarray, x_test: np.ndarray, g_test: np.ndarray,
    *, seed: int = 0,
) -> Measures:
    """Leakage (style and content probes) and held-out reconstruction of one trained VAE."""
    s_tr, c_tr = vae.codes(x_train, g_train)
    s_te, c_te = vae.codes(x_test, g_test)
    _, counts = np.unique(g_test, return_counts=True)
    return Measures(
        style_probe_acc=probe_accuracy(s_tr, g_train, s_te, g_test, kind="mlp", seed=seed),
        style_linear_acc=probe_accuracy(s_tr, g_train, s_te, g_test, kind="linear", seed=seed),
        content_probe_acc=probe_accuracy(c_tr, g_train, c_te, g_test, kind="mlp", seed=seed),
        chance=float(counts.max() / counts.sum()),
        recon_mse=heldout_reconstruction(vae, x_test, g_test, group_size=vae.config.group_size),
    )
