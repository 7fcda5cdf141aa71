"""Batch norm over the global batch on CPU: the statistics of every rank's shard, summed with all-reduce.

PyTorch's ``SyncBatchNorm`` refuses CPU tensors ("expected input tensor to be on GPU"), so under
``torchrun`` on CPU/gloo each rank would normalise over its own shard: a 2-process member then sees
batch statistics of 16 examples instead of 32 and trains a (measurably) different model. This module
does what ``SyncBatchNorm`` does, with ``torch.distributed.nn.functional.all_reduce`` (the autograd-aware
collective, so the backward pass sums the gradients of the statistics across ranks exactly as the
single-process graph would). Two passes (mean, then the sum of squared deviations) keep the variance
as exact as one process's.

Usage: ``convert(model)`` before wrapping it in DDP, ``restore(model)`` after training: the modules are
``nn.BatchNorm*`` again (same parameters and buffers), so checkpoints and exports do not change.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["CrossRankBatchNorm", "convert", "restore"]


class CrossRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """``BatchNorm1d/2d`` whose training-mode statistics cover all ranks' shards (see module docstring)."""

    _original: type = nn.BatchNorm1d

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input [batch, channels, ...], got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        dims = [0, *range(2, x.dim())]
        c = x.shape[1]
        count = torch.tensor([x.numel() / c], dtype=x.dtype)
        n = all_reduce(count.detach())  # examples x samples over all ranks (no gradient)
        mean = all_reduce(x.sum(dims)) / n
        shape = (1, c) + (1,) * (x.dim() - 2)
        centred = x - mean.view(shape)
        var = all_reduce((centred * centred).sum(dims)) / n  # biased, as BatchNorm normalises with
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                unbiased = var.detach() * (n / torch.clamp(n - 1, min=1))
                self.running_var.mul_(1 - m).add_(unbiased, alpha=m)
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


_BN_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def convert(model: nn.Module) -> nn.Module:
    """Turn every ``BatchNorm1d/2d/3d`` of ``model`` into a ``CrossRankBatchNorm`` in place (same tensors)."""
    for m in model.modules():
        if type(m) in _BN_TYPES:
            original = type(m)
            m.__class__ = CrossRankBatchNorm
            m._original = original
    return model


def restore(model: nn.Module) -> nn.Module:
    """Undo ``convert`` in place: the plain batch-norm classes again."""
    for m in model.modules():
        if isinstance(m, CrossRankBatchNorm):
            m.__class__ = m.__dict__.pop("_original", nn.BatchNorm1d)
    return model

