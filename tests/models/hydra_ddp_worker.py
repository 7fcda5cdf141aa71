"""torchrun worker for tests/models/test_hydra_ddp.py: trains a tiny network with ``train_loop`` on this
process's shard of a fixed batch stream and, on rank 0, saves the final weights to argv[1]."""
from __future__ import annotations

import sys

import torch

from tests.models.hydra_ddp_common import tiny_setup

from edgewise.models.ensemble.distributed import from_env, shutdown
from edgewise.models.ensemble.loop import train_loop


def main(out: str, with_bn: str) -> None:
    ctx = from_env()
    model, examples, cfg, loss = tiny_setup(with_bn == "bn")
    hist = train_loop(model, examples, loss, config=cfg, ctx=ctx)
    if ctx.is_main:
        torch.save({"state": model.state_dict(), "loss": [h["loss"] for h in hist], "world": ctx.world,
                    "backend": ctx.backend,
                    "bn_classes": sorted({type(m).__name__ for m in model.modules() if "Norm" in type(m).__name__})},
                   out)
    else:  # every rank ends with the same weights: DDP keeps them in step
        torch.save({"state": model.state_dict()}, out + f".rank{ctx.rank}")
    shutdown(ctx)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
