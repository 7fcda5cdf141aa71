"""The training loop over the mosquito recipe's batches, with any per-window loss: detectors and their students.

``edgewise.models.mosquito.train.train_model`` runs it with each window's cross-entropy; distilled students
(``edgewise.compress.distill_mosquito``) with a distillation loss. The batches are the recipe's (half positive,
half negative windows; mixing and synthetic-tone augmentation; decoy tones, sweeping decoys, channel augmentation
and short excerpts when their shares are set; after the first
fifth of the steps a ``hard_negatives`` share of the negatives drawn by their running loss; AdamW with a
one-cycle schedule), so a student sees batches of its teachers' kind, with the shares of its own config. What differs is the loss (``loss_fn``) and how the best state is picked (``score_fn`` on held-out
validation windows, higher is better, every ``eval_every`` steps; with ``ema`` a moving average of the weights is
scored and kept, its decay warmed up as min(ema, (1 + t) / (10 + t)) at step t). Heads' temperature: ``fit_heads_temperature``
scales the logits of every head by one T that minimises the NLL of the heads' *mean* probability on validation
windows (Guo et al. 2017, applied to the averaged prediction a multi-head model reports).
"""
from __future__ import annotations

import copy
import time
from typing import Callable

import numpy as np
import torch

from edgewise.data import audio_channel
from edgewise.data.mosquito import augment_batch, decoy_tones, short_excerpts
from edgewise.data.sweep_decoys import sweep_decoys
from edgewise.models.mosquito.train import TrainConfig, WindowSet, _draw_negatives, features

__all__ = ["train_steps", "fit_heads_temperature", "window_features"]

# (model, features float32 [b, 1, mels, frames], labels int64 [b]) -> per-window loss [b] (torch)
WindowLoss = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def window_features(model_spec, ws: WindowSet, *, batch: int = 256) -> torch.Tensor:
    """Every window of ``ws`` as model input float32 [n, 1, mels, frames] (the runtime's front end)."""
    idx = np.arange(len(ws))
    parts = [features(ws.take(idx[i : i + batch]), model_spec) for i in range(0, len(ws), batch)]
    return torch.cat(parts) if parts else torch.zeros((0, 1, *model_spec.input_shape[1:]))


