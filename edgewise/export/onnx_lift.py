"""Lift a 1-D convolutional ONNX graph to 2-D (length on H, W = 1) before onnx2tf converts it.

TFLite has no 1-D convolution. Given ``Conv`` over ``[N, C, L]``, onnx2tf emits a RESHAPE before and after
every convolution, pooling and transposed convolution and keeps skip tensors in 3-D, so a small U-Net
becomes 53 ops / 119 tensors of which 14 are reshapes (on the pruned ECG U-Net that is ~13 KB of
FlatBuffer structure, a fifth of the int8 file). Writing the same network with ``[N, C, L, 1]`` tensors
and ``k x 1`` kernels lets every layer map to one TFLite op: one reshape at the input and one at the
output remain. The lifted graph computes the same function (tested against onnxruntime on the
original); only the copy handed to onnx2tf is lifted, the ONNX artifact is untouched.

A non-overlapping ``AveragePool`` (kernel = stride, no padding; the half-rate U-Net's input decimation) is
written as a depthwise ``Conv`` with weights 1/k first: the same average, and a convolution is what every
TFLite delegate runs in int8 — XNNPACK takes no int8 ``AVERAGE_POOL_2D``, which had split the INT8 file into
two XNNPACK partitions around TFLite's built-in kernel (and onnx2tf wrapped the pool in two STRIDED_SLICEs).

The length goes on H, not W: onnx2tf maps an ``Unsqueeze`` of a channels-first ``[N, C, L]`` tensor to
channels-last ``[N, L, 1, C]`` (tested), which is ``[N, C, L, 1]`` in the ONNX's own layout.

Only graphs made of the ops in ``SPATIAL`` and ``POINTWISE`` are lifted; anything else (a reshape, a
transpose, a resize) raises ``NotLiftable`` and the exporter converts the graph as it is.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["NotLiftable", "lift_to_2d", "SPATIAL", "POINTWISE"]

# ops whose spatial attributes and (for convolutions) kernels get a trailing unit dimension
SPATIAL = frozenset({"Conv", "ConvTranspose", "MaxPool", "AveragePool"})
# ops that do not care about the rank (channel axis stays 1)
POINTWISE = frozenset({"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Add", "Sub", "Mul", "Div", "Concat",
                       "Identity", "BatchNormalization", "Dropout"})
_LIFT_ATTR = {"kernel_shape": 1, "strides": 1, "dilations": 1, "output_padding": 0}


class NotLiftable(ValueError):
    """The graph is not a pure 1-D convolutional network (``lift_to_2d`` leaves it alone)."""


def _lift_node(node: Any) -> None:
    for a in node.attribute:
        if a.name in _LIFT_ATTR:
            v = list(a.ints)
            del a.ints[:]
            a.ints.extend([*v, _LIFT_ATTR[a.name]])
        elif a.name == "pads":  # [begin_L, end_L] -> [begin_L, begin_1, end_L, end_1]
            b, e = list(a.ints)
            del a.ints[:]
            a.ints.extend([b, 0, e, 0])
        elif a.name == "output_shape":
            raise NotLiftable(f"{node.op_type} with an explicit output_shape is not lifted")


def lift_to_2d(model: Any) -> Any:
    """Return a copy of ``model`` (``onnx.ModelProto``) computing the same function with 2-D ops.

    Args:
        model: a graph of 1-D ``Conv``/``ConvTranspose``/pooling and pointwise ops on ``[N, C, L]``
            tensors with one input and one output, weights as initializers.

    Returns:
        The lifted ``ModelProto``: same input and output names and shapes; an ``Unsqueeze`` after the
        input and a ``Squeeze`` before the output.

    Raises:
        NotLiftable: another op, a rank other than 3, a kernel that is not an initializer, opset < 13.
    """
    import onnx
    from onnx import helper, numpy_helper

    m = _avgpool_as_conv(onnx.ModelProto.FromString(model.SerializeToString()))
    g = m.graph
    opset = next((o.version for o in m.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < 13:
        raise NotLiftable(f"opset {opset} < 13 (Unsqueeze/Squeeze take their axes as an input from 13)")
    if len(g.input) != 1 or len(g.output) != 1:
        raise NotLiftable("only single-input, single-output graphs are lifted")
    for v in (g.input[0], g.output[0]):
        if len(v.type.tensor_type.shape.dim) != 3:
            raise NotLiftable(f"{v.name} is not [N, C, L]")
    inits = {t.name: t for t in g.initializer}
    kernels: set[str] = set()
    for n in g.node:
        if n.op_type in SPATIAL:
            _lift_node(n)
            if n.op_type in ("Conv", "ConvTranspose"):
                if n.input[1] not in inits:
                    raise NotLiftable(f"{n.op_type} {n.name!r} takes its kernel from another op")
                kernels.add(n.input[1])
        elif n.op_type == "Concat":
            for a in n.attribute:
                if a.name == "axis" and a.i < 0:  # -1 (length) becomes -2; non-negative axes keep their meaning
                    a.i -= 1
        elif n.op_type not in POINTWISE:
            raise NotLiftable(f"op {n.op_type} is not lifted")
    for name in kernels:
        w = numpy_helper.to_array(inits[name])
        if w.ndim != 3:
            raise NotLiftable(f"kernel {name} has rank {w.ndim}")
        inits[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(w[..., None]), name))
    x, y = g.input[0].name, g.output[0].name
    for n in g.node:
        n.input[:] = [f"{x}__2d" if s == x else s for s in n.input]
        n.output[:] = [f"{y}__2d" if s == y else s for s in n.output]
    g.initializer.append(numpy_helper.from_array(np.array([3], np.int64), "lift__axis"))
    g.node.insert(0, helper.make_node("Unsqueeze", [x, "lift__axis"], [f"{x}__2d"]))
    g.node.append(helper.make_node("Squeeze", [f"{y}__2d", "lift__axis"], [y]))
    del g.value_info[:]
    onnx.checker.check_model(m)
    return m


def _avgpool_as_conv(m: Any) -> Any:
    """``m`` with every 1-D ``AveragePool`` of kernel k = stride k and no padding replaced by a depthwise
    ``Conv`` (weights 1/k, no bias) over the same channels (in place; returns ``m``). Channels come from
    onnx's shape inference; a pool whose channel count it cannot tell is left as it is."""
    import onnx
    from onnx import helper, numpy_helper

    g = m.graph
    pools = [n for n in g.node if n.op_type == "AveragePool"]
    if not pools:
        return m
    shapes = {v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim]
              for v in list(onnx.shape_inference.infer_shapes(m).graph.value_info) + list(g.input)}
    for n in pools:
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        k = list(a.get("kernel_shape", []))
        shape = shapes.get(n.input[0]) or []
        if (len(k) != 1 or list(a.get("strides", [1])) != k or any(a.get("pads", [0, 0])) or a.get("ceil_mode", 0)
                or a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET") or len(shape) != 3 or not shape[1]):
            continue
        c, name = shape[1], f"{n.name or n.output[0]}__as_conv_w"
        g.initializer.append(numpy_helper.from_array(np.full((c, 1, k[0]), 1.0 / k[0], np.float32), name))
        n.op_type = "Conv"
        n.input.append(name)
        del n.attribute[:]
        n.attribute.extend([helper.make_attribute("kernel_shape", k), helper.make_attribute("strides", k),
                            helper.make_attribute("group", c)])
    return m
