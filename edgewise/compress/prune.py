"""Pruning of the ECG U-Net: structured (channels physically removed) or unstructured (weights zeroed).

Structured pruning uses Torch-Pruning's dependency graph (Fang et al., "DepGraph: Towards Any
Structural Pruning", CVPR 2023), which couples the channels that must go together — a conv and its
batch norm, the ConvTranspose feeding a concatenated skip, the skip's encoder conv — so the pruned
network is a smaller dense U-Net (same widths ratio in every layer, so it is again a ``UNet1d`` with
narrower ``widths``). Importance is the L2 magnitude of each channel group or its first-order Taylor
score |w * dL/dw| on training crops; the ratio is reached in ``iterations`` steps, each followed by
fine-tuning with the task's own training loop. After Paupamah, James & Klein, "Quantisation and
Pruning for Neural Network Compression and Regularisation" (prune, fine-tune, then quantise).

Unstructured magnitude pruning zeroes the smallest weights: the file compresses better (gzip), but
dense kernels still multiply the zeros, so latency does not change. The report says so.

A multi-head network (``HydraUNet1d``) is pruned the same way: the dependency graph couples every head's
input channels to the body's, each head's decoder loses the same share, every head's classifier is
kept whole, and the result is rebuilt as a narrower ``HydraUNet1d`` with the same heads. Taylor scores
come from the heads' mean prediction (the cross-entropy of the averaged probabilities).
"""
from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgewise.compress.recipe import Importance, PruneMode, PruneStep


@dataclass(frozen=True)
class PruneResult:
    """Outcome of a pruning step.

    Attributes:
        model: the pruned torch model (eval mode).
        model_kwargs: builder kwargs of the pruned model (narrower ``widths`` for structured pruning).
        params_before, params_after: parameter counts (unstructured: ``params_after`` counts non-zeros).
        macs_before, macs_after: multiply-accumulates per 10 s of ECG (dense kernels).
        history: fine-tuning records per iteration.
        mode: ``"structured"`` or ``"unstructured"``.
    """

    model: Any
    model_kwargs: dict[str, Any]
    params_before: int
    params_after: int
    macs_before: int
    macs_after: int
    history: list[dict[str, Any]]
    mode: str

    def facts(self) -> dict[str, Any]:
        return {"mode": self.mode, "params_before": self.params_before, "params_after": self.params_after,
                "macs_before": self.macs_before, "macs_after": self.macs_after,
                "widths": list(self.model_kwargs.get("widths", []))}


def count_params(model: Any, *, nonzero: bool = False) -> int:
    """Parameters of ``model`` (only the non-zero ones with ``nonzero``)."""
    return int(sum(int((p != 0).sum()) if nonzero else p.numel() for p in model.parameters()))


def gzip_size(model: Any) -> int:
    """Bytes of the gzip-compressed float32 state dict (what unstructured pruning shrinks)."""
    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    return len(gzip.compress(buf.getvalue(), 6))


def crop_batch(examples: Sequence[Any], n: int, *, window: int = 2048, seed: int = 0):
    """A training batch: float32 [n, 1, window] standardised crops, int64 [n, window] masks, float32 weights."""
    import torch

    from edgewise.runtime.ecg.preprocess import standardize

    rng = np.random.default_rng(seed)
    xs, ms, ws = [], [], []
    for _ in range(n):
        ex = examples[int(rng.integers(len(examples)))]
        s = int(rng.integers(0, max(1, ex.signal.shape[0] - window + 1)))
        x = standardize(ex.signal[None, s : s + window])
        pad = window - x.shape[1]  # a signal shorter than the window is zero-padded, as the runtime does
        xs.append(np.pad(x, ((0, 0), (0, pad))))
        ms.append(np.pad(ex.mask[s : s + window], (0, pad)))
        ws.append(np.pad(ex.weight[s : s + window], (0, pad)))
    return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ms)), torch.from_numpy(np.stack(ws))


def _loss(model: Any, batch) -> Any:
    import math

    import torch
    import torch.nn.functional as F

    x, y, w = batch
    out = model(x)
    if out.ndim == 4:  # heads [b, M, classes, w]: the cross-entropy of the heads' mean probability
        logp = torch.logsumexp(F.log_softmax(out, dim=2), dim=1) - math.log(out.shape[1])
        return (F.nll_loss(logp, y, reduction="none") * w).sum() / w.sum().clamp_min(1)
    return (F.cross_entropy(out, y, reduction="none") * w).sum() / w.sum().clamp_min(1)


def is_multi_head(model: Any) -> bool:
    """A ``HydraUNet1d`` (one classifier per head) rather than a ``UNet1d``."""
    return hasattr(model, "heads") and hasattr(model, "n_heads")


def _classifiers(model: Any) -> list:
    return [h.head for h in model.heads] if is_multi_head(model) else [model.head]


def _importance(kind: Importance) -> Any:
    import torch_pruning as tp

    if kind == Importance.TAYLOR:
        return tp.importance.GroupTaylorImportance()
    return tp.importance.GroupMagnitudeImportance(p=2)


def infer_widths(model: Any) -> tuple[int, ...]:
    """Channel widths of a (pruned) UNet1d: output channels of each encoder level and the bottleneck."""
    return tuple(int(b[3].out_channels) for b in model.down) + (int(model.bottleneck[3].out_channels),)


