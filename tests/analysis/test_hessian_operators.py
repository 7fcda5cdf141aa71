"""Matrix-free Hessian / GGN / H products and spectra against dense float64 torch.func references."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgewise.analysis.hessian import (
    curvature_operators,
    dense_curvature,
    extreme_eigenvalues,
    hutchinson_trace,
    spectral_density,
)


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))


def _cnn() -> nn.Module:
    return nn.Sequential(nn.Conv1d(1, 3, 3), nn.Tanh(), nn.Conv1d(3, 2, 3, stride=2), nn.Softplus(), nn.Flatten(),
                         nn.Linear(12, 3))


def _data(model: str, loss: str, n: int = 24):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 4, generator=g) if model == "mlp" else torch.randn(n, 1, 16, generator=g)
    y = torch.randint(0, 3, (n,), generator=g) if loss == "ce" else torch.randn(n, 3, generator=g)
    x = x.double()
    y = y if loss == "ce" else y.double()
    return [(x[: n // 2], y[: n // 2]), (x[n // 2 :], y[n // 2 :])]  # two batches: tests the weighting


LOSSES = {"ce": lambda: nn.CrossEntropyLoss(), "mse": lambda: nn.MSELoss(),
          "huber-sum": lambda: nn.HuberLoss(reduction="sum", delta=0.5)}


@pytest.fixture(scope="module", params=[("mlp", "ce"), ("mlp", "mse"), ("cnn", "ce"), ("cnn", "mse"),
                                        ("mlp", "huber-sum")], ids=lambda p: "-".join(p))
def case(request):
    model_name, loss_name = request.param
    torch.manual_seed(0)
    model = (_mlp() if model_name == "mlp" else _cnn()).double()
    loss_fn = LOSSES[loss_name]()
    data = _data(model_name, "ce" if loss_name == "ce" else "mse")
    ops = curvature_operators(model, loss_fn, data, check_deterministic=True)
    hess, ggn = dense_curvature(model, loss_fn, data)
    return ops, hess, ggn


def test_products_match_dense_float64(case):
    ops, hess, ggn = case
    v = torch.randn(ops.n_params, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for op, dense in ((ops.hessian, hess), (ops.ggn, ggn), (ops.residual, hess - ggn)):
        ref = (dense @ v).numpy()
        # 1e-8 relative to the largest entry: float64 round-off is ~1e-15, the check leaves room only for it
        np.testing.assert_allclose((op @ v).numpy(), ref, rtol=1e-8, atol=1e-8 * np.abs(ref).max())


def test_lanczos_extremes_match_eigh(case):
    ops, hess, ggn = case
    evals_h = torch.linalg.eigvalsh(hess).numpy()
    evals_r = torch.linalg.eigvalsh(hess - ggn).numpy()
    scale = np.abs(evals_h).max()
    np.testing.assert_allclose(extreme_eigenvalues(ops.hessian, 3, tol=0, ncv=ops.n_params), evals_h[::-1][:3], rtol=1e-8, atol=1e-10 * scale)
    np.testing.assert_allclose(extreme_eigenvalues(ops.residual, 2, which="smallest", tol=0, ncv=ops.n_params), evals_r[:2][::-1],
                               rtol=1e-8, atol=1e-10 * scale)


def test_residual_holds_the_negative_curvature(case):
    ops, hess, ggn = case
    evals_g = torch.linalg.eigvalsh(ggn).numpy()
    evals_r = torch.linalg.eigvalsh(hess - ggn).numpy()
    scale = np.abs(torch.linalg.eigvalsh(hess).numpy()).max()
    assert evals_g.min() > -1e-10 * scale, "the GGN of a convex loss must be positive semi-definite"
    assert evals_r.min() < -1e-3 * scale, "H should carry clearly negative eigenvalues"
    # the Hessian's negative curvature comes from H: its most negative eigenvalue is at most H's
    assert evals_r.min() <= torch.linalg.eigvalsh(hess).numpy().min() + 1e-10 * scale


def test_hutchinson_trace_within_its_standard_error(case):
    ops, hess, _ = case
    est = hutchinson_trace(ops.hessian, 64, seed=3)
    exact = float(torch.trace(hess))
    assert est.stderr > 0
    assert abs(est.trace - exact) <= 4 * est.stderr, (est, exact)


def test_spectral_density_integrates_to_one_and_spans_the_spectrum():
    torch.manual_seed(0)
    model = _mlp().double()
    data = _data("mlp", "ce")
    ops = curvature_operators(model, nn.CrossEntropyLoss(), data)
    hess, _ = dense_curvature(model, nn.CrossEntropyLoss(), data)
    evals = torch.linalg.eigvalsh(hess).numpy()
    grid, dens = spectral_density(ops.hessian, n_lanczos=ops.n_params, n_repeats=1, n_points=4000,
                                  boundaries=(float(evals[0]), float(evals[-1])))
    dx = grid[1] - grid[0]
    np.testing.assert_allclose(dens.sum() * dx, 1.0, atol=1e-3)
    # with as many Lanczos steps as parameters every eigenvalue is a quadrature node: the density covers both ends
    assert grid[dens > 1e-3 * dens.max()].min() < evals[0] + 0.05 * np.ptp(evals)
    assert grid[dens > 1e-3 * dens.max()].max() > evals[-1] - 0.05 * np.ptp(evals)


def test_bad_inputs_are_explained():
    model = _mlp()
    with pytest.raises(ValueError, match="reduction"):
        curvature_operators(model, lambda a, b: (a - b).pow(2).mean(), [(torch.zeros(2, 4), torch.zeros(2, 3))])
    with pytest.raises(ValueError, match="no data"):
        curvature_operators(model, nn.MSELoss(), [])
    ops = curvature_operators(model, nn.MSELoss(), [(torch.zeros(2, 4), torch.zeros(2, 3))])
    with pytest.raises(ValueError, match="k must be"):
        extreme_eigenvalues(ops.hessian, ops.n_params)
