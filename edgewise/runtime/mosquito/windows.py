"""The windows a mosquito detector scores: framing with a padded tail, and tiling of short clips (numpy only).

The detectors score fixed 2-s windows every 1 s (``frame_windows``): a tail longer than half a hop past
the last full window gives one more, zero-padded window, so the end of a recording is not lost.

HumBugDB is full of sub-second snippets (0.03-0.5 s); padding those with zeros to 2 s leaves a window
that is mostly silence, and the shipped DS-CNN scored every such mosquito snippet 0.02-0.55 (issue 21).
Instead a clip shorter than one window is *tiled* (``tile_window``): repeated until it fills the window,
the way a looped sample is built (a short raised-cosine crossfade joins the clip's end to its start, so
the seams do not add a click train that the log-Mel front end would see as broadband transients). A
stationary sound (a flight tone) then looks like a longer stretch of itself. Tiling keeps the model
input shape fixed, so it works unchanged for every architecture and for the exported artifacts.

The shortest clip scored is ``MIN_CLIP_S`` = 0.05 s (400 samples at 8 kHz, about 20 periods of a
400-Hz flight tone and most of one 64-ms FFT frame). Below it ``tile_window`` raises
``ClipTooShortError``: a repeated 0.03-s fragment is mostly its own seams.

One implementation for training (``edgewise.models.mosquito.clips`` re-exports it), offline detection
and the live engine (``edgewise.runtime.live.mosquito_stream``), so they cannot drift apart.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from edgewise.runtime.errors import InputError

__all__ = ["MIN_CLIP_S", "FADE_S", "ClipTooShortError", "Windows", "min_clip_samples", "frame_windows",
           "tile_window", "detector_windows"]

MIN_CLIP_S = 0.05
FADE_S = 0.005  # 5 ms crossfade at each seam: 40 samples at 8 kHz, 2.5 periods of a 500-Hz tone


class ClipTooShortError(InputError):
    """A clip below ``MIN_CLIP_S``: the detector does not score it."""


@dataclass(frozen=True)
class Windows:
    """Fixed-length windows of one signal.

    Attributes:
        x: float32 ``[n_windows, window]``.
        starts: int ``[n_windows]`` first sample of each window.
        valid: int ``[n_windows]`` real (unpadded, untiled) samples in each window.
    """

    x: np.ndarray
    starts: np.ndarray
    valid: np.ndarray


def min_clip_samples(sample_rate: int) -> int:
    """Samples in the shortest clip the detector scores at ``sample_rate`` (400 at 8 kHz)."""
    return int(math.ceil(MIN_CLIP_S * sample_rate - 1e-9))


def _check_length(n: int, sample_rate: int) -> None:
    need = min_clip_samples(sample_rate)
    if n < need:
        raise ClipTooShortError(
            f"clip is {n / sample_rate:.4f} s ({n} samples at {sample_rate} Hz); the detector scores clips of at "
            f"least {MIN_CLIP_S} s ({need} samples), tiling shorter-than-window clips; record or cut a longer clip")


def frame_windows(y: np.ndarray, window: int, hop: int, *, pad_tail: bool = True) -> Windows:
    """Cut ``y [samples]`` into windows of ``window`` samples every ``hop``.

    A signal shorter than one window gives one zero-padded window; with ``pad_tail`` a tail longer than
    half a hop past the last full window gives one more padded window, so the end is not lost.
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got {window}, {hop}")
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    n = y.size
    if n <= window:
        starts = np.array([0])
    else:
        starts = np.arange(0, n - window + 1, hop)
        tail = n - (starts[-1] + window)
        if pad_tail and tail > hop // 2:
            starts = np.append(starts, starts[-1] + hop)
    x = np.zeros((starts.size, window), dtype=np.float32)
    valid = np.minimum(window, n - starts)
    for i, s in enumerate(starts):
        x[i, : valid[i]] = y[s : s + valid[i]]
    return Windows(x=x, starts=starts.astype(np.int64), valid=valid.astype(np.int64))


def tile_window(y: np.ndarray, n: int, *, sample_rate: int, fade_s: float = FADE_S) -> np.ndarray:
    """Repeat a short clip until it fills ``n`` samples, joining its end to its start with a crossfade.

    The loop has period ``L - f`` (``L`` clip samples, ``f = min(fade_s * sample_rate, L // 4)``): its first
    ``f`` samples fade the clip's last ``f`` samples out while its first ``f`` fade in (raised cosine, gains
    summing to 1). A signal whose period divides both ``L`` and ``L - f`` is reproduced exactly.

    Args:
        y: float ``[L]`` mono clip, ``L >= min_clip_samples(sample_rate)``.
        n: samples wanted (the model window).
        sample_rate: Hz of ``y``.
        fade_s: crossfade length in seconds (0: plain repetition).

    Returns:
        float32 ``[n]``; ``y[:n]`` unchanged when ``L >= n``.

    Raises:
        ClipTooShortError: ``L`` is below ``MIN_CLIP_S``.
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    _check_length(y.size, sample_rate)
    if y.size >= n:
        return y[:n].copy()
    f = min(int(round(fade_s * sample_rate)), y.size // 4)
    loop = y[: y.size - f].astype(np.float64)
    if f > 0:
        w = 0.5 - 0.5 * np.cos(np.pi * (np.arange(f) + 0.5) / f)  # fade-in gain; 1 - w fades out
        loop[:f] = w * y[:f] + (1.0 - w) * y[y.size - f:]
    reps = -(-n // loop.size)
    return np.tile(loop, reps)[:n].astype(np.float32)


def detector_windows(y: np.ndarray, window: int, hop: int, *, sample_rate: int,
                     fade_s: float = FADE_S) -> tuple[Windows, tuple[str, ...]]:
    """Windows the detector scores for one signal: framed when long enough, one tiled window when short.

    Returns:
        ``(Windows, flags)``; flags holds ``"tiled"`` when the signal was shorter than one window
        (``Windows.valid`` then counts the clip's own samples).

    Raises:
        ClipTooShortError: the signal is shorter than ``MIN_CLIP_S``.
    """
    y = np.asarray(y, dtype=np.float32).reshape(-1)
    _check_length(y.size, sample_rate)
    if y.size >= window:
        return frame_windows(y, window, hop), ()
    x = tile_window(y, window, sample_rate=sample_rate, fade_s=fade_s)[None]
    return Windows(x=x, starts=np.zeros(1, np.int64), valid=np.array([y.size], np.int64)), ("tiled",)
