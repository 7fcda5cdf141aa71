"""Out-of-distribution sound, made from real recordings and named, to test what a detector says it does not know.

The mirror of ``edgewise.data.ood_ecg`` for the mosquito detector (issue 23 part 5). The kind that matters most
is real sound from sources the models never trained on (``edgewise.models.ensemble.mosquito.ood_sources``); the
kinds here are what a broken or misused microphone chain feeds a device, each derived from a real recording ``y``
(float, 8 kHz, full scale 1). Made from recordings of the training sources' in-distribution hold-out, a kind
differs from its in-distribution reference by the corruption alone, not also by the source:

- ``white_noise``: Gaussian noise at the recording's RMS (a hissing or disconnected input, no sound at all);
- ``clipped``: the recording scaled to full scale, then 30 dB louder, hard-clipped (an overdriven preamp; the
  clipping is as heavy for a quiet recording as for a loud one);
- ``mains_hum``: 50- or 60-Hz hum (the fundamental and 11 harmonics), 10 dB above the recording (a ground loop);
- ``dropouts``: 30-50 % of the recording zeroed in blocks of 20-100 ms, each at most a quarter of the recording
  (buffer underruns, a loose connector);
- ``ecg``: an ECG strip (LUDB lead II, 500 Hz) resampled to 8 kHz and scaled to half full scale (a sensor
  stream sent to the wrong model; the mirror of the ECG task's ``audio`` kind).

``make_ood(kind, y, rng, ecg=...)`` makes one; ``ood_set`` one per recording and kind.
"""
from __future__ import annotations

from enum import Enum
from pathlib import Path

import numpy as np

__all__ = ["OodSound", "make_ood", "ood_set", "ecg_strips"]

SAMPLE_RATE = 8000


class OodSound(str, Enum):
    WHITE_NOISE = "white_noise"
    CLIPPED = "clipped"
    MAINS_HUM = "mains_hum"
    DROPOUTS = "dropouts"
    ECG = "ecg"


def _rms(y: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))


def mains_hum(n: int, rng: np.random.Generator, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Unit-RMS hum: a 50- or 60-Hz fundamental and 11 harmonics at 0.6^k of its amplitude, random phases."""
    t = np.arange(n) / sample_rate
    f0 = 50.0 if rng.random() < 0.5 else 60.0
    h = sum(0.6 ** k * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 2 * np.pi)) for k in range(12))
    return h / (_rms(h) + 1e-12)


def dropouts(y: np.ndarray, rng: np.random.Generator, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``y`` with 30-50 % of its samples zeroed in blocks of 20-100 ms, each at most a quarter of ``y`` (so a
    recording shorter than a block keeps some of itself)."""
    gone = np.zeros(y.size, bool)
    share = rng.uniform(0.3, 0.5)
    while gone.mean() < share:
        length = max(1, min(int(rng.uniform(0.02, 0.1) * sample_rate), y.size // 4))
        s = int(rng.integers(0, max(1, y.size - length + 1)))
        gone[s : s + length] = True
    return np.where(gone, 0.0, y)


def ecg_strips(ludb_root: str | Path, count: int, *, sample_rate: int = SAMPLE_RATE) -> list[np.ndarray]:
    """Lead II of the first ``count`` LUDB records under ``ludb_root``, resampled to ``sample_rate``, peak 0.5."""
    from edgewise.data.audio import resample
    from edgewise.data.ludb import list_records, read_record

    out = []
    for rid in list_records(ludb_root)[:count]:
        rec = read_record(ludb_root, rid)
        x = np.asarray(rec.lead("ii"), np.float64)
        x = resample(x - np.median(x), int(rec.fs), sample_rate)
        out.append((0.5 * x / (np.abs(x).max() + 1e-12)).astype(np.float32))
    if not out:
        raise FileNotFoundError(f"no LUDB record under {ludb_root}")
    return out


def make_ood(kind: OodSound | str, y: np.ndarray, rng: np.random.Generator, *,
             ecg: np.ndarray | None = None) -> np.ndarray:
    """One OOD recording of ``kind`` (float32, ``y``'s length) made from the real recording ``y`` (8 kHz);
    ``ecg`` (a strip at 8 kHz, ``ecg_strips``) is required for ``OodSound.ECG``."""
    kind = OodSound(kind)
    x = np.asarray(y, np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"expected a 1-D recording, got shape {x.shape}")
    if kind is OodSound.WHITE_NOISE:
        out = rng.standard_normal(x.size) * max(_rms(x), 1e-4)
    elif kind is OodSound.CLIPPED:
        out = np.clip(x / (np.abs(x).max() + 1e-12) * 10 ** (30 / 20), -1.0, 1.0)
    elif kind is OodSound.MAINS_HUM:
        out = x + mains_hum(x.size, rng) * max(_rms(x), 1e-4) * 10 ** (10 / 20)
    elif kind is OodSound.DROPOUTS:
        out = dropouts(x, rng)
    else:
        if ecg is None:
            raise ValueError("OodSound.ECG needs an ECG strip (ecg_strips)")
        out = np.resize(np.asarray(ecg, np.float64), x.size)
    return np.ascontiguousarray(np.clip(out, -1.0, 1.0), dtype=np.float32)


def ood_set(recordings: list[np.ndarray], *, kinds: tuple[OodSound, ...] = tuple(OodSound), seed: int = 0,
            ludb_root: str | Path | None = None) -> dict[str, list[np.ndarray]]:
    """kind name -> one OOD recording per real recording (seeded by ``seed``, the recording's index and the kind).

    The ``ecg`` kind needs ``ludb_root`` (it is left out, not failed, when that is None)."""
    kinds = tuple(OodSound(k) for k in kinds)
    strips = None
    if OodSound.ECG in kinds:
        if ludb_root is None:
            kinds = tuple(k for k in kinds if k is not OodSound.ECG)
        else:
            strips = ecg_strips(ludb_root, min(len(recordings), 40))
    return {kind.value: [make_ood(kind, y, np.random.default_rng([seed, i, list(OodSound).index(kind)]),
                                  ecg=strips[i % len(strips)] if strips else None)
                         for i, y in enumerate(recordings)]
            for kind in kinds}