def train_steps(model: torch.nn.Module, cfg: TrainConfig, train: WindowSet, loss_fn: WindowLoss, *,
                score_fn: Callable[[torch.nn.Module], float] | None = None, desc: str = "training",
                progress: Callable[[str, int, float, float], None] | None = None,
                rng: np.random.Generator | None = None) -> tuple[torch.nn.Module, dict]:
    """Train ``model`` in place for ``cfg.steps`` steps on the recipe's batches of ``train``.

    Args:
        model: the network (its input statistics and temperature buffers already set).
        cfg: the recipe (steps, batch size, lr, weight decay, augmentation, hard negatives, eval_every, seed).
        loss_fn: per-window loss of a batch (see ``WindowLoss``); its negatives' values drive hard-negative mining.
        score_fn: the model's score on held-out data (higher is better), every ``cfg.eval_every`` steps and at
            the end; the best-scoring state is kept. With ``cfg.ema`` it is given the moving average, a copy of
            ``model``, not ``model`` itself: score the module passed in. None, or a NaN score (e.g. a ROC-AUC on validation windows
            of one class): the last state.
        progress: ``(desc, step, loss EMA, score)`` at each evaluation (the score as ``score_fn`` gave it).
        rng: the batches' random generator, when the caller already drew from it (``train.train_model`` sets
            the input statistics first) and seeded torch; None: ``default_rng(cfg.seed)`` and
            ``torch.manual_seed(cfg.seed)`` here.

    Returns:
        ``(model in eval mode, {"steps", "best_step", "best_score", "train_seconds", "scores"})``.
    """
    spec = cfg.spec
    pos, neg = np.flatnonzero(train.y == 1), np.flatnonzero(train.y == 0)
    if pos.size == 0 or neg.size == 0:
        raise ValueError(f"training needs positive and negative windows, got {pos.size} and {neg.size}")
    if rng is None:
        rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    half = cfg.batch_size // 2
    best = (-np.inf, copy.deepcopy(model.state_dict()), 0)  # (score, state, step); a NaN score ranks as -inf
    scores: list[tuple[int, float]] = []
    t0, loss_ema = time.time(), float("nan")
    neg_loss = np.ones(neg.size)
    ema = copy.deepcopy(model) if cfg.ema else None
    for step in range(1, cfg.steps + 1):
        model.train()
        nj = _draw_negatives(neg_loss, cfg.batch_size - half, cfg.hard_negatives if step > cfg.steps // 5 else 0.0, rng)
        idx = np.concatenate([rng.choice(pos, half), neg[nj]])
        x, y = train.take(idx), train.y[idx]
        decoy = np.zeros(len(idx), bool)
        if cfg.p_decoy:  # only then: the random stream of the recipes without decoys stays as it was
            x, y, decoy = decoy_tones(x, y, rng, p=cfg.p_decoy, negatives=train.take(rng.choice(neg, half)),
                                      sample_rate=spec.sample_rate)
        if cfg.p_sweep:  # likewise
            x, y, sweep = sweep_decoys(x, y, rng, p=cfg.p_sweep, negatives=train.take(rng.choice(neg, half)),
                                       sample_rate=spec.sample_rate)
            decoy |= sweep
        x, y = augment_batch(x, y, rng, positives=train.take(rng.choice(pos, half)),
                             negatives=train.take(rng.choice(neg, half)), p_mix=cfg.p_mix, p_synth=cfg.p_synth,
                             sample_rate=spec.sample_rate)
        if cfg.p_speed or cfg.p_band or cfg.p_codec:  # only then: the random stream of the recipes before stays
            x = audio_channel.speed(x, rng, p=cfg.p_speed)
            x = audio_channel.band_limit(x, rng, p=cfg.p_band, sample_rate=spec.sample_rate)
            x = np.clip(audio_channel.lossy_codec(x, rng, p=cfg.p_codec, sample_rate=spec.sample_rate), -1, 1)
        if cfg.p_short:
            x = short_excerpts(x, rng, p=cfg.p_short, sample_rate=spec.sample_rate)
        per = loss_fn(model, features(x, spec), torch.from_numpy(y).long())
        loss = per.mean()
        still_neg = (y[half:] == 0) & ~decoy[half:]  # negatives that augmentation did not turn into mixes or decoys
        neg_loss[nj[still_neg]] = 0.5 * neg_loss[nj[still_neg]] + 0.5 * per.detach().numpy()[half:][still_neg]
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if ema is not None:
            _ema_update(ema, model, min(cfg.ema, (1 + step) / (10 + step)))
        lv = loss.item()
        loss_ema = lv if loss_ema != loss_ema else 0.95 * loss_ema + 0.05 * lv
        if step % cfg.eval_every == 0 or step == cfg.steps:
            judged = model if ema is None else ema  # with cfg.ema the average is scored and kept
            judged.eval()
            score = float(score_fn(judged)) if score_fn is not None else float("nan")
            scores.append((step, score))
            key = score if score == score else -np.inf  # NaN (no usable score): below any real one, latest kept
            if key >= best[0]:
                best = (key, copy.deepcopy(judged.state_dict()), step)
            if progress is not None:
                progress(desc, step, loss_ema, score)
    model.load_state_dict(best[1])
    model.eval()
    best_score = float(best[0]) if best[0] > -np.inf else float("nan")
    return model, {"steps": cfg.steps, "best_step": best[2], "best_score": best_score,
                   "train_seconds": round(time.time() - t0, 1), "scores": scores}


def _ema_update(avg: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """avg <- decay * avg + (1 - decay) * model for every floating parameter and buffer; other buffers (batch
    counters) copied. Written here rather than with ``torch.optim.swa_utils.AveragedModel``, which has no decay
    warm-up and averages integer buffers too."""
    with torch.no_grad():
        for a, m in zip(avg.state_dict().values(), model.state_dict().values()):
            if a.is_floating_point():
                a.lerp_(m, 1.0 - decay)
            else:
                a.copy_(m)


def fit_heads_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """One temperature for every head: argmin_T NLL of mean_m softmax(logits[:, m] / T) on labels ``y``.

    Args:
        logits: float [n, classes] (one head) or [n, heads, classes]; y: int [n].
    Returns:
        T > 0 (1.0 when ``y`` holds a single class or nothing).
    """
    z = np.asarray(logits, np.float64)
    z = z[:, None] if z.ndim == 2 else z
    y = np.asarray(y).astype(int)
    if z.shape[0] == 0 or len(np.unique(y)) < 2:
        return 1.0

    def nll(t: float) -> float:
        s = z / t
        s = s - s.max(axis=-1, keepdims=True)
        p = np.exp(s) / np.exp(s).sum(axis=-1, keepdims=True)
        return float(-np.mean(np.log(p.mean(axis=1)[np.arange(len(y)), y] + 1e-12)))

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 121))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = best * np.exp(np.linspace(-0.06, 0.06, 25))
    return float(fine[int(np.argmin([nll(t) for t in fine]))])
