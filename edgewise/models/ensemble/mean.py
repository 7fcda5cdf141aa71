"""An ensemble as one torch module: the log of its members' mean probability.

``MeanOfMembers(members)(x)`` returns ``log(mean_m softmax(member_m(x)))`` along the class axis, so a softmax of
its output is the ensemble's predictive mean (the members' own temperatures included), and anything that takes
a detector's logits (scoring, thresholds, a distillation teacher) takes the ensemble unchanged. The members are
frozen and kept in eval mode.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

__all__ = ["MeanOfMembers"]


class MeanOfMembers(torch.nn.Module):
    """Mean member probability, as log-probabilities (``dim``: the class axis of the members' output)."""

    def __init__(self, members: Sequence[torch.nn.Module], *, dim: int = -1) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = torch.nn.ModuleList(members)
        self.dim = dim
        for p in self.members.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "MeanOfMembers":  # members stay in eval mode (batch-norm statistics)
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logp = torch.stack([torch.log_softmax(m(x), dim=self.dim) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))
