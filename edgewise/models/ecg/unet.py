"""A small 1-D U-Net for ECG delineation (per-sample background/P/QRS/T).

After Moskalenko, Zolotykh & Osipov, "Deep Learning for ECG Segmentation" (arXiv 2001.04689), whose
network is a 4-level encoder/decoder of Conv1D(32, k=8) blocks without skips (~61k parameters).
Ours adds U-Net skip connections and batch norm, keeps full resolution in the first level with few
channels (cheap), and widens deeper levels where samples are few, so it stays Pi-sized.

Optional rhythm context (``context``): residual dilated convolutions at the bottleneck (1/16 of the
input rate) widen the receptive field from about one beat to the whole window, so the network can use
beat-to-beat regularity (a faint P wave before every QRS at the same PR interval). The authors' variant
does the same with a BiLSTM(50) in the middle; dilated convolutions export to every runtime and quantise.

Optional decimation (``decimate=2``): the input is averaged over pairs of samples (250 Hz) before the first
level and the classifier is a stride-2 transposed convolution back to 500 Hz, so every level runs on half
the samples: half the MACs for the same temporal receptive field at half the kernel (kernel 5 at 250 Hz
spans what kernel 9 spans at 500 Hz). INT8 convolution time on CPUs is MACs-bound (issue 25).

Input: float32 [batch, in_channels, samples] (samples a multiple of ``multiple`` = 2**depth x decimate),
standardised ECG at 500 Hz. Output: float32 [batch, 4, samples] logits.
"""
from __future__ import annotations

import torch
from torch import nn


def _block(c_in: int, c_out: int, k: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, k, padding=k // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv1d(c_out, c_out, k, padding=k // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(inplace=True),
    )


class _DilatedResidual(nn.Module):
    """x + ReLU(BN(Conv1d(x, dilation d))): same length, receptive field grows by (k - 1)·d."""

    def __init__(self, c: int, k: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv1d(c, c, k, padding=dilation * (k // 2), dilation=dilation, bias=False)
        self.bn = nn.BatchNorm1d(c)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.bn(self.conv(x)))


class UNet1d(nn.Module):
    """Encoder/decoder with concatenated skips.

    Args:
        in_channels: number of leads in the input (1 for single-lead).
        n_classes: output classes (4: background, P, QRS, T).
        widths: channels per level, the last one is the bottleneck.
        kernel: odd convolution kernel size.
        context: dilations of residual convolutions after the bottleneck (empty: none).
        decimate: 1 (every level at the input rate) or 2 (the network runs at half the rate, see above).
    """

    def __init__(self, in_channels: int = 1, n_classes: int = 4, widths: tuple[int, ...] = (8, 16, 24, 32, 48),
                 kernel: int = 9, context: tuple[int, ...] = (), decimate: int = 1):
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError(f"kernel must be odd to keep lengths, got {kernel}")
        if decimate not in (1, 2):
            raise ValueError(f"decimate must be 1 or 2, got {decimate}")
        self.depth = len(widths) - 1
        self.decimate = decimate
        self.multiple = 2 ** self.depth * decimate
        self.pool_in = nn.AvgPool1d(decimate) if decimate > 1 else nn.Identity()
        self.down = nn.ModuleList()
        c = in_channels
        for w in widths[:-1]:
            self.down.append(_block(c, w, kernel))
            c = w
        self.pool = nn.MaxPool1d(2)
        self.bottleneck = _block(c, widths[-1], kernel)
        if any(d < 1 for d in context):
            raise ValueError(f"context dilations must be >= 1, got {tuple(context)}")
        self.context = nn.Sequential(*[_DilatedResidual(widths[-1], kernel, d) for d in context])
        self.up = nn.ModuleList()
        self.dec = nn.ModuleList()
        c = widths[-1]
        for w in reversed(widths[:-1]):
            self.up.append(nn.ConvTranspose1d(c, w, 2, stride=2))
            self.dec.append(_block(2 * w, w, kernel))
            c = w
        self.head = nn.Conv1d(c, n_classes, 1) if decimate == 1 else nn.ConvTranspose1d(c, n_classes, decimate,
                                                                                         stride=decimate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.jit.is_tracing() and x.shape[-1] % self.multiple:  # (an exported graph has a fixed length)
            raise ValueError(f"input length {x.shape[-1]} is not a multiple of {self.multiple} (2**depth x decimate)")
        x, skips = encode(self, self.pool_in(x))
        for up, dec, skip in zip(self.up, self.dec, skips):
            x = dec(torch.cat([up(x), skip], dim=1))
        return self.head(x)


def encode(net: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The encoder of a U-Net-shaped ``net`` (``down``, ``pool``, ``bottleneck``, ``context``): the bottleneck's
    output and the skips, deepest first (``UNet1d`` and the Hydra's shared body)."""
    skips = []
    for block in net.down:
        x = block(x)
        skips.append(x)
        x = net.pool(x)
    return net.context(net.bottleneck(x)), skips[::-1]


def count_macs(model: nn.Module, samples: int = 5000, in_channels: int = 1) -> int:
    """Multiply-accumulates of Conv1d/ConvTranspose1d layers for one input of ``samples`` samples."""
    macs = 0

    def hook(mod, inp, out):
        nonlocal macs
        if isinstance(mod, nn.Conv1d):
            macs += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0]
        elif isinstance(mod, nn.ConvTranspose1d):
            macs += inp[0].numel() * mod.out_channels * mod.kernel_size[0]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv1d, nn.ConvTranspose1d))]
    pad = (-samples) % getattr(model, "multiple", 2 ** getattr(model, "depth", 0))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, in_channels, samples + pad))
    model.train(was_training)
    for h in handles:
        h.remove()
    return macs