def _as_unet(model: Any, kernel: int) -> tuple[Any, dict[str, Any]]:
    """Rebuild the pruned network as a plain ``UNet1d`` (a ``HydraUNet1d`` with the same heads for a
    multi-head network), so checkpoints and exports work unchanged."""
    from edgewise.models.ecg.hydra import HydraUNet1d
    from edgewise.models.ecg.unet import UNet1d

    widths = infer_widths(model)
    context = tuple(int(m.conv.dilation[0]) for m in getattr(model, "context", ()))  # residual: pruned with the bottleneck
    extra: dict[str, Any] = {}
    if is_multi_head(model):
        extra = {"heads": int(model.n_heads), "head_blocks": int(model.head_blocks)}
        fresh = HydraUNet1d(int(model.down[0][0].in_channels), int(model.heads[0].head.out_channels), widths=widths,
                            kernel=kernel, context=context, **extra)
    else:
        fresh = UNet1d(int(model.down[0][0].in_channels), int(model.head.out_channels), widths=widths, kernel=kernel,
                       context=context)
    try:
        fresh.load_state_dict(model.state_dict())
    except RuntimeError as e:
        raise ValueError(f"the pruned network is not a UNet1d with widths {widths} (layers of one level were pruned "
                         f"unevenly); use a uniform ratio ({e})") from e
    kwargs = {"widths": list(widths), "kernel": kernel, **extra}
    return fresh.eval(), {**kwargs, "context": list(context)} if context else kwargs


def structured_prune(model: Any, step: PruneStep, examples: Sequence[Any], *,
                     finetune: Callable[[Any, int], tuple[Any, list]] | None, kernel: int = 9,
                     log: Callable[[str], None] = print) -> PruneResult:
    """Remove ``step.ratio`` of the channels of every conv layer of a UNet1d (or HydraUNet1d), iteratively
    with fine-tuning.

    Args:
        model: trained UNet1d or HydraUNet1d (a deep copy is pruned).
        step: the recipe's prune step (ratio, importance, iterations, epochs).
        examples: training ``LeadExample`` objects (Taylor importance gradients come from their crops).
        finetune: ``(model, epochs) -> (model, history)``; None skips fine-tuning.
        kernel: the model's conv kernel size (to rebuild it).

    Returns:
        A ``PruneResult`` with a plain UNet1d (or HydraUNet1d, same heads) of narrower widths.
    """
    import copy

    import torch
    import torch_pruning as tp

    from edgewise.models.ecg.unet import count_macs

    net = copy.deepcopy(model).train()
    before, macs0 = count_params(net), count_macs(net, 5000)
    pruner = tp.pruner.MetaPruner(net, torch.zeros(1, 1, 2048), importance=_importance(step.importance),
                                  pruning_ratio=step.ratio, iterative_steps=step.iterations,
                                  ignored_layers=_classifiers(net), global_pruning=False,
                                  round_to=getattr(step, "round_to", 1) if getattr(step, "round_to", 1) > 1 else None)
    history: list[dict[str, Any]] = []
    for it in range(step.iterations):
        if step.importance == Importance.TAYLOR:
            net.zero_grad()
            for b in range(4):
                _loss(net, crop_batch(examples, 16, seed=1000 * it + b)).backward()
        pruner.step()
        net.zero_grad()
        log(f"prune iteration {it + 1}/{step.iterations}: {count_params(net)} parameters, widths {infer_widths(net)}")
        if finetune is not None and step.finetune_epochs:
            net, hist = finetune(net, step.finetune_epochs)
            history.append({"iteration": it + 1, "history": hist})
    pruned, kwargs = _as_unet(net, kernel)
    return PruneResult(pruned, kwargs, before, count_params(pruned), macs0, count_macs(pruned, 5000), history,
                       PruneMode.STRUCTURED.value)


def unstructured_prune(model: Any, step: PruneStep, *, finetune: Callable[[Any, int], tuple[Any, list]] | None,
                       kwargs: dict[str, Any]) -> PruneResult:
    """Zero the ``step.ratio`` smallest-magnitude conv weights (global), fine-tuning with the mask kept.

    The zeros stay zeros during fine-tuning (torch's pruning re-parametrisation), then are made permanent.
    """
    import copy

    import torch
    from torch.nn.utils import prune as tprune

    from edgewise.models.ecg.unet import count_macs

    net = copy.deepcopy(model)
    before, macs = count_params(net), count_macs(net, 5000)
    convs = [(m, "weight") for m in net.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    history: list[dict[str, Any]] = []
    for it in range(step.iterations):
        amount = 1 - (1 - step.ratio) ** ((it + 1) / step.iterations)
        tprune.global_unstructured(convs, pruning_method=tprune.L1Unstructured, amount=amount)
        if finetune is not None and step.finetune_epochs:
            net, hist = finetune(net, step.finetune_epochs)
            history.append({"iteration": it + 1, "history": hist})
        for m, name in convs:
            tprune.remove(m, name)
    return PruneResult(net.eval(), dict(kwargs), before, count_params(net, nonzero=True), macs, macs, history,
                       PruneMode.UNSTRUCTURED.value)
