"""Final per-sample scores -> final waves, as the scores arrive (offline is the same code fed at once).

The rules are those of ``edgewise.runtime.ecg.postprocess`` (gap filling, minimum durations, waves cut
by the segment's ends dropped, P–QRS–T order, atrial flutter/fibrillation), made causal with bounded
look-ahead so that a wave is emitted about a second after its offset:
- a wave is final once ``min_gap`` samples after its offset are final (no gap filling can extend it);
- QRS waves are emitted when final; a T wave when final (it needs a QRS before it, which is final);
- a P wave needs to know the next QRS: it is decided once every wave starting up to ``max_pr`` after
  its onset is final. The rhythm rules (flutter, fibrillation, dissociated P waves) look at the waves
  of the ``context_s`` seconds before that moment instead of the whole record. In a segment's first
  ``warmup_s`` seconds there are too few beats to judge a rhythm, so P waves there wait until
  ``warmup_s`` has passed (or the segment ends) and are judged on all of it. With the defaults
  (10 s, 10 s) a 10-s record (LUDB) is judged as a whole, exactly as before.
Decisions depend only on the waves and samples up to a wave's own decision point, never on how the
samples were cut into blocks.

With ``post.p_edge_offset`` > 0 (a calibrated model), a P wave is found and judged as above, and is
returned with its edges moved to the first and last sample inside it where P wins once the offset is
taken off its score (unless that core is shorter than P's minimum duration).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import numpy as np

from edgewise.runtime.ecg.postprocess import (
    PostprocessConfig,
    _atrial_fibrillation_or_flutter,
    _p_regular,
    _rr_cv_above,
    label_runs,
    p_wave_consistency,
)
from edgewise.runtime.ecg.waves import WAVE_KINDS, Wave

__all__ = ["WaveTracker"]


def argmax_classes(scores: np.ndarray) -> np.ndarray:
    """``np.argmax(scores, axis=0)`` of ``[classes, m]`` scores, equal to it (first maximum on ties, NaN wins),
    in a few whole-row comparisons: numpy's argmax along a strided axis of 4 costs twice as much."""
    best = scores[0]
    idx = np.zeros(scores.shape[1], np.intp)
    for k in range(1, scores.shape[0]):
        better = scores[k] > best
        idx[better] = k
        best = np.maximum(best, scores[k])
    if best.dtype.kind == "f" and np.isnan(best).any():  # comparisons with NaN are false: let numpy decide
        return np.argmax(scores, axis=0)
    return idx


@dataclass(frozen=True)
class _Pending:
    wave: Wave
    horizon: int  # the wave is decided once every wave starting before this sample is final
    shown: Wave   # what is returned if it is kept (``wave`` with refined edges)


