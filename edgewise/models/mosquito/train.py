"""Training of the mosquito detectors: class-balanced batches, augmentation, temperature scaling.

Class balance: every batch holds as many positive as negative windows (Kiskin et al. 2020 weight the
mosquito class x10 instead; balanced sampling does the same job without inflating the loss scale).
Calibration: temperature scaling on held-out validation recordings (Guo et al., "On Calibration of
Modern Neural Networks", ICML 2017). Windows come from ``edgewise.data.mosquito`` (weak-label policy,
split by recording); features from ``edgewise.runtime.features`` (the device's own front end).
Recordings shorter than a window are tiled into it exactly as at scoring time
(``edgewise.models.mosquito.clips``); recordings under 0.05 s are not trained on.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch

from edgewise.data.mosquito import Recording, WindowConfig, window_labels
from edgewise.models.mosquito.clips import min_clip_samples, tile_window
from edgewise.models.mosquito.specs import SPECS, frontend
from edgewise.models.spec import ModelSpec, build_model
from edgewise.runtime.features.logmel import log_mel

__all__ = ["TrainConfig", "AUGMENT_SHARES", "ARCH_RECIPES", "recipe", "WindowSet", "build_window_set", "features", "train_model",
           "fit_temperature"]


# the shares of each batch that one augmentation each rewrites (TrainConfig fields, each in [0, 1], 0 = off)
AUGMENT_SHARES = ("p_short", "p_decoy", "p_sweep", "p_speed", "p_band", "p_codec")


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run.

    Attributes:
        arch: ``"dscnn-robust"`` (the shipped detector's recipe, ``specs.SHIPPED_ARCH``; `edgewise train
            mosquito`'s default), ``"dscnn"`` (0.1's, this class's default, kept so earlier runs
            reproduce) or ``"humbug"`` (the HumBug baseline).
        steps: optimiser steps.
        batch_size: windows per step (half positive, half negative).
        lr: peak AdamW learning rate (cosine decay).
        train_hop_s: hop between training windows in seconds.
        p_mix: fraction of each batch replaced by a real positive mixed into a real negative.
        p_synth: fraction replaced by a SYNTHETIC flight tone in a real negative.
        p_decoy: fraction of each batch's drawn windows replaced by a SYNTHETIC harmonic tone *outside* the mosquito
            pitch range (80-250 Hz or 1.1-2 kHz) in a real negative, labelled 0 (``edgewise.data.mosquito.decoy_tones``;
            drawn before mixing, which overwrites ``p_mix + p_synth`` of them: 0.1 leaves ~6.5 % of a batch).
        p_sweep: fraction replaced by a SYNTHETIC harmonic tone whose pitch sweeps *through* the mosquito range (siren
            wail, yelp or hi-lo; ``edgewise.data.sweep_decoys``) in a real negative, labelled 0; drawn after the decoy
            tones and before mixing, like them. Not with ``p_short``: a short cut of a sweep is a steady tone at
            mosquito pitch, labelled 0, which is what a flight tone looks like.
        p_short: fraction of each batch (either class alike) cut to a 0.05-1 s excerpt and tiled back into a
            window (``edgewise.data.mosquito.short_excerpts``), as the detector scores short clips.
        p_speed, p_band, p_codec: fractions of each batch (either class alike) played 0.9-1.1x as fast, band-limited
            (a random microphone high-pass and/or low-pass) and passed through a lossy codec (MP3, Vorbis, mu-law):
            ``edgewise.data.audio_channel``, applied in that order after ``augment_batch``.
        ema: decay of an exponential moving average of the weights (and batch-norm statistics), updated every step
            with the decay warmed up as min(ema, (1 + t) / (10 + t)) at step t; validation scores the average and
            the best average is kept. 0: off, the raw weights are scored (the recipes before it).
        hard_negatives: after the first fifth of training, this share of each batch's negatives is drawn
            in proportion to each negative window's running loss (online hard-negative mining, as in
            Shrivastava et al., CVPR 2016), to push down false alarms on tonal insects, babies, speech.
        eval_every: steps between validation checks (best validation state is kept).
        seed: seeds numpy and torch.
        model_kwargs: passed to the model builder.
    """

    arch: str = "dscnn"
    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    train_hop_s: float = 0.5
    p_mix: float = 0.3
    p_synth: float = 0.05
    p_short: float = 0.0
    p_decoy: float = 0.0
    p_sweep: float = 0.0
    p_speed: float = 0.0
    p_band: float = 0.0
    p_codec: float = 0.0
    ema: float = 0.0
    hard_negatives: float = 0.5
    eval_every: int = 250
    seed: int = 0
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in SPECS:
            raise ValueError(f"unknown arch {self.arch!r}; choose one of {sorted(SPECS)}")
        if self.steps < 1 or self.batch_size < 2 or self.eval_every < 1:
            raise ValueError(f"steps >= 1, batch_size >= 2, eval_every >= 1 needed, got {self.steps}, "
                             f"{self.batch_size}, {self.eval_every}")
        if not 0 <= self.hard_negatives <= 1:
            raise ValueError(f"hard_negatives must be in [0, 1], got {self.hard_negatives}")
        if not 0 <= self.ema < 1:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        for name in AUGMENT_SHARES:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.p_sweep and self.p_short:
            raise ValueError(f"p_sweep ({self.p_sweep}) with p_short ({self.p_short}): a short excerpt of a sweeping "
                             "decoy is a steady tone at mosquito pitch labelled not-mosquito; set one of them to 0")
        if not (0 <= self.p_mix and 0 <= self.p_synth and self.p_mix + self.p_synth <= 1):
            raise ValueError(f"p_mix and p_synth must be >= 0 with sum <= 1, got {self.p_mix}, {self.p_synth}")

    @property
    def spec(self) -> ModelSpec:
        return SPECS[self.arch]


