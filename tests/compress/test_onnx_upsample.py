"""Stride-k transposed convolutions rewritten as 1x1 convolution + interleave (edgewise.compress.onnx_upsample)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgewise.compress.onnx_upsample import convtranspose_as_conv  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained" / "ecg" / "ecg-unet.onnx"


def _run(model, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def _one_layer(kernel: int, stride: int, *, bias: bool = True, pads=(0, 0)):
    rng = np.random.default_rng(kernel * 10 + stride)
    w = rng.standard_normal((3, 5, kernel)).astype(np.float32)  # [C_in, C_out, k]
    inits = [numpy_helper.from_array(w, "w")]
    inputs = ["x", "w"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(5).astype(np.float32), "b"))
        inputs.append("b")
    node = helper.make_node("ConvTranspose", inputs, ["y"], name="up", kernel_shape=[kernel], strides=[stride],
                            pads=list(pads))
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 7])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 5, "m"])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("kernel, bias", [(2, True), (2, False), (3, True)])
def test_non_overlapping_transposed_conv_is_rewritten_to_the_same_function(kernel, bias):
    m = _one_layer(kernel, kernel, bias=bias)
    out, done = convtranspose_as_conv(m)
    assert done == ["up"] and [n.op_type for n in out.graph.node] == ["Conv", "Reshape", "Transpose", "Reshape"]
    x = np.random.default_rng(1).standard_normal((2, 3, 7)).astype(np.float32)
    ref, got = _run(m, x), _run(out, x)
    assert got.shape == ref.shape == (2, 5, 7 * kernel)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-6)
    assert "w" not in {t.name for t in out.graph.initializer}  # the transposed-conv weight is gone


@pytest.mark.parametrize("kernel, stride, pads", [(4, 2, (1, 1)), (3, 2, (0, 0)), (2, 2, (1, 1))])
def test_overlapping_or_padded_transposed_convs_are_left_alone(kernel, stride, pads):
    m = _one_layer(kernel, stride, pads=pads)
    out, done = convtranspose_as_conv(m)
    assert done == [] and [n.op_type for n in out.graph.node] == ["ConvTranspose"]


def test_named_layers_are_skipped():
    out, done = convtranspose_as_conv(_one_layer(2, 2), skip={"up"})
    assert done == [] and out.graph.node[0].op_type == "ConvTranspose"


def test_the_shipped_ecg_network_keeps_its_outputs():
    """The U-Net's decoder upsamplers (and the half-rate network's stride-2 classifier), at the file's length."""
    m = onnx.load(str(SHIPPED))
    out, done = convtranspose_as_conv(m)
    assert len(done) >= 4 and done == [n.name for n in m.graph.node if n.op_type == "ConvTranspose"]
    assert not any(n.op_type == "ConvTranspose" for n in out.graph.node)
    x = np.random.default_rng(2).standard_normal((1, 1, m.graph.input[0].type.tensor_type.shape.dim[2].dim_value))
    np.testing.assert_allclose(_run(out, x.astype(np.float32)), _run(m, x.astype(np.float32)), rtol=1e-5, atol=1e-5)
