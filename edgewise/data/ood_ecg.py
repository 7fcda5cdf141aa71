"""Out-of-distribution ECG strips, made from real data and named, to test what a model says it does not know.

Every kind is derived from a real held-out LUDB strip (or real non-ECG audio), 10 s at 500 Hz in mV:

- ``noise_only``: a phase-randomised surrogate of the strip: its own amplitude spectrum with random
  phases (same power and spectral shape as the ECG, no beats).
- ``baseline_motion``: the strip plus baseline wander of 1-3 mV at 0.05-0.5 Hz (training augmentation
  goes to 0.5 mV) and electrode-motion artefacts: 3-6 steps of +-1-3 mV decaying with a 0.2-0.6 s
  time constant.
- ``emg_bursts``: the strip plus 2-4 bursts (0.4-1.5 s) of 20-150 Hz band-limited noise whose SD is
  0.3-0.8x the strip's peak-to-peak amplitude (muscle activity).
- ``polarity_flipped``: the strip times -1 (reversed electrodes). Training augmentation flips 5 % of
  crops and lead aVR is an inverted lead, so this kind is expected to be the *least* foreign.
- ``time_reversed``: the strip played backwards (T before QRS before P: impossible in a heart).
- ``audio``: 10 s of real non-ECG sound (speech, music, background noise, a crying baby from the
  mosquito data's non-mosquito sources) resampled to 500 Hz and scaled to the strip's SD.

``make_ood(kind, strip, rng)`` makes one strip; ``ood_set`` makes one per held-out strip and kind.
"""
from __future__ import annotations

import csv
from enum import Enum
from pathlib import Path

import numpy as np

FS = 500
SECONDS = 10.0
# non-mosquito audio sources in ../shared/data/mosquito that are nothing like an ECG
AUDIO_SETS = ("pyannote_sample_speech", "speech_commands_background_noise", "pyaudioanalysis_speech_music",
              "esc10_crying_baby", "beehive_bee_sound")


class OodKind(str, Enum):
    NOISE_ONLY = "noise_only"
    BASELINE_MOTION = "baseline_motion"
    EMG_BURSTS = "emg_bursts"
    POLARITY_FLIPPED = "polarity_flipped"
    TIME_REVERSED = "time_reversed"
    AUDIO = "audio"


def _check(strip: np.ndarray) -> np.ndarray:
    x = np.asarray(strip, dtype=np.float64)
    if x.ndim != 1 or x.size < FS:
        raise ValueError(f"expected a 1-D strip of >= {FS} samples at {FS} Hz, got shape {x.shape}")
    return x


