"""Samples piped in as text lines: ``sensor-reader | edgewise run ecg --source stdin --rate 250``.

The lines are parsed like a serial sensor's (:mod:`.lines`: separators, columns, timestamps, garbage
and partial lines). Iteration ends at end of file; a last line without a newline is still a sample.
Reads wait at most 0.05 s at a time (``select``), so setting ``stop`` ends iteration promptly even when
the writer is silent. Samples that arrive within ``block_seconds`` of each other make one read.
"""
from __future__ import annotations

import os
import select
import sys
import time
from typing import BinaryIO, Iterator, Sequence

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.sources.base import Item, Source
from edgewise.runtime.live.sources.lines import LineIndexer, LineParser

__all__ = ["StdinSource"]

_POLL = 0.05          # s: longest wait before ``stop`` is looked at again
_MAX_GATHER = 1 << 20  # bytes gathered into one read at most (a fast pipe)


class StdinSource(Source):
    """Samples from text lines on standard input (or any binary stream).

    Args:
        rate: the writer's sample rate in Hz.
        column, timestamp_column, timestamp_unit: as for :class:`~.serial.SerialSource`.
        block_seconds: how long a read gathers lines after the first byte arrives.
        stream: the binary stream to read (default ``sys.stdin.buffer``); one without a file
            descriptor is read with blocking reads (``stop`` is then seen between reads only).
    """

    def __init__(self, rate: float, *, column: int | Sequence[int] = 0, timestamp_column: int | None = None,
                 timestamp_unit: str = "ms", block_seconds: float = 0.05, stream: BinaryIO | None = None):
        if not rate or rate <= 0:
            raise InputError(f"a stdin source needs the writer's sample rate (--rate HZ), got {rate!r}")
        if block_seconds <= 0:
            raise InputError(f"block_seconds must be > 0, got {block_seconds!r}")
        self._parser = LineParser(column, timestamp_column=timestamp_column, timestamp_unit=timestamp_unit)
        super().__init__(name="stdin", rate=float(rate), channels=self._parser.channels)
        self._indexer = LineIndexer(self.rate, block_samples=max(1, round(self.rate * block_seconds)))
        self._stream = stream if stream is not None else sys.stdin.buffer
        self._block_seconds = float(block_seconds)
        try:
            self._fd: int | None = self._stream.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None

    def _items(self) -> Iterator[Item]:
        eof = False
        while not eof and not self.stop.is_set():
            data, eof = self._gather()
            if data:
                yield from self._indexer.items(self._parser.feed(data))
        if eof:
            yield from self._indexer.items(self._parser.flush(cut=False))

    def _gather(self) -> tuple[bytes, bool]:
        """Bytes that arrived within ``block_seconds`` of the first one; True at end of file."""
        if self._fd is None:
            data = self._stream.read(_MAX_GATHER)
            return data, not data
        chunks: list[bytes] = []
        size, deadline = 0, None
        while not self.stop.is_set() and size < _MAX_GATHER:
            wait = _POLL if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._fd], [], [], wait)
            if not ready:
                if deadline is None:
                    return b"", False   # nothing yet: let the caller look at ``stop``
                break
            chunk = os.read(self._fd, _MAX_GATHER - size)
            if not chunk:
                return b"".join(chunks), True
            chunks.append(chunk)
            size += len(chunk)
            if deadline is None:
                deadline = time.monotonic() + self._block_seconds
            elif time.monotonic() >= deadline:
                break
        return b"".join(chunks), False
