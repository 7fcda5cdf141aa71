"""Lifting 1-D conv graphs to 2-D before onnx2tf: same function, fewer TFLite ops, clear refusals."""
from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
torch = pytest.importorskip("torch")


def _run(model, x):
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def _unet_onnx(tmp_path, **kw):
    from edgewise.export.onnx import export_onnx
    from edgewise.models.ecg.unet import UNet1d

    torch.manual_seed(0)
    net = UNet1d(widths=(4, 6, 8), context=(2,), **kw).eval()
    for m in net.modules():  # non-trivial batch-norm statistics, so folded biases are not zero
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "unet.onnx"
    export_onnx(net, path, input_shape=(1, 256), opset=17, metadata={})
    return onnx.load(str(path))


def test_lift_keeps_the_function_of_a_unet(tmp_path):
    from edgewise.export.onnx_lift import lift_to_2d

    model = _unet_onnx(tmp_path)
    lifted = lift_to_2d(model)
    x = np.random.default_rng(0).standard_normal((1, 1, 256)).astype(np.float32)
    np.testing.assert_allclose(_run(lifted, x), _run(model, x), rtol=1e-5, atol=1e-5)
    ops = {n.op_type for n in lifted.graph.node}
    assert {"Conv", "ConvTranspose", "MaxPool", "Unsqueeze", "Squeeze"} <= ops
    kernels = {n.input[1] for n in lifted.graph.node if n.op_type in ("Conv", "ConvTranspose")}
    assert all(len(t.dims) == 4 and t.dims[3] == 1 for t in lifted.graph.initializer if t.name in kernels)
    assert [i.name for i in lifted.graph.input] == [i.name for i in model.graph.input]
    assert [o.name for o in lifted.graph.output] == [o.name for o in model.graph.output]


def test_half_rate_unet_pools_its_input_with_a_depthwise_conv_after_lifting(tmp_path):
    """The half-rate U-Net's AveragePool(2) becomes a depthwise Conv (weights 1/2): same function, and an op
    XNNPACK runs in int8."""
    from edgewise.export.onnx_lift import lift_to_2d

    model = _unet_onnx(tmp_path, decimate=2)
    assert any(n.op_type == "AveragePool" for n in model.graph.node)
    lifted = lift_to_2d(model)
    assert not any(n.op_type == "AveragePool" for n in lifted.graph.node)
    x = np.random.default_rng(1).standard_normal((1, 1, 256)).astype(np.float32)
    np.testing.assert_allclose(_run(lifted, x), _run(model, x), rtol=1e-5, atol=1e-5)


def test_overlapping_or_padded_average_pools_stay_pools():
    from onnx import TensorProto, helper

    from edgewise.export.onnx_lift import lift_to_2d

    for attrs in ({"kernel_shape": [3], "strides": [2]}, {"kernel_shape": [2], "strides": [2], "pads": [1, 1]}):
        g = helper.make_graph([helper.make_node("AveragePool", ["x"], ["y"], **attrs)], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, None])])
        lifted = lift_to_2d(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
        assert [n.op_type for n in lifted.graph.node] == ["Unsqueeze", "AveragePool", "Squeeze"]


def test_lift_refuses_what_it_does_not_know():
    from onnx import TensorProto, helper

    from edgewise.export.onnx_lift import NotLiftable, lift_to_2d

    def graph(op, **attrs):
        nodes = [helper.make_node(op, ["x"], ["y"], **attrs)]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 2])])
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    with pytest.raises(NotLiftable, match="Transpose"):
        lift_to_2d(graph("Transpose", perm=[0, 2, 1]))
    old = graph("Relu")
    old.opset_import[0].version = 11
    with pytest.raises(NotLiftable, match="opset 11"):
        lift_to_2d(old)


@pytest.mark.slow
def test_lifted_tflite_has_no_reshapes_inside_and_matches(tmp_path):
    pytest.importorskip("onnx2tf")
    from edgewise.export.tflite import convert_onnx
    from edgewise.runtime.backends import interpreter_class

    model = _unet_onnx(tmp_path)
    src = tmp_path / "unet.onnx"
    x = np.random.default_rng(1).standard_normal((1, 1, 256)).astype(np.float32)
    ref = _run(model, x)
    counts = {}
    for lift in (False, True):
        work = tmp_path / f"lift{lift}"
        work.mkdir()
        it = interpreter_class()[0](model_path=str(convert_onnx(src, work, lift=lift)))
        it.allocate_tensors()
        ops = [d["op_name"] for d in it._get_ops_details()]
        counts[lift] = ops.count("RESHAPE")
        d = it.get_input_details()[0]
        it.set_tensor(d["index"], np.ascontiguousarray(x.transpose(0, 2, 1)))  # onnx2tf: channels-last
        it.invoke()
        y = it.get_tensor(it.get_output_details()[0]["index"]).transpose(0, 2, 1)
        np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)
    assert counts[True] <= 2 < counts[False]  # input and output only, vs around every conv
