"""Log-Mel spectrogram front end in numpy only: the one implementation for training and the device.

Follows librosa's definitions (McFee et al., "librosa: Audio and Music Signal Analysis in Python",
SciPy 2015) so that ``log_mel`` equals ``librosa.power_to_db(librosa.feature.melspectrogram(...))``
on the same parameters (Slaney mel scale and area normalisation, periodic Hann window, centred frames
padded with zeros). The parameters mirror the HumBug pipeline (Kiskin et al., ICASSP 2020): 8 kHz audio,
mel bands in dB. No scipy, librosa or torch here: this module runs on the Pi.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np

__all__ = ["LogMelConfig", "hz_to_mel", "mel_to_hz", "mel_filterbank", "power_spectrogram", "log_mel"]

_PAD_MODES = ("constant", "reflect")
_REFS = ("one", "max")


@dataclass(frozen=True)
class LogMelConfig:
    """Parameters of the log-Mel front end (same names and meaning as librosa's).

    Attributes:
        sample_rate: Hz of the input signal.
        n_fft: FFT length (and window length) in samples.
        hop_length: samples between frames.
        n_mels: mel bands.
        fmin: lowest filter edge in Hz.
        fmax: highest filter edge in Hz (None: Nyquist).
        center: pad ``n_fft // 2`` on both sides so frame ``t`` is centred on sample ``t * hop_length``.
        pad_mode: ``"constant"`` (zeros, librosa >= 0.10 default) or ``"reflect"``.
        power: 2.0 for power, 1.0 for magnitude.
        amin: floor before the logarithm.
        top_db: clip at ``max - top_db`` per call (None: no clipping; keeps windows independent).
        ref: the dB reference, as librosa's ``power_to_db(ref=...)``: ``"one"`` (``ref=1.0``: absolute dB) or
            ``"max"`` (``ref=np.max``, taken per window: the loudest bin of each ``[n_mels, frames]`` reads 0 dB).
            With ``"max"`` and ``top_db`` every window spans ``[-top_db, 0]`` whatever the recording's gain, so an
            int8 model input quantised on calibration windows neither saturates for loud recorders nor loses
            resolution for quiet ones.
    """

    sample_rate: int = 8000
    n_fft: int = 512
    hop_length: int = 128
    n_mels: int = 64
    fmin: float = 50.0
    fmax: float | None = None
    center: bool = True
    pad_mode: str = "constant"
    power: float = 2.0
    amin: float = 1e-10
    top_db: float | None = None
    ref: str = "one"

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.n_fft <= 0 or self.hop_length <= 0 or self.n_mels <= 0:
            raise ValueError(
                f"sample_rate, n_fft, hop_length and n_mels must be positive, got {self.sample_rate}, "
                f"{self.n_fft}, {self.hop_length}, {self.n_mels}"
            )
        fmax = self.sample_rate / 2 if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= self.sample_rate / 2:
            raise ValueError(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={fmax}, "
                             f"sample_rate={self.sample_rate}")
        if self.pad_mode not in _PAD_MODES:
            raise ValueError(f"pad_mode must be one of {_PAD_MODES}, got {self.pad_mode!r}")
        if self.power not in (1.0, 2.0):
            raise ValueError(f"power must be 1.0 or 2.0, got {self.power}")
        if self.amin <= 0:
            raise ValueError(f"amin must be positive, got {self.amin}")
        if self.ref not in _REFS:
            raise ValueError(f"ref must be one of {_REFS}, got {self.ref!r}")

    def n_frames(self, n_samples: int) -> int:
        """Frames produced for a signal of ``n_samples`` samples."""
        if self.center:
            return 1 + n_samples // self.hop_length
        if n_samples < self.n_fft:
            raise ValueError(f"a signal of {n_samples} samples is shorter than n_fft={self.n_fft} (center=False)")
        return 1 + (n_samples - self.n_fft) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        """JSON-able parameters (for ``ModelSpec.preprocessing``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LogMelConfig:
        """Inverse of ``to_dict``; unknown keys raise (a misspelt key must not be ignored)."""
        known = set(cls.__dataclass_fields__)
        extra = set(d) - known - {"kind"}
        if extra:
            raise ValueError(f"unknown log-Mel parameters {sorted(extra)}; known: {sorted(known)}")
        return cls(**{k: v for k, v in d.items() if k in known})


def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney mel scale (librosa's ``htk=False``): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels)


def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    """Inverse of ``hz_to_mel``."""
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


@lru_cache(maxsize=16)
def _filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    fftfreqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fftfreqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]  # Slaney area normalisation
    weights.setflags(write=False)
    return weights


@lru_cache(maxsize=16)
def _hann(n_fft: int) -> np.ndarray:
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    window.setflags(write=False)
    return window


def mel_filterbank(cfg: LogMelConfig) -> np.ndarray:
    """Mel filter weights, float64 ``[n_mels, n_fft // 2 + 1]`` (equals ``librosa.filters.mel``)."""
    fmax = cfg.sample_rate / 2 if cfg.fmax is None else cfg.fmax
    return _filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, float(cfg.fmin), float(fmax))


def _frames(x: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """``x [..., samples]`` -> read-only float64 view ``[..., frames, n_fft]`` (of a padded copy when centred)."""
    if cfg.center and cfg.pad_mode == "constant":  # zeros written around a copy: np.pad costs ~25 us a call
        h = cfg.n_fft // 2
        padded = np.zeros(x.shape[:-1] + (x.shape[-1] + 2 * h,), dtype=np.float64)
        padded[..., h : h + x.shape[-1]] = x
        x = padded
    elif cfg.center:
        pad = [(0, 0)] * (x.ndim - 1) + [(cfg.n_fft // 2, cfg.n_fft // 2)]
        x = np.pad(np.asarray(x, dtype=np.float64), pad, mode=cfg.pad_mode)
    else:
        x = np.ascontiguousarray(x, dtype=np.float64)
    n_frames = 1 + (x.shape[-1] - cfg.n_fft) // cfg.hop_length
    if n_frames < 1:
        raise ValueError(f"signal of {x.shape[-1]} samples is shorter than n_fft={cfg.n_fft}")
    shape = x.shape[:-1] + (n_frames, cfg.n_fft)
    strides = x.strides[:-1] + (x.strides[-1] * cfg.hop_length, x.strides[-1])
    view = np.ndarray(shape, x.dtype, buffer=x, strides=strides)  # as_strided's Python wrapper costs ~7 us a call
    view.flags.writeable = False
    return view


def _stft_power(x: np.ndarray, cfg: LogMelConfig, bins: slice = slice(None)) -> np.ndarray:
    """|STFT|^power of ``x [..., samples]`` at the FFT ``bins``: float64 ``[..., frames, bins]``."""
    stft = np.fft.rfft(_frames(x, cfg) * _hann(cfg.n_fft), axis=-1)
    if cfg.power != 2.0:
        return np.abs(stft[..., bins]) ** cfg.power
    sq = stft.view(np.float64)  # (re, im) pairs, contiguous: 5x faster than .real/.imag's strided loops
    sq = sq * sq
    return (sq[..., 0::2] + sq[..., 1::2])[..., bins]  # no sqrt for power


@lru_cache(maxsize=16)
def _band_weights(cfg: LogMelConfig) -> tuple[slice, np.ndarray]:
    """The FFT bins some mel filter uses (a slice) and the filterbank's transpose on them, float64
    ``[bins, n_mels]``: ``power[..., frames, bins] @ weights`` is the mel spectrum without the bins every
    filter ignores (above ``fmax`` and below ``fmin``: 216 of 257 bins for the shipped detector's front end)."""
    w = mel_filterbank(cfg)
    used = np.flatnonzero(w.any(axis=0))
    bins = slice(int(used[0]), int(used[-1]) + 1) if used.size else slice(0, 0)
    weights = np.ascontiguousarray(w[:, bins].T)
    weights.setflags(write=False)
    return bins, weights


def power_spectrogram(x: np.ndarray, cfg: LogMelConfig) -> np.ndarray:
    """|STFT|^power with a periodic Hann window.

    Args:
        x: float ``[..., samples]`` at ``cfg.sample_rate``.
        cfg: front-end parameters.

    Returns:
        float64 ``[..., n_fft // 2 + 1, frames]``.
    """
    return np.swapaxes(_stft_power(np.asarray(x), cfg), -1, -2)


def log_mel(x: np.ndarray, cfg: LogMelConfig, *, dtype: type = np.float32) -> np.ndarray:
    """Log-Mel spectrogram in dB (``10 log10`` of power, ``20 log10`` of magnitude).

    Args:
        x: float ``[..., samples]`` at ``cfg.sample_rate`` (one signal or a batch of windows).
        cfg: front-end parameters.
        dtype: output dtype (the spectrum and mel sums are computed in float64, the logarithm in float32).

    Returns:
        ``[..., n_mels, frames]`` with ``frames = cfg.n_frames(samples)``.
    """
    x = np.asarray(x)
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ValueError(f"expected a signal [..., samples] with samples > 0, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("the signal holds NaN or inf samples; clean or drop the input before the front end")
    bins, weights = _band_weights(cfg)
    mel = np.matmul(_stft_power(x, cfg, bins), weights)  # [..., frames, n_mels]; BLAS on contiguous operands
    np.maximum(mel, cfg.amin, out=mel)  # in place: the mel array is ours
    if cfg.ref == "max":  # the reference divides in float64 first: a gain then leaves the float32 logs as they were
        mel /= mel.max(axis=(-2, -1), keepdims=True)
    # the logarithm in float32: numpy 1.26's SIMD float32 log runs on AVX2 as on AVX-512, its float64 log10 falls
    # back to scalar libm without AVX-512 (64x126 bins: 45 vs 10 us on AVX2); dB differ from float64 by < 1e-5
    db = np.log(mel.astype(np.float32))
    db *= np.float32((10.0 if cfg.power == 2.0 else 20.0) / np.log(10.0))
    if cfg.top_db is not None:
        np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - np.float32(cfg.top_db), out=db)
    return np.ascontiguousarray(np.swapaxes(db, -1, -2), dtype=dtype)
