"""The live mosquito engine: blocks of audio in, window scores and detection events out, as they happen.

Fed the items of a live source (``edgewise.runtime.live.sources``: ``Block``, ``Gap``, ``Fault`` with
sample indices at the source's rate), ``MosquitoStream`` does what ``edgewise detect`` does to a file,
incrementally:

1. mixes the channels to mono (their mean, as ``edgewise.data.audio.load_audio``) and resamples to the
   model rate with ``StreamResampler`` (the same filter as the host's ``scipy.signal.resample_poly``;
   1.25 ms of look-ahead);
2. scores each window (``MosquitoDetector``: 2 s every 1 s for the shipped model) the moment its last
   sample arrives; at the end of a segment it scores the padded tail window, or tiles a segment shorter
   than one window, exactly as ``detect`` does (``edgewise.runtime.mosquito.windows``);
3. runs the event hysteresis of ``edgewise.runtime.events.merge_events`` one window at a time: an
   ``event_open`` goes out as soon as a window reaches the threshold, the ``event`` once it is closed and
   no later window could merge into it any more (the next window starts ``min_gap_s`` after its end).

So for a file fed in blocks of any size and flushed, the ``window`` and ``event`` objects equal
``edgewise detect --json``'s (window p to float rounding of the resampler, ~1e-7; events after the
4-decimal rounding of ``Event.to_dict``).

A ``Gap`` (or a block that starts later than the previous one ended) ends the current segment: audio
across it is not continuous, so the segment is finished as at the end of a stream (tail window, events
closed) and a new one starts at the gap's end, its times continuing in stream seconds.

Faults the engine finds itself: NaN/inf samples are replaced by 0 and reported once per run (the total
is in ``counters``); clipping (a second of stream time with more than 0.1 % of its samples at
|x| >= 0.999, the ``clipped`` rule of ``load_audio``) is reported at most once per second.

Output objects (plain JSON-ready dicts, times in seconds from the stream start)::

    {"type": "window", "start_s", "end_s", "p"[, "p_std"]}   p at full precision; p_std for multi-head models
    {"type": "event_open", "start_s", "p"}                    the window that opened a new event
    {"type": "event", "start_s", "end_s", "p"}                final (rounded like Event.to_dict)
    {"type": "gap", "start_s", "end_s", "samples", "reason"}
    {"type": "fault", "kind", "at", "count", "detail"}        kind "nonfinite" / "saturated" (or a source's)

``start_record``, ``feed``, ``gap``, ``fault``, ``flush`` and ``summary`` are the engine interface of
``edgewise.runtime.live.runner.run_live``; ``process`` dispatches one source item. Usage::

    import json
    from edgewise.runtime.live.mosquito_stream import MosquitoStream
    from edgewise.runtime.mosquito import MosquitoDetector

    stream = MosquitoStream(MosquitoDetector.open("model.onnx"), source_rate=source.rate)
    for item in source:                       # Block / Gap / Fault from edgewise.runtime.live.sources
        for obj in stream.process(item):
            print(json.dumps(obj), flush=True)
    for obj in stream.flush():                # end of stream, or SIGTERM
        print(json.dumps(obj), flush=True)
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from edgewise.runtime.errors import InputError
from edgewise.runtime.events import Event, HysteresisConfig
from edgewise.runtime.features.stream_resample import StreamResampler
from edgewise.runtime.live.sources.base import Block, Fault, Gap
from edgewise.runtime.mosquito.detector import CLIP_LEVEL, CLIPPED_FRACTION
from edgewise.runtime.mosquito.windows import min_clip_samples, tile_window

__all__ = ["MosquitoStream"]


def _r(x: float) -> float:
    return round(float(x), 4)


class _Segment:
    """One continuous stretch of audio: resampler, model-rate buffer, window grid and event state."""

    def __init__(self, det: Any, cfg: HysteresisConfig, *, start: int, source_rate: int):
        self.det, self.cfg = det, cfg
        self.offset_s = start / source_rate
        self.resampler = StreamResampler(source_rate, det.sample_rate)
        self.buf = np.zeros(0, np.float32)  # model-rate samples from index buf0 on
        self.buf0 = 0
        self.n = 0        # model-rate samples so far
        self.k = 0        # windows scored so far
        self.open = False
        self.pending: list[float] | None = None  # [start, end, p] of the event not yet final (local seconds)

    # -- windows ----------------------------------------------------------------------------------
    def add(self, y: np.ndarray) -> list[dict]:
        y = y.astype(np.float32)
        self.buf = np.concatenate([self.buf, y]) if self.buf.size else y
        self.n += y.size
        det, out = self.det, []
        starts = []
        while (self.k + len(starts)) * det.hop + det.window <= self.n:
            starts.append((self.k + len(starts)) * det.hop)
        if starts:
            x = np.stack([self.buf[s - self.buf0: s - self.buf0 + det.window] for s in starts])
            p, p_std = det.score(x)
            for i in range(len(starts)):
                t0 = self.k * det.hop_s
                out += self._window(t0, t0 + det.window_s, p[i], None if p_std is None else p_std[i])
            drop = self.k * det.hop - self.buf0  # samples before the next window's start are done with
            self.buf, self.buf0 = self.buf[drop:], self.buf0 + drop
        return out

    def finish(self) -> list[dict]:
        """End of segment: the resampler's tail, the padded tail window (or one tiled window), events closed."""
        det = self.det
        out = self.add(self.resampler.flush())
        n, duration_s = self.n, max(self.n, 1) / det.sample_rate
        x = None
        if self.k == 0 and n >= min_clip_samples(det.sample_rate):  # shorter than a window: tiled
            x = tile_window(self.buf[:n], det.window, sample_rate=det.sample_rate)
        elif self.k > 0 and n - ((self.k - 1) * det.hop + det.window) > det.hop // 2:  # a tail: zero-padded
            x = np.zeros(det.window, np.float32)
            rest = self.buf[self.k * det.hop - self.buf0:]
            x[: rest.size] = rest
        if x is not None:
            p, p_std = det.score(x[None])
            t0 = self.k * det.hop_s
            out += self._window(t0, min(t0 + det.window_s, duration_s), p[0], None if p_std is None else p_std[0])
        if self.pending is not None:
            out.append(self._final())
        return out

    # -- events (merge_events, one window at a time) ---------------------------------------------
    def _window(self, t0: float, t1: float, p: float, p_std: float | None) -> list[dict]:
        off, cfg = self.offset_s, self.cfg
        w = {"type": "window", "start_s": _r(off + t0), "end_s": _r(off + t1), "p": float(p)}
        if p_std is not None:
            w["p_std"] = float(p_std)
        out = [w]
        self.k += 1
        if not self.open and p >= cfg.on:
            self.open = True
            if self.pending is not None and t0 - self.pending[1] < cfg.min_gap_s:  # merges into the last event
                self.pending[1] = max(self.pending[1], t1)
                self.pending[2] = max(self.pending[2], p)
            else:
                self.pending = [t0, t1, float(p)]
                out.append({"type": "event_open", "start_s": _r(off + t0), "p": _r(p)})
        elif self.open and p >= cfg.off:
            self.pending[1] = max(self.pending[1], t1)
            self.pending[2] = max(self.pending[2], p)
        else:
            self.open = False
        next_start = self.k * self.det.hop_s  # the earliest a later event could start
        if self.pending is not None and not self.open and next_start - self.pending[1] >= cfg.min_gap_s:
            out.append(self._final())
        return out

    def _final(self) -> dict:
        a, b, p = self.pending
        self.pending, self.open = None, False
        return {"type": "event", **Event(self.offset_s + a, self.offset_s + b, p).to_dict()}


