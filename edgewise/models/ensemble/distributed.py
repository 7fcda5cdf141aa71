"""torch.distributed set-up for ``torchrun``: one process group, data parallel over its ranks.

``torchrun --nproc-per-node N -m edgewise ...`` sets ``RANK``/``WORLD_SIZE``/``MASTER_ADDR``; ``from_env``
joins that group (gloo on CPU, nccl when every rank has a GPU). Without those variables it returns a
single-process context, so every caller runs the same code in one process or many.
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class DistContext:
    """This process's place in the group: ``rank`` of ``world`` processes, torch ``backend`` ('' alone)."""

    rank: int = 0
    world: int = 1
    backend: str = ""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of a global batch of ``n`` examples (ranks' shares differ by <= 1)."""
        lo = self.rank * n // self.world
        return slice(lo, (self.rank + 1) * n // self.world)


def from_env(backend: str | None = None) -> DistContext:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1; else a single-process context."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    import torch
    import torch.distributed as dist

    if backend is None:
        backend = "nccl" if torch.cuda.is_available() and torch.cuda.device_count() > 0 else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistContext(rank=dist.get_rank(), world=dist.get_world_size(), backend=backend)


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op alone)."""
    if ctx.world > 1:
        import torch.distributed as dist

        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    """Leave the process group (no-op alone)."""
    if ctx.world > 1:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()