class WaveTracker:
    """Turns one segment's final scores ``[4, m]`` (at ``fs``, pushed in order) into final waves.

    ``push(scores, signal)`` returns the waves decided by these samples (segment-relative indices, in
    decision order; a P wave comes after the QRS that follows it); ``flush()`` decides the rest at the
    segment's end. ``signal`` is the single lead at ``fs`` (for the P-wave consistency rule), or None.
    """

    def __init__(self, fs: float, post: PostprocessConfig = PostprocessConfig(), *, context_s: float = 10.0,
                 warmup_s: float = 10.0):
        self.fs, self.post = fs, post
        self.max_gap = int(round(post.min_gap_ms * fs / 1000))
        self.max_pr = post.max_pr_ms * fs / 1000
        self.max_qt = post.max_qt_ms * fs / 1000
        self.context = int(round(context_s * fs))
        self.warmup = int(round(warmup_s * fs))
        min_dur = dict(post.min_duration_ms)
        self._min_dur_by_label = [0.0] + [min_dur.get(k, 0.0) for k in WAVE_KINDS]  # ms, by mask label
        self._mask = np.zeros(0, np.int8)   # argmax labels from index self._base on
        self._p_offset = max(0.0, float(post.p_edge_offset))  # <= 0 could only widen: edges as found
        self._p_core = np.zeros(0, bool)    # with an offset: P wins without it, aligned with self._mask
        self._base = 0
        self._n = 0                         # final score samples seen
        self._sig = np.zeros(0, np.float32)  # the lead, from index self._sig0 on
        self._sig0 = 0
        self._ctx: list[Wave] = []          # waves past the duration/edge filters, for context
        self._qrs_on: list[int] = []        # every QRS onset so far (T rule), pruned to the recent ones
        self._pending: list[_Pending] = []  # P waves awaiting their decision

    # ---- incremental run extraction ----------------------------------------------------------
    def _p_edges(self, on: int, off: int) -> Wave:
        """A P wave found at ``on..off`` with the edges of its offset-free core (see the module doc)."""
        core = np.flatnonzero(self._p_core[on - self._base : off - self._base + 1])
        if core.size and (core[-1] - core[0] + 1) * 1000 / self.fs >= self._min_dur_by_label[1]:
            return Wave("P", on + int(core[0]), on + int(core[-1]))
        return Wave("P", on, off)

    def _final_waves(self, final: bool) -> tuple[list[tuple[Wave, Wave]], int]:
        """Newly final waves (gap-filled) that pass the duration and edge filters, each with the wave to return
        for it (a P wave's refined edges, see the module doc; else itself), and the frontier below which every
        wave is final. The runs come from numpy (``label_runs``); the few dozen of them are then
        walked as Python ints, cheaper than a dozen numpy calls on tiny arrays, and only the kept ones become
        ``Wave`` objects."""
        if self._mask.size == 0:
            return [], self._n
        starts, lengths, labels = label_runs(self._mask, self.max_gap)
        base, n, fs, min_dur = self._base, self._n, self.fs, self._min_dur_by_label
        out: list[tuple[Wave, Wave]] = []
        frontier, last_done = n, None
        for s, length, k in zip(starts.tolist(), lengths.tolist(), labels.tolist()):
            if k == 0:
                continue
            on, off = s + base, s + base + length - 1
            if not final and n - 1 - off <= self.max_gap:  # not final yet (gap filling could extend it)
                frontier = on
                break
            last_done = off
            # the filters of postprocess.clean_waves: a minimum duration per class, waves cut by the
            # segment's start (or, at its end, by its end) dropped
            if length * 1000 / fs >= min_dur[k] and on > 0 and not (final and off >= n - 1):
                w = Wave(WAVE_KINDS[k - 1], on, off)
                out.append((w, self._p_edges(on, off) if k == 1 and self._p_offset else w))  # before the cut below
        if last_done is not None:
            cut = last_done + 1 - base
        elif frontier < n:  # the first wave is not final: keep the mask from its onset
            cut = frontier - base
        else:  # no wave: a leading background run is never filled, keep only its last max_gap + 1 samples
            cut = self._mask.size - self.max_gap - 1
        if cut > 0:
            self._mask = self._mask[cut:]
            if self._p_offset:
                self._p_core = self._p_core[cut:]
            self._base += cut
        return out, frontier

    # ---- rules --------------------------------------------------------------------------------
    def _keep_t(self, w: Wave) -> bool:
        i = bisect.bisect_left(self._qrs_on, w.onset)  # self._qrs_on is in time order: the last QRS before w
        if i == 0 or w.offset - self._qrs_on[i - 1] > self.max_qt:
            return w.onset <= self.max_qt  # near the start, the QRS may lie before the segment
        return True

    def _context(self, h: int) -> tuple[list[int], bool | None]:
        """The rhythm facts for P waves decided at horizon ``h``: (QRS onsets of the context in time order,
        verdict), the verdict True (keep: dissociated P waves), False (drop: no QRS, flutter or fibrillation)
        or None (it depends on the wave: is a QRS close after it?). The same for every P wave of one horizon."""
        lo = h - self.context
        ctx = [c for c in self._ctx if lo <= c.onset < h]
        qrs_list = [c.onset for c in ctx if c.kind == "QRS"]
        if not qrs_list:
            return qrs_list, False
        qrs_on = np.array(qrs_list)
        p_waves = [c for c in ctx if c.kind == "P"]
        if self.post.enforce_rhythm:
            fib = False
            if qrs_on.size >= 4 and self._sig.size:
                if _rr_cv_above(qrs_on, self.post.max_sinus_rr_cv):
                    shifted = [Wave(c.kind, c.onset - self._sig0, c.offset - self._sig0) for c in p_waves
                               if c.onset >= self._sig0]
                    fib = p_wave_consistency(self._sig, shifted, self.fs) < self.post.min_p_consistency
            if fib or _atrial_fibrillation_or_flutter(p_waves, qrs_on, self.fs, self.max_pr):
                return qrs_list, False
        if len(p_waves) >= 1.3 * qrs_on.size and _p_regular(p_waves, self.fs):  # dissociated P (AV block)
            return qrs_list, True
        return qrs_list, None

    def _decide_p(self, p: _Pending, final: bool, contexts: dict[int, tuple[list[int], bool | None]]) -> bool:
        """``contexts``: ``_context`` per horizon, shared by the P waves decided in one ``_advance``."""
        w, h = p.wave, p.horizon
        if h not in contexts:
            contexts[h] = self._context(h)
        qrs_on, verdict = contexts[h]
        if verdict is not None:
            return verdict
        i = bisect.bisect_right(qrs_on, w.offset)  # the first QRS after w
        if i == len(qrs_on) or qrs_on[i] - w.onset > self.max_pr:
            return final and self._n - w.onset <= self.max_pr  # near the end, the QRS may lie after it
        return True

    def oldest_needed(self) -> int:
        """Earliest sample a wave not yet returned can start at (per-sample facts before it can go)."""
        return min([p.wave.onset for p in self._pending] + [self._base])

    # ---- driving ------------------------------------------------------------------------------
    def push(self, scores: np.ndarray, signal: np.ndarray | None = None) -> list[Wave]:
        scores = np.asarray(scores)
        if scores.size:
            if scores.shape[0] != len(WAVE_KINDS) + 1:
                raise ValueError(f"expected [4, samples] class scores, got shape {scores.shape}")
            self._mask = np.concatenate([self._mask, argmax_classes(scores).astype(np.int8)])
            if self._p_offset:  # argmax == P once the offset is off (argmax's ties: P loses to background only)
                p = scores[1] - self._p_offset
                core = (p > scores[0]) & (p >= scores[2]) & (p >= scores[3])
                self._p_core = np.concatenate([self._p_core, core])
            if signal is not None:
                self._sig = np.concatenate([self._sig, np.asarray(signal, np.float32).reshape(-1)])
            self._n += scores.shape[1]
        return self._advance(final=False)

    def flush(self) -> list[Wave]:
        return self._advance(final=True)

    def _advance(self, final: bool) -> list[Wave]:
        waves, frontier = self._final_waves(final)
        out: list[Wave] = []
        enforce = self.post.enforce_order
        for w, shown in waves:
            self._ctx.append(w)
            if not enforce:
                out.append(shown)
            elif w.kind == "QRS":
                self._qrs_on.append(w.onset)
                out.append(w)
            elif w.kind == "T":
                if self._keep_t(w):
                    out.append(w)
            else:
                horizon = max(math.floor(w.onset + self.max_pr) + 1, self.warmup)
                self._pending.append(_Pending(w, horizon, shown))
        if enforce:
            still = []
            contexts: dict[int, tuple[list[int], bool | None]] = {}  # self._ctx is fixed from here on
            for p in self._pending:
                if final or frontier >= p.horizon:
                    if self._decide_p(p, final, contexts):
                        out.append(p.shown)
                else:
                    still.append(p)
            self._pending = still
        self._prune(frontier)
        return out

    def _prune(self, frontier: int) -> None:
        oldest = min([p.horizon for p in self._pending], default=frontier) - self.context - 1
        oldest = min(oldest, frontier - self.context - 1)
        if oldest <= 0:
            return
        self._ctx = [c for c in self._ctx if c.onset >= oldest]
        self._qrs_on = [q for q in self._qrs_on if q >= oldest] or self._qrs_on[-1:]
        cut = oldest - self._sig0
        if cut > 0 and self._sig.size:
            self._sig = self._sig[cut:]
            self._sig0 = oldest
