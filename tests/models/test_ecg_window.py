"""A fully convolutional ECG U-Net on another window: the checkpoint keeps the window it was saved with,
offline delineation picks its hop from it, and a strip shorter than the window is padded like the stream pads."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgewise.models.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from edgewise.models.ecg.spec import ECG_SPEC, ecg_spec_for_window  # noqa: E402
from edgewise.models.ecg.unet import UNet1d  # noqa: E402
from edgewise.runtime.ecg.model import offline_hop  # noqa: E402
from edgewise.runtime.ecg.preprocess import standardize, standardized_window  # noqa: E402
from edgewise.runtime.ecg.stream import STREAM_HOP  # noqa: E402


def test_checkpoint_keeps_its_window(tmp_path):
    torch.manual_seed(0)
    net = UNet1d(1, 4, widths=(4, 8, 8, 8, 8), kernel=3).eval()
    kw = {"widths": [4, 8, 8, 8, 8], "kernel": 3}
    save_checkpoint(tmp_path / "a.pt", spec=ecg_spec_for_window(5008), model=net, model_kwargs=kw)
    save_checkpoint(tmp_path / "b.pt", spec=ECG_SPEC, model=net, model_kwargs=kw)
    a, b = load_checkpoint(tmp_path / "a.pt"), load_checkpoint(tmp_path / "b.pt")
    assert (a.spec.window, a.spec.input_shape, a.spec.name) == (5008, (1, 5008), "ecg-unet")
    assert b.spec is ECG_SPEC
    x = torch.randn(1, 1, 5008)
    assert torch.equal(a.model(x), b.model(x))  # same weights, only the window differs
    with pytest.raises(ValueError, match="multiple of 16"):
        ecg_spec_for_window(5000)


def test_offline_hop():
    assert offline_hop(2048, 1536) == STREAM_HOP  # 0.1 models: offline == live
    assert offline_hop(5008, 2496) == 2496
    assert offline_hop(5008, None) == 2504 and offline_hop(5008, "x") == 2504
    assert offline_hop(5008, 5000) == 2504  # a hop that leaves no right context falls back to half a window


def test_standardized_window_pads_like_the_stream():
    x = np.random.default_rng(0).standard_normal((1, 5000)).astype(np.float32) * 3 + 1
    w = standardized_window(x, 5008)
    assert w.shape == (1, 5008) and np.array_equal(w[:, :5000], standardize(x)) and not w[:, 5000:].any()
    with pytest.raises(ValueError, match="longer than the window"):
        standardized_window(np.zeros((1, 6000), np.float32), 5008)
