"""Hydra: the ECG U-Net with one shared body and M light heads, one per ensemble member.

After Tran et al., "Hydra: Preserving Ensemble Diversity for Model Distillation" (see
../shared/PAPERS.md): the body is everything up to the last ``head_blocks`` decoder levels of
``UNet1d``; each head owns those decoder blocks and the 1x1 classifier. With ``head_blocks = 1`` a
head is the full-resolution decoder block (two k=9 convolutions, 2w -> w -> w channels) plus the
classifier: about 7 % of the network's MACs each, so five heads cost ~1.27x one U-Net
(``count_macs``). The up-convolution feeding the first head level stays in the body.

``HydraUNet1d.from_unet`` builds the phase-2 student from a phase-1 one-head network: the body takes
its weights and every head starts as a copy of its tail, so the heads are initially identical and
diverge only as each is matched to its own member.

Input: float32 [batch, in_channels, samples] (samples a multiple of 2**depth), standardised ECG.
Output: float32 [batch, heads, 4, samples] logits, one set per head (averaging the heads' softmax
gives the prediction; their disagreement is the epistemic uncertainty, ``edgewise.runtime.uncertainty``).
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from edgewise.models.ecg.unet import UNet1d, _block, encode
from edgewise.models.spec import Layout, ModelSpec, Task, register
from edgewise.runtime.ecg.preprocess import PREPROCESSING
from edgewise.runtime.ecg.waves import CLASSES


class _Head(nn.Module):
    """The last ``len(dec)`` decoder levels and the classifier of one member."""

    def __init__(self, widths: tuple[int, ...], kernel: int, n_classes: int, head_blocks: int):
        super().__init__()
        tail = list(reversed(widths[:-1]))[-head_blocks:]     # decoder widths of the head's levels
        prev = [widths[-1], *reversed(widths[:-1])][-head_blocks - 1 : -1]  # channels coming up into each
        self.up = nn.ModuleList(nn.ConvTranspose1d(c, w, 2, stride=2) for c, w in zip(prev[1:], tail[1:]))
        self.dec = nn.ModuleList(_block(2 * w, w, kernel) for w in tail)
        self.head = nn.Conv1d(tail[-1], n_classes, 1)

    def forward(self, x: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        x = self.dec[0](x)
        for up, dec, skip in zip(self.up, self.dec[1:], skips):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)


class HydraUNet1d(nn.Module):
    """Shared U-Net body + ``heads`` heads of ``head_blocks`` decoder levels each (see module docstring).

    Args: as ``UNet1d``, plus ``heads`` (M >= 1) and ``head_blocks`` (1 .. len(widths) - 1).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 4, widths: tuple[int, ...] = (8, 16, 24, 32, 48),
                 kernel: int = 9, context: tuple[int, ...] = (), heads: int = 5, head_blocks: int = 1):
        super().__init__()
        if heads < 1:
            raise ValueError(f"heads must be >= 1, got {heads}")
        if not 1 <= head_blocks <= len(widths) - 1:
            raise ValueError(f"head_blocks must be in [1, {len(widths) - 1}] for widths {tuple(widths)}, got {head_blocks}")
        body = UNet1d(in_channels, n_classes, widths=tuple(widths), kernel=kernel, context=tuple(context))
        self.depth, self.n_heads, self.head_blocks = body.depth, heads, head_blocks
        self.down, self.pool, self.bottleneck, self.context = body.down, body.pool, body.bottleneck, body.context
        keep = body.depth - head_blocks                       # decoder levels in the body
        self.up = nn.ModuleList(list(body.up)[: keep + 1])    # + the up-conv feeding the first head level
        self.dec = nn.ModuleList(list(body.dec)[:keep])
        self.heads = nn.ModuleList(_Head(tuple(widths), kernel, n_classes, head_blocks) for _ in range(heads))

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Shared body: the first head level's input [b, 2w, n/2^(h-1)] and the skips the heads still need."""
        x, skips = encode(self, x)
        for up, dec, skip in zip(self.up, self.dec, skips):
            x = dec(torch.cat([up(x), skip], dim=1))
        k = len(self.dec)
        return torch.cat([self.up[k](x), skips[k]], dim=1), skips[k + 1 :]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z, skips = self.features(x)
        return torch.stack([h(z, skips) for h in self.heads], dim=1)

    @classmethod
    def from_unet(cls, unet: UNet1d, *, heads: int, head_blocks: int = 1, in_channels: int = 1) -> "HydraUNet1d":
        """Phase-2 start: ``unet``'s weights in the body and in every head (heads identical at first)."""
        if getattr(unet, "decimate", 1) != 1:
            raise ValueError("a Hydra is built from full-rate U-Nets (decimate=1); this one runs at 1/"
                             f"{unet.decimate} of the rate")
        widths = tuple([b[0].out_channels for b in unet.down] + [unet.bottleneck[0].out_channels])
        context = tuple(m.conv.dilation[0] for m in unet.context)
        kernel = unet.down[0][0].kernel_size[0]
        hydra = cls(in_channels, unet.head.out_channels, widths=widths, kernel=kernel, context=context, heads=heads,
                    head_blocks=head_blocks)
        keep = unet.depth - head_blocks
        for name in ("down", "bottleneck", "context"):
            getattr(hydra, name).load_state_dict(getattr(unet, name).state_dict())
        for i in range(keep + 1):
            hydra.up[i].load_state_dict(unet.up[i].state_dict())
        for i in range(keep):
            hydra.dec[i].load_state_dict(unet.dec[i].state_dict())
        tail = _Head(widths, kernel, unet.head.out_channels, head_blocks)
        for i in range(head_blocks):
            tail.dec[i].load_state_dict(unet.dec[keep + i].state_dict())
            if i:
                tail.up[i - 1].load_state_dict(unet.up[keep + i].state_dict())
        tail.head.load_state_dict(unet.head.state_dict())
        for h in hydra.heads:
            h.load_state_dict(copy.deepcopy(tail.state_dict()))
        return hydra

    def head_as_unet(self, k: int) -> UNet1d:
        """Head ``k`` with the body as a plain ``UNet1d`` (e.g. to delineate with one member's view)."""
        widths = tuple([b[0].out_channels for b in self.down] + [self.bottleneck[0].out_channels])
        unet = UNet1d(self.down[0][0].in_channels, self.heads[k].head.out_channels, widths=widths,
                      kernel=self.down[0][0].kernel_size[0], context=tuple(m.conv.dilation[0] for m in self.context))
        keep = self.depth - self.head_blocks
        for name in ("down", "bottleneck", "context"):
            getattr(unet, name).load_state_dict(getattr(self, name).state_dict())
        for i in range(keep + 1):
            unet.up[i].load_state_dict(self.up[i].state_dict())
        for i in range(keep):
            unet.dec[i].load_state_dict(self.dec[i].state_dict())
        h = self.heads[k]
        for i in range(self.head_blocks):
            unet.dec[keep + i].load_state_dict(h.dec[i].state_dict())
            if i:
                unet.up[keep + i].load_state_dict(h.up[i - 1].state_dict())
        unet.head.load_state_dict(h.head.state_dict())
        return unet.eval()


ECG_HYDRA_SPEC = register(
    ModelSpec(
        name="ecg-unet-hydra", task=Task.ECG_DELINEATION, sample_rate=500, window=2048, hop=1536,
        input_layout=Layout.NCW, input_shape=(1, 2048), classes=CLASSES,
        preprocessing=dict(PREPROCESSING), export_atol=1e-4, opset=17,
    ),
    lambda **kw: HydraUNet1d(in_channels=1, **kw),
)
