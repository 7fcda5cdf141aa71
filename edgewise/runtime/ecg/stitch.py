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

Batching: all windows that become ready in one ``push`` (and, in ``finish``, the end-aligned one) go to
the model in one call of up to ``max_batch`` windows, standardised together in one numpy call. A model
computes each window of a batch on its own, so the scores are those of one call per window (checked bit
for bit on the shipped ONNX and TFLite artifacts, tests/runtime/test_ecg_batching.py); only the number
of calls changes: offline, 10 s at 500 Hz is one call of 25 windows instead of 25 calls with a 2048-sample
model (a whole-strip model, window 5008, scores 10 s as one window). A live stream
fed in small blocks still scores each window as soon as it is complete (a batch of one).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgewise.runtime.ecg.preprocess import standardize, standardized_window

# float32 [b, leads, window] -> float32 [b, classes, window] (or [b, heads, classes, window] for a Hydra)
ModelFn = Callable[[np.ndarray], np.ndarray]

__all__ = ["ModelFn", "WindowStitcher", "model_input", "owner_start", "window_starts"]


def window_starts(n: int, window: int, hop: int) -> list[int]:
    """Starts of the windows a segment of ``n`` samples is scored with: every ``hop``, plus the end-aligned one."""
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] != n - window:
        starts.append(n - window)
    return starts


def model_input(x: np.ndarray, starts: np.ndarray | list[int], window: int) -> np.ndarray:
    """float32 ``[b, leads, window]``: the windows of ``x [leads, n]`` at ``starts``, each standardised on
    its own (``preprocess.standardize``, one numpy call for the batch; equal bit for bit to one call per window)."""
    views = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float32), window, axis=-1)  # [leads, ., window]
    return standardize(np.ascontiguousarray(np.swapaxes(views[:, np.asarray(starts, dtype=np.intp)], 0, 1)))


def owner_start(t: np.ndarray | int, *, window: int, hop: int, right: int) -> np.ndarray | int:
    """Start of the grid window that decides sample ``t`` (ignoring the segment's end)."""
    k = -(-(np.asarray(t) + right + 1 - window) // hop)  # ceil division
    return np.maximum(k, 0) * hop


class WindowStitcher:
    """Stateful stitcher for one continuous segment at the model rate.

    ``push(x)`` takes float32 ``[leads, n]`` samples and returns the newly final scores
    ``[classes, m]`` (``[heads, classes, m]`` for a multi-head model; possibly ``m == 0``); ``flush()``
    returns the rest at the segment's end, ``finish(x)`` is ``push(x)`` then ``flush()`` with their
    windows in one batch. Scores are returned in order and without overlap, so concatenating every
    return (on the last axis) gives the track.

    ``max_batch``: most windows per model call (bounds the input and activation memory of a long
    offline signal); 1 calls the model once per window with a batch of one.
    """

    def __init__(self, model_fn: ModelFn, *, window: int, hop: int, right: int, leads: int = 1,
                 max_batch: int = 1):
        if not 0 < hop <= window - right:
            raise ValueError(f"need 0 < hop <= window - right, got hop {hop}, window {window}, right {right}")
        if not 0 <= right < window:
            raise ValueError(f"need 0 <= right < window, got right {right}, window {window}")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.model_fn, self.window, self.hop, self.right, self.leads = model_fn, window, hop, right, leads
        self.max_batch = int(max_batch)
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

    def _score(self, starts: list[int]) -> np.ndarray:
        """Scores ``[b, classes, window]`` (or ``[b, heads, classes, window]``) of the windows at ``starts``."""
        out = np.asarray(self.model_fn(model_input(self._buf, np.asarray(starts) - self._buf_start, self.window)))
        if out.ndim < 3 or out.shape[0] != len(starts):
            raise ValueError(f"the model returned shape {out.shape} for a batch of {len(starts)} windows; "
                             "a model function maps [b, leads, window] to [b, classes, window]")
        self.windows_scored += len(starts)
        return out.astype(np.float32, copy=False)

    def _take(self, start: int, scores: np.ndarray, upto: int) -> np.ndarray:
        part = scores[..., self._final - start : upto - start]
        self._final = upto
        return part

    def _append(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.shape[1]:
            self._buf = np.concatenate([self._buf, x], axis=1)
            self._n += x.shape[1]

    def push(self, x: np.ndarray) -> np.ndarray:
        self._append(x)
        return self._advance(final=False)

    def flush(self) -> np.ndarray:
        """Scores for the samples not yet final: the end-aligned window decides them."""
        return self._advance(final=True)

    def finish(self, x: np.ndarray) -> np.ndarray:
        """``push(x)`` and ``flush()`` in one: the last grid windows and the end-aligned one share a batch."""
        self._append(x)
        return self._advance(final=True)

    def _advance(self, final: bool) -> np.ndarray:
        n, window = self._n, self.window
        grid = list(range(self._next_start, n - window + 1, self.hop))
        todo = list(grid)
        end = None  # the end-aligned window, when the segment ends and samples are left undecided
        if final and n >= window:
            decided = grid[-1] + window - self.right if grid else self._final
            if n > decided:
                end = n - window
                reuse = grid[-1] == end if grid else (self._last is not None and self._last[0] == end)
                if not reuse:
                    todo.append(end)
        parts = []
        for i in range(0, len(todo), self.max_batch):
            chunk = todo[i : i + self.max_batch]
            for j, (s, sc) in enumerate(zip(chunk, self._score(chunk)), start=i):
                self._last = (s, sc)
                if j < len(grid):  # a grid window decides up to ``right`` before its end; the end window comes last
                    parts.append(self._take(s, sc, s + window - self.right))
        if grid:
            self._next_start = grid[-1] + self.hop
        if end is not None:
            parts.append(self._take(end, self._last[1], n))
        elif final and 0 < n < window and self._final < n:  # the whole segment is shorter than a window: pad it
            self.padded = True
            padded = standardized_window(self._buf[:, :n], window)
            out = np.asarray(self.model_fn(padded[None]))[0].astype(np.float32, copy=False)
            self.windows_scored += 1
            parts.append(self._take(0, out, n))
        self._trim()
        return self._concat(parts)

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
