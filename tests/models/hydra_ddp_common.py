"""The tiny training job both the single-process test and the torchrun workers run (identical seeds)."""
from __future__ import annotations

import numpy as np


def tiny_setup(with_bn: bool):
    import torch
    import torch.nn.functional as F
    from torch import nn

    from edgewise.data.synthetic_ecg import synthetic_ecg
    from edgewise.models.ecg.dataset import LeadExample
    from edgewise.models.ecg.train import TrainConfig
    from edgewise.models.ecg.unet import UNet1d

    examples = []
    for s in range(8):
        x, m, _ = synthetic_ecg(100 + s)
        examples.append(LeadExample(s, "ii", x.astype(np.float32), m, np.ones(x.size, np.float32),
                                    np.zeros((0, x.size), np.float32)))
    cfg = TrainConfig(epochs=2, batch=4, crop=256, lr=1e-2, seed=3, threads=1)
    torch.manual_seed(cfg.seed)
    if with_bn:
        model = UNet1d(1, 4, widths=(4, 6, 8), kernel=5)
    else:  # no batch norm: the 2-process gradient is exactly the 1-process one
        model = nn.Sequential(nn.Conv1d(1, 6, 9, padding=4), nn.ReLU(), nn.Conv1d(6, 4, 9, padding=4))

    def loss(net, x, y, span):
        return F.cross_entropy(net(x), y, reduction="none")

    return model, examples, cfg, loss
