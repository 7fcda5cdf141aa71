"""Anti-aliased polyphase resampling in numpy only, for the device (the host uses scipy's).

Same filter and alignment as ``scipy.signal.resample_poly`` (Kaiser-windowed sinc, beta 5, 10 zero
crossings per side of the slower rate; Crochiere & Rabiner, "Multirate Digital Signal Processing",
1983), so a microphone at 16/44.1/48 kHz gives the model what training gave it.
"""
from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

__all__ = ["resample_poly_np", "resample_to"]


@lru_cache(maxsize=16)
def _design(up: int, down: int) -> np.ndarray:
    max_rate = max(up, down)
    half_len = 10 * max_rate
    n = 2 * half_len + 1
    cutoff = 1.0 / max_rate  # fraction of Nyquist
    m = np.arange(n) - half_len
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(n, 5.0)
    h = h / h.sum() * up
    h.setflags(write=False)
    return h


def resample_poly_np(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """Resample the last axis by ``up / down`` with an anti-alias low-pass (numpy ``resample_poly``).

    Args:
        x: float ``[..., samples]``.
        up: upsampling factor (positive int).
        down: downsampling factor (positive int).

    Returns:
        float64 ``[..., ceil(samples * up / down)]``.
    """
    if up < 1 or down < 1:
        raise ValueError(f"up and down must be positive integers, got {up}, {down}")
    x = np.asarray(x, dtype=np.float64)
    g = gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return x.copy()
    h = _design(up, down)
    half_len = (h.size - 1) // 2
    n_in = x.shape[-1]
    n_out = -(-n_in * up // down)
    # Output sample n sits at position t = n*down + half_len of the upsampled, filtered signal.
    t = np.arange(n_out) * down + half_len
    k_max = -(-h.size // up)  # input samples touched per output sample
    m_hi = t // up
    out = np.zeros(x.shape[:-1] + (n_out,))
    for j in range(k_max):
        m = m_hi - j
        tap = t - m * up
        ok = (m >= 0) & (m < n_in) & (tap < h.size)
        if not ok.any():
            continue
        out[..., ok] += x[..., m[ok]] * h[tap[ok]]
    return out


def resample_to(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample ``x [..., samples]`` from ``rate_in`` Hz to ``rate_out`` Hz (integer rates)."""
    if rate_in <= 0 or rate_out <= 0:
        raise ValueError(f"sample rates must be positive, got {rate_in} -> {rate_out}")
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float64)
    return resample_poly_np(x, int(rate_out), int(rate_in))
