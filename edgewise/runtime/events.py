"""Per-window probabilities -> detection events, with hysteresis (numpy only; runs on the device).

An event opens when a window's probability reaches ``on``, and stays open while windows stay at or
above ``off`` (< ``on``), the Schmitt-trigger rule used by sound-event detectors (e.g. the DCASE
baselines; Mesaros et al., "Sound Event Detection: A Tutorial", IEEE SPM 2021). Events closer than
``min_gap_s`` are merged; events shorter than ``min_duration_s`` are dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HysteresisConfig", "Event", "merge_events", "window_times"]


@dataclass(frozen=True)
class HysteresisConfig:
    """Thresholds of the event merger.

    Attributes:
        on: probability that opens an event (the operating threshold).
        off: probability below which an open event closes; ``off <= on``.
        min_gap_s: events separated by less than this are merged.
        min_duration_s: events shorter than this are dropped (0 keeps all).
    """

    on: float = 0.5
    off: float = 0.3
    min_gap_s: float = 0.0
    min_duration_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.off <= self.on <= 1.0:
            raise ValueError(f"need 0 <= off <= on <= 1, got on={self.on}, off={self.off}")
        if self.min_gap_s < 0 or self.min_duration_s < 0:
            raise ValueError(f"min_gap_s and min_duration_s must be >= 0, got {self.min_gap_s}, {self.min_duration_s}")


@dataclass(frozen=True)
class Event:
    """One detection: time span in seconds and the highest window probability inside it."""

    start_s: float
    end_s: float
    p: float

    def to_dict(self) -> dict[str, float]:
        return {"start_s": round(float(self.start_s), 4), "end_s": round(float(self.end_s), 4), "p": round(float(self.p), 4)}


def window_times(n_windows: int, window_s: float, hop_s: float, *, duration_s: float | None = None) -> np.ndarray:
    """Start/end times ``[n_windows, 2]`` of windows cut every ``hop_s``; ends clipped to ``duration_s``."""
    starts = np.arange(n_windows, dtype=np.float64) * hop_s
    ends = starts + window_s
    if duration_s is not None:
        ends = np.minimum(ends, max(duration_s, 0.0))
    return np.stack([starts, ends], axis=1) if n_windows else np.zeros((0, 2))


def merge_events(p: np.ndarray, times: np.ndarray, cfg: HysteresisConfig | None = None) -> list[Event]:
    """Turn per-window probabilities into events.

    Args:
        p: float ``[n_windows]`` probabilities in [0, 1], in time order.
        times: float ``[n_windows, 2]`` start and end seconds of each window.
        cfg: thresholds (defaults: on 0.5, off 0.3).

    Returns:
        Events in time order, each spanning its windows' union.
    """
    cfg = cfg or HysteresisConfig()
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    times = np.asarray(times, dtype=np.float64)
    if times.shape != (p.size, 2):
        raise ValueError(f"times must be [n_windows, 2] = [{p.size}, 2], got {times.shape}")
    if p.size and (np.nanmin(p) < 0 or np.nanmax(p) > 1 or np.isnan(p).any()):
        raise ValueError("probabilities must lie in [0, 1] without NaN; apply a sigmoid/softmax first")
    spans: list[list[float]] = []
    open_ = False
    for i in range(p.size):
        if not open_ and p[i] >= cfg.on:
            spans.append([times[i, 0], times[i, 1], p[i]])
            open_ = True
        elif open_ and p[i] >= cfg.off:
            spans[-1][1] = max(spans[-1][1], times[i, 1])
            spans[-1][2] = max(spans[-1][2], p[i])
        else:
            open_ = False
    merged: list[list[float]] = []
    for s in spans:
        if merged and s[0] - merged[-1][1] < cfg.min_gap_s:
            merged[-1][1] = max(merged[-1][1], s[1])
            merged[-1][2] = max(merged[-1][2], s[2])
        else:
            merged.append(list(s))
    return [Event(a, b, q) for a, b, q in merged if b - a >= cfg.min_duration_s]
