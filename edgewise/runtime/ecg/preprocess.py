"""ECG front end (numpy only, the same on host and device): resampling to the model rate and scaling.

Scaling is per model window (median-centred, unit SD), so a stream can be delineated window by window
with no look-ahead; windows overlap and only their centres are kept, so seams stitch cleanly.
"""
from __future__ import annotations

import numpy as np

from edgewise.runtime.errors import InputError

PREPROCESSING = {"kind": "ecg-standardize", "scope": "window", "center": "median", "scale": "std", "eps": 1e-3, "min_seconds": 2.0}

__all__ = ["PREPROCESSING", "standardize", "standardized_window", "resample_linear", "check_signal"]


def check_signal(x: np.ndarray, fs: float, *, min_seconds: float = 2.0) -> np.ndarray:
    """Validate a single- or multi-lead signal; returns float32 [leads, n].

    Raises:
        InputError: wrong rank, too short, or non-finite values.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise InputError(f"expected a numeric ECG signal, got dtype {x.dtype}")
    if x.ndim == 1:
        x = x[None]
    if x.ndim != 2:
        raise InputError(f"expected a 1-D signal or [leads, samples], got shape {x.shape}")
    if fs <= 0:
        raise InputError(f"sampling rate must be positive, got {fs} Hz")
    if x.shape[1] < min_seconds * fs:
        raise InputError(
            f"signal is {x.shape[1] / fs:.2f} s long ({x.shape[1]} samples at {fs:g} Hz); "
            f"delineation needs at least {min_seconds:g} s"
        )
    if not np.all(np.isfinite(x)):
        bad = int(np.sum(~np.isfinite(x)))
        raise InputError(f"signal has {bad} NaN/inf samples; interpolate or cut them out first")
    return x.astype(np.float32, copy=False)


def standardize(x: np.ndarray, eps: float = PREPROCESSING["eps"]) -> np.ndarray:
    """float32 [leads, n] -> median-centred, unit-std per lead (flat lines stay flat: std floor ``eps`` mV)."""
    x = np.asarray(x, dtype=np.float32)
    med = _median(x)
    std = np.std(x, axis=-1, keepdims=True)
    return ((x - med) / np.maximum(std, eps)).astype(np.float32, copy=False)


def _median(x: np.ndarray) -> np.ndarray:
    """``np.median(x, axis=-1, keepdims=True)`` of float32 ``x``, equal bit for bit: the same partition and the
    same ufuncs as numpy 1.26's ``_median`` / ``_mean`` / ``_median_nancheck``, without their Python layers,
    which cost more than the partition itself on a 10-s window (~35 of ~50 us)."""
    n = x.shape[-1]
    if n < 2:
        return np.median(x, axis=-1, keepdims=True)
    h = n // 2
    lo = h - 1 if n % 2 == 0 else h  # the middle pair, or the middle sample
    part = np.partition(x, [lo, h, -1] if lo != h else [h, -1], axis=-1)  # -1: a NaN (sorted last) shows there
    med = np.add.reduce(part[..., lo : h + 1], axis=-1, keepdims=True)  # np.mean of the middle samples
    np.true_divide(med, np.intp(h + 1 - lo), out=med, casting="unsafe")
    last = part[..., -1:]
    np.copyto(med, last, where=np.isnan(last))  # a row with NaN has a NaN median
    return med


def standardized_window(x: np.ndarray, window: int) -> np.ndarray:
    """float32 [leads, window]: ``x [leads, m]`` (m <= window) standardised, then zero-padded at the end to
    ``window`` samples — how the stream scores a segment shorter than one window (``stitch``), e.g. a 10-s
    strip (5000 samples) on a whole-strip model (5008)."""
    x = standardize(x)
    if x.shape[-1] > window:
        raise ValueError(f"segment of {x.shape[-1]} samples is longer than the window ({window})")
    if x.shape[-1] == window:
        return x
    out = np.zeros(x.shape[:-1] + (window,), x.dtype)  # np.pad's zeros, without its argument handling
    out[..., : x.shape[-1]] = x
    return out


def resample_linear(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Resample [leads, n] along time.

    Downsampling first low-passes with a windowed-sinc FIR (anti-alias), then interpolates linearly;
    upsampling interpolates directly. numpy only, good enough for ECG whose content is below 40 Hz.
    """
    x = np.asarray(x, dtype=np.float32)
    if fs_in == fs_out:
        return x
    if fs_out < fs_in:
        cutoff = 0.45 * fs_out / fs_in  # cycles/sample
        taps = int(8 / cutoff) | 1
        t = np.arange(taps) - taps // 2
        h = 2 * cutoff * np.sinc(2 * cutoff * t) * np.hamming(taps)
        h /= h.sum()
        pad = taps // 2
        xp = np.pad(x, ((0, 0), (pad, pad)), mode="reflect" if x.shape[1] > pad else "edge")
        x = np.stack([np.convolve(row, h, mode="valid") for row in xp]).astype(np.float32)
    n_out = int(round(x.shape[1] * fs_out / fs_in))
    t_out = np.arange(n_out) * (fs_in / fs_out)
    t_in = np.arange(x.shape[1])
    return np.stack([np.interp(t_out, t_in, row) for row in x]).astype(np.float32)
