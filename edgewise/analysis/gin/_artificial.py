"""The artificial experiment of Sorrenson, Rother & Köthe (ICLR 2020), section 5.1.

A 2-D latent drawn from a 5-component Gaussian mixture (means U(-5, 5), standard deviations
U(0.5, 3) per axis) plus 8 noise latents (std 0.01) is mixed into 10-D by a randomly initialised GLOW
network (8 affine couplings, FrEIA's ``GLOWCouplingBlock``). A GIN trained on the 10-D data with the
mixture component as class should find exactly 2 latents that stand out, and they should match the
true ones (scored with MCC, up to sign and permutation; the paper shows pictures only).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from edgewise.analysis.gin._flow import FlowConfig, GinModel, TrainConfig, build_flow, fit_gin, jacobian_logdet
from edgewise.analysis.gin._latents import Spectrum, latent_spectrum, mean_corr_coef

__all__ = ["ArtificialConfig", "ArtificialResult", "make_artificial", "run_artificial", "flow_checks"]


@dataclass(frozen=True)
class ArtificialConfig:
    """The experiment's data and model (defaults: the paper's).

    Attributes:
        n: samples.
        n_components: mixture components (the classes the GIN is conditioned on).
        n_informative: informative latent dimensions.
        n_noise: noise latent dimensions.
        noise_std: their standard deviation.
        seed: seeds data and mixing network.
        flow: the GIN's shape.
        train: its training schedule.
    """

    n: int = 10_000
    n_components: int = 5
    n_informative: int = 2
    n_noise: int = 8
    noise_std: float = 0.01
    seed: int = 0
    flow: FlowConfig = field(default_factory=FlowConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        if self.n < 10 or self.n_components < 1 or self.n_informative < 1 or self.n_noise < 0:
            raise ValueError(
                f"need n >= 10, n_components >= 1, n_informative >= 1, n_noise >= 0; got {self.n}, "
                f"{self.n_components}, {self.n_informative}, {self.n_noise}"
            )
        if self.n_informative + self.n_noise < 2:
            raise ValueError("need at least 2 dimensions in total for a coupling flow")
        if not self.noise_std > 0:
            raise ValueError(f"noise_std must be > 0, got {self.noise_std}")


@dataclass(frozen=True)
class ArtificialResult:
    """What the experiment measured.

    Attributes:
        spectrum: the trained GIN's latent spread over the data.
        mcc: MCC between the true informative latents and the recovered ones.
        max_abs_logdet: max |log det J| of the trained GIN over a batch of data (autograd, float64).
        max_abs_logdet_float32: the same computed in float32.
        max_reconstruction_error: max |f⁻¹(f(x)) - x| over all data, float32.
        history: NLL per dimension per epoch.
    """

    spectrum: Spectrum
    mcc: float
    max_abs_logdet: float
    max_abs_logdet_float32: float
    max_reconstruction_error: float
    history: list[float]
    latent_true: np.ndarray = field(repr=False)
    latent_est: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)

    def summary(self) -> dict:
        """The JSON line of ``edgewise analyze gin --artificial --json``."""
        return {
            "informative": self.spectrum.n_informative,
            "mcc": round(self.mcc, 6),
            "max_abs_logdet": float(f"{self.max_abs_logdet:.3g}"),
            "max_reconstruction_error": float(f"{self.max_reconstruction_error:.3g}"),
        }


def make_artificial(config: ArtificialConfig = ArtificialConfig()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw the experiment's data.

    Returns:
        latent float32 [n, n_informative + n_noise], data float32 [n, same], labels int64 [n].
    """
    gen = torch.Generator().manual_seed(config.seed)
    k, d = config.n_components, config.n_informative
    means = torch.rand(k, d, generator=gen) * 10 - 5
    stds = torch.rand(k, d, generator=gen) * 2.5 + 0.5
    labels = torch.randint(k, (config.n,), generator=gen)
    informative = means[labels] + torch.randn(config.n, d, generator=gen) * stds[labels]
    noise = torch.randn(config.n, config.n_noise, generator=gen) * config.noise_std
    latent = torch.cat([informative, noise], 1)
    mixer = build_flow(latent.shape[1], FlowConfig(coupling="glow", init_identity=False, seed=config.seed + 1))
    with torch.no_grad():
        data = mixer(latent)[0]
    return latent.numpy(), data.numpy(), labels.numpy()


def flow_checks(model: GinModel, x: np.ndarray, *, n_jacobian: int = 256) -> tuple[float, float, float]:
    """Volume preservation and invertibility measured on data.

    Returns:
        (max |log det J| in float64, the same in float32, max |f⁻¹(f(x)) - x| in float32).
    """
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float32)
    sub = xt[:n_jacobian]
    ld64 = float(jacobian_logdet(model.flow, sub, dtype=torch.float64).abs().max())
    ld32 = float(jacobian_logdet(model.flow, sub, dtype=torch.float32).abs().max())
    with torch.no_grad():
        err = float((model.inverse(model(xt)) - xt).abs().max())
    return ld64, ld32, err


def run_artificial(config: ArtificialConfig = ArtificialConfig(), *, progress: bool = False) -> ArtificialResult:
    """Generate the data, train a GIN on it, and measure what it recovered."""
    latent, data, labels = make_artificial(config)
    model, history = fit_gin(data, labels, flow=config.flow, train=config.train, progress=progress)
    with torch.no_grad():
        z = model(torch.as_tensor(data)).numpy()
    spectrum = latent_spectrum(z)
    est = z[:, list(spectrum.informative)]
    true = latent[:, : config.n_informative]
    if est.shape[1] >= true.shape[1]:
        mcc, match = mean_corr_coef(true, est)
        est = est[:, match]  # recovered latents in the order of the true ones they match (for plots)
    else:  # fewer latents stand out than exist: score what was found against its best partners
        mcc, _ = mean_corr_coef(est, true)
        mcc *= est.shape[1] / true.shape[1]
    ld64, ld32, err = flow_checks(model, data)
    return ArtificialResult(spectrum, mcc, ld64, ld32, err, history, true, est, labels)
