"""What the live page shows: the last ``history_s`` seconds of a stream, kept small enough to send at once.

``History`` applies every stream object (the same dicts ``--jsonl`` prints) and the raw trace, forgets
what has scrolled out of the window, and renders a snapshot that a late browser starts from. The raw
trace is decimated to at most ``max_points_per_s`` points per second with a min/max pair per bucket, so a
QRS spike survives decimation (a plain stride would drop peaks). numpy only; no locking here (the
server serialises access).
"""
from __future__ import annotations

import math
from collections import deque
from typing import Any

import numpy as np

from edgewise.runtime.errors import InputError

__all__ = ["MinMaxDecimator", "History", "TASKS", "DEFAULT_HISTORY_S"]

TASKS = ("ecg", "mosquito")
# ECG: the "last 10 s"; mosquito: "the probability trace over the last 60 s"
DEFAULT_HISTORY_S = {"ecg": 10.0, "mosquito": 60.0}
_MAX_ITEMS = 5000  # per kind: a flood of faults must not grow memory or the snapshot without bound


class MinMaxDecimator:
    """Decimates a 1-D stream arriving in blocks into (index, value) points: min and max of each bucket.

    Buckets of ``bucket`` samples are aligned to the first index after each discontinuity; the last,
    incomplete bucket is carried to the next block. ``bucket == 1`` passes every sample through.
    """

    def __init__(self, bucket: int):
        if bucket < 1:
            raise InputError(f"bucket must be >= 1 sample, got {bucket}")
        self.bucket = int(bucket)
        self._carry = np.zeros(0, dtype=np.float64)
        self._carry_start = 0

    @property
    def end(self) -> int:
        """One past the last sample index pushed (including the carried partial bucket)."""
        return self._carry_start + int(self._carry.size)

    def push(self, start: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add samples ``x`` (float [n]) starting at index ``start``.

        Returns:
            The completed points: indices int64 [m] and values float64 [m].
        """
        out_i, out_v = [], []
        if start != self.end and self._carry.size:  # a jump (gap or restart): close the partial bucket
            i, v = self._reduce(self._carry_start, self._carry)
            out_i.append(i)
            out_v.append(v)
            self._carry = self._carry[:0]
        if not self._carry.size:
            self._carry_start = int(start)
        buf = np.concatenate([self._carry, np.asarray(x, dtype=np.float64)])
        full = (buf.size // self.bucket) * self.bucket
        if full:
            i, v = self._reduce(self._carry_start, buf[:full])
            out_i.append(i)
            out_v.append(v)
        self._carry = buf[full:].copy()
        self._carry_start += full
        if not out_i:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        return np.concatenate(out_i), np.concatenate(out_v)

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """Emit the carried partial bucket (at the end of a stream)."""
        if not self._carry.size:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        i, v = self._reduce(self._carry_start, self._carry)
        self._carry_start += self._carry.size
        self._carry = self._carry[:0]
        return i, v

    def _reduce(self, start: int, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Min and max of each bucket of ``x`` (the last may be partial), in time order; one point when equal."""
        b = self.bucket
        if b == 1:
            return start + np.arange(x.size, dtype=np.int64), x.copy()
        n_buckets = -(-x.size // b)
        rows = np.full(n_buckets * b, np.nan)
        rows[: x.size] = np.where(np.isfinite(x), x, np.nan)
        rows = rows.reshape(n_buckets, b)
        valid = ~np.isnan(rows)
        lo = np.argmin(np.where(valid, rows, np.inf), axis=1)
        hi = np.argmax(np.where(valid, rows, -np.inf), axis=1)
        # a bucket with no finite sample gives one nan point at its start: the page breaks its line there
        lo[~valid.any(axis=1)] = 0
        hi[~valid.any(axis=1)] = 0
        first, second = np.minimum(lo, hi), np.maximum(lo, hi)
        r = np.arange(n_buckets)
        offs = start + r.astype(np.int64) * b
        idx = np.stack([offs + first, offs + second], axis=1)
        val = np.stack([rows[r, first], rows[r, second]], axis=1)
        keep = np.stack([np.ones(n_buckets, dtype=bool), first != second], axis=1)
        return idx[keep], val[keep]


def _finite_list(v: np.ndarray, decimals: int = 4) -> list:
    """float array -> JSON-safe list (non-finite -> None, so the page breaks its line)."""
    r = np.round(v.astype(np.float64), decimals)
    out = r.tolist()
    if not np.all(np.isfinite(r)):
        out = [x if math.isfinite(x) else None for x in out]
    return out


class History:
    """The last ``history_s`` seconds of one stream, for the live page.

    Args:
        task: "ecg" or "mosquito" (what the page draws).
        fs: the source's sample rate (Hz): every ``onset``/``offset``/``at``/``start`` index is at this rate.
        history_s: seconds kept (default: 10 s for ECG, 60 s for mosquito).
        max_points_per_s: display points per second of trace (min/max pairs).
        threshold: the mosquito operating threshold drawn on the page (a ``start`` object's
            ``threshold`` or ``on`` overrides it).
    """

    def __init__(self, task: str, fs: float, *, history_s: float | None = None, max_points_per_s: int = 250,
                 threshold: float = 0.5):
        if task not in TASKS:
            raise InputError(f"task must be one of {TASKS}, got {task!r}")
        if not (isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0):
            raise InputError(f"fs must be a positive sample rate in Hz, got {fs!r}")
        history_s = DEFAULT_HISTORY_S[task] if history_s is None else float(history_s)
        if not (math.isfinite(history_s) and history_s > 0):
            raise InputError(f"history_s must be > 0 seconds, got {history_s!r}")
        if max_points_per_s < 2:
            raise InputError(f"max_points_per_s must be >= 2, got {max_points_per_s}")
        self.task, self.history_s, self.threshold = task, history_s, float(threshold)
        self.max_points_per_s = int(max_points_per_s)
        self._set_fs(float(fs))
        self.reset()

    def _set_fs(self, fs: float) -> None:
        self.fs = fs
        # two points (min, max) per bucket
        self.bucket = max(1, math.ceil(2 * fs / self.max_points_per_s))

    def reset(self) -> None:
        """Forget everything (a new ``start`` object: indices restart at 0)."""
        self.now = 0  # one past the newest sample index seen, at fs
        self.start_obj: dict | None = None
        self.open_event: dict | None = None  # mosquito: an "event_open" not yet closed by its "event"
        self.decimator = MinMaxDecimator(self.bucket)
        self.points: deque[tuple[np.ndarray, np.ndarray]] = deque()
        self.items: dict[str, deque] = {k: deque(maxlen=_MAX_ITEMS)
                                        for k in ("wave", "hr", "window", "event", "gap", "fault")}
        self.extra: dict[str, dict] = {}
        self.totals: dict[str, Any] = {"waves": {}, "events": 0, "windows": 0, "gaps": 0, "gap_samples": 0,
                                       "faults": {}}

    # ---- input -------------------------------------------------------------------------------------
    def add_samples(self, start: int, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Decimate and keep raw samples; returns the new display points (idx, val)."""
        i, v = self.decimator.push(start, samples)
        self.now = max(self.now, self.decimator.end)
        if i.size:
            self.points.append((i, v))
        self._trim()
        return i, v

    def apply(self, obj: dict) -> None:
        """Apply one stream object (``start``, ``wave``, ``hr``, ``window``, ``event``, ``gap``, ``fault``, ...)."""
        kind = obj["type"]
        if kind == "start":
            fs = obj.get("fs")
            self.reset()
            if isinstance(fs, (int, float)) and math.isfinite(fs) and fs > 0 and fs != self.fs:
                self._set_fs(float(fs))
                self.decimator = MinMaxDecimator(self.bucket)
            for key in ("threshold", "on"):
                if isinstance(obj.get(key), (int, float)):
                    self.threshold = float(obj[key])
                    break
            self.start_obj = dict(obj)
            return
        if kind == "event_open":
            self._check(obj)
            self.open_event = dict(obj)
            self.now = max(self.now, self._end_index(obj))
            self._trim()
            return
        if kind not in self.items:
            self.extra[kind] = dict(obj)
            return
        self._check(obj)
        self.items[kind].append(dict(obj))
        self.now = max(self.now, self._end_index(obj))
        t = self.totals
        if kind == "wave":
            t["waves"][obj.get("wave")] = t["waves"].get(obj.get("wave"), 0) + 1
        elif kind in ("event", "window"):
            t[kind + "s"] += 1
            if kind == "event":
                self.open_event = None
        elif kind == "gap":
            t["gaps"] += 1
            t["gap_samples"] += int(obj.get("samples", 0) or 0)
        elif kind == "fault":
            t["faults"][obj.get("kind")] = t["faults"].get(obj.get("kind"), 0) + int(obj.get("count", 1) or 1)
        self._trim()

    # numeric fields each kind needs; a gap gives its span as sample indices (ECG) or seconds (mosquito)
    _FIELDS = {"wave": ("onset", "offset"), "hr": ("at", "bpm"), "window": ("start_s", "end_s"),
               "event": ("start_s", "end_s"), "event_open": ("start_s",), "gap": ("samples",), "fault": ("at",)}

    def _check(self, obj: dict) -> None:
        def numeric(v) -> bool:
            return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))

        need = self._FIELDS[obj["type"]]
        if obj["type"] == "gap":
            need += ("start",) if "start" in obj else ("start_s", "end_s")
        if not all(numeric(obj.get(k)) for k in need):
            raise InputError(f"a {obj['type']!r} object needs numeric fields {need}, got {obj!r:.200}")

    def _end_index(self, obj: dict) -> int:
        """The last sample index an object speaks about (it moves ``now``)."""
        kind = obj["type"]
        try:
            if kind == "wave":
                return int(obj["offset"]) + 1
            if kind in ("hr", "fault"):
                return int(obj["at"]) + 1
            if kind == "gap":
                return self.gap_span(obj)[1]
            if kind in ("window", "event"):
                return int(round(float(obj["end_s"]) * self.fs))
            if kind == "event_open":
                return int(round(float(obj["start_s"]) * self.fs))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"a {kind!r} object needs numeric fields, got {obj!r}") from e
        return 0

    def gap_span(self, obj: dict) -> tuple[int, int]:
        """[start, end) sample indices of a gap: ``start``/``samples`` (ECG) or ``start_s``/``end_s`` (mosquito)."""
        if "start" in obj:
            return int(obj["start"]), int(obj["start"]) + int(obj["samples"])
        return int(round(float(obj["start_s"]) * self.fs)), int(round(float(obj["end_s"]) * self.fs))

    def _trim(self) -> None:
        cutoff = self.now - self.history_s * self.fs
        while self.points and self.points[0][0][-1] < cutoff:
            self.points.popleft()
        for kind, dq in self.items.items():
            while dq and self._end_index(dq[0]) <= cutoff:
                dq.popleft()

    # ---- output ------------------------------------------------------------------------------------
    def meta(self) -> dict:
        model = (self.start_obj or {}).get("model")
        return {"task": self.task, "fs": self.fs, "history_s": self.history_s, "bucket": self.bucket,
                "threshold": self.threshold, "model": model}

    def snapshot(self) -> dict:
        """Everything the page needs to draw the current window, as one JSON-able dict."""
        cutoff = self.now - self.history_s * self.fs
        if self.points:
            idx = np.concatenate([p[0] for p in self.points])
            val = np.concatenate([p[1] for p in self.points])
            keep = idx >= cutoff
            idx, val = idx[keep], val[keep]
        else:
            idx, val = np.zeros(0, dtype=np.int64), np.zeros(0)
        snap = {"type": "snapshot", **self.meta(), "start": self.start_obj, "now": int(self.now),
                "samples": {"i": idx.tolist(), "v": _finite_list(val), "end": int(self.decimator.end)},
                "open_event": self.open_event, "totals": self.totals, "extra": self.extra}
        for kind, dq in self.items.items():
            snap[kind + "s"] = list(dq)
        return snap

    @staticmethod
    def samples_message(idx: np.ndarray, val: np.ndarray, end: int) -> dict:
        """The live message carrying new display points; ``end`` is one past the last raw sample received."""
        return {"type": "samples", "i": idx.tolist(), "v": _finite_list(val), "end": int(end)}
