"""Matrix-free curvature operators: the loss Hessian, its Gauss–Newton part G and the rest H.

The Hessian of an empirical risk ``L(θ) = c Σ_n ℓ(f_θ(x_n), y_n)`` splits into

    ∇²L = G + H,   G = c Σ_n J_nᵀ ∇²_f ℓ J_n  (generalised Gauss–Newton, PSD for a loss convex in f),
                   H = c Σ_n Σ_k ∂ℓ/∂f_k ∇²_θ f_k (the part that carries the negative curvature),

as used by Littwin & Wolf, "On the Convex Behavior of Deep Neural Networks in Relation to the
Layers' Width". The products come from curvlinops (Dangel et al.): ``HessianLinearOperator`` and
``GGNLinearOperator`` (both built on ``torch.func``, so any loss module with ``reduction`` in
{"mean", "sum"} works), and H is their difference. The operators act on flat parameter vectors
(``op @ v`` with ``v: [n_params]`` or ``[n_params, k]``) and export to SciPy with ``.to_scipy()``.

``dense_curvature`` builds the same matrices densely with ``torch.func`` (small models only); the
tests use it as the float64 reference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

Batch = tuple[Tensor, Tensor]

__all__ = ["CurvatureOperators", "curvature_operators", "dense_curvature", "gradient_and_loss", "flat_params"]

_REDUCTIONS = ("mean", "sum")


def _check_loss(loss_fn: Callable) -> None:
    reduction = getattr(loss_fn, "reduction", None)
    if reduction not in _REDUCTIONS:
        raise ValueError(
            f"the loss must be a module with reduction in {_REDUCTIONS} (e.g. nn.CrossEntropyLoss()), "
            f"got {type(loss_fn).__name__} with reduction={reduction!r}; wrap a plain function in a "
            "module that has a `reduction` attribute"
        )


def _as_batches(batches: Iterable[Batch]) -> list[Batch]:
    out = list(batches)
    if not out:
        raise ValueError("no data: pass at least one (inputs, targets) batch")
    for i, b in enumerate(out):
        if not (isinstance(b, (tuple, list)) and len(b) == 2):
            raise ValueError(f"batch {i} must be a pair (inputs, targets), got {type(b).__name__}")
    return [(x, y) for x, y in out]


def _trainable(model: nn.Module, params: Sequence[nn.Parameter] | None) -> list[nn.Parameter]:
    ps = [p for p in model.parameters() if p.requires_grad] if params is None else list(params)
    if not ps:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    return ps


def flat_params(model: nn.Module) -> Tensor:
    """The trainable parameters as one detached vector ``[n_params]`` (model order)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


@dataclass
class CurvatureOperators:
    """The three curvature operators of one model, loss and dataset (curvlinops linear operators).

    Attributes:
        hessian: ∇²L, ``[n_params, n_params]`` as a matrix-free operator.
        ggn: G, the generalised Gauss–Newton matrix.
        residual: H = ∇²L − G.
        params: the parameters the operators act on, in order.
    """

    hessian: object
    ggn: object
    residual: object
    params: list[nn.Parameter]

    @property
    def n_params(self) -> int:
        return int(sum(p.numel() for p in self.params))

    def gradient_and_loss(self) -> tuple[Tensor, float]:
        """Gradient ``[n_params]`` and loss of the full dataset."""
        grads, loss = self.hessian.gradient_and_loss()
        return torch.cat([g.reshape(-1) for g in grads]), float(loss)


