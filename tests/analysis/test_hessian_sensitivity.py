"""Per-layer Hessian-trace sensitivity against exact block traces of the dense Hessian."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from edgewise.analysis.hessian import dense_curvature, high_precision_layers, layer_sensitivity, layer_traces


def _setup():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    g = torch.Generator().manual_seed(5)
    x, y = torch.randn(40, 4, generator=g).double(), torch.randint(0, 3, (40,), generator=g)
    return model, nn.CrossEntropyLoss(), [(x[:20], y[:20]), (x[20:], y[20:])]


def test_block_traces_are_unbiased_within_their_exact_standard_error():
    model, loss_fn, data = _setup()
    hess, _ = dense_curvature(model, loss_fn, data)
    h = hess.numpy()
    n_probes = 400
    est = layer_traces(model, loss_fn, data, n_probes=n_probes, seed=1)
    assert list(est) == ["0", "2", "4"]  # modules that own parameters, in model order
    start = 0
    for name, (trace, size) in est.items():
        blk = slice(start, start + size)
        exact = np.trace(h[blk, blk])
        # Var of v_lᵀ(Hv)_l for Rademacher v: 4 Σ_{i<j in l} H_ij² + Σ_{i in l, j not in l} H_ij²
        inner = h[blk, blk]
        var = 2 * (np.sum(inner**2) - np.sum(np.diag(inner) ** 2)) + np.sum(h[blk, :] ** 2) - np.sum(inner**2)
        assert abs(trace - exact) <= 4 * np.sqrt(var / n_probes), (name, trace, exact)
        start += size
    assert start == h.shape[0]


def test_sensitivity_is_trace_per_parameter_and_ranks_layers():
    model, loss_fn, data = _setup()
    traces = layer_traces(model, loss_fn, data, n_probes=16, seed=2)
    sens = layer_sensitivity(model, loss_fn, data, n_probes=16, seed=2)
    for name, (t, size) in traces.items():
        np.testing.assert_allclose(sens[name], t / size, rtol=1e-12)
    top = high_precision_layers(sens, fraction=0.34)
    assert top == [max(sens, key=sens.get)]
    assert high_precision_layers(sens, fraction=1.0) == sorted(sens, key=sens.get, reverse=True)
    with pytest.raises(ValueError, match="fraction"):
        high_precision_layers(sens, fraction=0.0)
