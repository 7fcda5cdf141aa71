"""GIN (Sorrenson et al. 2020): volume preservation, invertibility, latent reading, the artificial experiment."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from edgewise.analysis.gin import (
    FlowConfig,
    TrainConfig,
    build_flow,
    fit_gin,
    jacobian_logdet,
    latent_spectrum,
    mean_corr_coef,
    reconstruct_from,
    traverse,
)


@pytest.mark.parametrize(
    ("dim", "scale"), [(2, 3.0), (7, 1.0), (10, 0.01), (10, 2.0), (64, 1.0)],
    ids=["d2", "d7-odd", "d10-small", "d10", "d64"],
)
def test_gin_is_volume_preserving_and_invertible(dim, scale):
    # Random (not identity) subnets so every coupling really scales; any input, any scale.
    flow = build_flow(dim, FlowConfig(init_identity=False, hidden=32, seed=dim))
    x = torch.randn(64, dim, generator=torch.Generator().manual_seed(1)) * scale
    logdet64 = jacobian_logdet(flow, x, dtype=torch.float64)
    # float64 measures the architecture. (A float32 determinant of these random, badly conditioned
    # Jacobians carries rounding up to ~3e-4; on the trained flow of the slow test it is ~2e-6.)
    np.testing.assert_allclose(logdet64.numpy(), 0.0, atol=1e-5)
    with torch.no_grad():
        z, log_jac = flow(x)
        x_back = flow(z, rev=True)[0]
    # float32 inverse: exact up to rounding of the largest value inside the flow. (Random untrained
    # flows fed inputs of std 5 reach |z| ~ 1e3-1e6 and lose ~1e-2 absolute: rounding, not the flow.)
    np.testing.assert_allclose(x_back.numpy(), x.numpy(), atol=1e-5, rtol=0)
    assert float(torch.as_tensor(log_jac).abs().max()) == 0.0  # FrEIA's own claim agrees
    assert float((z - x).abs().max()) > 1e-2 * scale  # and the flow is not the identity


def test_glow_is_not_volume_preserving():
    # The same check on a GLOW flow must fail: the measurement can tell the difference.
    flow = build_flow(10, FlowConfig(coupling="glow", init_identity=False, seed=3))
    x = torch.randn(32, 10, generator=torch.Generator().manual_seed(0))
    autograd = jacobian_logdet(flow, x)
    assert float(autograd.abs().max()) > 0.1
    with torch.no_grad():
        claimed = flow(x.double().float())[1]
    np.testing.assert_allclose(autograd.numpy(), claimed.numpy(), atol=1e-4)


def test_mean_corr_coef_recovers_permutation_and_sign():
    rng = np.random.default_rng(0)
    true = rng.normal(size=(2000, 2))
    est = np.column_stack([rng.normal(size=2000), -3 * true[:, 1] + 1, 0.5 * true[:, 0]])
    mcc, match = mean_corr_coef(true, est)
    np.testing.assert_allclose(mcc, 1.0, atol=1e-12)
    np.testing.assert_array_equal(match, [2, 1])
    mcc_noise, _ = mean_corr_coef(true, rng.normal(size=(2000, 2)))
    assert mcc_noise < 0.1


def test_latent_spectrum_counts_the_latents_above_the_drop():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(5000, 6)) * np.array([0.01, 3.0, 0.012, 1.5, 0.009, 0.011])
    spec = latent_spectrum(z)
    assert spec.informative == (1, 3)
    assert spec.drop > 50
    np.testing.assert_allclose(spec.std, z.std(0))
    with pytest.raises(ValueError, match="expected latents"):
        latent_spectrum(np.zeros(5))


def test_fit_gin_lowers_nll_and_traversals_decode():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    latent = np.column_stack([rng.normal(size=600) + 2 * y, 0.01 * rng.normal(size=(600, 3))])
    rot, _ = np.linalg.qr(rng.normal(size=(4, 4)))  # spread the one informative direction over all features
    x = (latent @ rot).astype(np.float32)
    model, hist = fit_gin(x, y, flow=FlowConfig(n_blocks=4, hidden=16), train=TrainConfig(epochs=30, lr=1e-2, batch_size=200))
    assert hist[-1] < hist[0] - 0.5
    with torch.no_grad():
        z = model(torch.as_tensor(x)).numpy()
    assert latent_spectrum(z).n_informative == 1
    # Class statistics were set from the data; decoding a class mean lands near that class's data.
    for c in range(3):
        np.testing.assert_allclose(model.mu[c].detach().numpy(), z[y == c].mean(0), rtol=1e-4, atol=1e-5)
    rows = traverse(model, model.mu[0].detach().numpy(), 0, np.linspace(-1, 1, 5))
    assert rows.shape == (5, 4) and np.isfinite(rows).all()
    rec = reconstruct_from(model, x, y, keep=tuple(range(4)))
    np.testing.assert_allclose(rec, x, atol=1e-5)


def test_fit_gin_rejects_bad_input():
    with pytest.raises(ValueError, match="one class label per sample"):
        fit_gin(np.zeros((10, 4)), np.zeros(9, dtype=int))
    with pytest.raises(ValueError, match=r"\[samples, features\]"):
        fit_gin(np.zeros(10))
    with pytest.raises(ValueError, match="coupling must be one of"):
        FlowConfig(coupling="nice")
    with pytest.raises(ValueError, match="raise batch_size"):
        fit_gin(np.zeros((4, 2)), np.arange(4), train=TrainConfig(epochs=1, batch_size=4))


@pytest.mark.slow
def test_artificial_experiment_cli_meets_acceptance(capsys):
    # The paper's experiment end to end through the CLI (n=10,000, 80 epochs): ~15 s on one thread.
    from edgewise.cli import main

    assert main(["analyze", "gin", "--artificial", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == {"informative", "mcc", "max_abs_logdet", "max_reconstruction_error"}
    assert out["informative"] == 2
    assert out["mcc"] >= 0.9
    assert out["max_abs_logdet"] <= 1e-5
    assert out["max_reconstruction_error"] <= 1e-5


def test_digits_and_ecg_beats_are_cut_as_documented(ludb_dir):
    from edgewise.analysis.gin import BeatConfig, digits_data, ecg_beats

    x, y = digits_data()
    assert x.shape == (1797, 64) and x.dtype == np.float32 and set(np.unique(y)) == set(range(10))
    assert 0 <= x.min() and x.max() < 17 / 16  # dequantised 0..16 scaled by 1/16
    beats, subj, ids = ecg_beats(ludb_dir, BeatConfig(max_records=3))
    assert beats.shape[1] == 70  # (0.25 + 0.45) s at 500 Hz, averaged over 5 -> 100 Hz
    np.testing.assert_array_equal(np.unique(subj), np.arange(len(ids)))
    np.testing.assert_allclose(np.median(beats, axis=1), 0, atol=0.05)  # per-beat baseline removed
    with pytest.raises(ValueError, match="before_s"):
        BeatConfig(before_s=-1)


def test_plots_are_written(tmp_path):
    from edgewise.analysis.gin import plot_samples, plot_spectrum, plot_traversals

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    x = rng.uniform(0, 1, size=(200, 16)).astype(np.float32)
    model, _ = fit_gin(x, y, flow=FlowConfig(n_blocks=2, hidden=8), train=TrainConfig(epochs=2, batch_size=100))
    with torch.no_grad():
        spec = latent_spectrum(model(torch.as_tensor(x)).numpy())
    paths = [
        plot_spectrum(spec, tmp_path / "s.png", title="t"),
        plot_traversals(model, (0, 1), tmp_path / "img.png", image_shape=(4, 4)),
        plot_traversals(model, (0, 1), tmp_path / "trace.png"),
        plot_samples(model, [0, 1], tmp_path / "samples.png", per_class=3, image_shape=(4, 4)),
    ]
    for p in paths:
        assert p.read_bytes()[:4] == b"\x89PNG"
