"""Clips shorter than the detector's window: tile them, refuse the too short, cut short test clips.

The windowing and tiling rules (``MIN_CLIP_S``, ``tile_window``, ``detector_windows``) live in
``edgewise.runtime.mosquito.windows`` (numpy only, the device runs them too) and are re-exported here;
see that module for why short clips are tiled rather than zero-padded. What stays here is host-only:
cutting short labelled excerpts from held-out recordings for the short-clip figure.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np

from edgewise.data.mosquito import ClipLabel, Recording
from edgewise.runtime.mosquito.windows import (
    FADE_S,
    MIN_CLIP_S,
    ClipTooShortError,
    detector_windows,
    min_clip_samples,
    tile_window,
)

__all__ = ["MIN_CLIP_S", "FADE_S", "ClipTooShortError", "min_clip_samples", "tile_window", "detector_windows",
           "ShortClip", "cut_short_clips"]


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