# What an arch's recipe changes from TrainConfig's defaults. The defaults stay those of the runs before each change, so
# a stored config keeps its meaning; the shipped detector's recipe adds decoy tones (issue 21, measured 2026-12-07
# by leave-one-source-out on 3 seeds: README "Mosquito detector").
ARCH_RECIPES: dict[str, dict[str, Any]] = {"dscnn-robust": {"p_decoy": 0.1}}


def recipe(arch: str | None = None, **overrides: Any) -> TrainConfig:
    """The training recipe of ``arch`` (default: the shipped detector's, ``specs.SHIPPED_ARCH``) with ``overrides``."""
    from edgewise.models.mosquito.specs import SHIPPED_ARCH

    arch = arch or SHIPPED_ARCH
    return TrainConfig(arch=arch, **{**ARCH_RECIPES.get(arch, {}), **overrides})


@dataclass
class WindowSet:
    """Labelled windows as (recording, start sample) pairs over decoded audio, sliced on demand.

    Attributes:
        audio: float32 mono signals at the model rate, one per recording.
        rec: int ``[n]`` recording index per window; start: int ``[n]`` first sample; y: float ``[n]`` 0/1.
        window: samples per window.
    """

    audio: list[np.ndarray]
    rec: np.ndarray
    start: np.ndarray
    y: np.ndarray
    window: int
    sample_rate: int = 8000

    def __len__(self) -> int:
        return int(self.y.size)

    def take(self, idx: np.ndarray) -> np.ndarray:
        """Windows ``idx`` as float32 ``[len(idx), window]``.

        A recording shorter than a window is tiled into it (as at scoring time); the tail window of a longer
        one is zero-padded past its end (as ``edgewise.data.audio.frame_windows`` pads it).
        """
        out = np.zeros((len(idx), self.window), dtype=np.float32)
        for j, i in enumerate(idx):
            y = self.audio[self.rec[i]]
            if y.size < self.window:
                out[j] = tile_window(y, self.window, sample_rate=self.sample_rate)
                continue
            seg = y[self.start[i] : self.start[i] + self.window]
            out[j, : seg.size] = seg
        return out