class MosquitoStream:
    """Streaming mosquito detection over one source (see the module docstring for what goes in and out).

    Args:
        detector: an opened ``edgewise.runtime.mosquito.MosquitoDetector``.
        source_rate: the source's sample rate in Hz (a whole number; resampled to the model's).
        threshold: operating threshold (default: the detector's, from the artifact's training record).

    Attributes:
        counters: totals for a run summary: ``windows``, ``events``, ``gaps``, ``nonfinite`` and ``saturated``
            (samples), ``segments``.
    """

    def __init__(self, detector: Any, *, source_rate: int | float, threshold: float | None = None):
        if isinstance(source_rate, bool) or not source_rate > 0 or int(source_rate) != source_rate:
            raise InputError(f"source_rate must be a positive whole number of Hz, got {source_rate!r}")
        self.detector = detector
        self.source_rate = int(source_rate)
        self.cfg = detector.hysteresis(threshold)
        if self.cfg.min_duration_s:  # an event_open could then be followed by no event
            raise InputError(f"the live engine announces events as they open; min_duration_s must be 0, "
                             f"got {self.cfg.min_duration_s}")
        self.counters = {"windows": 0, "events": 0, "gaps": 0, "segments": 0, "nonfinite": 0, "saturated": 0}
        self._next = 0            # the source index the next block should start at
        self._channels: int | None = None
        self._seg: _Segment | None = None
        self._nonfinite_reported = False
        self._sat_bin, self._sat_count, self._sat_reported = -1, 0, False
        self._sat_min = math.floor(CLIPPED_FRACTION * self.source_rate) + 1  # "more than 0.1 %" of a second

    # -- the engine interface of edgewise.runtime.live.runner -------------------------------------------
    def start_record(self) -> dict:
        """The first record of a run: what is detected, at which rates, with which model and threshold."""
        det = self.detector
        return {"type": "start", "task": "mosquito", "fs": self.source_rate, "model": det.path.name,
                "model_fs": det.sample_rate, "window_s": det.window_s, "hop_s": det.hop_s, "threshold": self.cfg.on}

    def summary(self) -> dict:
        """Counts for the run's "end" record (``samples``: the stream index reached, gaps included)."""
        return {"samples": self._next, "seconds": round(self._next / self.source_rate, 3), **self.counters}

    def process(self, item: Block | Gap | Fault) -> list[dict]:
        """Dispatch a source item to ``feed``, ``gap`` or ``fault``."""
        if isinstance(item, Block):
            return self.feed(item)
        if isinstance(item, Gap):
            return self.gap(item)
        if isinstance(item, Fault):
            return self.fault(item)
        raise InputError(f"expected a Block, Gap or Fault from a live source, got {type(item).__name__}")

    def fault(self, fault: Fault) -> list[dict]:
        """A source's fault, passed through as a record."""
        return [{"type": "fault", "kind": fault.kind, "at": int(fault.at), "count": int(fault.count),
                 "detail": fault.detail}]

    def feed(self, block: Block) -> list[dict]:
        """Take the next samples (float ``[n, channels]`` or ``[n]``); returns what they completed."""
        x = np.array(block.samples, dtype=np.float32)  # a copy: NaN repair must not touch the source's array
        if x.ndim == 1:
            x = x[:, None]
        if x.ndim != 2:
            raise InputError(f"a block holds samples [n, channels], got shape {x.shape}")
        if self._channels is None:
            self._channels = x.shape[1]
        elif x.shape[1] != self._channels:
            raise InputError(f"the stream had {self._channels} channel(s), this block has {x.shape[1]}")
        start = int(block.start)
        out: list[dict] = []
        if start < self._next:
            raise InputError(f"a block starts at sample {start} but the stream is already at {self._next}; "
                             "a source must not repeat or reorder samples")
        if start > self._next:  # samples missing without a Gap: the audio is not continuous
            out += self._gap_to(self._next, start - self._next, "discontinuity")
        if x.shape[0] == 0:
            return out
        out += self._check(x, start)
        if self._seg is None:
            self._seg = _Segment(self.detector, self.cfg, start=start, source_rate=self.source_rate)
            self.counters["segments"] += 1
        self._next = start + x.shape[0]
        mono = x.mean(axis=1)
        return out + self._count(self._seg.add(self._seg.resampler.push(mono)))

    def gap(self, gap: Gap) -> list[dict]:
        """Samples that never arrived: finish the current segment, report the gap, start anew after it."""
        if gap.samples < 0:
            raise InputError(f"a gap cannot have a negative length, got {gap.samples}")
        return self._gap_to(int(gap.start), int(gap.samples), gap.reason)

    def flush(self) -> list[dict]:
        """End of stream (or SIGTERM): finish the segment (tail window, open events closed)."""
        out = self._count(self._seg.finish()) if self._seg is not None else []
        self._seg = None
        return out

    # -- internals ---------------------------------------------------------------------------------
    def _gap_to(self, start: int, samples: int, reason: str) -> list[dict]:
        out = self.flush()
        end = start + samples
        self._next = max(self._next, end)
        self.counters["gaps"] += 1
        return out + [{"type": "gap", "start_s": _r(start / self.source_rate), "end_s": _r(end / self.source_rate),
                       "samples": samples, "reason": reason}]

    def _count(self, out: list[dict]) -> list[dict]:
        for o in out:
            if o["type"] == "window":
                self.counters["windows"] += 1
            elif o["type"] == "event":
                self.counters["events"] += 1
        return out

    def _check(self, x: np.ndarray, start: int) -> list[dict]:
        """Repair NaN/inf (in place) and watch for clipping; returns the fault reports due."""
        out = []
        bad = ~np.isfinite(x)
        if bad.any():
            rows = bad.any(axis=1)
            n_bad = int(rows.sum())
            x[bad] = 0.0
            self.counters["nonfinite"] += n_bad
            if not self._nonfinite_reported:
                self._nonfinite_reported = True
                out.append({"type": "fault", "kind": "nonfinite", "at": start + int(np.argmax(rows)), "count": n_bad,
                            "detail": f"{n_bad} NaN/inf samples in this block replaced by 0 (reported once per run; "
                                      "the total is in the summary)"})
        clipped = np.flatnonzero((np.abs(x) >= CLIP_LEVEL).any(axis=1))
        if clipped.size:
            self.counters["saturated"] += int(clipped.size)
            bins = (start + clipped) // self.source_rate  # seconds of stream time
            for b in np.unique(bins):
                if b != self._sat_bin:
                    self._sat_bin, self._sat_count, self._sat_reported = int(b), 0, False
                self._sat_count += int((bins == b).sum())
                if not self._sat_reported and self._sat_count >= self._sat_min:
                    self._sat_reported = True
                    out.append({"type": "fault", "kind": "saturated", "at": int(start + clipped[bins == b][0]),
                                "count": self._sat_count,
                                "detail": f"{self._sat_count} samples at |x| >= {CLIP_LEVEL} in second {int(b)} of the "
                                          "stream (input clipped: lower the gain)"})
        return out
