"""Evaluate multi-head ECG predictors (an ensemble of U-Nets, a Hydra, a one-head model) on strips:
per-sample head probabilities, delineation F1 through the device engine, NLL, ECE and uncertainty.

A *heads function* maps standardised windows float32 [b, 1, w] to probabilities float32 [b, M, 4, w]
(M = 1 for a plain model). ``strip_head_probs`` scores a whole strip the way the device stream does
(``edgewise.runtime.ecg.stitch``: windows every ``hop`` samples, each sample from the earliest window
showing ``right`` samples after it, the end-aligned window for the tail) but with all windows in one
batch; ``mean_model_fn`` turns a heads function into the 4-class log-probability ``model_fn``
delineation takes (log of the heads' mean probability), reusing the windows already scored.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from edgewise.runtime.ecg.preprocess import standardize
from edgewise.runtime.ecg.stitch import owner_start, window_starts
from edgewise.runtime.ecg.stream import STREAM_HOP, STREAM_RIGHT
from edgewise.runtime.uncertainty import decompose, softmax

HeadsFn = Callable[[np.ndarray], np.ndarray]


class CachedHeads:
    """A heads function that remembers its outputs per window (keyed by the window's bytes), so the
    delineation pass over a strip reuses the metric pass's model runs."""

    def __init__(self, fn: HeadsFn):
        self.fn, self._cache, self.runs = fn, {}, 0

    @staticmethod
    def _key(w: np.ndarray) -> bytes:
        return hashlib.blake2b(np.ascontiguousarray(w, np.float32).tobytes(), digest_size=16).digest()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        keys = [self._key(w) for w in x]
        todo = [i for i, k in enumerate(keys) if k not in self._cache]
        if todo:
            out = np.asarray(self.fn(np.ascontiguousarray(x[todo], np.float32)), np.float32)
            self.runs += len(todo)
            for i, o in zip(todo, out):
                self._cache[keys[i]] = o
        return np.stack([self._cache[k] for k in keys])

    def clear(self) -> None:
        self._cache.clear()


def torch_heads_fn(models: Sequence | object) -> HeadsFn:
    """Heads of torch modules: a list of one-head U-Nets (an ensemble, or one model) or one module whose
    output is [b, M, 4, w] logits (Hydra)."""
    import torch

    nets = list(models) if isinstance(models, (list, tuple)) else [models]
    for m in nets:
        m.eval()

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            xt = torch.from_numpy(np.ascontiguousarray(x, np.float32))
            outs = [m(xt) for m in nets]
            z = torch.stack(outs, 1) if outs[0].ndim == 3 else torch.cat(outs, 1)
            return torch.softmax(z, dim=2).numpy()

    return fn


def runtime_heads_fn(model) -> HeadsFn:
    """Heads of an artifact opened with ``edgewise.runtime.backends.load_model`` ([b, 4, w] or [b, M, 4, w])."""

    def fn(x: np.ndarray) -> np.ndarray:
        z = np.asarray(model.run(x))
        z = z[:, None] if z.ndim == 3 else z
        return softmax(z, axis=2)

    return fn


P_CLASS = 1  # (background, P, QRS, T)


def with_p_offset(heads: HeadsFn, offset: float) -> HeadsFn:
    """``heads`` with ``offset`` added to every head's P logit (as ``edgewise.models.ecg.calibrate`` folds
    into a U-Net's classifier bias; for a Hydra or an ensemble: into every head's), applied to the
    probabilities: p_P -> p_P e^b / (1 - p_P + p_P e^b), the other classes renormalised alike."""
    if offset == 0:
        return heads
    g = float(np.exp(offset))

    def fn(x: np.ndarray) -> np.ndarray:
        p = np.array(heads(x), np.float32, copy=True)
        p[..., P_CLASS, :] *= g
        return p / p.sum(axis=-2, keepdims=True)

    return fn


def mean_model_fn(heads: HeadsFn) -> Callable[[np.ndarray], np.ndarray]:
    """``model_fn`` for delineation: log of the heads' mean probability, float32 [b, 4, w]."""

    def fn(x: np.ndarray) -> np.ndarray:
        return np.log(np.asarray(heads(x)).mean(axis=1) + 1e-12).astype(np.float32)

    return fn


def strip_head_probs(signal: np.ndarray, heads: HeadsFn, *, window: int = 2048, hop: int = STREAM_HOP,
                     right: int = STREAM_RIGHT) -> np.ndarray:
    """Per-sample head probabilities float32 [M, 4, n] of a 500-Hz single-lead strip (n >= window)."""
    x = np.asarray(signal, np.float32).reshape(1, -1)
    n = x.shape[1]
    if n < window:
        raise ValueError(f"strip of {n} samples is shorter than one window ({window}); pad it or use delineate")
    starts = window_starts(n, window, hop)
    grid = [s for s in starts if s % hop == 0 and s + window <= n]
    batch = np.stack([standardize(x[:, s : s + window]) for s in starts])
    out = np.asarray(heads(batch))                                   # [windows, M, 4, window]
    t = np.arange(n)
    own = np.asarray(owner_start(t, window=window, hop=hop, right=right))
    last_grid = grid[-1]
    idx = np.where(own <= last_grid, own // hop, len(starts) - 1)    # beyond the grid: the end-aligned window
    idx = np.where((own > last_grid) & (starts[-1] == last_grid), len(grid) - 1, idx)
    start_of = np.asarray(starts)[idx]
    return np.ascontiguousarray(out[idx, :, :, t - start_of].transpose(1, 2, 0))


@dataclass
class ProbStats:
    """Per-sample statistics pooled over strips: true class, mean probabilities, epistemic uncertainty."""

    labels: list[np.ndarray]
    probs: list[np.ndarray]      # [4, n] mean over heads
    epistemic: list[np.ndarray]  # [n]

    def nll(self) -> float:
        p = np.concatenate([pr[y, np.arange(y.size)] for pr, y in zip(self.probs, self.labels)])
        return float(-np.mean(np.log(np.maximum(p, 1e-12))))

    def ece(self, bins: int = 15) -> float:
        """Expected calibration error of the top class (equal-width confidence bins)."""
        conf = np.concatenate([p.max(axis=0) for p in self.probs])
        hit = np.concatenate([p.argmax(axis=0) == y for p, y in zip(self.probs, self.labels)])
        edges = np.linspace(0, 1, bins + 1)
        b = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
        return float(sum(abs(conf[b == k].mean() - hit[b == k].mean()) * np.mean(b == k)
                         for k in range(bins) if np.any(b == k)))

    def accuracy(self) -> float:
        return float(np.mean(np.concatenate([p.argmax(axis=0) == y for p, y in zip(self.probs, self.labels)])))

    def mi(self) -> np.ndarray:
        return np.concatenate(self.epistemic)


def annotated_stats(strips: Sequence[tuple[np.ndarray, np.ndarray, tuple[int, int]]], heads: HeadsFn,
                    **window_kw) -> ProbStats:
    """``ProbStats`` over the annotated span of each (signal, mask, (first, last)) strip."""
    st = ProbStats([], [], [])
    for x, mask, (lo, hi) in strips:
        ph = strip_head_probs(x, heads, **window_kw)[:, :, lo : hi + 1]
        st.labels.append(np.asarray(mask)[lo : hi + 1])
        st.probs.append(ph.mean(axis=0))
        st.epistemic.append(decompose(ph).epistemic)
    return st


def strip_epistemic(x: np.ndarray, heads: HeadsFn, **window_kw) -> float:
    """Mean epistemic uncertainty (nats) over a strip: the OOD score."""
    return float(decompose(strip_head_probs(x, heads, **window_kw)).epistemic.mean())


def auroc(neg: Sequence[float], pos: Sequence[float]) -> float:
    """Area under the ROC curve for ``pos`` scoring above ``neg`` (ties count half; Mann-Whitney U)."""
    a, b = np.asarray(neg, np.float64), np.asarray(pos, np.float64)
    if not a.size or not b.size:
        raise ValueError("auroc needs at least one negative and one positive score")
    return float(((b[:, None] > a[None]).sum() + 0.5 * (b[:, None] == a[None]).sum()) / (a.size * b.size))
