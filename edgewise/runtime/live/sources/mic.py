"""A microphone through PortAudio (sounddevice, imported here: ``pip install 'edgewise[mic]'``; Debian
also needs ``apt install libportaudio2``).

``MicSource("USB")`` opens the first input device whose name contains "USB" (or an index, or the
default input device), at its native rate unless ``rate`` is given (PortAudio refuses a rate the
device cannot do: a clear error; sources never resample, the engine does). The stream runs in
PortAudio's thread and hands blocks of ``block_seconds`` to a bounded queue (``queue_seconds`` deep);
iteration takes them out as Blocks of float32 ``[n, 1]``: the first two device channels mixed to mono
(their mean; a stereo USB microphone carries the same sound on both).

What goes wrong, and what becomes of it:
- ``status.input_overflow`` (the driver lost samples, PortAudio cannot say how many): ``Fault("overflow")``.
- the consumer too slow, the queue full: the newest block is dropped, then ``Fault("overflow")`` and
  ``Gap(start, dropped, "overflow")`` sized exactly (the callback numbers every frame it is given).
- the device vanishing (the stream finishes by itself with an error, or no callback for
  ``stall_seconds``): ``Fault("vanished")``, re-open with back-off (0.1 s doubling to 2 s; PortAudio's
  device list is re-read, a replugged USB microphone gets a new index), ``Fault("reconnected")``, then
  ``Gap(start, missed, "vanished")`` with missed from the wall clock between the last block before and
  the first after, minus that first block's length.

Latency from sound to Block: ``block_seconds`` (a block is queued when full) + the stream's input
latency (``self.latency``: PortAudio's report, ~0.01-0.1 s) + however long the consumer takes to come back.
"""
from __future__ import annotations

import math
import queue
import threading
import time
from typing import Iterator

import numpy as np

from edgewise.runtime.errors import BackendMissingError, InputError
from edgewise.runtime.live.sources._backoff import retry_until
from edgewise.runtime.live.sources.base import Block, Fault, Gap, Item, Source

__all__ = ["MicSource", "input_devices"]

_POLL = 0.05  # s: longest wait for a block before ``stop`` is looked at again


def _sounddevice():
    try:
        import sounddevice
    except ImportError as e:
        raise BackendMissingError("the microphone source needs sounddevice: pip install 'edgewise[mic]'") from e
    except OSError as e:  # sounddevice imports but libportaudio.so.2 is missing
        raise BackendMissingError(f"sounddevice cannot load PortAudio ({e}): on Debian/Raspberry Pi OS "
                                  "apt install libportaudio2") from e
    return sounddevice


def input_devices(*, rescan: bool = False) -> list[dict]:
    """PortAudio's input devices: dicts with index, name, max_input_channels, default_samplerate."""
    sd = _sounddevice()
    if rescan:  # PortAudio reads the device list once, at initialisation
        sd._terminate()
        sd._initialize()
    return [dict(d) for d in sd.query_devices() if d["max_input_channels"] > 0]


def _describe(devices: list[dict]) -> str:
    if not devices:
        return "none (is a microphone plugged in? arecord -l lists ALSA's view)"
    return "; ".join(f"{d['index']}: {d['name']} ({d['max_input_channels']} in, {d['default_samplerate']:g} Hz)"
                     for d in devices)


def _find(device: int | str | None, *, rescan: bool = False) -> dict:
    """The input device for ``device`` (None: default; an index; a name, exact or unique substring)."""
    devices = input_devices(rescan=rescan)
    if device is None:
        default = _sounddevice().default.device[0]
        match = [d for d in devices if d["index"] == default] or devices[:1]
        if not match:
            raise InputError(f"no audio input device found; input devices: {_describe(devices)}")
        return match[0]
    if isinstance(device, int) or str(device).strip().isdigit():
        match = [d for d in devices if d["index"] == int(device)]
        if not match:
            raise InputError(f"no input device with index {device}; input devices: {_describe(devices)}")
        return match[0]
    want = str(device).strip().lower()
    match = [d for d in devices if d["name"].lower() == want] or \
            [d for d in devices if want in d["name"].lower()]
    if len(match) != 1:
        what = "no input device" if not match else f"{len(match)} input devices"
        raise InputError(f"{what} named like {device!r}; input devices: {_describe(devices)} "
                         "(pick one by index: mic:N)")
    return match[0]


