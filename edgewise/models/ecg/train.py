"""Training loop for the ECG U-Net: random crops of LUDB leads (+ optional SYNTHETIC ECG), augmentation,
span-weighted cross-entropy, validation by wave F1, best checkpoint kept."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgewise.models.ecg.augment import AugmentConfig, augment
from edgewise.models.ecg.dataset import LeadExample
from edgewise.runtime.ecg.preprocess import standardize


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 60
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    crop: int = 2048
    min_crop: int = 0                 # > 0: signals of random length min_crop..crop, zero-padded to crop (see _crop)
    crops_per_example: int = 1
    synthetic_fraction: float = 0.0   # share of each batch drawn from SYNTHETIC ECG
    synthetic_per_epoch: int = 512    # examples per epoch when training on SYNTHETIC ECG only
    seed: int = 0
    threads: int = 2
    val_every: int = 5
    widths: tuple[int, ...] = (8, 16, 24, 32, 48)
    kernel: int = 9
    decimate: int = 1                 # 2: the U-Net runs at half the input rate (UNet1d)
    context: tuple[int, ...] = ()     # dilations of the bottleneck's rhythm-context layers (UNet1d)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch < 1:
            raise ValueError(f"epochs and batch must be >= 1, got {self.epochs}, {self.batch}")
        if self.crop % (16 * self.decimate):
            raise ValueError(f"crop must be a multiple of {16 * self.decimate} (four pooling levels x decimate "
                             f"{self.decimate}), got {self.crop}")
        if self.min_crop and not 16 <= self.min_crop <= self.crop:
            raise ValueError(f"min_crop must be 0 or in 16..crop ({self.crop}), got {self.min_crop}")
        if not 0 <= self.synthetic_fraction <= 1:
            raise ValueError(f"synthetic_fraction must be in [0, 1], got {self.synthetic_fraction}")


# training crop of every ECG U-Net, whatever window it runs on: the network is fully convolutional, so a
# model trained on 2048-sample crops runs on a whole 10-s strip (window 5008) in one call. Training on the
# whole strips instead (``TrainConfig.min_crop``) was measured worse: the U-Net overfits them (CHANGELOG).
TRAIN_CROP = 2048


def crop_config(window: int) -> dict[str, int]:
    """``TrainConfig`` crop settings for (fine-)tuning a model of input ``window`` samples: ``TRAIN_CROP``
    crops (the window itself if shorter)."""
    return {"crop": int(min(window, TRAIN_CROP)), "min_crop": 0}


def _crop(ex: LeadExample, rng: np.random.Generator, crop: int, fs: float, aug: AugmentConfig, min_crop: int = 0
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random crop of one example, augmented and standardised: x float32 [leads, crop], mask, weight.

    ``min_crop`` > 0 trains a whole-signal model (the window is as long as a 10-s record, so a 10-s signal
    is one model call): half of the crops are the whole example, the others a random length in
    ``min_crop..n``; each is standardised on its own and zero-padded at the end to ``crop`` samples, the
    way the runtime scores a signal no longer than one window. Without it, crops are ``crop`` long and 10 %
    are shortened and zero-padded.
    """
    n = ex.signal.shape[-1]
    if min_crop:
        length = min(n, crop) if rng.random() < 0.5 else int(rng.integers(min(min_crop, n), min(n, crop) + 1))
        s = int(rng.integers(0, n - length + 1))
        if ex.signal.ndim == 2:
            x = np.stack([augment(lead[s : s + length], rng, fs, aug) for lead in ex.signal])
        else:
            other = ex.other[rng.integers(len(ex.other))][s : s + length] if len(ex.other) else None
            x = augment(ex.signal[s : s + length], rng, fs, aug, other)[None]
        pad = crop - length
        x = np.concatenate([standardize(x), np.zeros((x.shape[0], pad), np.float32)], axis=1)
        m = np.concatenate([ex.mask[s : s + length], np.zeros(pad, ex.mask.dtype)])
        w = np.concatenate([ex.weight[s : s + length], np.zeros(pad, np.float32)])
        return x, m, w
    # bias crops towards the annotated span so most samples carry loss
    idx = np.flatnonzero(ex.weight)
    lo = max(0, min(idx[0] - crop // 4, n - crop)) if idx.size else 0
    hi = max(lo, min(idx[-1] - 3 * crop // 4, n - crop)) if idx.size else n - crop
    s = int(rng.integers(lo, hi + 1))
    if ex.signal.ndim == 2:  # 12-lead example: each lead augmented on its own
        x = np.stack([augment(lead[s : s + crop], rng, fs, aug) for lead in ex.signal])
    else:
        other = ex.other[rng.integers(len(ex.other))][s : s + crop] if len(ex.other) else None
        x = augment(ex.signal[s : s + crop], rng, fs, aug, other)[None]
    x = standardize(x)
    m, w = ex.mask[s : s + crop], ex.weight[s : s + crop].copy()
    if rng.random() < 0.1:  # short signals are zero-padded at inference: teach the model what padding looks like
        k = int(rng.integers(crop // 8, crop // 2))
        x = standardize(x[:, :-k])
        x = np.concatenate([x, np.zeros((x.shape[0], k), np.float32)], axis=1)
        w[-k:] = 0.0
    return x, m, w


def _synthetic_batch(rng: np.random.Generator, k: int, crop: int, fs: int):
    from edgewise.data.synthetic_ecg import SyntheticEcgConfig, synthetic_ecg

    cfg = SyntheticEcgConfig(fs=fs, seconds=crop / fs + 0.01)
    xs, ms, ws = [], [], []
    for _ in range(k):
        x, m, _ = synthetic_ecg(rng, cfg)
        xs.append(standardize(x[None, :crop]))
        ms.append(m[:crop])
        ws.append(np.ones(crop, np.float32))
    return xs, ms, ws


def train_unet(train: list[LeadExample], val_fn=None, *, config: TrainConfig = TrainConfig(), fs: int = 500,
               out: Path | None = None, progress: bool = True, log=print, model=None, loss_hook=None):
    """Train a UNet1d; ``val_fn(model) -> float`` (higher is better) selects the best epoch.

    Pass ``model`` to fine-tune an existing network (e.g. after pruning) instead of a fresh one;
    ``loss_hook(model, x, logits) -> tensor`` adds a term to the loss (e.g. distillation).

    Returns:
        (model in eval mode with the best weights, history list of dicts).
    """
    import torch
    import torch.nn.functional as F

    from edgewise.models.ecg.unet import UNet1d

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    in_channels = train[0].signal.shape[0] if train and train[0].signal.ndim == 2 else 1
    if model is None:
        model = UNet1d(in_channels, 4, widths=config.widths, kernel=config.kernel, context=config.context,
                       decimate=config.decimate)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n_real = len(train) * config.crops_per_example
    if config.synthetic_fraction >= 1 or not train:
        n_real, n_syn = 0, config.synthetic_per_epoch
    else:
        n_syn = int(round(n_real * config.synthetic_fraction / (1 - config.synthetic_fraction)))
    steps = config.epochs * int(np.ceil((n_real + n_syn) / config.batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.15)
    aug = AugmentConfig()
    history, best, best_state = [], -np.inf, None
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc="training ecg-unet", unit="step")
    for epoch in range(1, config.epochs + 1):
        model.train()
        t0, losses = time.time(), []
        order = [("real", i) for i in rng.permutation(len(train)).tolist() * config.crops_per_example][:n_real]
        order += [("syn", 0)] * n_syn
        rng.shuffle(order)
        for b in range(0, len(order), config.batch):
            chunk = order[b : b + config.batch]
            xs, ms, ws = [], [], []
            for kind, i in chunk:
                if kind == "real":
                    x, m, w = _crop(train[i], rng, config.crop, fs, aug, config.min_crop)
                    xs.append(x), ms.append(m), ws.append(w)
            n_s = sum(1 for k, _ in chunk if k == "syn")
            if n_s:
                sx, sm, sw = _synthetic_batch(rng, n_s, config.crop, fs)
                xs += sx
                ms += sm
                ws += sw
            x = torch.from_numpy(np.stack(xs))
            y = torch.from_numpy(np.stack(ms))
            w = torch.from_numpy(np.stack(ws))
            logits = model(x)
            loss = (F.cross_entropy(logits, y, reduction="none") * w).sum() / w.sum().clamp_min(1)
            if loss_hook is not None:
                loss = loss + loss_hook(model, x, logits)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            if bar is not None:
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses):.4f}")
        rec = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": time.time() - t0}
        if val_fn is not None and (epoch % config.val_every == 0 or epoch == config.epochs):
            model.eval()
            rec["val"] = float(val_fn(model))
            if rec["val"] > best:
                best = rec["val"]
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                rec["best"] = True
            log(f"epoch {epoch}: loss {rec['loss']:.4f} val {rec['val']:.4f}{' *' if rec.get('best') else ''}")
        history.append(rec)
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return model, history


def distillation_hook(teacher, *, temperature: float = 2.0, weight: float = 1.0):
    """A ``train_unet`` ``loss_hook`` adding Hinton's distillation term: ``weight`` x T^2 x KL(softmax(teacher/T)
    || softmax(student/T)) over the classes, averaged over the batch's samples (annotated or not: the teacher's
    soft labels also cover the parts of a record nobody annotated). ``teacher``: a torch module taking the
    student's input, frozen here."""
    import torch

    from edgewise.models.soft_targets import softened_kl

    if not temperature > 0 or weight < 0:
        raise ValueError(f"temperature must be > 0 and weight >= 0, got {temperature}, {weight}")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)

    def hook(model, x, logits):
        with torch.no_grad():
            t = teacher(x)
        return weight * softened_kl(t, logits, temperature, dim=1).mean()

    return hook


def config_dict(config: TrainConfig) -> dict:
    d = asdict(config)
    d["widths"] = list(config.widths)
    d["context"] = list(config.context)
    return d