def curvature_operators(
    model: nn.Module,
    loss_fn: nn.Module,
    batches: Iterable[Batch],
    *,
    params: Sequence[nn.Parameter] | None = None,
    check_deterministic: bool = False,
    progressbar: bool = False,
) -> CurvatureOperators:
    """Build matrix-free Hessian, GGN and H = Hessian − GGN operators.

    Args:
        model: any torch module mapping a batch of inputs to predictions. Put it in ``eval()`` mode
            if it has dropout or batch-norm (the operators need a deterministic function).
        loss_fn: a loss module with ``reduction`` "mean" (the dataset mean) or "sum".
        batches: the dataset as ``(inputs, targets)`` pairs; it is held in memory and traversed once
            per product.
        params: parameters to differentiate (default: all trainable ones).
        check_deterministic: let curvlinops verify that two passes agree (a few extra products).
        progressbar: show a progress bar per product.

    Returns:
        The three operators; ``op @ v`` takes ``v: [n_params]`` or ``[n_params, k]`` in the dtype and
        device of the parameters.
    """
    from curvlinops import GGNLinearOperator, HessianLinearOperator

    _check_loss(loss_fn)
    data = _as_batches(batches)
    ps = _trainable(model, params)
    kw = dict(check_deterministic=check_deterministic, progressbar=progressbar)
    n_data = sum(int(x.shape[0]) for x, _ in data)  # given, so curvlinops need not traverse the data
    hess = HessianLinearOperator(model, loss_fn, ps, data, num_data=n_data, **kw)
    ggn = GGNLinearOperator(model, loss_fn, ps, data, num_data=n_data, **kw)
    return CurvatureOperators(hessian=hess, ggn=ggn, residual=hess - ggn, params=ps)


def gradient_and_loss(model: nn.Module, loss_fn: nn.Module, batches: Iterable[Batch]) -> tuple[Tensor, float]:
    """Gradient ``[n_params]`` and loss of the whole dataset (batches weighted like ``reduction``)."""
    _check_loss(loss_fn)
    data = _as_batches(batches)
    ps = _trainable(model, None)
    n = sum(x.shape[0] for x, _ in data)
    grad = [torch.zeros_like(p) for p in ps]
    total = 0.0
    for x, y in data:
        w = x.shape[0] / n if loss_fn.reduction == "mean" else 1.0
        loss = loss_fn(model(x), y) * w
        for g, d in zip(grad, torch.autograd.grad(loss, ps)):
            g.add_(d)
        total += float(loss.detach())
    return torch.cat([g.reshape(-1) for g in grad]), total


def dense_curvature(model: nn.Module, loss_fn: nn.Module, batches: Iterable[Batch]) -> tuple[Tensor, Tensor]:
    """Dense Hessian and GGN ``[n_params, n_params]`` via ``torch.func`` (a reference for small models).

    Uses the model's dtype; call ``model.double()`` and pass float64 inputs for a float64 reference.

    Returns:
        ``(hessian, ggn)``; H is ``hessian - ggn``.
    """
    from torch.func import functional_call, hessian, jacrev

    _check_loss(loss_fn)
    data = _as_batches(batches)
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    ps = [p.detach() for n, p in model.named_parameters() if p.requires_grad]
    shapes = [p.shape for p in ps]
    sizes = [p.numel() for p in ps]
    theta = torch.cat([p.reshape(-1) for p in ps])
    n_total = sum(x.shape[0] for x, _ in data)

    def unflat(t: Tensor) -> dict[str, Tensor]:
        return {n: c.reshape(s) for n, c, s in zip(names, torch.split(t, sizes), shapes)}

    hess = torch.zeros(theta.numel(), theta.numel(), dtype=theta.dtype)
    ggn = torch.zeros_like(hess)
    for x, y in data:
        w = x.shape[0] / n_total if loss_fn.reduction == "mean" else 1.0
        f = lambda t: functional_call(model, unflat(t), (x,))  # noqa: E731
        hess += w * hessian(lambda t: loss_fn(f(t), y))(theta)
        out = f(theta).detach()
        jac = jacrev(f)(theta).reshape(out.numel(), -1)  # [batch*outputs, n_params]
        h_out = hessian(lambda o: loss_fn(o.reshape(out.shape), y))(out.reshape(-1))
        ggn += w * jac.T @ h_out @ jac
    return hess, ggn
