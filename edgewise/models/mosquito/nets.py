"""Mosquito detectors on log-Mel windows: the HumBug baseline CNN and a small depthwise-separable CNN.

* ``HumBugCNN`` reproduces the baseline of Kiskin et al., "HumBug Zooniverse: a crowd-sourced acoustic
  mosquito dataset" (ICASSP 2020) and its notebook: 8 kHz, 128 mel bands, hop 800, dB, z-normalised;
  Conv(32, 3x3) -> pool -> Conv(64, 3x3) -> pool -> dropout 0.2 -> Dense 128 -> Dense 2.
* ``DSCNN`` follows the depthwise-separable keyword-spotting CNN of Zhang et al., "Hello Edge: Keyword
  Spotting on Microcontrollers" (2017) / MobileNet (Howard et al., 2017): a strided 3x3 stem (halves
  the cost on a Pi-class CPU), four
  depthwise + pointwise blocks with batch norm, global average pooling, one linear layer.

Both take ``x: float32 [batch, 1, n_mels, frames]`` (log-Mel dB from ``edgewise.runtime.features``),
z-normalise inside the graph (training statistics held as buffers, so exported artifacts carry them) and
return temperature-scaled logits ``[batch, 2]`` (classes ``background``, ``mosquito``).
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["HumBugCNN", "DSCNN"]


class _Calibrated(nn.Module):
    """Input z-normalisation and output temperature as buffers (set after training).

    ``window_norm``: first subtract each window's mean log-Mel level (dB over all bands and frames), so a gain
    change of the input (a quieter microphone, another recording level) leaves the network's input unchanged
    but for the amin floor and int16/saturation effects.
    """

    window_norm = False

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("in_mean", torch.zeros(()))
        self.register_buffer("in_std", torch.ones(()))
        self.register_buffer("temperature", torch.ones(()))

    def center(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` less its per-window mean when ``window_norm`` is on (else unchanged). The mean runs over the
        mel and frame axes of the one input channel: a spatial mean, which XNNPACK's int8 kernels take (a mean
        over the channel axis too fell back to TFLite's built-in kernels in the INT8 file)."""
        return x - x.mean(dim=(2, 3), keepdim=True) if self.window_norm else x

    def _norm(self, x: torch.Tensor) -> torch.Tensor:
        if self.window_norm:  # centred windows have mean 0 by construction: no in_mean (its int8 constant, ~1e-7,
            return self.center(x) / self.in_std  # kept the SUB out of XNNPACK in the INT8 TFLite file)
        return (x - self.in_mean) / self.in_std

    def _out(self, logits: torch.Tensor) -> torch.Tensor:
        return logits / self.temperature


class HumBugCNN(_Calibrated):
    """The HumBug Zooniverse baseline (about 0.74 M parameters at 128 x 21 input)."""

    def __init__(self, n_mels: int = 128, n_frames: int = 21, dropout: float = 0.2, n_classes: int = 2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
            nn.Dropout(dropout), nn.Flatten(),
        )
        h, w = ((n_mels - 2) // 2 - 2) // 2, ((n_frames - 2) // 2 - 2) // 2
        if h < 1 or w < 1:
            raise ValueError(f"input {n_mels}x{n_frames} is too small for two conv+pool stages (need >= 10x10)")
        self.head = nn.Sequential(nn.Linear(64 * h * w, 128), nn.ReLU(), nn.Linear(128, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 [batch, 1, n_mels, n_frames] -> logits [batch, n_classes]."""
        return self._out(self.head(self.features(self._norm(x))))


def _ds_block(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False), nn.BatchNorm2d(c_in), nn.ReLU(),
        nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class DSCNN(_Calibrated):
    """Depthwise-separable CNN (about 25 k parameters with the default widths)."""

    def __init__(self, widths: tuple[int, ...] = (24, 48, 64, 96, 96), dropout: float = 0.2, n_classes: int = 2,
                 window_norm: bool = False) -> None:
        super().__init__()
        self.window_norm = bool(window_norm)
        widths = tuple(int(w) for w in widths)
        if len(widths) < 2 or min(widths) < 1:
            raise ValueError(f"widths needs >= 2 positive entries (stem, blocks...), got {widths}")
        self.stem = nn.Sequential(nn.Conv2d(1, widths[0], 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        n_blocks = len(widths) - 1
        self.blocks = nn.Sequential(*[_ds_block(widths[i], widths[i + 1], pool=i < min(3, n_blocks - 1) or n_blocks == 1)
                                      for i in range(n_blocks)])
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(widths[-1], n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: float32 [batch, 1, n_mels, frames] -> logits [batch, n_classes]."""
        h = self.blocks(self.stem(self._norm(x)))
        return self._out(self.fc(self.drop(h.mean(dim=(2, 3)))))


# Registers the multi-head student ``mosquito-dscnn-hydra`` (edgewise.models.mosquito.hydra) whenever this package
# loads, so ``load_checkpoint`` finds its spec; at the end of the module because hydra builds on the classes above.
from edgewise.models.mosquito import hydra as _hydra  # noqa: E402,F401
