"""Live sources. ``open_source("serial:/dev/ttyUSB0", ...)`` parses the ``--source`` spec of ``edgewise run``.

Accepted specs:
    serial:PATH          text lines from a serial port (rate required)
    mic                  the default microphone
    mic:NAME_OR_INDEX    a microphone by (part of) its name or its PortAudio index
    file:PATH            a recording replayed (audio, WFDB record, .csv, .npy)
    stdin                text lines on standard input (rate required)

Only numpy is imported here; each source imports its library (pyserial, sounddevice, soundfile) when
it is opened.
"""
from __future__ import annotations

import threading
from typing import Sequence

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.sources.base import Block, Fault, Gap, Item, Source

__all__ = ["Block", "Gap", "Fault", "Item", "Source", "open_source", "SPEC_FORMS"]

SPEC_FORMS = ("serial:PATH", "mic", "mic:NAME_OR_INDEX", "file:PATH", "stdin")


def open_source(spec: str, *, rate: float | None = None, baud: int = 115200,
                column: int | str | Sequence[int] | None = None, realtime: bool = False, loop: int = 1,
                timestamp_column: int | None = None, timestamp_unit: str = "ms",
                block_seconds: float | None = None, wait: bool = False,
                stop: threading.Event | None = None) -> Source:
    """Open the source a ``--source`` spec names.

    Args:
        spec: one of :data:`SPEC_FORMS`.
        rate: Hz; required for serial and stdin (the sensor's rate), optional for mic (default: the
            device's own) and for files that carry their rate (then it must agree).
        baud: serial line speed.
        column: serial/stdin: which number of a line (int, "2", "0,2" or a list: one channel each;
            default 0); file: a lead name/index or an audio channel (default lead "ii" or 0 / mono mix).
        realtime, loop: file replay pacing and repetitions (``loop=0``: forever).
        timestamp_column, timestamp_unit: serial/stdin: the sensor's timestamp ("s" or "ms").
        block_seconds: samples per Block in seconds (default: each source's own, 0.05 s; files 0.1 s).
        wait: serial: wait for a port that does not exist yet instead of failing.
        stop: an Event shared with the caller's signal handlers (default: the source's own).

    Raises:
        InputError: an unknown spec (the message lists the accepted forms) or a bad option.
    """
    kind, _, arg = str(spec).partition(":")
    kind = kind.strip().lower()
    extra = {} if block_seconds is None else {"block_seconds": float(block_seconds)}
    if kind == "serial" and arg:
        from edgewise.runtime.live.sources.serial import SerialSource

        source: Source = SerialSource(arg, rate, baud=baud, column=_line_columns(column),
                                      timestamp_column=timestamp_column, timestamp_unit=timestamp_unit,
                                      wait=wait, **extra)
    elif kind == "stdin" and not arg:
        from edgewise.runtime.live.sources.stdin import StdinSource

        source = StdinSource(rate, column=_line_columns(column), timestamp_column=timestamp_column,
                             timestamp_unit=timestamp_unit, **extra)
    elif kind == "mic":
        from edgewise.runtime.live.sources.mic import MicSource

        source = MicSource(arg.strip() or None, rate=rate, **extra)
    elif kind == "file" and arg:
        from edgewise.runtime.live.sources.file import FileSource

        source = FileSource(arg, rate=rate, realtime=realtime, loop=loop, column=column, **extra)
    else:
        raise InputError(f"unknown source {spec!r}; expected one of: {', '.join(SPEC_FORMS)} "
                         "(e.g. serial:/dev/ttyUSB0, mic:USB, file:rec.wav)")
    if stop is not None:
        source.stop = stop
    return source


def _line_columns(column: int | str | Sequence[int] | None) -> int | list[int]:
    """``column`` for a text-line source: 0 by default; "0,2" or [0, 2] for several channels."""
    if column is None:
        return 0
    if isinstance(column, str):
        try:
            cols = [int(c) for c in column.replace(";", ",").split(",")]
        except ValueError as e:
            raise InputError(f"column for a serial/stdin source is a number or a list like 0,2; got {column!r}") from e
        return cols[0] if len(cols) == 1 else cols
    return column if isinstance(column, int) else [int(c) for c in column]
