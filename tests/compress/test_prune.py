"""Pruning: channels are physically removed (a narrower UNet1d), unstructured pruning only zeroes weights."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torch_pruning")

from edgewise.compress.prune import count_params, crop_batch, gzip_size, structured_prune, unstructured_prune  # noqa: E402
from edgewise.compress.recipe import PruneStep  # noqa: E402
from edgewise.models.ecg.unet import UNet1d, count_macs  # noqa: E402


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return UNet1d(1, 4, widths=(8, 16, 24, 32, 48), kernel=9).eval()


@pytest.mark.parametrize("importance", ["magnitude", "taylor"])
def test_structured_pruning_removes_channels(model, importance):
    from edgewise.compress.tasks.ecg import synthetic_examples

    step = PruneStep(ratio=0.5, importance=importance, iterations=2, finetune_epochs=0)
    res = structured_prune(model, step, synthetic_examples(), finetune=None, log=lambda s: None)
    assert res.model_kwargs["widths"] == [4, 8, 12, 16, 24]
    # the pruned network IS a narrower UNet1d: same parameter count and MACs as one built that way
    ref = UNet1d(1, 4, widths=(4, 8, 12, 16, 24), kernel=9)
    assert res.params_after == count_params(ref) == count_params(res.model)
    assert res.macs_after == count_macs(ref, 5000)
    assert res.params_before == count_params(model)
    assert res.params_after < 0.3 * res.params_before  # 50 % channels -> ~25 % of the weights
    x = torch.randn(2, 1, 2048)
    assert res.model(x).shape == (2, 4, 2048)
    assert count_params(model) == res.params_before  # the input model is left untouched


def test_unstructured_pruning_zeroes_but_keeps_dense_shapes(model):
    step = PruneStep(ratio=0.6, mode="unstructured", iterations=1, finetune_epochs=0)
    res = unstructured_prune(model, step, finetune=None, kwargs={"widths": [8, 16, 24, 32, 48], "kernel": 9})
    convs = [m.weight for m in res.model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.ConvTranspose1d))]
    zero_share = sum(int((w == 0).sum()) for w in convs) / sum(w.numel() for w in convs)
    np.testing.assert_allclose(zero_share, 0.6, atol=0.01)
    assert res.macs_after == res.macs_before  # dense kernels still multiply the zeros: no latency win
    assert res.params_after < res.params_before
    assert gzip_size(res.model) < 0.8 * gzip_size(model)  # but the file compresses


def test_crop_batch_shapes():
    from edgewise.compress.tasks.ecg import synthetic_examples

    x, y, w = crop_batch(synthetic_examples(), 4, window=1024)
    assert x.shape == (4, 1, 1024) and y.shape == (4, 1024) and w.shape == (4, 1024)
    np.testing.assert_allclose(np.median(x.numpy(), axis=-1), 0.0, atol=1e-5)


def test_structured_pruning_keeps_the_rhythm_context_layers():
    """The residual context convs share their channels with the bottleneck: pruned together, rebuilt as a
    UNet1d with the same dilations, computing what the pruned network computed."""
    from edgewise.compress.tasks.ecg import synthetic_examples

    torch.manual_seed(1)
    net = UNet1d(1, 4, widths=(8, 16, 24, 32, 48), kernel=9, context=(2, 4)).eval()
    step = PruneStep(ratio=0.5, importance="magnitude", iterations=1, finetune_epochs=0)
    res = structured_prune(net, step, synthetic_examples(), finetune=None, log=lambda s: None)
    assert res.model_kwargs == {"widths": [4, 8, 12, 16, 24], "kernel": 9, "context": [2, 4]}
    ref = UNet1d(1, 4, widths=(4, 8, 12, 16, 24), kernel=9, context=(2, 4))
    assert res.params_after == count_params(ref) == count_params(res.model)
    assert [m.conv.dilation[0] for m in res.model.context] == [2, 4]
    assert res.model(torch.randn(1, 1, 2048)).shape == (1, 4, 2048)


def test_structured_pruning_rounds_kept_channels(model):
    """round_to = 8: every level keeps a multiple of 8 channels (int8 kernels' block size), never none."""
    step = PruneStep(ratio=0.35, importance="magnitude", iterations=3, finetune_epochs=0, round_to=8)
    res = structured_prune(model, step, [], finetune=None, log=lambda s: None)
    widths = res.model_kwargs["widths"]
    assert all(w % 8 == 0 and w >= 8 for w in widths), widths
    assert res.params_after < res.params_before
    with pytest.raises(ValueError, match="round_to"):
        PruneStep(round_to=0)
