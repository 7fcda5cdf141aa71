"""Training augmentation for single-lead ECG windows (numpy): amplitude, baseline, noise, shift, lead mixing."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    amplitude: tuple[float, float] = (0.5, 2.0)   # gain range (log-uniform)
    invert: float = 0.05                           # probability of flipping polarity
    baseline_mv: float = 0.5                       # max wander amplitude
    mains_mv: float = 0.1
    noise_mv: float = 0.08                         # max white-noise SD
    lead_mix: float = 0.3                          # probability of adding a fraction of another lead
    lead_mix_max: float = 0.4

    def __post_init__(self) -> None:
        lo, hi = self.amplitude
        if not 0 < lo <= hi:
            raise ValueError(f"amplitude must be an increasing positive range, got {self.amplitude}")


def augment(x: np.ndarray, rng: np.random.Generator, fs: float, config: AugmentConfig = AugmentConfig(),
            other: np.ndarray | None = None) -> np.ndarray:
    """Augment one float32 [n] signal in mV (``other``: another lead of the same record for mixing)."""
    n = x.shape[-1]
    t = np.arange(n) / fs
    y = x.astype(np.float32).copy()
    if other is not None and rng.random() < config.lead_mix:
        y = y + rng.uniform(-config.lead_mix_max, config.lead_mix_max) * other
    y *= np.exp(rng.uniform(np.log(config.amplitude[0]), np.log(config.amplitude[1])))
    if rng.random() < config.invert:
        y = -y
    y += rng.uniform(0, config.baseline_mv) * np.sin(2 * np.pi * rng.uniform(0.05, 0.7) * t + rng.uniform(0, 6.3))
    if rng.random() < 0.3:
        y += rng.uniform(0, config.mains_mv) * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t)
    y += rng.uniform(0, config.noise_mv) * rng.standard_normal(n)
    return y.astype(np.float32)
