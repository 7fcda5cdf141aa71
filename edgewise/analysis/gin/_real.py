"""GIN on real data that ships offline: scikit-learn's digits and ECG beats cut from LUDB.

Sorrenson, Rother & Köthe (ICLR 2020) train a GIN on EMNIST conditioned on the digit class and find 22
informative latents. We do the same, smaller, on scikit-learn's 8x8 digits (1797 images, UCI
optdigits) and on single heartbeats of LUDB lead II (Kalyakulina et al., IEEE Access 2020; ODC-By 1.0)
conditioned on the subject: the informative latents are what the flow needs to tell beats apart
beyond the subject's average beat.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from edgewise.analysis.gin._flow import FlowConfig, GinModel, TrainConfig, fit_gin
from edgewise.analysis.gin._latents import Spectrum, latent_spectrum

__all__ = ["BeatConfig", "RealResult", "digits_data", "ecg_beats", "run_real", "DIGITS_FLOW", "DIGITS_TRAIN"]

DIGITS_FLOW = FlowConfig(n_blocks=8, hidden=128, n_hidden_layers=2)
DIGITS_TRAIN = TrainConfig(epochs=60, lr=1e-3, lr_drop_epoch=45, batch_size=250, noise=0.01)


@dataclass(frozen=True)
class BeatConfig:
    """How beats are cut from LUDB.

    Attributes:
        lead: the lead whose annotated QRS peaks centre the beats.
        before_s: seconds kept before the QRS peak (covers the P wave).
        after_s: seconds kept after it (covers the T wave).
        decimate: keep every this-many-th sample after averaging over that many (500 Hz / 5 = 100 Hz).
        max_records: use at most this many records (subjects), in id order; None for all.
        min_beats: skip subjects with fewer beats.
    """

    lead: str = "ii"
    before_s: float = 0.25
    after_s: float = 0.45
    decimate: int = 5
    max_records: int | None = None
    min_beats: int = 4

    def __post_init__(self) -> None:
        if self.before_s < 0 or self.after_s <= 0:
            raise ValueError(f"need before_s >= 0 and after_s > 0, got {self.before_s}, {self.after_s}")
        if self.decimate < 1 or self.min_beats < 2:
            raise ValueError(f"need decimate >= 1 and min_beats >= 2, got {self.decimate}, {self.min_beats}")
        if self.max_records is not None and self.max_records < 2:
            raise ValueError(f"max_records must be >= 2 or None, got {self.max_records}")


def digits_data(*, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits, dequantised: float32 [1797, 64] in [0, 1.07), int64 [1797] labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    x = (d.data + rng.uniform(0, 1, d.data.shape)) / 16.0
    return x.astype(np.float32), d.target.astype(np.int64)


def ecg_beats(data_dir: str | Path, config: BeatConfig = BeatConfig()) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut one window per annotated QRS peak of ``config.lead`` from every LUDB record.

    Each beat has its median removed (baseline) and is averaged down by ``decimate``.

    Returns:
        beats float32 [n, samples] in mV, subject int64 [n] (0..S-1), record ids int64 [S].
    """
    from edgewise.data.ludb import list_records, read_record

    records = list_records(data_dir)
    if config.max_records is not None:
        records = records[: config.max_records]
    beats, subjects, kept = [], [], []
    for rid in records:
        rec = read_record(data_dir, rid, leads=(config.lead,))
        sig = rec.lead(config.lead)
        a, b = int(round(config.before_s * rec.fs)), int(round(config.after_s * rec.fs))
        n = (a + b) // config.decimate * config.decimate
        peaks = [w.peak for w in rec.waves.get(config.lead, []) if w.kind == "QRS"]
        cut = [sig[p - a : p - a + n] for p in peaks if p - a >= 0 and p - a + n <= len(sig)]
        if len(cut) < config.min_beats:
            continue
        w = np.stack(cut).reshape(len(cut), -1, config.decimate).mean(2)
        beats.append(w - np.median(w, axis=1, keepdims=True))
        subjects += [len(kept)] * len(cut)
        kept.append(rid)
    if len(kept) < 2:
        raise ValueError(
            f"found beats for {len(kept)} LUDB record(s) in {data_dir}; need >= 2 records with "
            f">= {config.min_beats} annotated QRS complexes in lead {config.lead}"
        )
    return np.concatenate(beats).astype(np.float32), np.asarray(subjects, np.int64), np.asarray(kept, np.int64)


@dataclass(frozen=True)
class RealResult:
    """A GIN trained on real data and its latent spectrum.

    Attributes:
        name: what the data was.
        model: the trained GIN.
        spectrum: spread of each latent over the data.
        history: NLL per dimension per epoch.
        max_reconstruction_error: max |f⁻¹(f(x)) - x| over the data (float32).
    """

    name: str
    model: GinModel = field(repr=False)
    spectrum: Spectrum
    history: list[float]
    max_reconstruction_error: float

    def summary(self) -> dict:
        s = self.spectrum
        return {
            "data": self.name,
            "informative": s.n_informative,
            "drop": round(s.drop, 3),
            "top_std": [round(float(v), 5) for v in s.std[s.order[:10]]],
            "max_reconstruction_error": float(f"{self.max_reconstruction_error:.3g}"),
            "final_nll_per_dim": round(self.history[-1], 4),
        }


def run_real(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    *,
    flow: FlowConfig = DIGITS_FLOW,
    train: TrainConfig = DIGITS_TRAIN,
    max_informative: int | None = None,
    progress: bool = False,
) -> RealResult:
    """Train a GIN on ``x [n, features]`` conditioned on ``y [n]`` and read its latent spectrum."""
    model, history = fit_gin(x, y, flow=flow, train=train, progress=progress)
    xt = torch.as_tensor(x, dtype=torch.float32)
    with torch.no_grad():
        z = model(xt)
        err = float((model.inverse(z) - xt).abs().max())
    return RealResult(name, model, latent_spectrum(z.numpy(), max_informative=max_informative), history, err)
