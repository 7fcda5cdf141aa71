"""Audio files in, model-rate mono windows out (host side).

Reads wav/flac/mp3/ogg at any rate, bit depth and channel count through soundfile (libsndfile >= 1.1
decodes mp3; older builds fall back to librosa/audioread when installed), mixes to mono, resamples with
an anti-alias polyphase filter (``scipy.signal.resample_poly``; the numpy twin for the device is
``edgewise.runtime.features.resample``) and cuts fixed windows with a hop, padding a short tail.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from edgewise.runtime.errors import InputError
from edgewise.runtime.mosquito.windows import Windows, frame_windows  # noqa: F401  (one implementation, shared with the device)

__all__ = ["Audio", "read_audio", "resample", "load_audio", "frame_windows", "Windows", "clip_fraction"]

_MP3_MIN_LIBSNDFILE = (1, 1)


@dataclass(frozen=True)
class Audio:
    """A decoded file.

    Attributes:
        samples: float32 ``[samples]`` mono in [-1, 1] (channels averaged).
        sample_rate: Hz of ``samples``.
        source_rate: Hz of the file.
        channels: channels in the file.
        subtype: soundfile subtype (``PCM_16``, ``FLOAT``, ``MPEG_LAYER_III``, ...).
        path: the file.
        flags: notes about the input a user should see (``"short"``, ``"silent"``, ``"clipped"``).
    """

    samples: np.ndarray
    sample_rate: int
    source_rate: int
    channels: int
    subtype: str
    path: str
    flags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def duration_s(self) -> float:
        return self.samples.shape[-1] / self.sample_rate


def _libsndfile_version() -> tuple[int, ...]:
    import soundfile as sf

    try:
        return tuple(int(p) for p in sf.__libsndfile_version__.split(".")[:2])
    except (AttributeError, ValueError):
        return (0, 0)


def _read_fallback(path: Path) -> tuple[np.ndarray, int, str]:
    try:
        import librosa
    except ImportError as e:
        raise InputError(
            f"cannot decode {path}: this libsndfile is older than 1.1 (no mp3) and librosa is not installed; "
            "pip install 'soundfile>=0.12' (bundles libsndfile 1.2) or 'edgewise[host]'"
        ) from e
    y, sr = librosa.load(str(path), sr=None, mono=False)
    return np.atleast_2d(y).T.astype(np.float32), int(sr), "FALLBACK"


def read_audio(path: str | Path) -> tuple[np.ndarray, int, str]:
    """Decode a file as float32 ``[samples, channels]`` in [-1, 1] (integer PCM scaled by its full range).

    Raises:
        FileNotFoundError: no such file.
        InputError: the file is not decodable audio (corrupt, truncated, empty, unknown format).
    """
    import soundfile as sf

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no audio file at {path}")
    if path.suffix.lower() == ".mp3" and _libsndfile_version() < _MP3_MIN_LIBSNDFILE:
        return _read_fallback(path)
    try:
        info = sf.info(str(path))
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        raise InputError(f"cannot decode {path} as audio ({e}); expected wav/flac/mp3/ogg") from e
    if data.shape[0] == 0:
        raise InputError(f"{path} holds no samples (empty or truncated audio file)")
    return data, int(sr), str(info.subtype)


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Anti-aliased polyphase resampling of ``x [..., samples]`` (scipy ``resample_poly``, Kaiser beta 5)."""
    if rate_in == rate_out:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    frac = Fraction(int(rate_out), int(rate_in))
    # float64: scipy filters float32 input in float32, which moves a quiet file's window scores by ~1e-5
    # against the runtime's (float64) resampler; in float64 the host and the device agree to ~1e-15
    return resample_poly(np.asarray(x, np.float64), frac.numerator, frac.denominator, axis=-1).astype(np.float32)


def clip_fraction(x: np.ndarray, level: float = 0.999) -> float:
    """Fraction of samples at or beyond ``level`` of full scale."""
    return float(np.mean(np.abs(x) >= level)) if x.size else 0.0


def load_audio(path: str | Path, sample_rate: int, *, min_samples: int = 0) -> Audio:
    """Read, mix to mono, resample to ``sample_rate`` and flag unusual inputs.

    Args:
        path: wav/flac/mp3/ogg file.
        sample_rate: target rate in Hz.
        min_samples: flag ``"short"`` when the result has fewer samples (e.g. one model window).
    """
    data, sr, subtype = read_audio(path)
    if not np.all(np.isfinite(data)):
        raise InputError(f"{path} holds NaN or inf samples (corrupt float file)")
    flags = []
    if clip_fraction(data) > 1e-3:
        flags.append("clipped")
    mono = data.mean(axis=1)
    y = resample(mono, sr, sample_rate)
    if y.size < min_samples:
        flags.append("short")
    if not np.any(np.abs(y) > 1e-6):
        flags.append("silent")
    return Audio(samples=y, sample_rate=sample_rate, source_rate=sr, channels=data.shape[1], subtype=subtype,
                 path=str(path), flags=tuple(flags))


