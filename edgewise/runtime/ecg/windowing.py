"""Windowed inference over signals of any length, stitched without duplicated or split waves.

The signal is cut into overlapping windows (``window`` samples, ``hop`` apart, the last one aligned
with the end); each window is standardised and scored by the model; per-sample scores are stitched by
keeping, for every sample, the window in which it lies farthest from an edge (a model sees least
context at its window edges). Waves are extracted once from the stitched scores, so a wave crossing a
seam is one wave. Signals shorter than a window are padded with zeros (after standardisation, the
median baseline), flagged, and the padding is cut away again.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from edgewise.runtime.ecg.preprocess import standardize

ModelFn = Callable[[np.ndarray], np.ndarray]  # float32 [batch, leads, window] -> float32 [batch, classes, window]

__all__ = ["window_starts", "windowed_scores"]


def window_starts(n: int, window: int, hop: int) -> list[int]:
    """Start indices covering [0, n): hop apart, the last one aligned with the end."""
    if n <= window:
        return [0]
    starts = list(range(0, n - window + 1, hop))
    if starts[-1] != n - window:
        starts.append(n - window)
    return starts


def windowed_scores(x: np.ndarray, model_fn: ModelFn, *, window: int, hop: int, batch: int = 8
                    ) -> tuple[np.ndarray, bool]:
    """Score a [leads, n] signal (already at the model rate).

    Returns:
        scores float32 [classes, n], and whether the signal had to be padded (shorter than a window).
    """
    x = np.asarray(x, dtype=np.float32)
    leads, n = x.shape
    padded = n < window
    if padded:
        xs = standardize(x)
        x = np.concatenate([xs, np.zeros((leads, window - n), np.float32)], axis=1)
        starts = [0]
        chunks = [x]
    else:
        starts = window_starts(n, window, hop)
        chunks = [standardize(x[:, s : s + window]) for s in starts]
    outs = []
    for i in range(0, len(chunks), batch):
        outs.append(np.asarray(model_fn(np.stack(chunks[i : i + batch]))))
    out = np.concatenate(outs, axis=0)
    n_total = max(n, window)
    classes = out.shape[1]
    scores = np.zeros((classes, n_total), np.float32)
    best = np.full(n_total, -1, np.int64)  # distance to the nearest window edge of the window in use
    edge_dist = np.minimum(np.arange(window), np.arange(window)[::-1])
    for s, o in zip(starts, out):
        sl = slice(s, s + window)
        better = edge_dist > best[sl]
        # the first/last samples of the signal have no better window: treat the signal's own ends as far
        scores[:, sl][:, better] = o[:, better]
        best[sl][better] = edge_dist[better]
    return scores[:, :n], padded
