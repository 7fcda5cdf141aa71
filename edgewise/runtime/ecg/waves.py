"""Waves and masks: the common currency of ECG delineation (numpy only; runs on the device)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASSES: tuple[str, ...] = ("background", "P", "QRS", "T")
WAVE_KINDS: tuple[str, ...] = ("P", "QRS", "T")

__all__ = ["CLASSES", "WAVE_KINDS", "Wave", "waves_to_mask", "mask_to_waves"]


@dataclass(frozen=True)
class Wave:
    """One wave with inclusive sample indices. ``peak`` is -1 when unknown."""

    kind: str
    onset: int
    offset: int
    peak: int = -1

    def __post_init__(self) -> None:
        if self.kind not in WAVE_KINDS:
            raise ValueError(f"wave kind must be one of {WAVE_KINDS}, got {self.kind!r}")
        if self.offset < self.onset:
            raise ValueError(f"wave offset {self.offset} is before its onset {self.onset}")

    def to_dict(self) -> dict:
        return {"wave": self.kind, "onset": int(self.onset), "offset": int(self.offset)}


def waves_to_mask(waves: list[Wave], n: int) -> np.ndarray:
    """int64 [n] mask: 0 background, 1 P, 2 QRS, 3 T (later waves overwrite earlier ones)."""
    mask = np.zeros(n, dtype=np.int64)
    for w in waves:
        mask[max(w.onset, 0) : min(w.offset + 1, n)] = WAVE_KINDS.index(w.kind) + 1
    return mask


def mask_to_waves(mask: np.ndarray) -> list[Wave]:
    """Runs of equal non-zero labels in an int [n] mask -> waves, in time order."""
    mask = np.asarray(mask)
    if mask.ndim != 1:
        raise ValueError(f"expected a 1-D mask, got shape {mask.shape}")
    if mask.size == 0:
        return []
    change = np.flatnonzero(np.diff(mask)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change - 1, [mask.size - 1]])
    return [
        Wave(WAVE_KINDS[int(mask[s]) - 1], int(s), int(e))
        for s, e in zip(starts, ends)
        if 0 < int(mask[s]) <= len(WAVE_KINDS)
    ]