def build_window_set(recs: list[Recording], audio: list[np.ndarray], wcfg: WindowConfig) -> WindowSet:
    """Cut recordings into windows every ``wcfg.hop_s`` and keep the labelled ones (weak-label policy).

    Recordings under 0.05 s (``clips.MIN_CLIP_S``) give no window.
    """
    rec_i, starts, ys = [], [], []
    for i, (r, y) in enumerate(zip(recs, audio)):
        if y.size < min_clip_samples(wcfg.sample_rate):
            continue
        n = max(1, 1 + (y.size - wcfg.window) // wcfg.hop) if y.size >= wcfg.window else 1
        s = np.arange(n) * wcfg.hop
        lab = window_labels(r, s / wcfg.sample_rate, wcfg)
        keep = np.isfinite(lab)
        rec_i.append(np.full(int(keep.sum()), i))
        starts.append(s[keep])
        ys.append(lab[keep])
    cat = (lambda a: np.concatenate(a) if a else np.zeros(0))
    return WindowSet(audio=audio, rec=cat(rec_i).astype(int), start=cat(starts).astype(int), y=cat(ys), window=wcfg.window,
                     sample_rate=wcfg.sample_rate)


def features(x: np.ndarray, spec: ModelSpec) -> torch.Tensor:
    """Windows ``[batch, window]`` -> model input float32 ``[batch, 1, n_mels, frames]`` (runtime front end)."""
    return torch.from_numpy(log_mel(x, frontend(spec))[:, None])


@torch.no_grad()
def predict_logits(model: torch.nn.Module, spec: ModelSpec, x: np.ndarray, *, batch: int = 128) -> np.ndarray:
    """Logits ``[n, 2]`` for windows ``x [n, window]``, in eval mode."""
    model.eval()
    outs = [model(features(x[i : i + batch], spec)).numpy() for i in range(0, len(x), batch)]
    return np.concatenate(outs) if outs else np.zeros((0, 2), np.float32)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """Temperature minimising the NLL of ``softmax(logits / T)`` on held-out labels (grid + refinement)."""
    y = y.astype(int)
    if logits.shape[0] == 0 or len(np.unique(y)) < 2:
        return 1.0

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.06, 0.06, 25))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def _window_auc(model: torch.nn.Module, spec: ModelSpec, val: WindowSet) -> float:
    from sklearn.metrics import roc_auc_score

    if len(val) == 0 or len(np.unique(val.y)) < 2:
        return float("nan")
    logits = predict_logits(model, spec, val.take(np.arange(len(val))))
    return float(roc_auc_score(val.y, logits[:, 1] - logits[:, 0]))


def _set_input_stats(model: torch.nn.Module, spec: ModelSpec, train: WindowSet, rng: np.random.Generator) -> None:
    idx = rng.choice(len(train), size=min(512, len(train)), replace=False)
    f = model.center(features(train.take(idx), spec))  # every detector is a nets._Calibrated
    model.in_mean.fill_(0.0 if model.window_norm else float(f.mean()))  # centred: mean 0, unused
    model.in_std.fill_(float(f.std()) + 1e-6)


def _draw_negatives(neg_loss: np.ndarray, k: int, hard: float, rng: np.random.Generator) -> np.ndarray:
    """Positions into the negative pool: ``hard`` share by running loss, the rest uniform."""
    n_hard = int(round(k * hard))
    uniform = rng.integers(neg_loss.size, size=k - n_hard)
    if n_hard == 0:
        return uniform
    w = neg_loss + 1e-3
    return np.concatenate([rng.choice(neg_loss.size, n_hard, p=w / w.sum()), uniform])


def train_model(cfg: TrainConfig, train: WindowSet, val: WindowSet, *,
                progress: Callable[[int, float, float], None] | None = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Train one detector on ``train``, keep the best state on ``val``, then fit its temperature on ``val``.

    The steps are ``edgewise.models.mosquito.loop.train_steps`` (the loop distilled students use too) with the
    cross-entropy of each window's label; the best state is the one with the highest window ROC-AUC on ``val``
    (the last one when ``val`` has a single class).

    Returns:
        The model (eval mode, calibrated) and a log dict (steps, best validation AUC, temperature, seconds).
    """
    from edgewise.models.mosquito.loop import train_steps

    spec = cfg.spec
    pos, neg = np.flatnonzero(train.y == 1), np.flatnonzero(train.y == 0)
    if pos.size == 0 or neg.size == 0:
        raise ValueError(f"training needs positive and negative windows, got {pos.size} and {neg.size}")
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = build_model(spec.name, **cfg.model_kwargs)
    _set_input_stats(model, spec, train, rng)

    def loss(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(net(x), y, reduction="none")

    model, log = train_steps(model, cfg, train, loss, score_fn=lambda m: _window_auc(m, spec, val), rng=rng,
                             progress=None if progress is None else lambda _d, step, ema, auc: progress(step, ema, auc))
    logits = predict_logits(model, spec, val.take(np.arange(len(val)))) if len(val) else np.zeros((0, 2))
    temperature = fit_temperature(logits.astype(np.float64), val.y)
    model.temperature.fill_(temperature)
    return model, {"steps": cfg.steps, "best_step": log["best_step"], "val_window_roc_auc": log["best_score"],
                   "temperature": temperature, "train_seconds": log["train_seconds"],
                   "train_windows": {"positive": int(pos.size), "negative": int(neg.size)}}
