"""Window scores stitched into one per-sample score track, the same way offline and live.

Windows of ``window`` samples start every ``hop`` samples from the segment's start; when the
segment ends, one more window aligned with its end covers the tail. Each sample takes its scores
from the *earliest* window that still shows the model at least ``right`` samples after it (the model
sees least context at its window edges): so a sample's scores are final as soon as the window
ending ``right`` samples after it has been scored, at most ``right + hop`` samples after the sample
arrived. Samples near the segment's end, which no window shows with that much right context, take
the last window. A segment shorter than one window is scored once, standardised and zero-padded.

Because the rule depends only on the windows up to the one that decides a sample, feeding the
samples in any block sizes and flushing gives the same score track as feeding them all at once;
``edgewise.runtime.ecg.delineate`` is exactly that.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgewise.runtime.ecg.preprocess import standardize

# float32 [1, leads, window] -> float32 [1, classes, window] (or [1, heads, classes, window] for a Hydra)
ModelFn = Callable[[np.ndarray], np.ndarray]

__all__ = ["ModelFn", "WindowStitcher", "owner_start", "window_starts"]


def window_starts(n: int, window: int, hop: int) -> list[int]:
    """Starts of the windows a segment of ``n`` samples is scored with: every ``hop``, plus the end-aligned one."""
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] != n - window:
        starts.append(n - window)
    return starts


def owner_start(t: np.ndarray | int, *, window: int, hop: int, right: int) -> np.ndarray | int:
    """Start of the grid window that decides sample ``t`` (ignoring the segment's end)."""
    k = -(-(np.asarray(t) + right + 1 - window) // hop)  # ceil division
    return np.maximum(k, 0) * hop


class WindowStitcher:
    """Stateful stitcher for one continuous segment at the model rate.

    ``push(x)`` takes float32 ``[leads, n]`` samples and returns the newly final scores
    ``[classes, m]`` (``[heads, classes, m]`` for a multi-head model; possibly ``m == 0``); ``flush()``
    returns the rest at the segment's end. Scores are returned in order and without overlap, so
    concatenating every return (on the last axis) gives the track.
    """

    def __init__(self, model_fn: ModelFn, *, window: int, hop: int, right: int, leads: int = 1):
        if not 0 < hop <= window - right:
            raise ValueError(f"need 0 < hop <= window - right, got hop {hop}, window {window}, right {right}")
        if not 0 <= right < window:
            raise ValueError(f"need 0 <= right < window, got right {right}, window {window}")
        self.model_fn, self.window, self.hop, self.right, self.leads = model_fn, window, hop, right, leads
        self._buf = np.zeros((leads, 0), np.float32)   # samples from index self._buf_start on
        self._buf_start = 0
        self._n = 0            # samples received
        self._final = 0        # scores emitted up to here
        self._next_start = 0   # next grid window to score
        self._last: tuple[int, np.ndarray] | None = None  # last scored window (start, scores)
        self.windows_scored = 0
        self.padded = False

    @property
    def received(self) -> int:
        return self._n

    @property
    def final(self) -> int:
        """Samples whose scores have been returned."""
        return self._final

    def _score(self, start: int) -> np.ndarray:
        seg = self._buf[:, start - self._buf_start : start - self._buf_start + self.window]
        out = np.asarray(self.model_fn(standardize(seg)[None]))[0]
        self.windows_scored += 1
        return out.astype(np.float32, copy=False)

    def _take(self, start: int, scores: np.ndarray, upto: int) -> np.ndarray:
        part = scores[..., self._final - start : upto - start]
        self._final = upto
        return part

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        self._buf = np.concatenate([self._buf, x], axis=1)
        self._n += x.shape[1]
        parts = []
        while self._next_start + self.window <= self._n:
            s = self._next_start
            scores = self._score(s)
            self._last = (s, scores)
            upto = s + self.window - self.right  # every t below this is decided by window s or earlier
            parts.append(self._take(s, scores, upto))
            self._next_start += self.hop
            self._trim()
        return self._concat(parts)

    def flush(self) -> np.ndarray:
        """Scores for the samples not yet final: the end-aligned window decides them."""
        n = self._n
        if n == 0 or self._final >= n:
            return self._concat([])
        if n < self.window:  # the whole segment is shorter than a window: pad it
            self.padded = True
            xs = standardize(self._buf[:, : n])
            padded = np.concatenate([xs, np.zeros((self.leads, self.window - n), np.float32)], axis=1)
            out = np.asarray(self.model_fn(padded[None]))[0].astype(np.float32, copy=False)
            self.windows_scored += 1
            return self._take(0, out, n)
        s = n - self.window
        if self._last is not None and self._last[0] == s:
            scores = self._last[1]
        else:
            scores = self._score(s)
        return self._take(s, scores, n)

    def _trim(self) -> None:
        keep_from = min(self._next_start, max(self._n - self.window, 0))
        cut = keep_from - self._buf_start
        if cut > 0:
            self._buf = self._buf[:, cut:]
            self._buf_start = keep_from

    @staticmethod
    def _concat(parts: list[np.ndarray]) -> np.ndarray:
        parts = [p for p in parts if p.size]
        if not parts:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(parts, axis=-1)
