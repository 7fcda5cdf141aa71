"""Grouped-observations VAE with an adversarial style/content MI term (Németh, AAAI 2020)."""
from __future__ import annotations

from edgewise.analysis.disentangle._compare import (
    DEFAULTS,
    Comparison,
    GroupedData,
    analyze_disentangle,
    compare,
    grouped_beats,
    grouped_digits,
    training_cost,
    validation_folds,
    validation_split,
)
from edgewise.analysis.disentangle._measure import (Measures, extra_error_share, heldout_reconstruction, measure,
                                                  probe_accuracy, reconstruction_errors)
from edgewise.analysis.disentangle._vae import (GroupSampler, GroupVAE, StyleContentCritic, VaeConfig, fit_group_vae,
                                              group_batches)

__all__ = [
    "DEFAULTS",
    "Comparison",
    "GroupVAE",
    "GroupedData",
    "Measures",
    "StyleContentCritic",
    "VaeConfig",
    "analyze_disentangle",
    "compare",
    "extra_error_share",
    "fit_group_vae",
    "group_batches",
    "GroupSampler",
    "grouped_beats",
    "grouped_digits",
    "heldout_reconstruction",
    "measure",
    "probe_accuracy",
    "reconstruction_errors",
    "training_cost",
    "validation_folds",
    "validation_split",
]
