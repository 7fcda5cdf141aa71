"""Divergence-induced metrics and (generalised) Cramér–Rao bounds against closed forms."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from edgewise.analysis import divergences as dv

LOGITS0 = torch.tensor([0.2, -0.5, 0.9, 0.0], dtype=torch.float64)


def softmax_family(theta: torch.Tensor) -> torch.Tensor:
    """Categorical on 4 points with 3 free logits (the 4th fixed): a full exponential family."""
    return torch.softmax(torch.cat([theta, LOGITS0[3:]]), 0)


THETA = LOGITS0[:3]


def test_kl_metric_is_the_fisher_information():
    p = softmax_family(THETA).numpy()[:3]
    closed = np.diag(p) - np.outer(p, p)  # Fisher information of the softmax logits
    np.testing.assert_allclose(dv.divergence_metric(dv.torch_kl, softmax_family, THETA), closed, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dv.fisher_information(softmax_family, THETA), closed, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(dv.cramer_rao_bound(softmax_family, THETA, n=7), np.linalg.inv(closed) / 7, rtol=1e-9)


@pytest.mark.parametrize("alpha", [0.4, 0.8, 1.5, 2.5], ids=lambda a: f"alpha={a}")
def test_relative_alpha_entropy_metric_and_escort_fisher(alpha):
    p = softmax_family(THETA)
    s = torch.func.jacrev(lambda t: torch.log(softmax_family(t)))(THETA).numpy()  # score [4, 3]
    w = (p**alpha / (p**alpha).sum()).numpy()
    c = s - w @ s
    cov = c.T @ (w[:, None] * c)
    g = dv.divergence_metric(dv.torch_relative_alpha_entropy(alpha), softmax_family, THETA)
    np.testing.assert_allclose(g, alpha * cov, rtol=1e-9, atol=1e-14)

    def escort_family(t):
        q = softmax_family(t) ** alpha
        return q / q.sum()

    f_alpha = dv.escort_fisher_information(softmax_family, THETA, alpha)
    np.testing.assert_allclose(f_alpha, dv.fisher_information(escort_family, THETA), rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(f_alpha, alpha * g, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(dv.generalized_cramer_rao_bound(softmax_family, THETA, alpha, n=3),
                               np.linalg.inv(f_alpha) / 3, rtol=1e-9)


def test_alpha_one_recovers_kl_and_the_classical_bound():
    np.testing.assert_allclose(dv.divergence_metric(dv.torch_relative_alpha_entropy(1.0 + 1e-7), softmax_family, THETA),
                               dv.fisher_information(softmax_family, THETA), rtol=1e-5)
    np.testing.assert_allclose(dv.generalized_cramer_rao_bound(softmax_family, THETA, 1.0),
                               dv.cramer_rao_bound(softmax_family, THETA), rtol=1e-12)

    def bern(t):
        return torch.stack([1 - t[0], t[0]])

    np.testing.assert_allclose(dv.cramer_rao_bound(bern, [0.3], n=10), [[0.3 * 0.7 / 10]], rtol=1e-12)


def test_simulation_never_below_and_efficient_meets_the_bound():
    cfg = dv.SimulationConfig(alphas=(0.5, 1.0, 2.0), n=10, reps=6000, seed=1)
    rows = dv.simulate_escort_bound(cfg)
    assert len(rows) == 3 * 4
    for r in rows:
        # Monte-Carlo variance: never more than 4 standard errors below the bound
        assert r["variance"] >= r["bound"] - 4 * r["variance_se"], r
        assert abs(r["bias"]) <= 4 * np.sqrt(r["variance"] / cfg.reps), r
        if r["efficient_expected"]:
            np.testing.assert_allclose(r["exact_variance"], r["bound"], rtol=1e-10)
            assert abs(r["variance"] - r["bound"]) <= 4 * r["variance_se"], r
        elif r["exact_variance"] is not None:
            assert r["exact_variance"] > 1.05 * r["bound"], r  # the mixture estimator is not efficient
        else:
            assert r["ratio"] > 1.2, r  # the median of a Gaussian is far from efficient
    gauss_one = [r for r in rows if r["alpha"] == 1.0 and r["estimator"] == "sample mean" and r["case"] == "gaussian-mean"]
    np.testing.assert_allclose(gauss_one[0]["bound"], cfg.sigma**2 / cfg.n, rtol=1e-14)  # classical σ²/n


def test_cli_divergences_json(tmp_path, capsys):
    from edgewise._cli.analyze_hessian import divergences, divergences_args

    parser = argparse.ArgumentParser()
    divergences_args(parser)
    args = parser.parse_args(["--reps", "2000", "--alphas", "0.5,1,2", "--out", str(tmp_path), "--json"])
    assert divergences(args) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["never_below"] is True and len(out["rows"]) == 12
    assert (tmp_path / "escort_bound.png").stat().st_size > 0 and (tmp_path / "report.md").exists()
    with pytest.raises(ValueError, match="alphas"):
        dv.SimulationConfig(alphas=(0.0,))
