"""Live ECG: source items in, JSON-ready records out (waves, heart rate, gaps, faults).

Wraps :class:`edgewise.runtime.ecg.stream.EcgStream` with what a sensor needs beyond the delineation
itself: picking the lead, non-finite samples (a run of them is a gap: the segment ends and restarts
after it), a rail-stuck ("saturated") signal reported, and a running heart rate.
"""
from __future__ import annotations

import numpy as np

from edgewise.runtime.ecg.postprocess import PostprocessConfig
from edgewise.runtime.ecg.stream import EcgStream
from edgewise.runtime.ecg.waves import Wave
from edgewise.runtime.live.sources.base import Block, Fault, Gap

__all__ = ["EcgLive"]

HR_BEATS = 8          # heart rate: median of the last 8 RR intervals
SATURATED_S = 0.1     # this long at one extreme value = stuck at a rail


class EcgLive:
    """``feed(block)``, ``gap(gap)``, ``fault(fault)``, ``flush()`` -> lists of records (dicts with "type")."""

    def __init__(self, model_fn, *, source_fs: float, model_fs: int = 500, channel: int = 0, name: str = "",
                 window: int = 2048, post: PostprocessConfig = PostprocessConfig()):
        from dataclasses import replace

        from edgewise.runtime.ecg.stream import StreamConfig

        self.fs, self.channel, self.name = float(source_fs), channel, name
        self.stream = EcgStream(model_fn, source_fs, model_fs=model_fs,
                                config=replace(StreamConfig(), window=window, post=post))
        self._qrs: list[int] = []
        self._seg_start = 0
        self._sat_run = 0
        self._sat_value = None
        self._sat_reported_at = -10**12
        self._lo, self._hi = np.inf, -np.inf
        self.counts = {"P": 0, "QRS": 0, "T": 0}

    def start_record(self) -> dict:
        return {"type": "start", "task": "ecg", "fs": self.fs, "model": self.name,
                "model_fs": self.stream.model_fs}

    # ---- records -------------------------------------------------------------------------------
    def _records(self, waves: list[Wave]) -> list[dict]:
        out = []
        for w in waves:
            self.counts[w.kind] += 1
            out.append({"type": "wave", **w.to_dict(), **self.stream.wave_info.pop(w, {})})
            if w.kind == "QRS":
                self._qrs.append(w.onset)
                self._qrs = [q for q in self._qrs if q >= self._seg_start][-(HR_BEATS + 1):]
                if len(self._qrs) >= 2:
                    rr = np.diff(self._qrs) / self.fs
                    out.append({"type": "hr", "at": int(w.onset), "bpm": round(float(60.0 / np.median(rr)), 1),
                                "beats": len(rr)})
        return out

    def _check_saturation(self, x: np.ndarray, start: int) -> list[dict]:
        """A run of >= 0.1 s at the extreme of everything seen so far: the front end is stuck at a rail."""
        if x.size == 0:
            return []
        self._lo, self._hi = min(self._lo, float(x.min())), max(self._hi, float(x.max()))
        out = []
        change = np.flatnonzero(np.diff(x)) + 1
        bounds = np.concatenate([[0], change, [x.size]])
        need = int(SATURATED_S * self.fs)
        for a, b in zip(bounds[:-1], bounds[1:]):
            v = float(x[a])
            run = (self._sat_run + (b - a)) if (a == 0 and self._sat_value == v) else (b - a)
            self._sat_run, self._sat_value = run, v
            if run >= need and v in (self._lo, self._hi) and self._hi > self._lo \
                    and start + b - self._sat_reported_at > self.fs:
                self._sat_reported_at = start + b
                out.append({"type": "fault", "kind": "saturated", "at": int(start + b - run), "count": int(run),
                            "detail": f"{run / self.fs:.2f} s stuck at {v:g} (the signal's {'maximum' if v == self._hi else 'minimum'})"})
        return out

    # ---- items ---------------------------------------------------------------------------------
    def feed(self, block: Block) -> list[dict]:
        x = np.asarray(block.samples, np.float32)
        x = x[:, self.channel] if x.ndim == 2 else x
        out: list[dict] = []
        bad = ~np.isfinite(x)
        if not bad.any():
            out += self._check_saturation(x, block.start)
            return out + self._records(self.stream.feed(x))
        # split at runs of non-finite samples: each run is a gap
        edges = np.flatnonzero(np.diff(np.concatenate([[0], bad.view(np.int8), [0]])))
        pos = 0
        for a, b in zip(edges[::2], edges[1::2]):
            out += self._check_saturation(x[pos:a], block.start + pos)
            out += self._records(self.stream.feed(x[pos:a]))
            out.append({"type": "fault", "kind": "nonfinite", "at": int(block.start + a), "count": int(b - a),
                        "detail": f"{b - a} NaN/inf samples: treated as a gap"})
            out += self._gap_records(b - a)
            pos = b
        out += self._check_saturation(x[pos:], block.start + pos)
        return out + self._records(self.stream.feed(x[pos:]))

    def _gap_records(self, missing: int) -> list[dict]:
        out = self._records(self.stream.gap(missing))
        self._seg_start = self.stream.samples_seen
        return out

    def gap(self, gap: Gap) -> list[dict]:
        if gap.start != self.stream.samples_seen:  # the source's count and ours must agree
            missing = gap.start + gap.samples - self.stream.samples_seen
        else:
            missing = gap.samples
        out = self._gap_records(max(missing, 0))
        return out + [{"type": "gap", "start": int(gap.start), "samples": int(gap.samples), "reason": gap.reason,
                       "seconds": round(gap.samples / self.fs, 3)}]

    def fault(self, fault: Fault) -> list[dict]:
        return [{"type": "fault", "kind": fault.kind, "at": int(fault.at), "count": int(fault.count),
                 "detail": fault.detail}]

    def flush(self) -> list[dict]:
        return self._records(self.stream.flush())

    def summary(self) -> dict:
        return {"samples": self.stream.samples_seen, "seconds": round(self.stream.samples_seen / self.fs, 3),
                "waves": dict(self.counts), "windows_scored": self.stream.windows_scored}
