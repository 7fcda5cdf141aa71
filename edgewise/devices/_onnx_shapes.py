"""Output shapes and MACs of ONNX operators, from their input shapes and attributes (ONNX operator spec).

One small function per operator family, in a dispatch table. Each takes the input ``(shape, elem_type)``
pairs (``None`` for an absent optional input), the node's attributes and the constant int64 values of
inputs that are initializers or ``Constant`` nodes (Reshape shapes, axes), and returns the outputs'
``(shape, elem_type)``, the node's multiply-accumulates and whether the shape is exact. The QLinear*
operators (onnxruntime's int8 kernels) take their tensors at the positions of the spec
(``QLinearConv``: x=0, w=3, b=8, y_zero_point=7).
"""
from __future__ import annotations

import math
from typing import Any, Callable

__all__ = ["INT8_OPS", "infer"]

Shape = tuple[int, ...]
Tensor = tuple[Shape, int]
FLOAT, UINT8 = 1, 2
INT8_OPS = frozenset({"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger", "QGemm", "QLinearAveragePool"})


def _window(n: int, k: int, stride: int, dil: int, pad: int, ceil: bool = False) -> int:
    span = dil * (k - 1) + 1
    q = (n + pad - span) / stride
    return int(math.ceil(q) if ceil else math.floor(q)) + 1


def _spatial(x: Shape, kernel: list[int], attrs: dict[str, Any], ceil: bool = False) -> list[int]:
    nd = len(kernel)
    strides = attrs.get("strides") or [1] * nd
    dils = attrs.get("dilations") or [1] * nd
    pads = attrs.get("pads") or [0] * (2 * nd)
    auto = attrs.get("auto_pad", "NOTSET")
    out = []
    for d in range(nd):
        n = x[2 + d]
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-n // strides[d]))
        elif auto == "VALID":
            out.append(_window(n, kernel[d], strides[d], dils[d], 0, False))
        else:
            out.append(_window(n, kernel[d], strides[d], dils[d], pads[d] + pads[d + nd], ceil))
    return out


def _conv(ins: list, attrs: dict, x_at: int = 0, w_at: int = 1, out_type: int | None = None) -> tuple:
    (x, xt), (w, _) = ins[x_at], ins[w_at]
    kernel = list(attrs.get("kernel_shape") or w[2:])
    out = (x[0], w[0], *_spatial(x, kernel, attrs))
    macs = math.prod(out) * w[1] * math.prod(kernel)  # weight [Cout, Cin/group, k...]
    return [(out, out_type if out_type is not None else xt)], macs, True


def _qlinear_conv(ins, attrs, consts, opset):
    y_zp = ins[7][1] if len(ins) > 7 and ins[7] is not None else UINT8
    return _conv(ins, attrs, 0, 3, y_zp)


def _conv_transpose(ins, attrs, consts, opset):
    (x, xt), (w, _) = ins[0], ins[1]
    group = attrs.get("group", 1)
    kernel = list(attrs.get("kernel_shape") or w[2:])
    nd = len(kernel)
    strides = attrs.get("strides") or [1] * nd
    dils = attrs.get("dilations") or [1] * nd
    pads = attrs.get("pads") or [0] * (2 * nd)
    opad = attrs.get("output_padding") or [0] * nd
    if attrs.get("output_shape"):
        sp = list(attrs["output_shape"])[-nd:]
    else:
        sp = [strides[d] * (x[2 + d] - 1) + opad[d] + (kernel[d] - 1) * dils[d] + 1 - pads[d] - pads[d + nd]
              for d in range(nd)]
    out = (x[0], w[1] * group, *sp)
    macs = math.prod(x) * w[1] * math.prod(kernel)  # each input element scatters into Cout/group x kernel
    return [(out, xt)], macs, True


def _pool(ins, attrs, consts, opset):
    x, xt = ins[0]
    kernel = list(attrs["kernel_shape"])
    out = (x[0], x[1], *_spatial(x, kernel, attrs, bool(attrs.get("ceil_mode", 0))))
    return [(out, xt)], 0, True


def _avg_pool(ins, attrs, consts, opset):
    """An average is k multiply-adds per output (sum, scale): what the TFLite export runs a non-overlapping
    average pool as (a depthwise conv with weights 1/k, ``edgewise.export.onnx_lift``), so both files count it."""
    outs, _, exact = _pool(ins, attrs, consts, opset)
    return outs, math.prod(outs[0][0]) * math.prod(attrs["kernel_shape"]), exact


