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
from edgewise.analysis.gin._real import BeatConfig, RealResult, digits_data, ecg_beats, run_real
from edgewise.analysis.gin._report import GinDataset, analyze_gin, plot_samples, plot_spectrum, plot_traversals

__all__ = [
    "ArtificialConfig",
    "ArtificialResult",
    "BeatConfig",
    "FlowConfig",
    "GinDataset",
    "GinModel",
    "RealResult",
    "Spectrum",
    "TrainConfig",
    "analyze_gin",
    "build_flow",
    "digits_data",
    "ecg_beats",
    "fit_gin",
    "flow_checks",
    "jacobian_logdet",
    "latent_spectrum",
    "make_artificial",
    "mean_corr_coef",
    "plot_samples",
    "plot_spectrum",
    "plot_traversals",
    "reconstruct_from",
    "run_artificial",
    "run_real",
    "traverse",
]
