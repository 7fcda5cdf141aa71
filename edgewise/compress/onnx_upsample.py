"""Rewrite stride-k transposed convolutions as a 1x1 convolution plus a sample interleave, so INT8 keeps them.

onnxruntime's QOperator format has no int8 ``ConvTranspose``: the quantiser leaves each one in float, and
on the CPU provider every such layer costs a dequantise, a float transposed convolution, a quantise and,
because the int8 convolutions around it run channels-last (NHWC) inside onnxruntime, a layout transpose
on either side. On the half-rate ECG U-Net (five of them: four decoder upsamplers and the classifier) that
was ~27 % of the INT8 call's kernel time on an AVX2 CPU.

A 1-D ``ConvTranspose`` whose kernel equals its stride (k = s, no padding, one group) does not overlap its
outputs: ``out[n, o, t*k + j] = b[o] + sum_i x[n, i, t] * W[i, o, j]``. That is a 1x1 ``Conv`` to
``C_out * k`` channels, ``y[n, o*k + j, t]``, followed by ``Reshape [N, C_out, k, L]``, ``Transpose
[0, 1, 3, 2]`` and ``Reshape [N, C_out, L*k]`` — the same function (float rounding aside: the sums are the
same products in the same order), and every op of it has a QOperator form (``QLinearConv``; ``Reshape``
and ``Transpose`` move uint8 values as they are). Only the copy handed to the quantiser is rewritten;
the float ONNX artifact keeps its ``ConvTranspose``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["convtranspose_as_conv"]


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _rewritable(node: Any, weight: np.ndarray | None, inits: dict[str, Any]) -> bool:
    if node.op_type != "ConvTranspose" or weight is None or weight.ndim != 3:
        return False
    if len(node.input) > 2 and node.input[2] and node.input[2] not in inits:  # a bias from another op
        return False
    a = _attrs(node)
    k = weight.shape[2]
    return (list(a.get("kernel_shape", [k])) == [k] and list(a.get("strides", [1])) == [k]
            and not any(a.get("pads", [0, 0])) and list(a.get("dilations", [1])) == [1]
            and a.get("group", 1) == 1 and not any(a.get("output_padding", [0])) and "output_shape" not in a
            and a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"))


def convtranspose_as_conv(model: Any, skip: set[str] = frozenset()) -> tuple[Any, list[str]]:
    """A copy of ``model`` (``onnx.ModelProto``) with every non-overlapping 1-D ``ConvTranspose`` rewritten
    as ``Conv`` (1x1) + ``Reshape`` + ``Transpose`` + ``Reshape``; returns (model, names of nodes rewritten).
    Transposed convolutions with overlap (kernel != stride), padding, groups or dilation are left alone, and
    so are the nodes named in ``skip`` (e.g. layers a mixed-precision recipe keeps in float)."""
    import onnx
    from onnx import helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    g = out.graph
    inits = {t.name: t for t in g.initializer}
    nodes, done = [], []
    for node in g.node:
        w_init = inits.get(node.input[1]) if node.op_type == "ConvTranspose" and len(node.input) > 1 else None
        w = numpy_helper.to_array(w_init) if w_init is not None else None
        if node.name in skip or not _rewritable(node, w, inits):
            nodes.append(node)
            continue
        c_in, c_out, k = w.shape
        base = node.name or node.output[0]
        # Conv weight [C_out * k, C_in, 1]: row o*k + j holds W[:, o, j]
        w_conv = np.ascontiguousarray(w.transpose(1, 2, 0).reshape(c_out * k, c_in, 1))
        g.initializer.append(numpy_helper.from_array(w_conv.astype(w.dtype), base + "_as_conv_w"))
        conv_in = [node.input[0], base + "_as_conv_w"]
        if len(node.input) > 2 and node.input[2]:
            b = numpy_helper.to_array(inits[node.input[2]])
            g.initializer.append(numpy_helper.from_array(np.repeat(b, k).astype(b.dtype), base + "_as_conv_b"))
            conv_in.append(base + "_as_conv_b")
        g.initializer.extend([
            numpy_helper.from_array(np.array([0, c_out, k, -1], np.int64), base + "_split_shape"),
            numpy_helper.from_array(np.array([0, c_out, -1], np.int64), base + "_merge_shape")])
        y, split, inter = base + "_as_conv", base + "_split", base + "_interleaved"
        nodes += [
            helper.make_node("Conv", conv_in, [y], name=base + "_as_conv", kernel_shape=[1]),
            helper.make_node("Reshape", [y, base + "_split_shape"], [split], name=base + "_split"),
            helper.make_node("Transpose", [split], [inter], name=base + "_interleave", perm=[0, 1, 3, 2]),
            helper.make_node("Reshape", [inter, base + "_merge_shape"], [node.output[0]], name=base + "_merge"),
        ]
        done.append(node.name)
    used = {i for n in nodes for i in n.input}
    keep = [t for t in g.initializer if t.name in used]  # the replaced ConvTranspose weights go
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.node[:]
    g.node.extend(nodes)
    del g.value_info[:]  # shapes of rewritten tensors changed; onnxruntime re-infers them
    if done:
        onnx.checker.check_model(out)
    return out, done
