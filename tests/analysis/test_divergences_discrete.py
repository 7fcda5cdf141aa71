"""Discrete divergences against generic f-divergence sums, SciPy and their limits."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy

from edgewise.analysis import divergences as dv

RNG = np.random.default_rng(0)
P = RNG.dirichlet(np.ones(6), size=4)  # [4, 6]: four pairs at once
Q = RNG.dirichlet(np.ones(6), size=4)

F = {  # f with D_f(p‖q) = Σ q f(p/q)
    "kl": (dv.kl, lambda t: t * np.log(t)),
    "reverse_kl": (dv.reverse_kl, lambda t: -np.log(t)),
    "chi2": (dv.chi2, lambda t: (t - 1) ** 2),
    "hellinger": (dv.hellinger, lambda t: 0.5 * (np.sqrt(t) - 1) ** 2),
    "total_variation": (dv.total_variation, lambda t: 0.5 * np.abs(t - 1)),
    "jensen_shannon": (dv.jensen_shannon, lambda t: 0.5 * (t * np.log(2 * t / (1 + t)) + np.log(2 / (1 + t)))),
    "alpha_0.3": (lambda p, q: dv.alpha_divergence(p, q, 0.3), lambda t: (t**0.3 - 0.3 * t + 0.3 - 1) / (0.3 * -0.7)),
    "alpha_2.5": (lambda p, q: dv.alpha_divergence(p, q, 2.5), lambda t: (t**2.5 - 2.5 * t + 1.5) / (2.5 * 1.5)),
}


@pytest.mark.parametrize("name", list(F), ids=list(F))
def test_named_divergences_equal_their_f_divergence(name):
    func, f = F[name]
    got = func(P, Q)
    assert got.shape == (4,)
    ref = np.array([np.sum(q * f(p / q)) for p, q in zip(P, Q)])  # explicit per-pair sum
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    np.testing.assert_allclose(dv.f_divergence(P, Q, f), ref, rtol=1e-12)
    np.testing.assert_allclose(func(P, P), 0.0, atol=1e-12)


def test_against_scipy():
    np.testing.assert_allclose(dv.kl(P, Q), entropy(P, Q, axis=-1), rtol=1e-12)
    np.testing.assert_allclose(dv.jensen_shannon(P, Q), jensenshannon(P, Q, axis=-1) ** 2, rtol=1e-10)


def test_zeros_follow_the_conventions():
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.25, 0.25, 0.5])
    np.testing.assert_allclose(dv.kl(p, q), np.log(2), rtol=1e-14)
    assert np.isinf(dv.kl(q, p)) and np.isinf(dv.chi2(q, p))
    np.testing.assert_allclose(dv.total_variation(p, q), 0.5, rtol=1e-14)
    np.testing.assert_allclose(dv.f_divergence(q, p, lambda t: 0.5 * np.abs(t - 1), f_slope_inf=0.5), 0.5, rtol=1e-14)
    with pytest.raises(ValueError, match="f_slope_inf"):
        dv.f_divergence(q, p, lambda t: t * np.log(t))


def test_alpha_families_reduce_to_kl():
    kl = dv.kl(P, Q)
    for eps in (1e-6, -1e-6):
        np.testing.assert_allclose(dv.renyi(P, Q, 1 + eps), kl, rtol=1e-5)
        np.testing.assert_allclose(dv.alpha_divergence(P, Q, 1 + eps), kl, rtol=1e-5)
        np.testing.assert_allclose(dv.relative_alpha_entropy(P, Q, 1 + eps), kl, rtol=1e-5)
        np.testing.assert_allclose(dv.alpha_divergence(P, Q, eps), dv.kl(Q, P), rtol=1e-5)
    np.testing.assert_allclose(dv.alpha_divergence(P, Q, 0.5), 4 * dv.hellinger(P, Q), rtol=1e-12)
    np.testing.assert_allclose(dv.renyi(P, Q, np.inf), np.log((P / Q).max(-1)), rtol=1e-12)
    np.testing.assert_allclose(dv.renyi(P, Q, 0.5), -2 * np.log(1 - dv.hellinger(P, Q)), rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.3, 0.7, 1.6, 3.0], ids=lambda a: f"alpha={a}")
def test_relative_alpha_entropy_is_renyi_between_escorts(alpha):
    got = dv.relative_alpha_entropy(P, Q, alpha)
    ref = dv.renyi(dv.escort(P, alpha), dv.escort(Q, alpha), 1 / alpha)
    np.testing.assert_allclose(got, ref, rtol=1e-10)
    assert np.all(got > 0)
    np.testing.assert_allclose(dv.relative_alpha_entropy(P, P, alpha), 0.0, atol=1e-12)
    np.testing.assert_allclose(dv.escort(P, alpha).sum(-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(dv.escort(P, 1.0), P, rtol=1e-14)


def test_mean_kl_for_per_sample_class_distributions():
    np.testing.assert_allclose(dv.mean_kl(P, Q), np.mean([entropy(p, q) for p, q in zip(P, Q)]), rtol=1e-12)
    np.testing.assert_allclose(dv.mean_kl(P.T, Q.T, axis=0), dv.mean_kl(P, Q), rtol=1e-12)
    q0 = np.array([[1.0, 0.0]])
    assert np.isfinite(dv.mean_kl(np.array([[0.5, 0.5]]), q0)) and dv.mean_kl(np.array([[0.5, 0.5]]), q0) > 10


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="does not sum to 1"):
        dv.kl([0.5, 0.6], [0.5, 0.5])
    with pytest.raises(ValueError, match="negative"):
        dv.hellinger([1.5, -0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="broadcast"):
        dv.kl(P, Q[:, :3])
    with pytest.raises(ValueError, match="α > 0"):
        dv.relative_alpha_entropy(P, Q, 0.0)
