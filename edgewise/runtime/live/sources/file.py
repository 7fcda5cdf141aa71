"""A recording replayed as a live stream: ``--source file:rec.wav`` to test engines without a sensor.

Formats:
- audio (``.wav``, ``.flac``, ``.ogg``, ...): read with soundfile when installed (``edgewise[audio]``),
  streamed block by block (a 5-minute 48 kHz replay never sits in memory); PCM ``.wav`` (8/16/24/32-bit
  integer) also without it, through the standard library's ``wave``, scaled like soundfile
  (``x / 2**(bits-1)``; 8-bit is unsigned: ``(x - 128) / 128``) so both give the same floats.
  Several channels are mixed to mono (their mean, as the microphone source does) unless ``column``
  picks one.
- a WFDB record (the path without extension, or its ``.hea``/``.dat``), ``.csv`` (one column per lead,
  optional header) and ``.npy`` (``[n]`` or ``[leads, n]``): read with
  :func:`edgewise.runtime.ecg.io.read_ecg_input`, the reader the batch ECG path uses; ``column`` picks
  a lead by name or index, default the lead named "ii" when there is one, else the first.
  ``.csv`` and ``.npy`` carry no rate: ``rate`` is then required.

A rate given for a file that has its own is a mistake unless they agree (sources never resample; the
engine does). ``realtime=True`` hands out each block when its last sample would have been recorded,
on an absolute schedule (``t0 + end / rate`` on ``time.monotonic``), so waits never add up to drift;
``loop=N`` replays N times back to back with indices continuing (``loop=0``: until stopped).
"""
from __future__ import annotations

import itertools
import time
import wave
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from edgewise.runtime.errors import BackendMissingError, InputError
from edgewise.runtime.live.sources.base import Block, Item, Source

__all__ = ["FileSource", "AUDIO_SUFFIXES", "read_audio_file"]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".aifc", ".au", ".mp3", ".opus")
_ECG_SUFFIXES = (".csv", ".npy", ".hea", ".dat")

Chunks = Callable[[int], Iterator[np.ndarray]]  # block size -> one pass of float32 [n, 1] blocks


class FileSource(Source):
    """Replays a recording as Blocks of float32 ``[n, 1]``.

    Args:
        path: an audio file, a WFDB record, a ``.csv`` or a ``.npy``.
        rate: the rate in Hz (required for ``.csv``/``.npy``; must match the file's own otherwise).
        realtime: pace blocks by the wall clock instead of as fast as possible.
        loop: passes over the file (0: forever).
        column: audio: channel index (default: mono mix); ECG: lead name or index (default "ii" or 0).
        block_seconds: samples per Block, in seconds.

    Raises:
        InputError: missing/unreadable file, unknown format, missing or contradicting rate, bad column.
        BackendMissingError: a non-wav audio file without soundfile.
    """

    def __init__(self, path: str | Path, *, rate: float | None = None, realtime: bool = False, loop: int = 1,
                 column: int | str | None = None, block_seconds: float = 0.1):
        self.path = Path(path)
        if loop < 0:
            raise InputError(f"loop must be >= 0 (0 = forever), got {loop}")
        if block_seconds <= 0:
            raise InputError(f"block_seconds must be > 0, got {block_seconds!r}")
        chunks, file_rate, total, label = _open(self.path, column)
        if file_rate is None and not rate:
            raise InputError(f"{self.path} does not say its sample rate: give it (--rate HZ)")
        if file_rate is not None and rate and abs(float(rate) - file_rate) > 1e-6 * file_rate:
            raise InputError(f"{self.path} is recorded at {file_rate:g} Hz but rate {float(rate):g} Hz was given; "
                             "sources do not resample (the engine does): drop the rate or give the file's")
        super().__init__(name=f"file:{self.path.name}[{label}]", rate=float(file_rate or rate), channels=1)
        self.samples_per_pass = int(total)
        self.realtime, self.loop = bool(realtime), int(loop)
        self._chunks = chunks
        self._block = max(1, round(self.rate * block_seconds))

    @property
    def seconds_per_pass(self) -> float:
        return self.samples_per_pass / self.rate

    def _items(self) -> Iterator[Item]:
        index, t0 = 0, time.monotonic()
        passes = itertools.count() if self.loop == 0 else range(self.loop)
        for _ in passes:
            for chunk in self._chunks(self._block):
                if self.realtime and self.stop.wait(max(0.0, t0 + (index + len(chunk)) / self.rate - time.monotonic())):
                    return
                if self.stop.is_set():
                    return
                yield Block(index, chunk)
                index += len(chunk)
            if self.samples_per_pass == 0:
                return


def _open(path: Path, column: int | str | None) -> tuple[Chunks, float | None, int, str]:
    """(one-pass chunk reader, file rate or None, samples per pass, channel label)."""
    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        if not path.is_file():
            raise InputError(f"no such audio file: {path}")
        return _open_audio(path, column)
    if suffix in _ECG_SUFFIXES or path.with_suffix(".hea").is_file():
        return _open_ecg(path, column)
    if not path.exists():
        raise InputError(f"no such file: {path}")
    raise InputError(f"{path}: unknown format; a file source reads audio ({', '.join(AUDIO_SUFFIXES)}), "
                     "a WFDB record (path without extension, or .hea), .csv or .npy")


