"""Every lead of a multi-lead ECG through a single-lead model, with the model run in batches.

``delineate_leads`` gives, per lead, exactly what ``delineate`` gives for that lead alone: each lead
still goes through the one stream engine. The model calls are batched: every window the engine will
ask for (all leads, every ``hop``, plus the end-aligned one) is scored first in batches of
``batch`` windows, and the engine's calls (of one window or a batch) are served from those scores by
each window's exact input bytes (a window not prefetched is scored on the spot, so a miss costs time,
never correctness). On the
shipped artifacts batching gives scores bitwise equal to one window at a time (onnxruntime and
LiteRT, fp32 and int8; ``tests/runtime/test_ecg_multilead.py``) and is 10-25 % faster per window.
"""
from __future__ import annotations

import numpy as np

from edgewise.runtime.ecg.delineate import DelineationResult, _config, delineate
from edgewise.runtime.ecg.postprocess import PostprocessConfig
from edgewise.runtime.ecg.preprocess import check_signal, standardize, standardized_window
from edgewise.runtime.ecg.stitch import ModelFn, window_starts
from edgewise.runtime.ecg.stream_resample import resample_ecg

__all__ = ["WindowCache", "delineate_leads"]


class WindowCache:
    """A model function that answers prefetched windows from memory and scores any other input itself.

    Args:
        model_fn: float32 [b, 1, window] -> float32 [b, classes, window] (or [b, heads, classes, window]).
        windows: float32 [m, 1, window], the standardised windows to score now, ``batch`` at a time.
    """

    def __init__(self, model_fn: ModelFn, windows: np.ndarray, *, batch: int = 64):
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.model_fn, self.hits, self.misses = model_fn, 0, 0
        self._cache: dict[bytes, np.ndarray] = {}
        for i in range(0, len(windows), batch):
            chunk = np.ascontiguousarray(windows[i : i + batch], dtype=np.float32)
            out = np.asarray(model_fn(chunk))
            for x, y in zip(chunk, out):
                self._cache[x.tobytes()] = y

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """float32 [b, 1, window] -> scores; windows not prefetched go to the model in one call."""
        x = np.ascontiguousarray(x, dtype=np.float32)
        found = [self._cache.get(w.tobytes()) for w in x]
        miss = [i for i, y in enumerate(found) if y is None]
        self.hits += len(found) - len(miss)
        self.misses += len(miss)
        if miss:
            for i, y in zip(miss, np.asarray(self.model_fn(x[miss]))):
                found[i] = y
        return np.stack(found)


def _windows(x: np.ndarray, fs: float, model_fs: int, window: int, hop: int) -> np.ndarray:
    """The standardised windows [m, 1, window] the stream engine will score for each row of ``x``."""
    y = resample_ecg(x, fs, model_fs)
    n = y.shape[1]
    if n < window:  # one padded window per lead, as the stream pads it (a 10-s strip on a whole-strip model)
        return np.stack([standardized_window(y[i : i + 1], window) for i in range(y.shape[0])])
    starts = window_starts(n, window, hop)
    return np.stack([standardize(y[i : i + 1, s : s + window]) for i in range(y.shape[0]) for s in starts])


def delineate_leads(signal: np.ndarray, fs: float, model_fn: ModelFn, *, model_fs: int = 500, window: int = 2048,
                    hop: int | None = None, post: PostprocessConfig = PostprocessConfig(), batch: int = 64
                    ) -> list[DelineationResult]:
    """Delineate each row of a [leads, n] signal at ``fs`` Hz with a single-lead model; one result per lead."""
    x = check_signal(signal, fs)
    step, _ = _config(window, hop, post).stitching()
    fn = WindowCache(model_fn, _windows(x, fs, model_fs, window, step), batch=batch)
    return [delineate(row, fs, fn, model_fs=model_fs, window=window, hop=hop, in_channels=1, post=post) for row in x]
