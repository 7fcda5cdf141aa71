"""Text-line samples, as serial sensors and pipes send them: parsing and sample indexing.

Shared by the serial and stdin sources. A line holds one or more numbers separated by commas,
semicolons, tabs or spaces (mixed is fine: the separator is any run of them), for example
``512``, ``0.125,0.5,1012`` or ``1712 0.42``. ``column`` picks the number (or numbers) that are the
sample; ``timestamp_column`` optionally picks the sensor's own clock ("s" or "ms").

What goes wrong on a real cable, and what becomes of it:
- a line with anything that is not a number (noise at connect, a boot banner, a header): ``garbage``;
- a line with fewer numbers than ``column``/``timestamp_column`` need (a line cut by a reset, or the
  unterminated tail at a disconnect): ``partial``;
- blank lines: ignored; ``\\r\\n`` and lone ``\\r`` end lines too; bytes that are not UTF-8 are
  replaced, so binary noise is garbage, never an exception;
- a "line" longer than ``max_line_bytes`` without a newline (a wrong baud rate): dropped as garbage.

Indices (``LineIndexer``): consecutive lines get consecutive indices. Without timestamps a source
cannot know that a garbage line stood for a sample, so skipped lines do not advance the index. With
timestamps, a jump of more than 1.5 sample periods between two lines is a Gap of
``round(dt * rate) - 1`` samples (local: a sensor clock that runs 1 % fast does not accumulate drift
into the indices); timestamps that go backwards (a sensor reboot) start a new reference, no gap.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.sources.base import Block, Fault, Gap, Item

__all__ = ["ParsedLines", "LineParser", "LineIndexer", "TIMESTAMP_UNITS"]

TIMESTAMP_UNITS = {"s": 1.0, "ms": 1e-3}
_SPLIT = re.compile(r"[,;\s]+")
_DETAIL_CHARS = 40


@dataclass
class ParsedLines:
    """What a chunk of bytes held, in order.

    Attributes:
        values: float32 [n, channels], the parsed samples.
        times: float64 [n] seconds on the sensor's clock, or None without a timestamp column.
        faults: (row, kind, detail): ``row`` = how many samples of ``values`` came before the fault.
    """

    values: np.ndarray
    times: np.ndarray | None
    faults: list[tuple[int, str, str]] = field(default_factory=list)


class LineParser:
    """Turns bytes (any chunking) into samples, keeping an unterminated tail for the next chunk.

    Args:
        column: index of the number that is the sample, or a sequence of indices (one channel each).
        timestamp_column: index of the sensor's timestamp, or None.
        timestamp_unit: "s" or "ms".
        max_line_bytes: longest accepted line; a longer run without a newline is dropped as garbage.
    """

    def __init__(self, column: int | Sequence[int] = 0, *, timestamp_column: int | None = None,
                 timestamp_unit: str = "ms", max_line_bytes: int = 4096):
        cols = [column] if isinstance(column, (int, np.integer)) else list(column)
        if not cols or any(not isinstance(c, (int, np.integer)) or c < 0 for c in cols):
            raise InputError(f"column must be a non-negative integer or a list of them, got {column!r}")
        if timestamp_column is not None and (not isinstance(timestamp_column, (int, np.integer))
                                             or timestamp_column < 0):
            raise InputError(f"timestamp_column must be a non-negative integer or None, got {timestamp_column!r}")
        if timestamp_unit not in TIMESTAMP_UNITS:
            raise InputError(f"timestamp_unit must be one of {sorted(TIMESTAMP_UNITS)}, got {timestamp_unit!r}")
        self.columns = [int(c) for c in cols]
        self.timestamp_column = None if timestamp_column is None else int(timestamp_column)
        self._ts_scale = TIMESTAMP_UNITS[timestamp_unit]
        self._need = max(self.columns + ([self.timestamp_column] if self.timestamp_column is not None else [])) + 1
        self._max = int(max_line_bytes)
        self._tail = b""

    @property
    def channels(self) -> int:
        return len(self.columns)

    def feed(self, data: bytes) -> ParsedLines:
        """Parse every complete line in ``self._tail + data``; keep the unterminated rest."""
        buf = (self._tail + data).replace(b"\r", b"\n")
        *lines, self._tail = buf.split(b"\n")
        rows: list[list[float]] = []
        times: list[float] = []
        faults: list[tuple[int, str, str]] = []
        for raw in lines:
            self._parse(raw, rows, times, faults)
        if len(self._tail) > self._max:
            faults.append((len(rows), "garbage", f"{len(self._tail)} bytes without a line end "
                                                 f"(wrong baud rate?): {_show(self._tail)}"))
            self._tail = b""
        return self._result(rows, times, faults)

    def flush(self, *, cut: bool) -> ParsedLines:
        """The unterminated tail: ``cut=True`` (a disconnect) counts it as "partial"; ``cut=False``
        (end of file) parses it as a last line."""
        tail, self._tail = self._tail, b""
        rows: list[list[float]] = []
        times: list[float] = []
        faults: list[tuple[int, str, str]] = []
        if tail.strip():
            if cut:
                faults.append((0, "partial", f"line cut short: {_show(tail)}"))
            else:
                self._parse(tail, rows, times, faults)
        return self._result(rows, times, faults)

    def _parse(self, raw: bytes, rows: list, times: list, faults: list) -> None:
        text = raw.decode("utf-8", errors="replace").strip()
        if not text:
            return
        tokens = _SPLIT.split(text)
        try:
            nums = [float(t) for t in tokens]
        except ValueError:
            faults.append((len(rows), "garbage", f"not numbers: {_show(raw)}"))
            return
        if len(nums) < self._need:
            faults.append((len(rows), "partial", f"{len(nums)} of {self._need} numbers: {_show(raw)}"))
            return
        rows.append([nums[c] for c in self.columns])
        if self.timestamp_column is not None:
            times.append(nums[self.timestamp_column] * self._ts_scale)

    def _result(self, rows: list, times: list, faults: list) -> ParsedLines:
        values = np.asarray(rows, dtype=np.float32).reshape(len(rows), self.channels)
        t = np.asarray(times, dtype=np.float64) if self.timestamp_column is not None else None
        return ParsedLines(values, t, faults)


class LineIndexer:
    """Gives parsed lines their sample indices and turns them into Blocks, Gaps and Faults.

    Args:
        rate: the sensor's sample rate (Hz).
        block_samples: the longest Block emitted (longer runs are split).
    """

    def __init__(self, rate: float, *, block_samples: int):
        self.rate = float(rate)
        self.block_samples = max(1, int(block_samples))
        self.next_index = 0
        self._last_time: float | None = None
        self._gap_reason = "dropped"

    def after_outage(self, reason: str) -> None:
        """The next timestamp jump belongs to an outage (``reason``, e.g. "disconnected")."""
        self._gap_reason = reason

    def timestamps_continue(self, times: np.ndarray | None) -> bool:
        """True when ``times`` (the first times after an outage) continue the sensor's clock forwards."""
        return times is not None and len(times) > 0 and self._last_time is not None \
            and float(times[0]) > self._last_time

    def gap(self, samples: int, reason: str) -> Gap:
        """A Gap of ``samples`` at the current index; the index moves past it."""
        g = Gap(self.next_index, int(samples), reason)
        self.next_index += int(samples)
        return g

    def items(self, parsed: ParsedLines) -> list[Item]:
        """Blocks (split at timestamp gaps and at ``block_samples``), Gaps and Faults, in stream order."""
        out: list[Item] = []
        values, times = parsed.values, parsed.times
        cuts = {0, len(values)}
        gaps: dict[int, int] = {}
        if times is not None and len(times):
            gaps = self._timestamp_gaps(times)
            cuts |= set(gaps)
        faults_at: dict[int, list[tuple[str, str]]] = {}
        for row, kind, detail in parsed.faults:
            faults_at.setdefault(row, []).append((kind, detail))
        cuts |= set(faults_at)
        edges = sorted(c for c in cuts if 0 <= c <= len(values))
        for a, b in zip(edges[:-1], edges[1:]):
            self._emit_faults(out, faults_at.pop(a, []))
            if a in gaps:
                out.append(self.gap(gaps[a], self._gap_reason))
                self._gap_reason = "dropped"
            for s in range(a, b, self.block_samples):
                chunk = values[s: min(b, s + self.block_samples)]
                out.append(Block(self.next_index, chunk))
                self.next_index += len(chunk)
        self._emit_faults(out, faults_at.pop(len(values), []))
        if times is not None and len(times):
            self._last_time = float(times[-1])
            self._gap_reason = "dropped"  # an outage shorter than 1.5 periods left no gap
        return out

    def _timestamp_gaps(self, times: np.ndarray) -> dict[int, int]:
        """Row -> samples missing before that row, for jumps of more than 1.5 sample periods."""
        prev = np.concatenate([[self._last_time if self._last_time is not None else times[0]], times[:-1]])
        dt = times - prev
        gaps = {}
        for row in np.flatnonzero(dt * self.rate > 1.5):
            gaps[int(row)] = int(round(float(dt[row]) * self.rate)) - 1
        return gaps

    def _emit_faults(self, out: list[Item], faults: list[tuple[str, str]]) -> None:
        """One Fault per kind for the faults between two samples (count > 1 when several)."""
        by_kind: dict[str, list[str]] = {}
        for kind, detail in faults:
            by_kind.setdefault(kind, []).append(detail)
        for kind, details in by_kind.items():
            more = f" (+{len(details) - 1} more)" if len(details) > 1 else ""
            out.append(Fault(kind, self.next_index, len(details), details[0] + more))


def _show(raw: bytes) -> str:
    return repr(raw[:_DETAIL_CHARS].decode("utf-8", errors="replace")) + ("..." if len(raw) > _DETAIL_CHARS else "")