def _open_ecg(path: Path, column: int | str | None) -> tuple[Chunks, float | None, int, str]:
    from edgewise.runtime.ecg.io import read_ecg_input

    if path.suffix.lower() == ".dat":
        path = path.with_suffix("")
    rec = read_ecg_input(path)
    names = [n.lower() for n in rec.leads]
    if column is None:
        lead = names.index("ii") if "ii" in names else 0
    else:
        lead = _pick(column, names, f"{path}: leads")
    x = np.ascontiguousarray(rec.signal[lead], dtype=np.float32).reshape(-1, 1)

    def chunks(block: int) -> Iterator[np.ndarray]:
        for s in range(0, len(x), block):
            yield x[s: s + block]

    return chunks, rec.fs, len(x), names[lead]


def _pick(column: int | str, names: Sequence[str], what: str) -> int:
    """An index from a name (case-insensitive) or an index (int or digits)."""
    if isinstance(column, str) and column.strip().lower() in names:
        return list(names).index(column.strip().lower())
    try:
        i = int(column)
    except (TypeError, ValueError):
        i = None
    if i is None or not 0 <= i < len(names):
        raise InputError(f"column {column!r} not found; {what}: " +
                         ", ".join(f"{k}={n}" for k, n in enumerate(names)))
    return i


def read_audio_file(path: str | Path) -> tuple[np.ndarray, float]:
    """A whole audio file as float32 [samples, 1] (channels mixed) and its rate, with soundfile when it is
    installed, else PCM .wav through the standard library (the device install).

    Raises:
        FileNotFoundError: no such file. InputError: not decodable. BackendMissingError: needs soundfile.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    chunks, rate, _, _ = _open_audio(path, None)
    blocks = list(chunks(1 << 16))
    if not blocks:
        raise InputError(f"{path} holds no samples (empty or truncated audio file)")
    return np.concatenate(blocks), rate


def _open_audio(path: Path, column: int | str | None) -> tuple[Chunks, float, int, str]:
    try:
        import soundfile
    except (ImportError, OSError):  # OSError: the wheel's libsndfile could not load
        soundfile = None
    if soundfile is not None:
        try:
            info = soundfile.info(str(path))
        except RuntimeError as e:  # soundfile.LibsndfileError
            raise InputError(f"{path} is not a readable audio file ({e})") from e
        channel = _channel(column, info.channels, path)

        def chunks(block: int) -> Iterator[np.ndarray]:
            with soundfile.SoundFile(str(path)) as f:
                while True:
                    x = f.read(block, dtype="float32", always_2d=True)
                    if not len(x):
                        return
                    yield _mono(x, channel)

        return chunks, float(info.samplerate), int(info.frames), _label(channel, info.channels)
    if path.suffix.lower() != ".wav":
        raise BackendMissingError(f"reading {path.suffix} needs soundfile: pip install 'edgewise[audio]' "
                                  "(without it only PCM .wav is read)")
    return _open_wave(path, column)


def _open_wave(path: Path, column: int | str | None) -> tuple[Chunks, float, int, str]:
    """PCM .wav with the standard library (the bare device install has no soundfile)."""
    try:
        with wave.open(str(path), "rb") as w:
            rate, channels, width, frames = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
    except (wave.Error, EOFError, OSError) as e:
        raise InputError(f"{path}: not a PCM .wav the standard library reads ({e}); "
                         "float or compressed wav needs soundfile: pip install 'edgewise[audio]'") from e
    if width not in (1, 2, 3, 4):
        raise InputError(f"{path}: {8 * width}-bit samples are not supported without soundfile")
    channel = _channel(column, channels, path)

    def chunks(block: int) -> Iterator[np.ndarray]:
        with wave.open(str(path), "rb") as w:
            while True:
                raw = w.readframes(block)
                if not raw:
                    return
                yield _mono(_pcm_to_float(raw, width).reshape(-1, channels), channel)

    return chunks, float(rate), int(frames), _label(channel, channels)


def _pcm_to_float(raw: bytes, width: int) -> np.ndarray:
    """Little-endian PCM -> float32 in [-1, 1), the scaling libsndfile uses."""
    if width == 1:
        return (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    if width == 3:
        b = np.frombuffer(raw[: len(raw) // 3 * 3], np.uint8).reshape(-1, 3).astype(np.int32)
        ints = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)  # sign from the top byte
        return (ints.astype(np.float64) / 2.0 ** 31).astype(np.float32)
    ints = np.frombuffer(raw, "<i2" if width == 2 else "<i4")
    return (ints.astype(np.float64) / 2.0 ** (8 * width - 1)).astype(np.float32)


def _channel(column: int | str | None, channels: int, path: Path) -> int | None:
    if column is None:
        return None if channels > 1 else 0
    return _pick(column, [f"ch{k}" for k in range(channels)], f"{path}: {channels} audio channel(s)")


def _mono(x: np.ndarray, channel: int | None) -> np.ndarray:
    if channel is None:
        return x.mean(axis=1, dtype=np.float32).reshape(-1, 1)
    return np.ascontiguousarray(x[:, channel: channel + 1], dtype=np.float32)


def _label(channel: int | None, channels: int) -> str:
    return f"mono mix of {channels}" if channel is None else f"ch{channel}"
