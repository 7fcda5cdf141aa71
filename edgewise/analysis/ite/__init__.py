"""Individualized treatment effects: DKLITE (Zhang, Bellot & van der Schaar, AISTATS 2020), baselines,
the IHDP benchmark and a synthetic generator with controllable overlap.

Importing this package is light (numpy only); the names that need torch (``DKLITE``, ``DKLITEConfig``,
``ITEPosterior``) and the benchmark runner load on first use.
"""
from __future__ import annotations

import importlib

from edgewise.analysis.ite.baselines import available_methods, make_estimator, register
from edgewise.analysis.ite.ihdp import CausalData, Split, list_replications, load_ihdp, load_replication, protocol_split
from edgewise.analysis.ite.synthetic import SyntheticConfig, make_synthetic

_LAZY = {
    "DKLITE": "dklite",
    "DKLITEConfig": "dklite",
    "ITEPosterior": "dklite",
    "BenchmarkConfig": "benchmark",
    "run_ihdp": "benchmark",
    "overlap_study": "benchmark",
    "write_report": "benchmark",
}

__all__ = [
    "BenchmarkConfig",
    "CausalData",
    "DKLITE",
    "DKLITEConfig",
    "ITEPosterior",
    "Split",
    "SyntheticConfig",
    "available_methods",
    "list_replications",
    "load_ihdp",
    "load_replication",
    "make_estimator",
    "make_synthetic",
    "overlap_study",
    "protocol_split",
    "register",
    "run_ihdp",
    "write_report",
]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f"edgewise.analysis.ite.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
