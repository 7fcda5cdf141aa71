"""SYNTHETIC ECG with exact wave boundaries — for demos, tests and augmentation, never as a benchmark.

Every beat is a sum of smooth bumps that are exactly zero outside their wave's [onset, offset], so the
ground-truth masks are exact. Options: heart rate and its variability, missing P waves, inverted T
waves, baseline wander, mains hum and EMG-like noise.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.runtime.ecg.waves import Wave, waves_to_mask

SYNTHETIC_LABEL = "SYNTHETIC ECG (edgewise.data.synthetic_ecg), not a real recording"

__all__ = ["SYNTHETIC_LABEL", "SyntheticEcgConfig", "synthetic_ecg"]


@dataclass(frozen=True)
class SyntheticEcgConfig:
    """Parameters of the generator (ranges are sampled uniformly per record or per beat)."""

    fs: int = 500
    seconds: float = 10.0
    heart_rate: tuple[float, float] = (50.0, 110.0)
    hrv: float = 0.05                 # relative SD of RR intervals
    p_missing: float = 0.1            # probability that a record has no P waves (e.g. AF-like)
    t_inverted: float = 0.15          # probability that a record's T waves are inverted
    baseline_mv: float = 0.3          # max baseline-wander amplitude
    mains_mv: float = 0.05            # max 50/60 Hz hum amplitude
    emg_mv: float = 0.03              # max broadband noise SD

    def __post_init__(self) -> None:
        if self.fs <= 0 or self.seconds <= 0:
            raise ValueError(f"fs and seconds must be positive, got {self.fs}, {self.seconds}")
        lo, hi = self.heart_rate
        if not 20 <= lo <= hi <= 250:
            raise ValueError(f"heart_rate must be an increasing range within 20..250 bpm, got {self.heart_rate}")


def _bump(n: int) -> np.ndarray:
    """Smooth raised-cosine bump of n samples, zero at both ends."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(n) + 1) / (n + 1))


def synthetic_ecg(rng: np.random.Generator | int | None = None, config: SyntheticEcgConfig = SyntheticEcgConfig()
                  ) -> tuple[np.ndarray, np.ndarray, list[Wave]]:
    """One single-lead SYNTHETIC ECG.

    Returns:
        signal: float32 [n] in mV; mask: int64 [n] (0 bg, 1 P, 2 QRS, 3 T); waves: the exact waves.
    """
    rng = np.random.default_rng(rng)
    fs, n = config.fs, int(config.seconds * config.fs)
    ms = lambda v: max(int(round(v * fs / 1000)), 3)  # noqa: E731
    hr = rng.uniform(*config.heart_rate)
    no_p = rng.random() < config.p_missing
    t_sign = -1.0 if rng.random() < config.t_inverted else 1.0
    amp_r, amp_p, amp_t = rng.uniform(0.6, 1.8), rng.uniform(0.08, 0.25), rng.uniform(0.15, 0.5)
    x = np.zeros(n)
    waves: list[Wave] = []
    t = int(rng.uniform(0, 60 / hr) * fs) - ms(300)
    # per-record intervals (a person's PR and QRS width are stable), small per-beat jitter
    pr0, p0, qrs0 = rng.uniform(130, 200), rng.uniform(80, 115), rng.uniform(70, 110)
    while t < n:
        rr = 60 / hr * (1 + config.hrv * rng.standard_normal())
        p_dur, pr, qrs_dur = ms(p0 + 4 * rng.standard_normal()), ms(pr0 + 5 * rng.standard_normal()), ms(qrs0)
        st, t_dur = ms(rng.uniform(60, 120) * min(1.0, 60 / hr * 1.2)), ms(rng.uniform(140, 220))
        segs = []
        q0 = t  # the beat's anchor is its QRS onset, so RR is QRS to QRS
        if not no_p:
            segs.append(("P", q0 - pr, p_dur, amp_p * _bump(p_dur)))
        q = np.zeros(qrs_dur)
        k = qrs_dur // 5
        q[:k] -= 0.15 * amp_r * _bump(k)
        q[k : qrs_dur - k] += amp_r * _bump(qrs_dur - 2 * k)
        q[qrs_dur - k :] -= 0.25 * amp_r * _bump(k)
        segs.append(("QRS", q0, qrs_dur, q))
        t0 = q0 + qrs_dur + st
        segs.append(("T", t0, t_dur, t_sign * amp_t * _bump(t_dur) ** 1.5))
        for kind, on, dur, shape in segs:
            a, b = max(on, 0), min(on + dur, n)
            if b - a <= 0:
                continue
            x[a:b] += shape[a - on : b - on]
            if on >= 0 and on + dur <= n:  # only whole waves are labelled
                waves.append(Wave(kind, on, on + dur - 1))
        t += max(int(rr * fs), ms(300))
    tt = np.arange(n) / fs
    x += rng.uniform(0, config.baseline_mv) * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * tt + rng.uniform(0, 6.3))
    x += rng.uniform(0, config.mains_mv) * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * tt)
    x += rng.uniform(0, config.emg_mv) * rng.standard_normal(n)
    waves.sort(key=lambda w: w.onset)
    return x.astype(np.float32), waves_to_mask(waves, n), waves
