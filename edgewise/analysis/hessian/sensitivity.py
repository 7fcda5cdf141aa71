"""Per-layer Hessian-trace sensitivity (HAWQ-style) for mixed-precision quantisation and pruning.

HAWQ-V2 (Dong et al., NeurIPS 2020, "HAWQ-V2: Hessian Aware trace-Weighted Quantization of Neural
Networks") ranks layers by the average Hessian trace of their block, ``tr(∇²_{θ_l} L) / n_l``: a layer
whose loss surface is sharp loses more accuracy when its weights are perturbed by quantisation or
pruning. The block traces come from one set of Hutchinson probes over all parameters: for a
Rademacher ``v``, ``E[v_lᵀ (∇²L v)_l] = tr(∇²_{θ_l} L)`` because cross terms vanish in expectation.

How the compression stage uses it:

- quantisation: keep the layers with the largest sensitivity at higher precision
  (``high_precision_layers(sens, fraction=0.25)``); HAWQ-V2 weighs sensitivity by the quantisation
  error ``‖Q(W_l) − W_l‖²`` when choosing bit widths, which the caller can do with these numbers.
- pruning: a layer's sensitivity is an importance score — prune the least sensitive layers harder.
"""
from __future__ import annotations

from typing import Iterable

import torch
from torch import nn

from edgewise.analysis.hessian.operators import Batch, curvature_operators

__all__ = ["layer_sensitivity", "layer_traces", "high_precision_layers"]


def _param_layers(model: nn.Module) -> list[tuple[str, list[nn.Parameter]]]:
    """Modules that own trainable parameters directly (``recurse=False``), in model order."""
    out = []
    for name, mod in model.named_modules():
        ps = [p for p in mod.parameters(recurse=False) if p.requires_grad]
        if ps:
            out.append((name or type(mod).__name__, ps))
    return out


def layer_traces(
    model: nn.Module, loss_fn: nn.Module, batches: Iterable[Batch], *, n_probes: int = 32, seed: int = 0,
    chunk: int = 8,
) -> dict[str, tuple[float, int]]:
    """Hutchinson estimates of each layer's Hessian-block trace.

    Returns:
        ``{module name: (trace of its Hessian block, number of parameters)}``.
    """
    if n_probes < 1:
        raise ValueError(f"n_probes must be >= 1, got {n_probes}")
    layers = _param_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    params = [p for _, ps in layers for p in ps]
    op = curvature_operators(model, loss_fn, batches, params=params).hessian
    sizes = [sum(p.numel() for p in ps) for _, ps in layers]
    n = sum(sizes)
    gen = torch.Generator().manual_seed(seed)
    acc = torch.zeros(len(layers), dtype=torch.float64)
    for start in range(0, n_probes, chunk):
        m = min(chunk, n_probes - start)
        v = (torch.randint(0, 2, (n, m), generator=gen) * 2 - 1).to(params[0].dtype)
        vhv = (v * (op @ v)).double()  # [n, m]
        acc += torch.stack([blk.sum() for blk in torch.split(vhv, sizes)])
    acc /= n_probes
    return {name: (float(t), size) for (name, _), t, size in zip(layers, acc, sizes)}


def layer_sensitivity(
    model: nn.Module, loss_fn: nn.Module, batches: Iterable[Batch], *, n_probes: int = 32, seed: int = 0,
) -> dict[str, float]:
    """Average Hessian trace per parameter of each layer, ``tr(∇²_{θ_l} L) / n_l`` (HAWQ-V2).

    Args:
        model: the trained float model (``eval()`` mode if it has dropout/batch-norm).
        loss_fn: its training loss as a module with reduction "mean" or "sum",
            e.g. ``nn.CrossEntropyLoss()``.
        batches: calibration data as ``(inputs, targets)`` pairs; a few hundred samples suffice.
        n_probes: Rademacher probes; the relative noise of each layer's estimate falls as 1/√n_probes.
        seed: seed of the probes (same seed -> same numbers).

    Returns:
        ``{module name (as in ``model.named_modules()``): trace / n_params}``, for every module
        that owns trainable parameters. Larger means more sensitive: keep it at higher precision,
        prune it less. Values can be slightly negative for flat layers (estimator noise or negative
        curvature); treat those as the least sensitive.
    """
    return {name: t / size for name, (t, size) in layer_traces(model, loss_fn, batches, n_probes=n_probes,
                                                                seed=seed).items()}


def high_precision_layers(sensitivity: dict[str, float], fraction: float = 0.25) -> list[str]:
    """Names of the most sensitive layers (at least one): candidates to keep at higher precision.

    Args:
        sensitivity: the output of ``layer_sensitivity``.
        fraction: share of the layers to keep, in (0, 1].
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if not sensitivity:
        raise ValueError("empty sensitivity dict: run layer_sensitivity on a model with parameters")
    ranked = sorted(sensitivity, key=sensitivity.get, reverse=True)
    return ranked[: max(1, round(fraction * len(ranked)))]
