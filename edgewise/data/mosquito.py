"""Mosquito audio dataset: labels, weak-label policy, split by recording, augmentation, synthetic tones.

Layout read (``../shared/data/mosquito`` or any folder like it): ``labels.csv`` (path, label, set,
class, sample_rate, duration_s, license, ...) and ``segments.csv`` (path, start_s, end_s, label,
label_source). Labels follow HumBug (Kiskin et al., "HumBug Zooniverse: a crowd-sourced acoustic mosquito
dataset", ICASSP 2020; HumBugDB, NeurIPS 2021 Datasets & Benchmarks).

Weak-label policy (decided here, used by training and evaluation alike):

* ``mosquito`` (lab clips, whole-file labels): every window is positive.
* ``mosquito-weak`` with segments (crowd-voted 1-s Zooniverse segments, MozzBNN predictions): a window is
  positive when it overlaps the union of the recording's segments by at least ``min_overlap_s``; every
  other window of that recording is *unlabelled* (crowds and models miss quiet passes), never negative.
* ``mosquito-present (weak)`` without segments: positive at clip level only; all windows unlabelled.
* ``non-mosquito``: every window negative.  ``unknown``: left out entirely.

Clip-level label = mosquito present. Splits are by recording (stratified by set and label), never by
window. The synthetic flight-tone generator is for augmentation and demos only, never a test.
"""
from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Callable

import numpy as np

from edgewise.runtime.errors import InputError

__all__ = [
    "ClipLabel", "Recording", "WindowConfig", "read_recordings", "window_labels", "split_recordings",
    "load_recording_audio", "mix_at_snr", "random_eq", "augment_batch", "short_excerpts", "synthetic_flight_tone",
    "synthetic_recordings", "decoy_tones", "tones_in_negatives", "DECOY_F0_HZ",
]

_LABELS = {"mosquito": "positive", "mosquito-weak": "weak", "mosquito-present (weak)": "weak",
           "non-mosquito": "negative", "unknown": "unknown"}


class ClipLabel(str, Enum):
    POSITIVE = "positive"   # whole clip is mosquito
    WEAK = "weak"           # mosquito present; only segments (if any) are positive windows
    NEGATIVE = "negative"   # no mosquito anywhere
    UNKNOWN = "unknown"     # not usable


@dataclass(frozen=True)
class Recording:
    """One audio file of the dataset and what is known about it."""

    path: Path
    rel: str
    label: ClipLabel
    set_name: str
    species: str
    duration_s: float
    licence: str
    segments: tuple[tuple[float, float], ...] = ()

    @property
    def mosquito(self) -> bool:
        """Clip-level truth: mosquito present."""
        return self.label in (ClipLabel.POSITIVE, ClipLabel.WEAK)


@dataclass(frozen=True)
class WindowConfig:
    """How recordings are cut: model rate, window and hop in seconds, weak-label overlap."""

    sample_rate: int = 8000
    window_s: float = 2.0
    hop_s: float = 1.0
    min_overlap_s: float = 0.5

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.window_s <= 0 or self.hop_s <= 0:
            raise ValueError(f"sample_rate, window_s, hop_s must be positive, got {self.sample_rate}, "
                             f"{self.window_s}, {self.hop_s}")
        if not 0 < self.min_overlap_s <= self.window_s:
            raise ValueError(f"min_overlap_s must be in (0, window_s={self.window_s}], got {self.min_overlap_s}")

    @property
    def window(self) -> int:
        return int(round(self.window_s * self.sample_rate))

    @property
    def hop(self) -> int:
        return int(round(self.hop_s * self.sample_rate))


