"""DKLITE: the closed-form GP against a dense float64 reference, and ITE recovery on synthetic data."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgewise.analysis.ite import SyntheticConfig, make_synthetic, protocol_split
from edgewise.analysis.ite.dklite import DKLITE, DKLITEConfig, linear_gp_posterior
from edgewise.runtime.errors import InputError


def _dense_gp(phi, y, phi_star, prior, noise):
    """Function-space GP with kernel prior * z.z' (n x n solve) in float64 numpy."""
    k = prior * phi @ phi.T + noise * np.eye(len(phi))
    k_star = prior * phi_star @ phi.T
    mean = k_star @ np.linalg.solve(k, y)
    var = prior * np.sum(phi_star ** 2, 1) - np.sum(k_star * np.linalg.solve(k, k_star.T).T, 1)
    nlml = 0.5 * (y @ np.linalg.solve(k, y) + np.linalg.slogdet(k)[1] + len(y) * math.log(2 * math.pi))
    return mean, var, nlml


@pytest.mark.parametrize("n,m", [(40, 6), (5, 12)], ids=["more-units-than-features", "more-features-than-units"])
def test_gp_posterior_matches_dense_reference(n, m):
    rng = np.random.default_rng(0)
    phi, phi_star = rng.standard_normal((n, m)), rng.standard_normal((9, m))
    y = rng.standard_normal(n)
    prior, noise = 0.7, 0.3
    mean, var, nlml = linear_gp_posterior(torch.tensor(phi), torch.tensor(y), torch.tensor(phi_star),
                                          prior_var=torch.tensor(prior, dtype=torch.float64),
                                          noise_var=torch.tensor(noise, dtype=torch.float64))
    ref_mean, ref_var, ref_nlml = _dense_gp(phi, y, phi_star, prior, noise)
    np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(var.numpy(), ref_var, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(float(nlml), ref_nlml, rtol=1e-10)


def test_gp_marginal_likelihood_gradient_matches_dense():
    """The weight-space NLML must give the features the same gradient as the n x n formula."""
    rng = np.random.default_rng(1)
    phi = torch.tensor(rng.standard_normal((15, 4)), requires_grad=True)
    y = torch.tensor(rng.standard_normal(15))
    prior, noise = torch.tensor(0.5, dtype=torch.float64), torch.tensor(0.2, dtype=torch.float64)
    _, _, nlml = linear_gp_posterior(phi, y, phi[:2], prior_var=prior, noise_var=noise)
    (g_weight,) = torch.autograd.grad(nlml, phi)
    phi2 = phi.detach().clone().requires_grad_(True)
    k = prior * phi2 @ phi2.T + noise * torch.eye(15, dtype=torch.float64)
    dense = 0.5 * (y @ torch.linalg.solve(k, y) + torch.logdet(k))
    (g_dense,) = torch.autograd.grad(dense, phi2)
    np.testing.assert_allclose(g_weight.numpy(), g_dense.numpy(), rtol=1e-8, atol=1e-10)


@pytest.fixture(scope="module")
def fitted():
    torch.set_num_threads(1)
    data = make_synthetic(SyntheticConfig(n=600, imbalance=1.0, noise=0.5, seed=0))
    split = protocol_split(data.t, seed=0)
    tr, va = data.subset(split.train), data.subset(split.valid)
    model = DKLITE(DKLITEConfig(epochs=300)).fit(tr.x, tr.t, tr.y, x_val=va.x, t_val=va.t, y_val=va.y)
    return data, split, model


def test_recovers_known_effect_on_synthetic(fitted):
    data, _, model = fitted
    post = model.predict(data.x)
    pehe = np.sqrt(np.mean((post.ite - data.ite) ** 2))
    # The best constant (the true ATE) has sqrt(PEHE) = sd(ITE) ~ 1.08; measured 0.33 when written.
    assert pehe < 0.45 * data.ite.std(), f"sqrt(PEHE) {pehe:.3f} vs sd(ITE) {data.ite.std():.3f}"
    np.testing.assert_allclose(post.ite.mean(), data.ite.mean(), atol=0.15)
    np.testing.assert_allclose(post.ite, post.mu1 - post.mu0)
    np.testing.assert_allclose(post.ite_var, post.var0 + post.var1)


def test_variance_is_larger_where_overlap_is_poor(fitted):
    data, _, model = fitted
    post = model.predict(data.x)
    assert (post.ite_var > 0).all()
    poor = -np.minimum(data.propensity, 1 - data.propensity)
    rank = lambda a: np.argsort(np.argsort(a))  # noqa: E731
    rho = np.corrcoef(rank(post.ite_var), rank(poor))[0, 1]
    assert rho > 0.25, f"Spearman(ITE variance, poor overlap) = {rho:.2f}"  # 0.52 measured


def test_validation_selects_an_epoch(fitted):
    _, _, model = fitted
    epochs = [e for e, _ in model.history]
    assert epochs and model.best_epoch in epochs
    best = min(r for _, r in model.history)
    assert dict(model.history)[model.best_epoch] == best


def test_input_errors_are_actionable(fitted):
    _, _, model = fitted
    with pytest.raises(InputError, match=r"shape \[k, 10\]"):
        model.predict(np.zeros((3, 4)))
    with pytest.raises(InputError, match="at least 2 treated"):
        DKLITE(DKLITEConfig(epochs=1)).fit(np.zeros((5, 2)), np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError, match="reg_var"):
        DKLITEConfig(reg_var=-1)