def _qlinear_pool(ins, attrs, consts, opset):
    """com.microsoft QLinearAveragePool (x, x_scale, x_zp, y_scale, y_zp): a pool on x, in x's int8 type."""
    if attrs.get("channels_last", 0):  # [N, ..., C]: not the layout _pool reads
        return [ins[0]], 0, False
    return _avg_pool(ins, attrs, consts, opset)


def _global_pool(ins, attrs, consts, opset):
    x, xt = ins[0]
    return [((x[0], x[1]) + (1,) * (len(x) - 2), xt)], 0, True


def _broadcast(*shapes: Shape) -> Shape:
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        big = {d for d in dims if d != 1}
        if len(big) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        out.append(big.pop() if big else 1)
    return tuple(out)


def _binary(ins, attrs, consts, opset):
    a, b = ins[0], ins[1]
    return [(_broadcast(a[0], b[0]), a[1])], 0, True


def _qlinear_binary(ins, attrs, consts, opset):  # QLinearAdd/Mul: a=0, b=3, y_zero_point=7
    zp = ins[7][1] if len(ins) > 7 and ins[7] is not None else UINT8
    return [(_broadcast(ins[0][0], ins[3][0]), zp)], 0, True


def _same(ins, attrs, consts, opset):
    return [ins[0]], 0, True


def _quantize(ins, attrs, consts, opset):
    zp = ins[2][1] if len(ins) > 2 and ins[2] is not None else UINT8
    return [(ins[0][0], zp)], 0, True


def _dequantize(ins, attrs, consts, opset):
    return [(ins[0][0], FLOAT)], 0, True


def _concat(ins, attrs, consts, opset, first: int = 0, step: int = 1):
    parts = [t for t in ins[first::step] if t is not None]
    axis = attrs.get("axis", 0) % len(parts[0][0])
    out = list(parts[0][0])
    out[axis] = sum(p[0][axis] for p in parts)
    return [(tuple(out), parts[0][1])], 0, True


def _qlinear_concat(ins, attrs, consts, opset):  # y_scale, y_zp, then (x, scale, zp) triples
    shape, _ = _concat(ins, attrs, consts, opset, first=2, step=3)[0][0]
    return [(shape, ins[1][1])], 0, True


def _gemm(ins, attrs, consts, opset):
    (a, at), (b, _) = ins[0], ins[1]
    m, k = (a[1], a[0]) if attrs.get("transA", 0) else (a[0], a[1])
    n = b[0] if attrs.get("transB", 0) else b[1]
    return [((m, n), at)], m * k * n, True


def _matmul(ins, attrs, consts, opset, a_at: int = 0, b_at: int = 1, out_type: int | None = None):
    (a, at), (b, _) = ins[a_at], ins[b_at]
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    batch = _broadcast(a2[:-2], b2[:-2])
    out = list(batch) + [a2[-2], b2[-1]]
    if len(a) == 1:
        out.pop(-2)
    if len(b) == 1:
        out.pop(-1)
    return [(tuple(out), out_type if out_type is not None else at)], math.prod(batch) * a2[-2] * a2[-1] * b2[-1], True


def _reshape(ins, attrs, consts, opset):
    x, xt = ins[0]
    target = list(consts[1] or [])
    if not target:
        return [ins[0]], 0, False
    out = [x[i] if d == 0 else d for i, d in enumerate(target)]
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        out[out.index(-1)] = math.prod(x) // known
    return [(tuple(out), xt)], 0, True


def _flatten(ins, attrs, consts, opset):
    x, xt = ins[0]
    axis = attrs.get("axis", 1) % (len(x) + 1) if x else 0
    return [((math.prod(x[:axis]), math.prod(x[axis:])), xt)], 0, True


def _axes(attrs: dict, consts: list, opset: int, at: int = 1) -> list[int] | None:
    if "axes" in attrs:
        return list(attrs["axes"])
    return list(consts[at]) if len(consts) > at and consts[at] else None


def _reduce(ins, attrs, consts, opset):
    x, xt = ins[0]
    axes = _axes(attrs, consts, opset)
    axes = [a % len(x) for a in axes] if axes else list(range(len(x)))
    keep = attrs.get("keepdims", 1)
    out = tuple((1 if i in axes else d) for i, d in enumerate(x) if keep or i not in axes)
    return [(out, xt)], 0, True