def read_recordings(root: str | Path) -> list[Recording]:
    """Read ``labels.csv`` and ``segments.csv`` under ``root`` (segments merged into their recording)."""
    root = Path(root)
    labels_csv = root / "labels.csv"
    if not labels_csv.is_file():
        raise InputError(f"no labels.csv in {root}; expected the mosquito dataset layout (labels.csv, segments.csv)")
    segs: dict[str, list[tuple[float, float]]] = {}
    if (root / "segments.csv").is_file():
        with open(root / "segments.csv", newline="") as f:
            for row in csv.DictReader(f):
                if row["label"].strip() == "mosquito":
                    segs.setdefault(row["path"], []).append((float(row["start_s"]), float(row["end_s"])))
    recs = []
    with open(labels_csv, newline="") as f:
        for row in csv.DictReader(f):
            lab = row["label"].strip()
            if lab not in _LABELS:
                raise InputError(f"{labels_csv}: unknown label {lab!r} for {row['path']}; known: {sorted(_LABELS)}")
            recs.append(Recording(
                path=root / row["path"], rel=row["path"], label=ClipLabel(_LABELS[lab]), set_name=row["set"],
                species=row.get("class", ""), duration_s=float(row["duration_s"] or "nan"),
                licence=row.get("license", ""), segments=tuple(sorted(segs.get(row["path"], []))),
            ))
    return recs


def window_labels(rec: Recording, starts_s: np.ndarray, cfg: WindowConfig) -> np.ndarray:
    """Per-window targets under the weak-label policy: 1, 0, or NaN (unlabelled).

    Args:
        rec: the recording.
        starts_s: float ``[n_windows]`` window starts in seconds.
        cfg: window length and minimum overlap with a positive segment.
    """
    starts_s = np.asarray(starts_s, dtype=np.float64)
    if rec.label is ClipLabel.POSITIVE:
        return np.ones(starts_s.size)
    if rec.label is ClipLabel.NEGATIVE:
        return np.zeros(starts_s.size)
    out = np.full(starts_s.size, np.nan)
    if rec.label is ClipLabel.WEAK and rec.segments:
        # union of segments on a 10-ms grid, then overlap per window
        res = 0.01
        end = max(e for _, e in rec.segments)
        grid = np.zeros(int(np.ceil(end / res)) + 1, dtype=bool)
        for s, e in rec.segments:
            grid[int(round(s / res)) : int(round(e / res))] = True
        csum = np.concatenate([[0], np.cumsum(grid)])
        a = np.clip(np.round(starts_s / res).astype(int), 0, grid.size)
        b = np.clip(np.round((starts_s + cfg.window_s) / res).astype(int), 0, grid.size)
        overlap = (csum[b] - csum[a]) * res
        out[overlap >= cfg.min_overlap_s - 1e-9] = 1.0
    return out


def split_recordings(recs: list[Recording], *, val: float = 0.2, test: float = 0.25,
                     seed: int = 0) -> dict[str, list[Recording]]:
    """Split by recording into train/val/test, stratified by (set, label); ``unknown`` clips are dropped.

    Strata with one recording go to train; with two, one goes to test. Deterministic for a seed.
    """
    if not (0 <= val < 1 and 0 <= test < 1 and val + test < 1):
        raise ValueError(f"val and test fractions must be in [0, 1) with val + test < 1, got {val}, {test}")
    strata: dict[tuple[str, str], list[Recording]] = {}
    for r in recs:
        if r.label is not ClipLabel.UNKNOWN:
            strata.setdefault((r.set_name, r.label.value), []).append(r)
    out: dict[str, list[Recording]] = {"train": [], "val": [], "test": []}
    for key in sorted(strata):
        group = sorted(strata[key], key=lambda r: r.rel)
        rng = np.random.default_rng([seed, int(hashlib.md5("/".join(key).encode()).hexdigest()[:8], 16)])
        group = [group[i] for i in rng.permutation(len(group))]
        n = len(group)
        n_test = 0 if n == 1 else max(1, int(round(n * test)))
        n_val = int(round(n * val)) if n - n_test >= 3 else 0
        out["test"] += group[:n_test]
        out["val"] += group[n_test : n_test + n_val]
        out["train"] += group[n_test + n_val :]
    return out


