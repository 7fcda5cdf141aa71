"""Baselines: OLS with interaction (exact on a linear problem), meta-learners, TARNet/CFR, Sinkhorn, registry."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from edgewise.analysis.ite import SyntheticConfig, make_estimator, make_synthetic, protocol_split, register
from edgewise.analysis.ite.baselines import OLSInteraction, RepNet, RepNetConfig, sinkhorn_distance


def test_ols_interaction_is_exact_on_a_linear_problem():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 4))
    t = rng.integers(0, 2, 200)
    b0, b1 = rng.standard_normal(4), rng.standard_normal(4)
    mu0, mu1 = 1 + x @ b0, -2 + x @ b1
    model = OLSInteraction().fit(x, t, np.where(t == 1, mu1, mu0))
    p0, p1 = model.predict_outcomes(x)
    np.testing.assert_allclose(p0, mu0, atol=1e-9)
    np.testing.assert_allclose(p1 - p0, mu1 - mu0, atol=1e-9)


@pytest.fixture(scope="module")
def problem():
    data = make_synthetic(SyntheticConfig(n=500, imbalance=0.5, noise=0.3, seed=2))
    split = protocol_split(data.t, seed=2)
    return data, data.subset(split.train), data.subset(split.valid)


@pytest.mark.parametrize("name", ["t_learner_gb", "s_learner_gb"], ids=["T-learner", "S-learner"])
def test_meta_learners_beat_the_constant_effect(problem, name):
    data, tr, va = problem
    p0, p1 = make_estimator(name).fit(tr.x, tr.t, tr.y, x_val=va.x, t_val=va.t, y_val=va.y).predict_outcomes(data.x)
    pehe = np.sqrt(np.mean((p1 - p0 - data.ite) ** 2))
    assert pehe < 0.8 * data.ite.std(), f"{name}: sqrt(PEHE) {pehe:.3f}, sd(ITE) {data.ite.std():.3f}"


@pytest.mark.parametrize("alpha", [0.0, 1.0], ids=["TARNet", "CFR-Wass"])
def test_representation_nets_learn_the_effect(problem, alpha):
    torch.set_num_threads(1)
    data, tr, va = problem
    net = RepNet(RepNetConfig(alpha=alpha, epochs=40, rep_width=64, head_width=32))
    p0, p1 = net.fit(tr.x, tr.t, tr.y, x_val=va.x, t_val=va.t, y_val=va.y).predict_outcomes(data.x)
    pehe = np.sqrt(np.mean((p1 - p0 - data.ite) ** 2))
    assert pehe < 0.8 * data.ite.std(), f"alpha={alpha}: sqrt(PEHE) {pehe:.3f}, sd(ITE) {data.ite.std():.3f}"


def test_sinkhorn_approximates_wasserstein_of_a_shift():
    rng = np.random.default_rng(3)
    a = torch.tensor(rng.standard_normal((60, 1)))
    shift = 3.0
    w_shift = float(sinkhorn_distance(a, a + shift, lam=50.0, iters=200))
    w_same = float(sinkhorn_distance(a, a.clone(), lam=50.0, iters=200))
    # W1 between a cloud and its translate is the shift; entropic smoothing adds a little.
    np.testing.assert_allclose(w_shift, shift, rtol=0.05)
    assert w_same < 0.2 * w_shift


def test_registry_rejects_duplicates_and_lists_names():
    with pytest.raises(ValueError, match="already registered"):
        register("dklite")(lambda seed: None)
    with pytest.raises(ValueError, match="known: dklite, .*tarnet.*ols_interact"):
        make_estimator("causal_forest")
