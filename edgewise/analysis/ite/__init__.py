"""Individualized treatment effects: DKLITE (Zhang, Bellot & van der Schaar, AISTATS 2020), baselines,
the IHDP benchmark and a synthetic generator with controllable overlap.

Importing this package is light (numpy only); torch and scikit-learn load when a model is built.
"""
from __future__ import annotations

from edgewise.analysis.ite.baselines import available_methods, make_estimator, register
from edgewise.analysis.ite.ihdp import CausalData, Split, list_replications, load_ihdp, load_replication, protocol_split
from edgewise.analysis.ite.synthetic import SyntheticConfig, make_synthetic

__all__ = [
    "CausalData",
    "Split",
    "SyntheticConfig",
    "available_methods",
    "list_replications",
    "load_ihdp",
    "load_replication",
    "make_estimator",
    "make_synthetic",
    "protocol_split",
    "register",
]