def load_recording_audio(rec: Recording, sample_rate: int, *, cache_dir: str | Path | None = None) -> np.ndarray:
    """Mono float32 samples of ``rec`` at ``sample_rate`` (decoded once, cached as .npy when asked)."""
    from edgewise.data.audio import load_audio

    cache = None
    if cache_dir is not None:
        key = hashlib.sha1(f"{rec.path.resolve()}:{rec.path.stat().st_mtime_ns}:{sample_rate}".encode()).hexdigest()
        cache = Path(cache_dir) / f"{key[:20]}.npy"
        if cache.is_file():
            return np.load(cache)
    y = load_audio(rec.path, sample_rate).samples
    if cache is not None:  # written whole, then renamed: a process reading the cache never sees half a file
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, y)
        os.replace(tmp, cache)
    return y


def mix_at_snr(background: np.ndarray, signal: np.ndarray, snr_db: np.ndarray | float) -> np.ndarray:
    """``background + a * signal`` with ``a`` set so that signal power / background power = ``snr_db``.

    Args:
        background: float ``[batch, samples]``.
        signal: float ``[batch, samples]``.
        snr_db: scalar or ``[batch]``.
    """
    pb = np.mean(background.astype(np.float64) ** 2, axis=-1) + 1e-10
    ps = np.mean(signal.astype(np.float64) ** 2, axis=-1) + 1e-10
    a = np.sqrt(pb / ps * 10 ** (np.asarray(snr_db, dtype=np.float64) / 10))
    return (background + a[..., None] * signal).astype(np.float32)


def random_eq(x: np.ndarray, rng: np.random.Generator, *, max_db: float = 6.0) -> np.ndarray:
    """Random smooth equaliser per row of ``x [batch, samples]``: a gain curve over log frequency (±max_db)."""
    spec = np.fft.rfft(x, axis=-1)
    f = np.linspace(0.0, 1.0, spec.shape[-1])
    logf = np.log1p(30 * f) / np.log(31)
    k = rng.uniform(-max_db, max_db, size=(x.shape[0], 3))
    curve = k[:, :1] * (logf - 0.5) + k[:, 1:2] * np.sin(np.pi * logf) + k[:, 2:] * np.cos(2 * np.pi * logf) / 2
    return np.fft.irfft(spec * 10 ** (curve / 20), n=x.shape[-1], axis=-1).astype(np.float32)


def synthetic_flight_tone(duration_s: float, sample_rate: int, rng: np.random.Generator, *,
                          f0: float | None = None, n_harmonics: int = 5) -> np.ndarray:
    """SYNTHETIC mosquito-like flight tone (for augmentation and demos only, never for testing).

    Fundamental 300-900 Hz (females ~400-600, males ~600-900; HumBugDB), harmonics with decaying random
    amplitudes, slow frequency (±3 %) and amplitude modulation as a mosquito passes the microphone.

    Returns:
        float32 ``[round(duration_s * sample_rate)]`` with peak about 0.5.
    """
    n = int(round(duration_s * sample_rate))
    t = np.arange(n) / sample_rate
    f0 = rng.uniform(300, 900) if f0 is None else float(f0)
    fm = 1 + 0.03 * np.sin(2 * np.pi * rng.uniform(0.1, 2.0) * t + rng.uniform(0, 2 * np.pi))
    phase = 2 * np.pi * np.cumsum(f0 * fm) / sample_rate
    am = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.05, 1.0) * t + rng.uniform(0, 2 * np.pi))
    y = np.zeros(n)
    for h in range(1, n_harmonics + 1):
        if h * f0 * 1.03 >= sample_rate / 2:
            break
        y += rng.uniform(0.3, 1.0) / h * np.sin(h * phase + rng.uniform(0, 2 * np.pi))
    y *= am
    return (0.5 * y / (np.abs(y).max() + 1e-12)).astype(np.float32)


DECOY_F0_HZ = ((80.0, 250.0), (1100.0, 2000.0))  # below and above the mosquito flight tone (300-900 Hz)


