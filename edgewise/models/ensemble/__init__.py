"""Deep ensembles (M seeds) trained in one process or data parallel under torchrun, and the loop they
share with distilled students."""
from __future__ import annotations

from edgewise.models.ensemble.distributed import DistContext, from_env, shutdown
from edgewise.models.ensemble.loop import all_weights, epoch_batches, span_weights, train_loop
from edgewise.models.ensemble.members import load_members, member_config, train_members

__all__ = ["DistContext", "all_weights", "epoch_batches", "from_env", "load_members", "member_config",
           "shutdown", "span_weights", "train_loop", "train_members"]
