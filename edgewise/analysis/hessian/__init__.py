"""Hessian structure of a loss: Hessian = G (Gauss–Newton) + H, spectra, curvature along the gradient.

Matrix-free operators (curvlinops), Lanczos extreme eigenvalues, spectral density and Hutchinson
traces; the split ĝᵀ∇²Lĝ = ĝᵀGĝ + ĝᵀHĝ tracked through training and the width experiment of
Littwin & Wolf, "On the Convex Behavior of Deep Neural Networks in Relation to the Layers' Width";
per-layer trace sensitivity (HAWQ-V2) for mixed-precision quantisation and pruning.
"""
from __future__ import annotations

from edgewise.analysis.hessian.curvature import CurvatureSplit, TrackConfig, curvature_along, track_training
from edgewise.analysis.hessian.operators import (
    CurvatureOperators,
    curvature_operators,
    dense_curvature,
    flat_params,
    gradient_and_loss,
)
from edgewise.analysis.hessian.sensitivity import high_precision_layers, layer_sensitivity, layer_traces
from edgewise.analysis.hessian.spectrum import (
    TraceEstimate,
    Which,
    extreme_eigenvalues,
    hutchinson_trace,
    spectral_density,
)
from edgewise.analysis.hessian.width import (
    Activation,
    WidthConfig,
    WidthRun,
    digits_data,
    make_mlp,
    plot_width_runs,
    run_width_experiment,
    summarise,
    verdicts,
    width_experiment,
    write_width_report,
)

__all__ = [
    "CurvatureOperators", "curvature_operators", "dense_curvature", "flat_params", "gradient_and_loss",
    "Which", "extreme_eigenvalues", "spectral_density", "hutchinson_trace", "TraceEstimate",
    "CurvatureSplit", "TrackConfig", "curvature_along", "track_training",
    "layer_sensitivity", "layer_traces", "high_precision_layers",
    "Activation", "WidthConfig", "WidthRun", "digits_data", "make_mlp", "run_width_experiment",
    "summarise", "plot_width_runs", "verdicts", "write_width_report", "width_experiment",
]