def _bandpass_noise(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """Unit-SD Gaussian noise with its spectrum cut to [lo, hi] Hz (FFT mask)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / FS)
    spec[(f < lo) | (f > hi)] = 0
    y = np.fft.irfft(spec, n)
    return y / (y.std() + 1e-12)


def phase_surrogate(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(x - x.mean())
    phases = rng.uniform(0, 2 * np.pi, spec.size)
    phases[0] = 0.0
    return np.fft.irfft(np.abs(spec) * np.exp(1j * phases), x.size)


def baseline_motion(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = x.size
    t = np.arange(n) / FS
    y = x + rng.uniform(1, 3) * np.sin(2 * np.pi * rng.uniform(0.05, 0.5) * t + rng.uniform(0, 2 * np.pi))
    for _ in range(int(rng.integers(3, 7))):
        s = int(rng.integers(0, n))
        tau = rng.uniform(0.2, 0.6)
        y[s:] += rng.choice([-1, 1]) * rng.uniform(1, 3) * np.exp(-(t[s:] - t[s]) / tau)
    return y


def emg_bursts(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = x.size
    y = x.copy()
    p2p = float(np.ptp(x))
    for _ in range(int(rng.integers(2, 5))):
        length = int(rng.uniform(0.4, 1.5) * FS)
        s = int(rng.integers(0, n - length))
        env = np.hanning(length)
        y[s : s + length] += rng.uniform(0.3, 0.8) * p2p * env * _bandpass_noise(rng, length, 20, 150)
    return y


def audio_segments(audio_root: str | Path, count: int, *, seconds: float = SECONDS) -> list[tuple[str, np.ndarray]]:
    """``count`` segments of real non-ECG audio at 500 Hz: (name "file@start_s", float32 [seconds*500]).

    Files of ``AUDIO_SETS`` at least ``seconds`` long, the sets interleaved; successive segments of each
    file are taken round-robin over the files.
    """
    from edgewise.data.audio import load_audio

    root = Path(audio_root)
    table = root / "labels.csv"
    if not table.is_file():
        raise FileNotFoundError(f"no labels.csv in {root}: pass the mosquito data folder (../shared/data/mosquito)")
    with open(table, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("set") in AUDIO_SETS and r.get("label") == "non-mosquito"]
    n = int(seconds * FS)
    tracks = []
    for r in sorted(rows, key=lambda r: r["path"]):
        try:
            y = load_audio(root / r["path"], FS).samples
        except Exception:  # an undecodable file is skipped, the others still make the set
            continue
        if y.size >= n:
            tracks.append((r["set"], r["path"], y))
    # interleave the sets (their i-th files side by side) so a short list still mixes kinds of sound
    rank = {}
    for i, (st, _, _) in enumerate(tracks):
        rank[i] = sum(1 for t in tracks[:i] if t[0] == st)
    tracks = [(p, y) for i, (_, p, y) in sorted(enumerate(tracks), key=lambda iv: (rank[iv[0]], iv[1][0]))]
    if not tracks:
        raise FileNotFoundError(f"no non-ECG audio of >= {seconds} s in {root} (sets {', '.join(AUDIO_SETS)})")
    out, k = [], 0
    while len(out) < count:
        progressed = False
        for path, y in tracks:
            if (k + 1) * n <= y.size and len(out) < count:
                out.append((f"{path}@{k * seconds:g}s", y[k * n : (k + 1) * n].astype(np.float32)))
                progressed = True
        k += 1
        if not progressed:
            break
    return out


def make_ood(kind: OodKind | str, strip: np.ndarray, rng: np.random.Generator,
             audio: np.ndarray | None = None) -> np.ndarray:
    """One OOD strip (float32, the strip's length) of ``kind`` made from the real ``strip`` (mV at 500 Hz);
    ``audio`` (500 Hz) is required for ``OodKind.AUDIO``."""
    kind = OodKind(kind)
    x = _check(strip)
    if kind is OodKind.NOISE_ONLY:
        y = phase_surrogate(x, rng)
    elif kind is OodKind.BASELINE_MOTION:
        y = baseline_motion(x, rng)
    elif kind is OodKind.EMG_BURSTS:
        y = emg_bursts(x, rng)
    elif kind is OodKind.POLARITY_FLIPPED:
        y = -x
    elif kind is OodKind.TIME_REVERSED:
        y = x[::-1]
    else:
        if audio is None:
            raise ValueError("OodKind.AUDIO needs the audio segment (audio_segments)")
        a = np.resize(np.asarray(audio, np.float64), x.size)
        y = (a - a.mean()) / (a.std() + 1e-12) * x.std()
    return np.ascontiguousarray(y, dtype=np.float32)


def ood_set(strips: list[np.ndarray], *, kinds: tuple[OodKind, ...] = tuple(OodKind), seed: int = 0,
            audio_root: str | Path | None = None) -> dict[str, list[np.ndarray]]:
    """kind name -> one OOD strip per real strip (seeded by ``seed`` and the strip's index)."""
    kinds = tuple(OodKind(k) for k in kinds)
    audio = None
    if OodKind.AUDIO in kinds:
        if audio_root is None:
            raise ValueError("the audio kind needs audio_root (the mosquito data folder with labels.csv)")
        audio = [a for _, a in audio_segments(audio_root, len(strips))]
    out: dict[str, list[np.ndarray]] = {}
    for kind in kinds:
        out[kind.value] = [make_ood(kind, s, np.random.default_rng([seed, i, list(OodKind).index(kind)]),
                                    audio[i % len(audio)] if audio else None)
                           for i, s in enumerate(strips)]
    return out
