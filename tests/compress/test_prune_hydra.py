"""A Hydra goes through structured pruning like a U-Net and keeps every head."""
from __future__ import annotations

import numpy as np
import torch

from edgewise.compress.distill import _kl, finetune_heads
from edgewise.compress.prune import is_multi_head, structured_prune
from edgewise.compress.recipe import PruneStep
from edgewise.models.ecg.calibrate import fold_p_bias
from edgewise.models.ecg.train import TrainConfig
from edgewise.models.ecg.hydra import HydraUNet1d
from tests.models.hydra_ddp_common import tiny_setup


def _hydra(seed: int) -> HydraUNet1d:
    torch.manual_seed(seed)
    h = HydraUNet1d(1, 4, widths=(8, 12, 16), kernel=5, heads=3).eval()
    with torch.no_grad():  # heads that disagree, as a distilled Hydra's do
        for k, head in enumerate(h.heads):
            head.head.weight.mul_(20.0)
            head.head.bias.add_(torch.tensor([0.0, 1.5 * k, -1.0 * k, 0.8 * k]))
    return h


def test_structured_pruning_keeps_the_heads_and_fine_tuning_follows_each_head():
    teacher = _hydra(0)
    _, examples, _, _ = tiny_setup(False)
    x = torch.from_numpy(np.stack([e.signal[None, :256] for e in examples]))
    x = (x - x.mean(-1, keepdim=True)) / x.std(-1, keepdim=True)
    with torch.no_grad():  # running statistics of this data, as a trained network has
        for m in teacher.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.momentum = None
        teacher.train()
        for _ in range(3):
            teacher(x)
        teacher.eval()
        t = teacher(x)

    def gap(net) -> float:
        was = net.training
        net.eval()
        with torch.no_grad():
            g = float(_kl(t, net(x), 1.0).mean())
        net.train(was)
        return g

    gaps = []

    def finetune(net, epochs):
        gaps.append(gap(net))
        cfg = TrainConfig(epochs=epochs, batch=4, crop=256, lr=1e-3, threads=1)
        net, hist = finetune_heads(net, teacher, examples, config=cfg, hard_weight=0.0)
        gaps.append(gap(net))
        return net, hist

    step = PruneStep(ratio=0.25, iterations=1, finetune_epochs=4, importance="magnitude")
    res = structured_prune(teacher, step, examples, finetune=finetune, kernel=5, log=lambda m: None)
    assert is_multi_head(res.model) and res.model.n_heads == 3
    assert res.model_kwargs["heads"] == 3 and res.model_kwargs["widths"] == [6, 9, 12]
    assert res.params_after < res.params_before and res.macs_after < res.macs_before
    assert res.model(x).shape == (len(x), 3, 4, 256)
    assert gaps[1] < gaps[0]  # fine-tuning pulls every pruned head back towards its own unpruned head


def test_p_offset_is_folded_into_every_head():
    h = _hydra(1)
    x = torch.randn(2, 1, 64)
    with torch.no_grad():
        before = h(x)
        fold_p_bias(h, 0.75)
        after = h(x)
    np.testing.assert_allclose((after - before)[:, :, 1].numpy(), 0.75, atol=1e-5)
    np.testing.assert_allclose((after - before)[:, :, [0, 2, 3]].numpy(), 0.0, atol=1e-6)
