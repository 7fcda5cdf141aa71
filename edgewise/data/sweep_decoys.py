"""SYNTHETIC sweeping tones *inside* the mosquito pitch range, labelled not-mosquito (training only, numpy).

The decoy tones of ``edgewise.data.mosquito.decoy_tones`` teach the detector that a buzz must have a mosquito's
pitch. What still fires on held-out sources (issue 21) is sound *at* a mosquito's pitch that is not one:
sirens, car horns, street music, crying babies. What sets a flight tone apart there is how its pitch moves: a
mosquito's fundamental drifts by a few per cent as it turns and passes the microphone (``synthetic_flight_tone``
uses ±3 %), while a siren or a cry sweeps across half an octave or more within a second or two.

``sweep_decoys`` replaces a share of a batch by a harmonic tone whose fundamental starts at ``lo`` (250-700 Hz,
inside the 300-900 Hz flight tones or just below) and moves up to ``lo * ratio`` (at most 2.1 kHz) along one of three
paths, mixed into a real negative window:

- ``wail``: a sinusoidal sweep between ``lo`` and ``lo * ratio`` (ratio 1.5-3) at 0.5-1.5 cycles per second;
- ``yelp``: repeated rising sweeps (sawtooth in log pitch), 1-4 per second, same ratios;
- ``two_tone``: alternating steady pitches a ratio 1.25-1.6 apart every 0.25-0.8 s (the European hi-lo
  siren: steady *between* its jumps, which is why the jump ratio starts above any flight-tone drift).

The rates are such that a 2-s detector window holds at least one full cycle (wail), two sweeps (yelp) or two jumps
(two_tone), so every window covers the whole ratio. Each path is in log frequency, with up to 8 harmonics of
decaying random amplitude, as many as fit below the Nyquist rate (only the fundamental for the highest sweeps).
Not for short excerpts: a tenth of a second of a sweep is a steady tone (``TrainConfig`` refuses ``p_sweep`` with
``p_short``).
"""
from __future__ import annotations

import numpy as np

from edgewise.data.mosquito import tones_in_negatives

__all__ = ["SWEEP_PATHS", "pitch_path", "sweep_tone", "sweep_decoys"]

SWEEP_PATHS = ("wail", "yelp", "two_tone")
SWEEP_LO_HZ = (250.0, 700.0)  # the lowest pitch of a sweep: it then passes through the 300-900 Hz flight tones


def _log_pitch(path: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """log2 of the pitch over ``t`` relative to its lowest point (0 .. log2(ratio))."""
    if path == "two_tone":
        span = np.log2(rng.uniform(1.25, 1.6))
        period = rng.uniform(0.25, 0.8)
        return span * (np.floor(t / period + rng.uniform(0, 2)) % 2)
    span = np.log2(rng.uniform(1.5, 3.0))
    if path == "wail":
        return span * 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * t + rng.uniform(0, 2 * np.pi)))
    rate = rng.uniform(1.0, 4.0)  # yelp
    return span * ((rate * t + rng.uniform(0, 1)) % 1.0)


def pitch_path(duration_s: float, sample_rate: int, rng: np.random.Generator, *, path: str | None = None,
               lo_hz: float | None = None) -> np.ndarray:
    """The fundamental (Hz) of a sweep, per sample: float64 ``[round(duration_s * sample_rate)]``.

    Args:
        path: one of ``SWEEP_PATHS`` (default: drawn uniformly).
        lo_hz: the lowest pitch (default: drawn from ``SWEEP_LO_HZ``).
    """
    if path is None:
        path = SWEEP_PATHS[int(rng.integers(len(SWEEP_PATHS)))]
    if path not in SWEEP_PATHS:
        raise ValueError(f"unknown sweep path {path!r}; choose one of {SWEEP_PATHS}")
    t = np.arange(int(round(duration_s * sample_rate))) / sample_rate
    lo = rng.uniform(*SWEEP_LO_HZ) if lo_hz is None else float(lo_hz)
    return lo * 2.0 ** _log_pitch(path, t, rng)


def sweep_tone(duration_s: float, sample_rate: int, rng: np.random.Generator, *, path: str | None = None,
               lo_hz: float | None = None) -> np.ndarray:
    """One SYNTHETIC sweeping harmonic tone along ``pitch_path`` (same arguments): float32, peak 0.5."""
    f = pitch_path(duration_s, sample_rate, rng, path=path, lo_hz=lo_hz)
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    y = np.zeros(f.size)
    for h in range(1, int(rng.integers(3, 9)) + 1):
        if h * f.max() >= 0.95 * sample_rate / 2:
            break
        y += rng.uniform(0.3, 1.0) / h * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    return (0.5 * y / (np.abs(y).max() + 1e-12)).astype(np.float32)


def sweep_decoys(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, p: float, negatives: np.ndarray,
                 snr_db: tuple[float, float] = (-5.0, 20.0),
                 sample_rate: int = 8000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace a share ``p`` of the rows of ``x [batch, samples]`` by a ``sweep_tone`` in a real negative (label 0).

    Returns:
        ``(x, y, decoy)``: the batch with the decoys in, their labels 0, and the boolean mask of decoy rows.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return tones_in_negatives(x, y, rng, p=p, negatives=negatives, snr_db=snr_db,
                              tone=lambda n: sweep_tone(n / sample_rate, sample_rate, rng))
