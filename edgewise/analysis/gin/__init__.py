"""GIN: volume-preserving flows that separate informative latents from noise (Sorrenson et al., ICLR 2020)."""
from __future__ import annotations

from edgewise.analysis.gin._artificial import (
    ArtificialConfig,
    ArtificialResult,
    flow_checks,
    make_artificial,
    run_artificial,
)
from edgewise.analysis.gin._flow import FlowConfig, GinModel, TrainConfig, build_flow, fit_gin, jacobian_logdet
from edgewise.analysis.gin._latents import Spectrum, latent_spectrum, mean_corr_coef, reconstruct_from, traverse

__all__ = [
    "ArtificialConfig",
    "ArtificialResult",
    "FlowConfig",
    "GinModel",
    "Spectrum",
    "TrainConfig",
    "build_flow",
    "fit_gin",
    "flow_checks",
    "jacobian_logdet",
    "latent_spectrum",
    "make_artificial",
    "mean_corr_coef",
    "reconstruct_from",
    "run_artificial",
    "traverse",
]