class MicSource(Source):
    """Mono blocks from a microphone.

    Args:
        device: None (the default input), an index, or a name (exact, else a unique substring).
        rate: sample rate in Hz (default: the device's own).
        block_seconds: samples per Block, in seconds.
        queue_seconds: how much audio may wait for a slow consumer before blocks are dropped.
        stall_seconds: no callback for this long means the device vanished.

    Raises:
        InputError: no such device, or the device refuses the rate.
        BackendMissingError: sounddevice or libportaudio2 missing.
    """

    def __init__(self, device: int | str | None = None, *, rate: float | None = None, block_seconds: float = 0.05,
                 queue_seconds: float = 2.0, stall_seconds: float = 2.0):
        if block_seconds <= 0 or queue_seconds <= 0 or stall_seconds <= 0:
            raise InputError("block_seconds, queue_seconds and stall_seconds must be > 0, got "
                             f"{block_seconds!r}, {queue_seconds!r}, {stall_seconds!r}")
        self._sd = _sounddevice()
        self.device_spec = device
        try:
            info = _find(device)
        except InputError:  # PortAudio read its list before the device (or the sound server) appeared
            info = _find(device, rescan=True)
        super().__init__(name=f"mic:{info['name']}", rate=float(rate or info["default_samplerate"]), channels=1)
        self._blocksize = max(1, round(self.rate * block_seconds))
        self._queue: queue.Queue = queue.Queue(maxsize=max(2, math.ceil(queue_seconds / block_seconds)))
        self._stall = float(stall_seconds)
        self._stream = None
        self._frames = 0           # frames the callback was given since the stream opened (incl. dropped)
        self._overflow = False     # an input_overflow not yet handed to the consumer
        self._finished = threading.Event()
        self._stream = self._open(info)

    @property
    def latency(self) -> float:
        """Seconds from sound to Block, not counting the consumer: block length + PortAudio's input latency."""
        lat = float(self._stream.latency) if self._stream is not None else 0.0
        return self._blocksize / self.rate + lat

    def _open(self, info: dict):
        """Open (not start) a stream on ``info``'s device at ``self.rate``."""
        self._frames, self._overflow = 0, False
        self._finished.clear()
        try:
            return self._sd.InputStream(device=info["index"], channels=min(int(info["max_input_channels"]), 2),
                                        samplerate=self.rate, blocksize=self._blocksize, dtype="float32",
                                        callback=self._callback, finished_callback=self._finished.set)
        except self._sd.PortAudioError as e:
            raise InputError(f"cannot open input device {info['index']} ({info['name']}) at {self.rate:g} Hz: {e}; "
                             f"its own rate is {info['default_samplerate']:g} Hz") from e

    def _callback(self, indata: np.ndarray, frames: int, time_info, status) -> None:
        """PortAudio's thread: number the frames, queue a mono copy, never block."""
        start = self._frames
        self._frames += frames
        self._overflow |= bool(status.input_overflow)
        mono = indata[:, :1].copy() if indata.shape[1] == 1 else indata.mean(axis=1, dtype=np.float32)[:, None]
        try:
            self._queue.put_nowait((start, mono, self._overflow, time.monotonic()))
            self._overflow = False
        except queue.Full:
            pass  # numbered: the consumer sees the hole and reports it as a Gap

    def _items(self) -> Iterator[Item]:
        self._stream.start()
        try:
            yield from self._stream_items()
        finally:
            self._close_stream()  # capture ends with the iteration

    def _stream_items(self) -> Iterator[Item]:
        index = 0             # the stream's next sample index
        expected = 0          # the next frame number of the open stream
        last_block = None     # monotonic time of the last block (sizes an outage)
        outage = False
        last_seen = time.monotonic()
        while not self.stop.is_set():
            try:
                start, mono, overflow, t = self._queue.get(timeout=_POLL)
            except queue.Empty:
                silent = time.monotonic() - last_seen
                if not self._finished.is_set() and silent < self._stall:
                    continue
                why = "the stream ended" if self._finished.is_set() else f"no audio for {silent:.1f} s"
                yield Fault("vanished", index, 1, f"{self.name}: {why}")
                if not self._reopen():
                    return
                yield Fault("reconnected", index, 1, f"{self.name} re-opened")
                expected, outage, last_seen = 0, True, time.monotonic()
                continue
            last_seen = time.monotonic()
            if overflow:
                yield Fault("overflow", index, 1, "the driver lost input (input_overflow)")
            if start > expected:
                yield Fault("overflow", index, 1, f"consumer too slow: {start - expected} samples dropped")
                yield Gap(index, start - expected, "overflow")
                index += start - expected
            if outage and last_block is not None:
                missed = max(0, round((t - last_block) * self.rate) - len(mono))
                yield Gap(index, missed, "vanished")
                index += missed
            outage = False
            expected, last_block = start + len(mono), t
            yield Block(index, mono)
            index += len(mono)

    def _reopen(self) -> bool:
        """Close the dead stream, then back-off until the device opens and starts again."""
        self._close_stream()
        while not self._queue.empty():  # blocks of the dead stream: numbered by it, not by the next
            self._queue.get_nowait()

        def attempt():
            stream = self._open(_find(self.device_spec, rescan=True))
            try:
                stream.start()
            except self._sd.PortAudioError:
                stream.close(ignore_errors=True)
                raise
            return stream

        self._stream, _ = retry_until(attempt, self.stop, retry_on=(InputError, self._sd.PortAudioError))
        return self._stream is not None

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.close(ignore_errors=True)
            except self._sd.PortAudioError:
                pass

    def close(self) -> None:
        self._close_stream()
