"""What a recording channel does to sound, as training augmentation: microphone band limits, lossy codecs, speed.

Issue 21 ("no shortcuts"): a detector must not learn the microphone, bandwidth or codec of its training sources,
because a user's phone is always a new source. ``edgewise.data.mosquito.random_eq`` already tilts the spectrum by
a few dB; the functions here do what real channels do beyond that, each on a random share ``p`` of the rows of a
batch ``x [batch, samples]``:

- ``band_limit``: a high-pass (phone and MEMS microphones roll off below 100-400 Hz), a low-pass (narrow-band
  telephony, cheap recorders, 8-kHz files resampled by unknown filters: 1.5-3.4 kHz), or both, with a
  Butterworth magnitude response of random order applied in the frequency domain (zero phase).
- ``lossy_codec``: a round trip through MP3 or Ogg Vorbis at a random quality (libsndfile through ``soundfile``,
  the project's audio reader), or G.711 mu-law 8-bit companding (written here: ten lines of numpy).
- ``speed``: the row played faster or slower by a factor in ``factors`` (pitch and tempo together, as when a
  mosquito of a smaller or larger species beats its wings faster or slower); linear interpolation, circular, no
  anti-alias filter: played faster, content within 10 % of Nyquist folds back there (above the 3.4-kHz bands of the
  shipped front end).

Rows are chosen whatever their label, so the channel itself says nothing about the class. Numpy and soundfile
only; the device never runs these.
"""
from __future__ import annotations

import io

import numpy as np

__all__ = ["band_limit", "lossy_codec", "mu_law", "speed"]


def _rows(rng: np.random.Generator, b: int, p: float) -> np.ndarray:
    if not 0 <= p <= 1:
        raise ValueError(f"p must be in [0, 1], got {p}")
    return np.flatnonzero(rng.random(b) < p)


def band_limit(x: np.ndarray, rng: np.random.Generator, *, p: float, sample_rate: int = 8000,
               highpass_hz: tuple[float, float] = (100.0, 400.0),
               lowpass_hz: tuple[float, float] = (1500.0, 3400.0)) -> np.ndarray:
    """A random high-pass, low-pass or band-pass (a third each) on a share ``p`` of the rows of ``x``.

    Cut-offs are log-uniform in ``highpass_hz`` / ``lowpass_hz``; the Butterworth order is 2, 4 or 6
    (12-36 dB per octave). Returns a new float32 array; the other rows are unchanged.
    """
    x = np.array(x, dtype=np.float32, copy=True)
    rows = _rows(rng, x.shape[0], p)
    if rows.size == 0:
        return x
    f = np.fft.rfftfreq(x.shape[-1], d=1.0 / sample_rate)
    spec = np.fft.rfft(x[rows], axis=-1)
    for j in range(rows.size):
        kind = rng.integers(3)  # 0 high-pass, 1 low-pass, 2 both
        order = 2 * int(rng.integers(1, 4))
        gain = np.ones_like(f)
        if kind in (0, 2):
            fc = np.exp(rng.uniform(*np.log(highpass_hz)))
            gain /= np.sqrt(1.0 + (fc / np.maximum(f, 1e-3)) ** (2 * order))
        if kind in (1, 2):
            fc = np.exp(rng.uniform(*np.log(lowpass_hz)))
            gain /= np.sqrt(1.0 + (f / fc) ** (2 * order))
        spec[j] *= gain
    x[rows] = np.fft.irfft(spec, n=x.shape[-1], axis=-1).astype(np.float32)
    return x


def mu_law(x: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    """G.711-style mu-law companding to ``bits`` bits and back (input in [-1, 1]): 2**bits - 1 levels, symmetric."""
    x = np.clip(x, -1.0, 1.0)
    y = np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu)
    levels = 2 ** (bits - 1) - 1
    y = np.round(y * levels) / levels
    return (np.sign(y) * np.expm1(np.abs(y) * np.log1p(mu)) / mu).astype(np.float32)


_CODECS = (("MP3", "MPEG_LAYER_III"), ("OGG", "VORBIS"), ("mu-law", None))


def _round_trip(row: np.ndarray, fmt: str, subtype: str | None, quality: float, sample_rate: int) -> np.ndarray:
    if fmt == "mu-law":
        return mu_law(row)
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.clip(row, -1.0, 1.0), sample_rate, format=fmt, subtype=subtype, compression_level=quality)
    buf.seek(0)
    y, _ = sf.read(buf, dtype="float32")
    out = np.zeros_like(row)
    out[: min(y.size, row.size)] = y[: row.size]
    return out


def lossy_codec(x: np.ndarray, rng: np.random.Generator, *, p: float, sample_rate: int = 8000,
                codecs: tuple[tuple[str, str | None], ...] = _CODECS) -> np.ndarray:
    """A round trip through a random lossy codec on a share ``p`` of the rows of ``x``.

    MP3 and Vorbis run at a random ``compression_level`` in [0.3, 1] (1 = smallest file, most artefacts); a codec
    the local libsndfile cannot write raises its ``soundfile`` error. Returns a new float32 array.
    """
    x = np.array(x, dtype=np.float32, copy=True)
    for i in _rows(rng, x.shape[0], p):
        fmt, subtype = codecs[int(rng.integers(len(codecs)))]
        x[i] = _round_trip(x[i], fmt, subtype, float(rng.uniform(0.3, 1.0)), sample_rate)
    return x


def speed(x: np.ndarray, rng: np.random.Generator, *, p: float,
          factors: tuple[float, float] = (0.9, 1.1)) -> np.ndarray:
    """Play a share ``p`` of the rows faster or slower by a log-uniform factor in ``factors`` (pitch and tempo).

    Each row is read as one period of a circular signal (the training batches are circularly shifted anyway), so
    the output keeps the row's length. Returns a new float32 array.
    """
    lo, hi = factors
    if not 0 < lo <= hi:
        raise ValueError(f"factors must be (lo, hi) with 0 < lo <= hi, got {factors}")
    x = np.array(x, dtype=np.float32, copy=True)
    n = x.shape[-1]
    grid = np.arange(n + 1)
    for i in _rows(rng, x.shape[0], p):
        r = np.exp(rng.uniform(np.log(lo), np.log(hi)))
        t = (np.arange(n) * r) % n
        x[i] = np.interp(t, grid, np.append(x[i], x[i, 0])).astype(np.float32)
    return x
