"""One training loop for ensemble members and distilled students, in one process or data parallel (DDP).

The batches are those of ``edgewise.models.ecg.train.train_unet`` (random crops of LUDB leads biased
towards the annotated span, the same augmentation, AdamW with a one-cycle schedule). Data parallel:
every rank draws the *whole* global batch from the same seeded generator and keeps its shard
(``DistContext.shard``); DDP averages the gradients. The per-sample loss is normalised by the weight
of the whole global batch and multiplied by the world size, so the averaged gradient is the gradient of
the single-process loss: ``torchrun --nproc-per-node 2`` trains the same model as one process, with
half the compute per rank. Batch norm normalises over the global batch too: with nccl the model is
converted to PyTorch's SyncBatchNorm, on CPU/gloo (where SyncBatchNorm refuses to run) to
``edgewise.models.ensemble.sync_bn.CrossRankBatchNorm`` for the training and back afterwards.
"""
from __future__ import annotations

import time
from typing import Callable, Iterator

import numpy as np

from edgewise.models.ecg.augment import AugmentConfig
from edgewise.models.ecg.dataset import LeadExample
from edgewise.models.ecg.train import TrainConfig, _crop
from edgewise.models.ensemble.distributed import DistContext

# (model, x [b, c, w], y int64 [b, w], span float32 [b, w]) -> per-sample loss [b, w] (torch tensors; model
# may be DDP-wrapped; span: 1 inside the annotated span, where the labels y are known, else 0)
PointwiseLoss = Callable[..., "object"]
# full-batch span weights float32 [B, w] -> the weights the loss is averaged with
WeightFn = Callable[[np.ndarray], np.ndarray]


def span_weights(w: np.ndarray) -> np.ndarray:
    """Members learn the annotated span only (the labels outside it are unknown)."""
    return w


def all_weights(w: np.ndarray) -> np.ndarray:
    """Students match their teachers everywhere: soft targets exist outside the annotated span too."""
    return np.ones_like(w)


def epoch_batches(examples: list[LeadExample], config: TrainConfig, rng: np.random.Generator, *, fs: int = 500,
                  aug: AugmentConfig = AugmentConfig()) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """One epoch of global batches: x float32 [B, c, crop], y int64 [B, crop], w float32 [B, crop]."""
    order = rng.permutation(len(examples)).tolist() * config.crops_per_example
    order = [order[i] for i in rng.permutation(len(order))]
    for b in range(0, len(order), config.batch):
        xs, ms, ws = zip(*(_crop(examples[i], rng, config.crop, fs, aug) for i in order[b : b + config.batch]))
        yield np.stack(xs), np.stack(ms), np.stack(ws)


def steps_per_epoch(n_examples: int, config: TrainConfig) -> int:
    return int(np.ceil(n_examples * config.crops_per_example / config.batch))


def train_loop(model, examples: list[LeadExample], loss_fn: PointwiseLoss, *, config: TrainConfig,
               weight_fn: WeightFn = span_weights, ctx: DistContext = DistContext(), fs: int = 500,
               progress: bool = False, desc: str = "training", log: Callable[[str], None] | None = None,
               params=None) -> list[dict]:
    """Train ``model`` in place for ``config.epochs`` epochs; returns the per-epoch history.

    ``loss_fn(net, x, y, span)`` returns the per-sample loss [b, w] of this rank's shard (``net`` is the
    DDP-wrapped model when ``ctx.world`` > 1: call it, not ``model``, so gradients are averaged).
    ``params``: the parameters to optimise (default: all of ``model``'s).
    Seeds: ``config.seed`` fixes the initial weights (set by the caller before building the model),
    the data order, the crops and the augmentation, identically on every rank.
    """
    import torch

    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    rng = np.random.default_rng(config.seed)
    net = model
    if ctx.world > 1:
        from torch.nn.parallel import DistributedDataParallel

        if ctx.backend == "nccl":
            model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        else:
            from edgewise.models.ensemble import sync_bn

            sync_bn.convert(model)
        net = DistributedDataParallel(model)  # broadcasts rank 0's weights: all ranks start equal
    opt = torch.optim.AdamW(list(params) if params is not None else model.parameters(), lr=config.lr,
                            weight_decay=config.weight_decay)
    steps = config.epochs * steps_per_epoch(len(examples), config)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=steps, pct_start=0.15)
    bar = None
    if progress and ctx.is_main:
        from tqdm import tqdm

        bar = tqdm(total=steps, desc=desc, unit="step")
    history = []
    for epoch in range(1, config.epochs + 1):
        model.train()
        t0, losses = time.time(), []
        for x, y, w in epoch_batches(examples, config, rng, fs=fs):
            wt = weight_fn(w)
            total = max(float(wt.sum()), 1.0)
            sl = ctx.shard(len(x))
            xt, yt = torch.from_numpy(x[sl]), torch.from_numpy(y[sl])
            wl = torch.from_numpy(np.ascontiguousarray(wt[sl]))
            span = torch.from_numpy(np.ascontiguousarray(w[sl]))
            loss = (loss_fn(net, xt, yt, span) * wl).sum() / total * ctx.world
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item() / ctx.world)  # this rank's share of the global loss
            if bar is not None:
                bar.update(1)
        mean = float(np.mean(losses))
        if ctx.world > 1:
            import torch.distributed as dist

            t = torch.tensor([sum(losses)], dtype=torch.float64)
            dist.all_reduce(t)
            mean = float(t.item() / len(losses))
        history.append({"epoch": epoch, "loss": mean, "seconds": round(time.time() - t0, 2)})
        if bar is not None:
            bar.set_postfix(epoch=epoch, loss=f"{mean:.4f}")
        if log is not None and ctx.is_main:
            log(f"{desc} epoch {epoch}: loss {mean:.4f} ({history[-1]['seconds']:.1f} s)")
    if bar is not None:
        bar.close()
    if ctx.world > 1 and ctx.backend != "nccl":
        from edgewise.models.ensemble import sync_bn

        sync_bn.restore(model)
    model.eval()
    return history