def _transpose(ins, attrs, consts, opset):
    x, xt = ins[0]
    perm = attrs.get("perm") or list(reversed(range(len(x))))
    return [(tuple(x[p] for p in perm), xt)], 0, True


def _squeeze(ins, attrs, consts, opset):
    x, xt = ins[0]
    axes = _axes(attrs, consts, opset)
    axes = [a % len(x) for a in axes] if axes else [i for i, d in enumerate(x) if d == 1]
    return [(tuple(d for i, d in enumerate(x) if i not in axes), xt)], 0, True


def _unsqueeze(ins, attrs, consts, opset):
    x, xt = ins[0]
    axes = _axes(attrs, consts, opset) or []
    rank = len(x) + len(axes)
    axes = sorted(a % rank for a in axes)
    out, it = [], iter(x)
    for i in range(rank):
        out.append(1 if i in axes else next(it))
    return [(tuple(out), xt)], 0, True


def _pad(ins, attrs, consts, opset):
    x, xt = ins[0]
    pads = attrs.get("pads") or (consts[1] if len(consts) > 1 else None)
    if not pads:
        return [ins[0]], 0, False
    n = len(x)
    return [(tuple(x[i] + pads[i] + pads[i + n] for i in range(n)), xt)], 0, True


_TABLE: dict[str, Callable[..., tuple]] = {
    "Conv": lambda ins, attrs, consts, opset: _conv(ins, attrs),
    "ConvInteger": lambda ins, attrs, consts, opset: _conv(ins, attrs, out_type=6),
    "QLinearConv": _qlinear_conv,
    "ConvTranspose": _conv_transpose,
    "MaxPool": _pool, "AveragePool": _avg_pool, "LpPool": _pool,
    "GlobalAveragePool": _global_pool, "GlobalMaxPool": _global_pool, "QLinearAveragePool": _qlinear_pool,
    "Add": _binary, "Sub": _binary, "Mul": _binary, "Div": _binary, "Pow": _binary, "PRelu": _binary,
    "Max": _binary, "Min": _binary, "Equal": _binary, "Where": lambda ins, a, c, o: _binary(ins[1:], a, c, o),
    "QLinearAdd": _qlinear_binary, "QLinearMul": _qlinear_binary,
    "QuantizeLinear": _quantize, "DequantizeLinear": _dequantize,
    "Concat": _concat, "QLinearConcat": _qlinear_concat,
    "Gemm": _gemm, "MatMul": _matmul,
    "MatMulInteger": lambda ins, attrs, consts, opset: _matmul(ins, attrs, consts, opset, out_type=6),
    "QLinearMatMul": lambda ins, attrs, consts, opset: _matmul(
        ins, attrs, consts, opset, 0, 3, ins[7][1] if len(ins) > 7 and ins[7] is not None else UINT8),
    "Reshape": _reshape, "Flatten": _flatten, "Transpose": _transpose,
    "Squeeze": _squeeze, "Unsqueeze": _unsqueeze, "Pad": _pad,
    "ReduceMean": _reduce, "ReduceSum": _reduce, "ReduceMax": _reduce, "ReduceMin": _reduce,
}
for _op in ("Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Softmax", "LogSoftmax", "Identity", "Cast", "Erf",
            "Sqrt", "Exp", "Log", "Neg", "Abs", "HardSigmoid", "HardSwish", "Elu", "Selu", "Gelu",
            "BatchNormalization", "InstanceNormalization", "LayerNormalization", "Dropout", "QLinearLeakyRelu",
            "QLinearSigmoid", "Softplus", "Reciprocal", "Floor", "Ceil", "Round", "Sign", "Not"):
    _TABLE[_op] = _same


def infer(op: str, ins: list[Tensor | None], attrs: dict[str, Any], consts: list, opset: int
          ) -> tuple[list[Tensor], int, bool]:
    """``(outputs, macs, exact)`` of one node; an unknown operator keeps its first input's shape, inexact."""
    fn = _TABLE.get(op)
    if fn is None:
        first = next((t for t in ins if t is not None), ((), FLOAT))
        return [first], 0, False
    return fn(ins, attrs, consts, opset)
