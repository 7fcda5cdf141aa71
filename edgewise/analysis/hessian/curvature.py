"""Curvature along a direction split into its Gauss–Newton and residual parts, tracked through training.

For a unit direction d̂ (the normalised full-batch gradient by default)

    d̂ᵀ ∇²L d̂ = d̂ᵀ G d̂ + d̂ᵀ H d̂,

with G the generalised Gauss–Newton matrix (≥ 0 for a convex loss) and H the residual that holds
the negative curvature. Littwin & Wolf, "On the Convex Behavior of Deep Neural Networks in Relation
to the Layers' Width", observe that for wide networks the gradient is nearly orthogonal to H
(|ĝᵀHĝ| ≪ ĝᵀGĝ), so the curvature met by gradient descent is positive; it is large at the start and
end of training and near zero in between. ``track_training`` records these numbers while training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from edgewise.analysis.hessian.operators import Batch, curvature_operators

__all__ = ["CurvatureSplit", "TrackConfig", "curvature_along", "track_training"]


@dataclass(frozen=True)
class CurvatureSplit:
    """Curvature of the loss along one unit direction, and its split.

    Attributes:
        step: optimiser step at which it was measured (0 = initialisation).
        loss: dataset loss.
        grad_norm: ‖∇L‖.
        total: d̂ᵀ∇²L d̂.
        ggn: d̂ᵀG d̂ (≥ 0 for a convex loss).
        residual: d̂ᵀH d̂ = total − ggn.
    """

    step: int
    loss: float
    grad_norm: float
    total: float
    ggn: float
    residual: float

    @property
    def ratio(self) -> float:
        """d̂ᵀHd̂ / d̂ᵀGd̂ (how much of the curvature the residual H contributes)."""
        return self.residual / self.ggn if self.ggn > 0 else float("nan")

    def as_dict(self) -> dict[str, float]:
        return {**asdict(self), "ratio": self.ratio}


def curvature_along(
    model: nn.Module, loss_fn: nn.Module, batches: list[Batch], direction: Tensor | None = None, *, step: int = 0,
) -> CurvatureSplit:
    """Split the curvature of the loss along ``direction`` (default: the gradient) into G and H parts.

    Args:
        model: the network (put it in ``eval()`` mode if it has dropout/batch-norm).
        loss_fn: loss module with reduction "mean" or "sum".
        batches: the dataset as ``(inputs, targets)`` pairs.
        direction: ``[n_params]``; normalised to unit length here. Default: the full-batch gradient.
        step: recorded in the result.

    Returns:
        The split; costs one gradient, one Hessian- and one GGN-vector product.
    """
    ops = curvature_operators(model, loss_fn, batches)
    grad, loss = ops.gradient_and_loss()
    d = grad if direction is None else direction.to(grad)
    if d.shape != grad.shape:
        raise ValueError(f"direction must have shape {tuple(grad.shape)} (n_params), got {tuple(d.shape)}")
    norm = torch.linalg.vector_norm(d)
    if norm == 0:
        raise ValueError("the direction is zero (a zero gradient?); pass a non-zero direction")
    d = d / norm
    total = float(d @ (ops.hessian @ d))
    ggn = float(d @ (ops.ggn @ d))
    return CurvatureSplit(step, loss, float(torch.linalg.vector_norm(grad)), total, ggn, total - ggn)


@dataclass(frozen=True)
class TrackConfig:
    """How to train while tracking curvature.

    Attributes:
        steps: SGD steps.
        lr: learning rate.
        batch_size: minibatch size for the SGD steps.
        every: measure every this many steps (plus step 0 and the last step).
        momentum: SGD momentum.
        seed: seed of the minibatch order.
    """

    steps: int = 600
    lr: float = 0.05
    batch_size: int = 64
    every: int = 25
    momentum: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "every"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrackConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise ValueError(f"TrackConfig.lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"TrackConfig.momentum must be in [0, 1), got {self.momentum}")


def track_training(
    model: nn.Module,
    loss_fn: nn.Module,
    train: tuple[Tensor, Tensor],
    probe: list[Batch],
    config: TrackConfig = TrackConfig(),
    *,
    callback: Callable[[CurvatureSplit], None] | None = None,
) -> list[CurvatureSplit]:
    """Train ``model`` with SGD and record the gradient-curvature split on ``probe`` as it goes.

    Args:
        model: the network, trained in place.
        loss_fn: loss module (reduction "mean").
        train: ``(inputs [n, ...], targets [n, ...])`` for the SGD steps.
        probe: fixed batches on which loss, gradient and curvature are measured.
        config: steps, learning rate, batch size, measuring interval.
        callback: called with each new measurement (e.g. to update a progress bar).

    Returns:
        One ``CurvatureSplit`` per measurement, in step order.
    """
    x, y = train
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"inputs and targets differ in length: {x.shape[0]} vs {y.shape[0]}")
    opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum)
    gen = torch.Generator().manual_seed(config.seed)
    order = torch.randperm(x.shape[0], generator=gen)
    pos = 0
    records: list[CurvatureSplit] = []

    def measure(step: int) -> None:
        rec = curvature_along(model, loss_fn, probe, step=step)
        records.append(rec)
        if callback is not None:
            callback(rec)

    measure(0)
    for step in range(1, config.steps + 1):
        if pos + config.batch_size > x.shape[0]:
            order, pos = torch.randperm(x.shape[0], generator=gen), 0
        idx = order[pos : pos + config.batch_size]
        pos += config.batch_size
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x[idx]), y[idx]).backward()
        opt.step()
        if step % config.every == 0 or step == config.steps:
            measure(step)
    return records
