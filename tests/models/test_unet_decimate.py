"""The half-rate ECG U-Net (``UNet1d(decimate=2)``): same input and output rate, half the MACs, a clear
refusal of lengths it cannot take, and every path a full-rate U-Net takes (checkpoint, P-logit calibration,
ONNX export and its 2-D lift) keeps its function."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgewise.models.ecg.unet import UNet1d, count_macs  # noqa: E402


def _net(**kw) -> UNet1d:
    torch.manual_seed(0)
    net = UNet1d(widths=(4, 6, 8), context=(2,), **kw).eval()
    for m in net.modules():  # non-trivial batch-norm statistics
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net


def test_half_rate_unet_keeps_the_rate_and_halves_the_macs():
    full, half = UNet1d(kernel=9, context=(2, 4, 8)), UNet1d(kernel=9, context=(2, 4, 8), decimate=2)
    assert (full.multiple, half.multiple) == (16, 32)
    with torch.no_grad():
        assert half.eval()(torch.zeros(2, 1, 2048)).shape == (2, 4, 2048)
    # every level runs on half the samples; the stride-2 classifier costs as much as the 1x1 one
    assert count_macs(half, 5024) == pytest.approx(count_macs(full, 5024) / 2, rel=0.01)
    # kernel 5 at 250 Hz spans what kernel 9 spans at 500 Hz, for 0.29x the shipped U-Net's MACs
    assert count_macs(UNet1d(kernel=5, context=(2, 4, 8), decimate=2), 5000) < 0.3 * count_macs(full, 5000)


def test_half_rate_unet_refuses_what_it_cannot_take():
    with pytest.raises(ValueError, match="multiple of 32"):
        UNet1d(decimate=2)(torch.zeros(1, 1, 5008))  # 5008 = 16 x 313: a full-rate window, not a half-rate one
    with pytest.raises(ValueError, match="decimate must be 1 or 2"):
        UNet1d(decimate=4)
    from edgewise.models.ecg.train import TrainConfig

    with pytest.raises(ValueError, match="multiple of 32"):
        TrainConfig(crop=2064, decimate=2)
    from edgewise.models.ecg.hydra import HydraUNet1d

    with pytest.raises(ValueError, match="full-rate"):
        HydraUNet1d.from_unet(UNet1d(decimate=2), heads=2)


def test_half_rate_checkpoint_and_p_bias_round_trip(tmp_path):
    from edgewise.models.checkpoint import load_checkpoint, save_checkpoint
    from edgewise.models.ecg.calibrate import fold_p_bias
    from edgewise.models.ecg.spec import ECG_SPEC

    net = _net(kernel=5, decimate=2)
    x = torch.randn(1, 1, 256)
    with torch.no_grad():
        before = net(x)
    fold_p_bias(net, 0.5)  # the transposed-convolution classifier carries the offset in its bias
    with torch.no_grad():
        after = net(x)
    torch.testing.assert_close(after[:, 1] - before[:, 1], torch.full_like(before[:, 1], 0.5))
    torch.testing.assert_close(after[:, [0, 2, 3]], before[:, [0, 2, 3]])
    save_checkpoint(tmp_path / "h.pt", spec=ECG_SPEC, model=net,
                    model_kwargs={"widths": [4, 6, 8], "kernel": 5, "context": [2], "decimate": 2}, training={})
    ck = load_checkpoint(tmp_path / "h.pt")
    assert ck.model.decimate == 2
    with torch.no_grad():
        torch.testing.assert_close(ck.model(x), after)


def test_half_rate_onnx_export_and_lift_keep_the_function(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from edgewise.export.onnx import export_onnx
    from edgewise.export.onnx_lift import lift_to_2d

    net = _net(kernel=5, decimate=2)
    path = tmp_path / "half.onnx"
    export_onnx(net, path, input_shape=(1, 256), opset=17, metadata={})
    x = np.random.default_rng(0).standard_normal((1, 1, 256)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x)).numpy()

    def run(model):
        s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return s.run(None, {s.get_inputs()[0].name: x})[0]

    model = onnx.load(str(path))
    np.testing.assert_allclose(run(model), ref, rtol=1e-4, atol=1e-4)
    assert "AveragePool" in {n.op_type for n in model.graph.node}
    lifted = lift_to_2d(model)  # the pool becomes a depthwise conv; the stride-2 ConvTranspose head lifts like the rest
    ops = {n.op_type for n in lifted.graph.node}
    assert "ConvTranspose" in ops and "AveragePool" not in ops
    np.testing.assert_allclose(run(lifted), ref, rtol=1e-4, atol=1e-4)
