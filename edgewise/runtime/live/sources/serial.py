"""A serial sensor (an ECG front end on a USB-serial adapter) sending one text line per sample.

``SerialSource("/dev/ttyUSB0", 250)`` reads lines with pyserial (imported here, not at module level:
``pip install 'edgewise[serial]'``), parses them with :mod:`.lines`, and survives the cable being
pulled: a read error (the port vanished, EIO, "readiness to read but returned no data") is
``Fault("disconnected")``; the port is re-opened with back-off (0.1 s doubling to 2 s, a stop ends the
wait); then ``Fault("reconnected")`` and, when the first samples come back, ``Gap(start, missed,
"disconnected")``. ``missed`` is measured on the wall clock, from the arrival of the last samples before
the outage to the arrival of the first after it, minus the samples that first read brought:
``round((t_back - t_lost) * rate) - n_first`` (never below 0). With a ``timestamp_column`` and a clock
that kept running through the outage, the sensor's own timestamps size the gap instead (exact).

Reads use a timeout of ``min(block_seconds, 0.1)`` s, so setting ``stop`` ends iteration within ~0.1 s,
and each read brings one block (everything that arrived in that time). The input buffer is emptied when
the port is (re)opened: lines queued before that have unknown timing and would sit before the gap.
"""
from __future__ import annotations

import errno
import time
from typing import Iterator, Sequence

from edgewise.runtime.errors import BackendMissingError, InputError
from edgewise.runtime.live.sources._backoff import retry_until
from edgewise.runtime.live.sources.base import Fault, Item, Source
from edgewise.runtime.live.sources.lines import LineIndexer, LineParser

__all__ = ["SerialSource"]

_READ_BYTES = 1 << 16


def _serial_module():
    try:
        import serial
    except ImportError as e:
        raise BackendMissingError("the serial source needs pyserial: pip install 'edgewise[serial]'") from e
    return serial


class SerialSource(Source):
    """Samples from text lines on a serial port.

    Args:
        port: device path (``/dev/ttyUSB0``, ``/dev/ttyACM0``, a pty link).
        rate: the sensor's sample rate in Hz (the sensor decides it; nothing here measures it).
        baud: line speed (ignored by ptys and USB-CDC devices).
        column: which number of a line is the sample (or a sequence: one channel each).
        timestamp_column: which number is the sensor's timestamp (sizes gaps exactly), or None.
        timestamp_unit: "s" or "ms".
        block_seconds: how long one read collects samples (latency vs. overhead).
        wait: when the port does not exist yet, wait for it (like a replug) instead of raising.

    Raises:
        InputError: the port cannot be opened (and ``wait`` is False), or a bad argument.
        BackendMissingError: pyserial is not installed.
    """

    def __init__(self, port: str, rate: float, *, baud: int = 115200, column: int | Sequence[int] = 0,
                 timestamp_column: int | None = None, timestamp_unit: str = "ms",
                 block_seconds: float = 0.05, wait: bool = False):
        if not rate or rate <= 0:
            raise InputError(f"a serial source needs the sensor's sample rate (--rate HZ), got {rate!r}")
        if block_seconds <= 0:
            raise InputError(f"block_seconds must be > 0, got {block_seconds!r}")
        self._serial = _serial_module()
        self._parser = LineParser(column, timestamp_column=timestamp_column, timestamp_unit=timestamp_unit)
        super().__init__(name=f"serial:{port}", rate=float(rate), channels=self._parser.channels)
        self.port, self.baud = str(port), int(baud)
        self._timeout = min(float(block_seconds), 0.1)
        self._indexer = LineIndexer(self.rate, block_samples=max(1, round(self.rate * block_seconds)))
        self._ser = None
        try:
            self._ser = self._open()
        except (self._serial.SerialException, OSError) as e:
            if not wait:
                raise InputError(self._open_error(e)) from e

    def _open(self):
        ser = self._serial.Serial(self.port, self.baud, timeout=self._timeout)
        ser.reset_input_buffer()
        return ser

    def _open_error(self, e: BaseException) -> str:
        code = getattr(e, "errno", None)
        hint = "check the cable and the path (ls /dev/ttyUSB* /dev/ttyACM*), or wait for it with --wait"
        if code == errno.EACCES:
            hint = "add yourself to the 'dialout' group (sudo usermod -aG dialout $USER, then log in again)"
        elif code == errno.EBUSY:
            hint = "another program holds it (a serial monitor?); close it"
        return f"cannot open serial port {self.port}: {e}; {hint}"

    def _items(self) -> Iterator[Item]:
        ser_exc = (self._serial.SerialException, OSError)
        if self._ser is None:
            yield Fault("disconnected", 0, 1, f"waiting for {self.port} to appear")
            if not self._reopen(ser_exc):
                return
            yield Fault("reconnected", 0, 1, f"{self.port} opened")
        last_data = None      # monotonic time of the last samples before an outage
        outage = False
        while not self.stop.is_set():
            try:
                data = self._ser.read(_READ_BYTES)
            except ser_exc as e:
                yield from self._indexer.items(self._parser.flush(cut=True))
                yield Fault("disconnected", self._indexer.next_index, 1, f"{self.port}: {e}")
                self._close_port()
                if not self._reopen(ser_exc):
                    return
                yield Fault("reconnected", self._indexer.next_index, 1, f"{self.port} re-opened")
                outage = True
                continue
            if not data:
                continue
            now = time.monotonic()
            parsed = self._parser.feed(data)
            n = len(parsed.values)
            if outage and n:
                outage = False
                if self._indexer.timestamps_continue(parsed.times):
                    self._indexer.after_outage("disconnected")
                elif last_data is not None:
                    missed = max(0, round((now - last_data) * self.rate) - n)
                    yield self._indexer.gap(missed, "disconnected")
            if n:
                last_data = now
            yield from self._indexer.items(parsed)

    def _reopen(self, ser_exc: tuple) -> bool:
        """Back-off until the port opens again (True) or ``stop`` is set (False)."""
        self._ser, _ = retry_until(self._open, self.stop, retry_on=ser_exc)
        return self._ser is not None

    def _close_port(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (self._serial.SerialException, OSError):
                pass  # the device is already gone

    def close(self) -> None:
        self._close_port()
