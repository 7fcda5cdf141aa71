"""Closed-form Gaussian and exponential-family divergences against numerical integration and sums."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from edgewise.analysis import divergences as dv

M1, V1, M2, V2 = 0.3, 0.9, -0.4, 1.7


def _quad(f) -> float:
    return integrate.quad(f, -30, 30, epsabs=1e-13, epsrel=1e-12, limit=400)[0]


def _pdf(m, v):
    return lambda x: stats.norm.pdf(x, m, np.sqrt(v))


def test_gaussian_kl_1d_against_quadrature():
    p, q = _pdf(M1, V1), _pdf(M2, V2)
    ref = _quad(lambda x: p(x) * (np.log(p(x)) - np.log(q(x))))
    np.testing.assert_allclose(dv.gaussian_kl(M1, V1, M2, V2), ref, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("alpha", [0.3, 0.8, 1.4], ids=lambda a: f"alpha={a}")
def test_gaussian_renyi_and_relative_alpha_entropy_against_quadrature(alpha):
    p, q = _pdf(M1, V1), _pdf(M2, V2)
    ren = np.log(_quad(lambda x: p(x) ** alpha * q(x) ** (1 - alpha))) / (alpha - 1)
    np.testing.assert_allclose(dv.gaussian_renyi(M1, V1, M2, V2, alpha), ren, rtol=1e-6, atol=1e-9)
    # relative α-entropy from its definition with integrals (Kumar–Sundaresan form)
    ria = (alpha / (1 - alpha) * np.log(_quad(lambda x: p(x) * q(x) ** (alpha - 1)))
           - np.log(_quad(lambda x: p(x) ** alpha)) / (1 - alpha) + np.log(_quad(lambda x: q(x) ** alpha)))
    np.testing.assert_allclose(dv.gaussian_relative_alpha_entropy(M1, V1, M2, V2, alpha), ria, rtol=1e-6, atol=1e-9)


def test_gaussian_hellinger_and_chi2_against_quadrature():
    p, q = _pdf(M1, V1), _pdf(M2, V2)
    np.testing.assert_allclose(dv.gaussian_hellinger(M1, V1, M2, V2), 1 - _quad(lambda x: np.sqrt(p(x) * q(x))),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(dv.gaussian_chi2(M1, V1, M2, V2), _quad(lambda x: p(x) ** 2 / q(x)) - 1,
                               rtol=1e-6, atol=1e-9)
    k = np.arange(200)
    pp, qq = stats.poisson.pmf(k, 3.0), stats.poisson.pmf(k, 4.5)
    np.testing.assert_allclose(dv.POISSON.hellinger(np.log(3.0), np.log(4.5)), 1 - np.sum(np.sqrt(pp * qq)), rtol=1e-9)
    np.testing.assert_allclose(dv.POISSON.chi2(np.log(3.0), np.log(4.5)), np.sum(pp**2 / qq) - 1, rtol=1e-9)


def test_divergent_integrals_give_inf():
    # ∫ p q^{α−1} diverges when q is much narrower than p and α < 1: the closed form says inf
    assert np.isinf(dv.gaussian_relative_alpha_entropy(M2, V2, M1, V1, 0.3))
    assert np.isinf(dv.gaussian_renyi(0.0, 1.0, 0.0, 0.2, 2.0))  # Σ_α = 2·0.2 − 1 < 0


def test_gaussian_multivariate_against_gauss_hermite():
    mu1, mu2 = np.array([0.2, -0.1]), np.array([-0.3, 0.4])
    c1, c2 = np.array([[1.2, 0.3], [0.3, 0.8]]), np.array([[0.9, -0.2], [-0.2, 1.1]])
    # E_{p}[log p − log q] with 40×40 Gauss–Hermite nodes mapped through the Cholesky factor of Σ₁
    z, w = np.polynomial.hermite_e.hermegauss(40)
    zz = np.stack(np.meshgrid(z, z, indexing="ij"), -1).reshape(-1, 2)
    ww = np.outer(w, w).reshape(-1) / (2 * np.pi)
    x = mu1 + zz @ np.linalg.cholesky(c1).T
    lp = stats.multivariate_normal(mu1, c1).logpdf(x)
    lq = stats.multivariate_normal(mu2, c2).logpdf(x)
    np.testing.assert_allclose(dv.gaussian_kl(mu1, c1, mu2, c2), np.sum(ww * (lp - lq)), rtol=1e-10)
    alpha = 0.6  # D_α = 1/(α−1) log E_p[(q/p)^{1−α}]
    ref = np.log(np.sum(ww * np.exp((1 - alpha) * (lq - lp)))) / (alpha - 1)
    np.testing.assert_allclose(dv.gaussian_renyi(mu1, c1, mu2, c2, alpha), ref, rtol=1e-8)
    np.testing.assert_allclose(dv.gaussian_renyi(mu1, c1, mu2, c2, 1.0), dv.gaussian_kl(mu1, c1, mu2, c2))


def test_gaussian_escort_is_a_narrower_gaussian():
    alpha = 1.7
    m, c = dv.gaussian_escort(M1, V1, alpha)
    ref = _quad(lambda x: _pdf(M1, V1)(x) ** alpha)
    np.testing.assert_allclose(_pdf(M1, V1)(0.9) ** alpha / ref, _pdf(m[0], c[0, 0])(0.9), rtol=1e-8)


@pytest.mark.parametrize("alpha", [0.5, 1.0, 2.0], ids=lambda a: f"alpha={a}")
def test_exponential_families_against_sums_and_quadrature(alpha):
    k = np.arange(200)
    l1, l2 = 3.0, 4.5
    p, q = stats.poisson.pmf(k, l1), stats.poisson.pmf(k, l2)
    ref = dv.renyi(p / p.sum(), q / q.sum(), alpha)
    np.testing.assert_allclose(dv.POISSON.renyi(np.log(l1), np.log(l2), alpha), ref, rtol=1e-9)
    t1, t2 = 0.3, 0.65
    bern = dv.renyi([1 - t1, t1], [1 - t2, t2], alpha)
    np.testing.assert_allclose(dv.BERNOULLI.renyi(np.log(t1 / (1 - t1)), np.log(t2 / (1 - t2)), alpha), bern, rtol=1e-10)
    r1, r2 = 1.3, 0.6
    lp1 = lambda x: np.log(r1) - r1 * x  # noqa: E731  (log densities: no 0·inf in the tails)
    lp2 = lambda x: np.log(r2) - r2 * x  # noqa: E731
    if alpha == 1.0:
        ex = integrate.quad(lambda x: np.exp(lp1(x)) * (lp1(x) - lp2(x)), 0, np.inf, epsabs=1e-13)[0]
    else:
        integrand = lambda x: np.exp(alpha * lp1(x) + (1 - alpha) * lp2(x))  # noqa: E731
        ex = np.log(integrate.quad(integrand, 0, np.inf, epsabs=1e-13)[0]) / (alpha - 1)
    np.testing.assert_allclose(dv.EXPONENTIAL.renyi(-r1, -r2, alpha), ex, rtol=1e-6)


def test_exponential_family_moments_and_domain():
    np.testing.assert_allclose(dv.POISSON.mean(np.log(3.0)), [3.0], rtol=1e-12)
    np.testing.assert_allclose(dv.POISSON.fisher(np.log(3.0)), [[3.0]], rtol=1e-12)
    assert np.isinf(dv.EXPONENTIAL.renyi(-1.0, -3.0, 2.0))  # 2η₁ − η₂ = 1 leaves the domain
    with pytest.raises(ValueError, match="outside the domain"):
        dv.EXPONENTIAL.kl(1.0, -1.0)
    with pytest.raises(ValueError, match="positive definite"):
        dv.gaussian_kl(0.0, -1.0, 0.0, 1.0)
