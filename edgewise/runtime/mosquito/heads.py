"""What a multi-head mosquito detector (a Hydra student, an ensemble in one graph) adds: per-window epistemic
uncertainty, and the option to suppress the windows the model does not know.

- epistemic: the mutual information between a window's prediction and the head (``edgewise.runtime.uncertainty``:
  entropy of the heads' mean probability minus the heads' mean entropy), in nats. Large where the heads
  disagree: sound unlike anything the members trained on.
- unfamiliar: epistemic above the artifact's ``uncertainty_threshold`` (chosen on validation sources when the
  model was shipped; ``scripts/ship_mosquito_hydra.py``).
- suppression (opt-in): an unfamiliar window cannot raise or extend an event; its probability is kept in the
  report. MozzBNN (Kiskin et al., the HumBug BNN detector) uses its uncertainty this way, so that sounds unlike
  its training data do not become confident false alarms.

Numpy only (runs on the device).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from edgewise.runtime.events import HysteresisConfig, merge_events
from edgewise.runtime.uncertainty import decompose, softmax, uncertainty_threshold

__all__ = ["heads_epistemic", "uncertainty_threshold", "report_windows"]


def heads_epistemic(logits: np.ndarray) -> np.ndarray | None:
    """Per-window epistemic uncertainty (nats) of logits ``[n, heads, classes]``; None for one head / ``[n, classes]``."""
    z = np.asarray(logits)
    if z.ndim != 3 or z.shape[1] < 2:
        return None
    return decompose(softmax(z, axis=-1), head_axis=1, class_axis=2).epistemic.astype(np.float64)


def report_windows(p: np.ndarray, times: np.ndarray, cfg: HysteresisConfig, *, epistemic: np.ndarray | None = None,
                   threshold: float | None = None, suppress: bool = False,
                   decimals: int | None = 4) -> dict[str, Any]:
    """The ``windows`` and ``events`` of a detection report, with the uncertainty of a multi-head model.

    Args:
        p: float [n] mosquito probability per window (the heads' mean); times: float [n, 2] seconds.
        cfg: the event merger (``hysteresis_for``).
        epistemic: float [n] nats, or None (a one-head model: the report is ``windows_and_events``').
        threshold: epistemic above which a window is ``unfamiliar`` (None: no window is).
        suppress: unfamiliar windows raise no event (their p counts as 0 for ``merge_events``).
        decimals: window p and epistemic rounded to this many decimals (None: full precision).

    Returns:
        ``{"windows": [{start_s, end_s, p[, epistemic][, unfamiliar]}], "events": [...]}`` and, with ``epistemic``,
        ``"uncertainty": {"threshold", "suppress", "unfamiliar_windows"}``.
    """
    p = np.asarray(p, dtype=np.float64)
    rnd = (lambda v: float(v)) if decimals is None else (lambda v: round(float(v), decimals))
    unfamiliar = np.zeros(p.shape, bool)
    if epistemic is not None and threshold is not None:
        unfamiliar = np.asarray(epistemic) > threshold
    p_events = np.where(unfamiliar, 0.0, p) if suppress else p
    windows = []
    for i, ((a, b), q) in enumerate(zip(times, p)):
        w: dict[str, Any] = {"start_s": round(float(a), 4), "end_s": round(float(b), 4), "p": rnd(q)}
        if epistemic is not None:
            w["epistemic"] = rnd(max(float(epistemic[i]), 0.0))
            if threshold is not None:
                w["unfamiliar"] = bool(unfamiliar[i])
        windows.append(w)
    out: dict[str, Any] = {"windows": windows, "events": [e.to_dict() for e in merge_events(p_events, times, cfg)]}
    if epistemic is not None:
        out["uncertainty"] = {"threshold": threshold, "suppress": bool(suppress and threshold is not None),
                              "unfamiliar_windows": int(unfamiliar.sum())}
    return out
