"""Hydra for mosquito detection: the DS-CNN with one shared body and M light heads, one per ensemble member.

After Tran et al., "Hydra: Preserving Ensemble Diversity for Model Distillation" (../shared/PAPERS.md), as
``edgewise.models.ecg.hydra`` does for the ECG U-Net: the body is the stem and every depthwise-separable block
but the last ``head_blocks``; each head owns those blocks, the global average pool, dropout and the linear
classifier. With the default widths and ``head_blocks = 1`` a head is the last 96 -> 96 block at 4 x 4
(~0.16 M MACs, ~5 % of the DS-CNN's 3.1 M), so five heads cost ~1.2x one member (``count_macs``).

``HydraDSCNN.from_dscnn`` builds the phase-2 student from a phase-1 one-head ``DSCNN``: the body takes its
weights and every head starts as a copy of its tail, so the heads are identical at first and diverge only as
each is matched to its own member. Input normalisation and the output temperature stay buffers, as in the
DS-CNN, so exported artifacts carry them.

Input: float32 [batch, 1, n_mels, frames] log-Mel dB (``edgewise.runtime.features``).
Output: float32 [batch, heads, 2] temperature-scaled logits, one pair per head; the runtime averages the
heads' softmax for p and takes their mutual information as the epistemic uncertainty
(``edgewise.runtime.uncertainty``, ``edgewise.runtime.mosquito.detector``).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from edgewise.models.mosquito.nets import DSCNN, _Calibrated, _ds_block
from edgewise.models.mosquito.specs import DSCNN_ROBUST_SPEC, DSCNN_SPEC
from edgewise.models.spec import ModelSpec, register

__all__ = ["HydraDSCNN", "MOSQUITO_HYDRA_SPEC", "MOSQUITO_ROBUST_HYDRA_SPEC", "count_macs", "hydra_spec_for"]


def _pools(n_blocks: int) -> list[bool]:
    """Which DS-CNN blocks end in a 2x2 max-pool (the rule of ``nets.DSCNN``)."""
    return [i < min(3, n_blocks - 1) or n_blocks == 1 for i in range(n_blocks)]


class _Head(nn.Module):
    """The last ``head_blocks`` depthwise-separable blocks, pooling, dropout and classifier of one member."""

    def __init__(self, widths: tuple[int, ...], head_blocks: int, dropout: float, n_classes: int):
        super().__init__()
        n = len(widths) - 1
        pools = _pools(n)
        self.blocks = nn.Sequential(*[_ds_block(widths[i], widths[i + 1], pool=pools[i]) for i in range(n - head_blocks, n)])
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1], n_classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.blocks(z).mean(dim=(2, 3))))


class HydraDSCNN(_Calibrated):
    """Shared DS-CNN body + ``heads`` heads of ``head_blocks`` blocks each (see the module docstring).

    Args: as ``DSCNN`` (``window_norm`` included), plus ``heads`` (M >= 1) and ``head_blocks`` (1 .. len(widths) - 1).
    """

    def __init__(self, widths: tuple[int, ...] = (24, 48, 64, 96, 96), dropout: float = 0.2, n_classes: int = 2,
                 heads: int = 5, head_blocks: int = 1, window_norm: bool = False) -> None:
        super().__init__()
        widths = tuple(int(w) for w in widths)
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        if not 1 <= head_blocks <= len(widths) - 1:
            raise ValueError(f"head_blocks must be in [1, {len(widths) - 1}] for widths {widths}, got {head_blocks}")
        body = DSCNN(widths=widths, dropout=dropout, n_classes=n_classes)
        self.widths, self.n_heads, self.head_blocks = widths, heads, head_blocks
        self.window_norm = bool(window_norm)
        self.stem = body.stem
        self.blocks = nn.Sequential(*list(body.blocks)[: len(widths) - 1 - head_blocks])
        self.heads = nn.ModuleList(_Head(widths, head_blocks, dropout, n_classes) for _ in range(heads))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The shared body: normalised input -> the first head block's input [batch, c, h, w]."""
        return self.blocks(self.stem(self._norm(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 [batch, 1, n_mels, frames] -> logits [batch, heads, n_classes]."""
        z = self.features(x)
        return self._out(torch.stack([h(z) for h in self.heads], dim=1))

    @classmethod
    def from_dscnn(cls, net: DSCNN, *, heads: int, head_blocks: int = 1) -> "HydraDSCNN":
        """Phase-2 start: ``net``'s weights in the body and in every head (heads identical at first); its input
        statistics and temperature carried over."""
        widths = (net.stem[0].out_channels, *(b[3].out_channels for b in net.blocks))
        hydra = cls(widths=widths, dropout=float(net.drop.p), n_classes=net.fc.out_features, heads=heads,
                    head_blocks=head_blocks, window_norm=net.window_norm)
        keep = len(net.blocks) - head_blocks
        hydra.stem.load_state_dict(net.stem.state_dict())
        hydra.blocks.load_state_dict(nn.Sequential(*list(net.blocks)[:keep]).state_dict())
        tail = {"blocks": nn.Sequential(*list(net.blocks)[keep:]).state_dict(), "fc": net.fc.state_dict()}
        for h in hydra.heads:
            h.blocks.load_state_dict(copy.deepcopy(tail["blocks"]))
            h.fc.load_state_dict(copy.deepcopy(tail["fc"]))
        for name in ("in_mean", "in_std", "temperature"):
            getattr(hydra, name).copy_(getattr(net, name))
        return hydra

    def head_as_dscnn(self, k: int) -> DSCNN:
        """Head ``k`` with the body as a plain ``DSCNN`` (one member's view), in eval mode."""
        net = DSCNN(widths=self.widths, dropout=float(self.heads[k].drop.p), n_classes=self.heads[k].fc.out_features,
                    window_norm=self.window_norm)
        keep = len(self.blocks)
        nn.Sequential(*list(net.blocks)[:keep]).load_state_dict(self.blocks.state_dict())
        nn.Sequential(*list(net.blocks)[keep:]).load_state_dict(self.heads[k].blocks.state_dict())
        net.stem.load_state_dict(self.stem.state_dict())
        net.fc.load_state_dict(self.heads[k].fc.state_dict())
        for name in ("in_mean", "in_std", "temperature"):
            getattr(net, name).copy_(getattr(self, name))
        return net.eval()


def count_macs(model: nn.Module, input_shape: tuple[int, ...] = DSCNN_SPEC.input_shape) -> int:
    """Multiply-accumulates of the Conv2d and Linear layers for one input of ``input_shape`` ([1, mels, frames])."""
    macs = 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, nn.Conv2d):
            macs += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        else:
            macs += out.numel() * mod.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return macs


MOSQUITO_HYDRA_SPEC = register(
    ModelSpec(**{**DSCNN_SPEC.__dict__, "name": "mosquito-dscnn-hydra"}),
    lambda **kw: HydraDSCNN(**kw),
)
# the Hydra of the shipped detector's recipe: its front end (bands to 3.4 kHz, top_db) and per-window level removal
MOSQUITO_ROBUST_HYDRA_SPEC = register(
    ModelSpec(**{**DSCNN_ROBUST_SPEC.__dict__, "name": "mosquito-dscnn-robust-hydra"}),
    lambda **kw: HydraDSCNN(**{"window_norm": True, **kw}),
)
_HYDRA_OF = {DSCNN_SPEC.name: MOSQUITO_HYDRA_SPEC, DSCNN_ROBUST_SPEC.name: MOSQUITO_ROBUST_HYDRA_SPEC}


def hydra_spec_for(member_spec: ModelSpec | str) -> ModelSpec:
    """The multi-head spec whose front end and input are those of members of ``member_spec`` (a spec or its name)."""
    name = member_spec if isinstance(member_spec, str) else member_spec.name
    if name not in _HYDRA_OF:
        raise ValueError(f"no Hydra student for {name!r} members; members must be one of {sorted(_HYDRA_OF)}")
    return _HYDRA_OF[name]

