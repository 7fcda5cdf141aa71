"""Clips shorter than the detector's window: tile them, refuse the too short, cut short test clips.

The detectors score fixed 2-s windows. HumBugDB is full of sub-second snippets (0.03-0.5 s); padding
those with zeros to 2 s leaves a window that is mostly silence, and the shipped DS-CNN scored every
such mosquito snippet 0.02-0.55 (issue 21). Instead a clip shorter than one window is *tiled*: repeated
until it fills the window, the way a looped sample is built (a short raised-cosine crossfade joins the
clip's end to its start, so the seams do not add a click train that the log-Mel front end would see as
broadband transients). A stationary sound (a flight tone) then looks like a longer stretch of itself.
Tiling keeps the model input shape fixed, so it works unchanged for both architectures (the HumBug CNN
has a dense layer over a fixed number of frames) and for the exported ONNX/TFLite artifacts.

The shortest clip scored is ``MIN_CLIP_S`` = 0.05 s (400 samples at 8 kHz, about 20 periods of a
400-Hz flight tone and most of one 64-ms FFT frame). Below it ``tile_window`` raises
``ClipTooShortError``: a repeated 0.03-s fragment is mostly its own seams.

numpy only (the device will need the same rule; it can move under ``edgewise.runtime`` unchanged).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from edgewise.data.audio import Windows, frame_windows
from edgewise.data.mosquito import ClipLabel, Recording
from edgewise.runtime.errors import InputError

__all__ = ["MIN_CLIP_S", "FADE_S", "ClipTooShortError", "min_clip_samples", "tile_window", "detector_windows",
           "ShortClip", "cut_short_clips"]

MIN_CLIP_S = 0.05
FADE_S = 0.005  # 5 ms crossfade at each seam: 40 samples at 8 kHz, 2.5 periods of a 500-Hz tone


class ClipTooShortError(InputError):
    """A clip below ``MIN_CLIP_S``: the detector does not score it."""


def min_clip_samples(sample_rate: int) -> int:
    """Samples in the shortest clip the detector scores at ``sample_rate`` (400 at 8 kHz)."""
    return int(math.ceil(MIN_CLIP_S * sample_rate - 1e-9))


def _check_length(n: int, sample_rate: int) -> None:
    need = min_clip_samples(sample_rate)
    if n < need:
        raise ClipTooShortError(
            f"clip is {n / sample_rate:.4f} s ({n} samples at {sample_rate} Hz); the detector scores clips of at "
            f"least {MIN_CLIP_S} s ({need} samples), tiling shorter-than-window clips; record or cut a longer clip")


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


@dataclass(frozen=True)
class ShortClip:
    """A short excerpt cut from a held-out recording (for the short-clip figure)."""

    name: str
    source: str
    mosquito: bool
    samples: np.ndarray


def _spans(rec: Recording, duration_s: float) -> list[tuple[float, float]]:
    """Where an excerpt may be cut so that its label is known (the weak-label policy, clip by clip)."""
    if rec.label in (ClipLabel.POSITIVE, ClipLabel.NEGATIVE):
        return [(0.0, duration_s)]
    if rec.label is ClipLabel.WEAK:  # only inside the crowd/model segments; weak clips without any: none
        return [(s, min(e, duration_s)) for s, e in rec.segments if min(e, duration_s) > s]
    return []


def cut_short_clips(recs: list[Recording], audio: list[np.ndarray], *, sample_rate: int,
                    length_s: tuple[float, float] = (0.1, 0.5), seconds_per_cut: float = 5.0, max_per_recording: int = 8,
                    seed: int = 0) -> list[ShortClip]:
    """Cut excerpts of ``length_s`` seconds (uniform) from recordings, where their label is known.

    Positives come from lab clips (anywhere) and from inside the segments of weak field recordings;
    weak recordings without segments (tone not verified) give none; negatives come from anywhere.
    Each recording gives ``ceil(usable seconds / seconds_per_cut)`` excerpts, at most ``max_per_recording``,
    at random places (seeded by ``seed`` and the recording's name, so the same recording always gives the
    same excerpts). Recordings shorter than ``length_s[0]`` give none.
    """
    lo, hi = length_s
    if not 0 < lo <= hi:
        raise ValueError(f"length_s must be (lo, hi) with 0 < lo <= hi, got {length_s}")
    out = []
    for rec, y in zip(recs, audio):
        dur = y.size / sample_rate
        spans = [(a, b) for a, b in _spans(rec, dur) if b - a >= lo]
        if not spans:
            continue
        usable = sum(b - a for a, b in spans)
        rng = np.random.default_rng([seed, zlib.crc32(rec.rel.encode())])
        k = min(max_per_recording, max(1, math.ceil(usable / seconds_per_cut)))
        lens = np.array([b - a for a, b in spans])
        for _ in range(k):
            i = int(rng.choice(len(spans), p=lens / lens.sum()))
            a, b = spans[i]
            length = rng.uniform(lo, min(hi, b - a))
            start = rng.uniform(a, b - length)
            s0, s1 = int(round(start * sample_rate)), int(round((start + length) * sample_rate))
            out.append(ShortClip(name=f"{rec.rel}#{start:.3f}-{start + length:.3f}", source=rec.set_name,
                                 mosquito=rec.mosquito, samples=y[s0:s1].copy()))
    return out