def decoy_tones(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, p: float, negatives: np.ndarray,
                snr_db: tuple[float, float] = (-5.0, 20.0),
                sample_rate: int = 8000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace a share ``p`` of the rows by a SYNTHETIC *non*-mosquito flight tone in a real negative (label 0).

    The decoy is ``synthetic_flight_tone`` (the same harmonics, frequency and amplitude modulation as the
    synthetic positives) with its fundamental outside the mosquito range: 80-250 Hz (bees, flies, engines, mains
    hum; 5-15 harmonics) or 1.1-2 kHz (whines, whistles; up to 3 harmonics below Nyquist, 1-3). The training loop
    draws decoys before ``augment_batch``, whose mixes overwrite some of them: with the recipe's 35 % of mixes and
    synthetic positives, ``p = 0.1`` leaves about 6.5 % of each batch a decoy. Design risk: the upper band overlaps
    the 2nd-3rd harmonics of mosquito tones, so a recording whose fundamental is lost could look like a decoy.
    Issue 21: the detector called most buzzing things a mosquito (a beehive gave 90 false alarms per hour of
    held-out audio); a buzz alone must not be enough, its pitch has to be a mosquito's.

    Returns:
        ``(x, y, decoy)``: the batch with the decoys in, their labels set to 0, and the boolean mask of decoy rows.
    """
    def tone(n: int) -> np.ndarray:
        lo, hi = DECOY_F0_HZ[0] if rng.random() < 0.6 else DECOY_F0_HZ[1]
        f0 = rng.uniform(lo, hi)
        return synthetic_flight_tone(n / sample_rate, sample_rate, rng, f0=f0,
                                     n_harmonics=int(rng.integers(5, 16)) if f0 < 300 else 3)

    return tones_in_negatives(x, y, rng, p=p, negatives=negatives, tone=tone, snr_db=snr_db)


def tones_in_negatives(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, p: float, negatives: np.ndarray,
                       tone: Callable[[int], np.ndarray],
                       snr_db: tuple[float, float] = (-5.0, 20.0)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace a share ``p`` of the rows of ``x [batch, samples]`` by ``tone(samples)`` mixed into a random real
    negative at a random SNR, labelled 0: the common step of every decoy kind (``decoy_tones``,
    ``edgewise.data.sweep_decoys``). Draws, in order: the row mask, then per row the tone, the negative, the SNR.

    Returns:
        ``(x, y, decoy)``: copies with the decoys in, their labels 0, and the boolean mask of decoy rows.
    """
    x, y = x.copy(), np.asarray(y, np.float32).copy()
    decoy = rng.random(x.shape[0]) < p
    for i in np.flatnonzero(decoy):
        t = tone(x.shape[1])
        x[i] = mix_at_snr(negatives[rng.integers(len(negatives), size=1)], t[None], rng.uniform(*snr_db, size=1))[0]
    y[decoy] = 0.0
    return x, y, decoy


def augment_batch(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, *, positives: np.ndarray,
                  negatives: np.ndarray, p_mix: float = 0.3, p_synth: float = 0.05,
                  snr_db: tuple[float, float] = (-5.0, 20.0), sample_rate: int = 8000) -> tuple[np.ndarray, np.ndarray]:
    """Augment a batch of windows: mixes, gain, circular shift, EQ.

    A fraction ``p_mix`` of the rows is replaced by a real positive window mixed into a real negative at a
    random SNR (label 1), ``p_synth`` by a synthetic flight tone in a real negative (label 1); all rows get
    random gain (-12..+6 dB), circular shift and EQ.

    Args:
        x: float32 ``[batch, samples]``; y: float ``[batch]`` targets.
        positives, negatives: float32 ``[n, samples]`` pools of training windows to mix from.
    """
    x, y = x.copy(), y.astype(np.float32).copy()
    b, n = x.shape
    if len(positives) and len(negatives):
        draw = rng.random(b)
        mix = draw < p_mix
        synth = (draw >= p_mix) & (draw < p_mix + p_synth)
        if mix.any():
            k = int(mix.sum())
            x[mix] = mix_at_snr(negatives[rng.integers(len(negatives), size=k)],
                                positives[rng.integers(len(positives), size=k)], rng.uniform(*snr_db, size=k))
            y[mix] = 1.0
        if synth.any():
            k = int(synth.sum())
            tones = np.stack([synthetic_flight_tone(n / sample_rate, sample_rate, rng) for _ in range(k)])
            x[synth] = mix_at_snr(negatives[rng.integers(len(negatives), size=k)], tones, rng.uniform(*snr_db, size=k))
            y[synth] = 1.0
    shifts = rng.integers(n, size=b)
    x = np.stack([np.roll(r, s) for r, s in zip(x, shifts)])
    x = random_eq(x, rng)
    x *= 10 ** (rng.uniform(-12, 6, size=(b, 1)) / 20)
    return np.clip(x, -1, 1).astype(np.float32), y


def short_excerpts(x: np.ndarray, rng: np.random.Generator, *, p: float, length_s: tuple[float, float] = (0.05, 1.0),
                   sample_rate: int = 8000) -> np.ndarray:
    """Replace a share ``p`` of the windows by a short excerpt of themselves, tiled back into a window.

    Each chosen row keeps a random excerpt of log-uniform length in ``length_s`` seconds at a random place
    and is tiled (``edgewise.runtime.mosquito.windows.tile_window``, the rule the detector scores clips
    shorter than a window by). Rows are chosen whatever their label, so the tiling itself tells the model
    nothing about the class. Issue 21: HumBugDB is full of 0.03-0.5-s snippets, and a detector trained on
    2-s windows only saw tiled audio when a whole recording was that short.
    """
    from edgewise.runtime.mosquito.windows import tile_window

    lo, hi = length_s
    if not 0 <= p <= 1 or not 0 < lo <= hi:
        raise ValueError(f"p must be in [0, 1] and length_s (lo, hi) with 0 < lo <= hi, got {p}, {length_s}")
    x = x.copy()
    b, n = x.shape
    for i in np.flatnonzero(rng.random(b) < p):
        m = min(n, max(1, int(round(np.exp(rng.uniform(np.log(lo), np.log(hi))) * sample_rate))))
        a = int(rng.integers(n - m + 1))
        x[i] = tile_window(x[i, a : a + m], n, sample_rate=sample_rate)
    return x


def synthetic_recordings(n: int, *, sample_rate: int = 8000, duration_s: float = 10.0,
                         seed: int = 0) -> list[tuple[str, np.ndarray, bool, tuple[tuple[float, float], ...]]]:
    """SYNTHETIC stand-in clips for demos without real data: pink-ish noise, half with a flight tone.

    Returns:
        ``(name, samples float32 [n], mosquito_present, tone_segments_s)`` per clip; names start with
        ``"synthetic-"`` so no report can mistake them for real recordings.
    """
    rng = np.random.default_rng(seed)
    out = []
    m = int(round(duration_s * sample_rate))
    for i in range(n):
        noise = np.cumsum(rng.standard_normal(m)) * 0.002
        noise = (noise - np.convolve(noise, np.ones(400) / 400, mode="same")) + 0.02 * rng.standard_normal(m)
        present = i % 2 == 1
        segs: tuple[tuple[float, float], ...] = ()
        if present:
            start = rng.uniform(0, duration_s / 2)
            length = rng.uniform(2.0, duration_s / 2)
            tone = synthetic_flight_tone(length, sample_rate, rng)
            a = int(start * sample_rate)
            noise[a : a + tone.size] += tone[: m - a] * 10 ** (rng.uniform(0, 15) / 20) * 0.1
            segs = ((start, min(start + length, duration_s)),)
        out.append((f"synthetic-{i:03d}", np.clip(noise, -1, 1).astype(np.float32), present, segs))
    return out
