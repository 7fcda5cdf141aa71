"""Per-layer cost of an artifact (MACs, bytes moved) read straight from the file: no onnx, no tensorflow.

What a roofline estimate needs is, for each operator, how many multiply-accumulates it does and how many
bytes it must touch (weights once, its input and output activations once).

- **TFLite** stores every tensor's shape in the FlatBuffer (``Tensor.shape``; the converter fixes them), so
  the MACs of ``CONV_2D`` / ``DEPTHWISE_CONV_2D`` / ``TRANSPOSE_CONV`` / ``FULLY_CONNECTED`` /
  ``BATCH_MATMUL`` follow directly from the filter and output shapes (schema: tensorflow/lite/schema/schema.fbs).
- **ONNX** files from ``torch.onnx.export`` carry no ``value_info`` for intermediate tensors, and running
  the model to record intermediate shapes would need the graph rewritten (onnxruntime only returns graph
  outputs). So shapes are propagated here, node by node in graph order, from the input shape and the
  initializers' shapes with the operators' own formulas (ONNX operator spec: Conv, ConvTranspose, pools,
  Gemm/MatMul, Concat, Reshape, Reduce*, broadcasting binaries ...). This is exact for the operators
  handled; an operator outside that table keeps its first input's shape and is listed in
  ``GraphCost.guessed`` so an estimate can say so instead of silently trusting it.

Both formats are walked with bounds-checked readers; a malformed file raises ``ArtifactError``.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgewise.runtime.artifact import _FB, _fields, _varint, detect_format
from edgewise.devices import _onnx_shapes as shapes
from edgewise.runtime.errors import ArtifactError

__all__ = ["Layer", "GraphCost", "graph_cost"]

# ONNX TensorProto.DataType -> bytes per element (0 = unknown)
_ONNX_SIZE = {1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 16: 2}
_ONNX_INT8 = {2, 3}  # UINT8, INT8
# TFLite TensorType -> bytes per element
_TFL_SIZE = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 9: 1, 10: 8, 15: 4, 16: 2}
_TFL_INT8 = {3, 9}


@dataclass(frozen=True)
class Layer:
    """One operator's cost for one call of the model at the given batch.

    Attributes:
        name: node name (ONNX) or ``op#index`` (TFLite).
        op: operator type (``Conv``, ``QLinearConv``, ``CONV_2D`` ...).
        macs: multiply-accumulates (0 for data movement / elementwise ops).
        weight_bytes: bytes of constant inputs (weights, biases).
        act_bytes: bytes of variable inputs + outputs.
        precision: ``"int8"`` when the multiplies run on 8-bit data, else ``"fp32"``.
        out_shape: the first output's shape.
    """

    name: str
    op: str
    macs: int
    weight_bytes: int
    act_bytes: int
    precision: str
    out_shape: tuple[int, ...]

    @property
    def bytes(self) -> int:
        return self.weight_bytes + self.act_bytes


@dataclass(frozen=True)
class GraphCost:
    """Per-layer costs of one model call.

    Attributes:
        format: ``"onnx"`` or ``"tflite"``.
        batch: the batch the costs are for (TFLite files have a fixed batch, usually 1).
        layers: every operator, in graph order.
        guessed: operators whose output shape was not derived (kept their first input's shape).
    """

    format: str
    batch: int
    layers: tuple[Layer, ...]
    guessed: tuple[str, ...] = field(default_factory=tuple)

    @property
    def macs(self) -> int:
        return sum(la.macs for la in self.layers)

    @property
    def bytes(self) -> int:
        return sum(la.bytes for la in self.layers)

    @property
    def weight_bytes(self) -> int:
        return sum(la.weight_bytes for la in self.layers)

    def macs_by_precision(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for la in self.layers:
            out[la.precision] = out.get(la.precision, 0) + la.macs
        return out


def graph_cost(path: str | Path, *, batch: int = 1) -> GraphCost:
    """Per-layer MACs and bytes of one call of an ONNX or TFLite artifact.

    Args:
        path: the artifact.
        batch: batch size for a dynamic batch dimension (ONNX); fixed TFLite batches are kept.

    Raises:
        ArtifactError: unreadable or malformed file, or a shape that cannot be propagated.
    """
    path = Path(path)
    data = path.read_bytes()
    fmt = detect_format(path, data)
    try:
        return _onnx_cost(data, batch) if fmt == "onnx" else _tflite_cost(data)
    except (ValueError, KeyError, IndexError, struct.error, ZeroDivisionError) as e:
        raise ArtifactError(f"cannot read the layers of {path} for an estimate ({e})") from e


# ----------------------------------------------------------------------------------------------
# ONNX: a small protobuf walk + shape propagation
# ----------------------------------------------------------------------------------------------
def _str(buf: bytes, span: tuple[int, int]) -> str:
    return buf[span[0]:span[1]].decode("utf-8", errors="replace")


def _ints(buf: bytes, wire: int, v: Any) -> list[int]:
    """A repeated int64 field, packed (wire 2) or not (wire 0); int64 is two's complement on the wire."""
    def signed(x: int) -> int:
        return x - (1 << 64) if x >= 1 << 63 else x
    if wire == 0:
        return [signed(v)]
    out, pos = [], v[0]
    while pos < v[1]:
        x, pos = _varint(buf, pos, v[1])
        out.append(signed(x))
    return out


def _tensor(buf: bytes, span: tuple[int, int]) -> dict[str, Any]:
    """TensorProto: dims (1), data_type (2), int64_data (7), name (8), raw_data (9)."""
    t: dict[str, Any] = {"dims": [], "dtype": 0, "name": "", "ints": []}
    raw = None
    for number, wire, v in _fields(buf, *span):
        if number == 1:
            t["dims"] += _ints(buf, wire, v)
        elif number == 2 and wire == 0:
            t["dtype"] = v
        elif number == 7:
            t["ints"] += _ints(buf, wire, v)
        elif number == 8 and wire == 2:
            t["name"] = _str(buf, v)
        elif number == 9 and wire == 2:
            raw = buf[v[0]:v[1]]
    if raw is not None and t["dtype"] == 7 and not t["ints"]:  # int64 raw data (Reshape shapes, axes)
        t["ints"] = list(struct.unpack(f"<{len(raw) // 8}q", raw))
    return t


def _attribute(buf: bytes, span: tuple[int, int]) -> tuple[str, Any]:
    """AttributeProto: name (1), i (3), s (4), t (5), ints (8)."""
    name, value, ints = "", None, []
    for number, wire, v in _fields(buf, *span):
        if number == 1 and wire == 2:
            name = _str(buf, v)
        elif number == 3 and wire == 0:
            value = _ints(buf, 0, v)[0]
        elif number == 4 and wire == 2:
            value = _str(buf, v)
        elif number == 5 and wire == 2:
            value = _tensor(buf, v)
        elif number == 8:
            ints += _ints(buf, wire, v)
    return name, (ints if ints else value)


def _value_info(buf: bytes, span: tuple[int, int]) -> tuple[str, list[int | str], int]:
    """ValueInfoProto -> (name, shape with dim_param strings, elem_type)."""
    name, shape, dtype = "", [], 0
    for number, wire, v in _fields(buf, *span):
        if number == 1 and wire == 2:
            name = _str(buf, v)
        elif number == 2 and wire == 2:  # TypeProto.tensor_type (1)
            for n2, w2, v2 in _fields(buf, *v):
                if n2 != 1 or w2 != 2:
                    continue
                for n3, w3, v3 in _fields(buf, *v2):
                    if n3 == 1 and w3 == 0:
                        dtype = v3
                    elif n3 == 2 and w3 == 2:  # TensorShapeProto.dim
                        for n4, w4, v4 in _fields(buf, *v3):
                            if n4 != 1 or w4 != 2:
                                continue
                            dim: int | str = "?"
                            for n5, w5, v5 in _fields(buf, *v4):
                                dim = v5 if (n5 == 1 and w5 == 0) else _str(buf, v5) if n5 == 2 else dim
                            shape.append(dim)
    return name, shape, dtype


def _parse_graph(buf: bytes) -> dict[str, Any]:
    graph = None
    opset = 0
    for number, wire, v in _fields(buf, 0, len(buf)):
        if number == 7 and wire == 2:
            graph = v
        elif number == 8 and wire == 2:  # OperatorSetIdProto: domain (1), version (2)
            domain, version = "", 0
            for n2, w2, v2 in _fields(buf, *v):
                if n2 == 1 and w2 == 2:
                    domain = _str(buf, v2)
                elif n2 == 2 and w2 == 0:
                    version = v2
            if domain in ("", "ai.onnx"):
                opset = version
    if graph is None:
        raise ValueError("no graph")
    g: dict[str, Any] = {"nodes": [], "init": {}, "inputs": [], "opset": opset}
    for number, wire, v in _fields(buf, *graph):
        if number == 1 and wire == 2:
            node: dict[str, Any] = {"in": [], "out": [], "name": "", "op": "", "attrs": {}}
            for n2, w2, v2 in _fields(buf, *v):
                if n2 == 1 and w2 == 2:
                    node["in"].append(_str(buf, v2))
                elif n2 == 2 and w2 == 2:
                    node["out"].append(_str(buf, v2))
                elif n2 == 3 and w2 == 2:
                    node["name"] = _str(buf, v2)
                elif n2 == 4 and w2 == 2:
                    node["op"] = _str(buf, v2)
                elif n2 == 5 and w2 == 2:
                    key, value = _attribute(buf, v2)
                    node["attrs"][key] = value
            g["nodes"].append(node)
        elif number == 5 and wire == 2:
            t = _tensor(buf, v)
            g["init"][t["name"]] = t
        elif number == 11 and wire == 2:
            g["inputs"].append(_value_info(buf, v))
    return g


def _onnx_cost(data: bytes, batch: int) -> GraphCost:
    g = _parse_graph(data)
    init = g["init"]
    known: dict[str, tuple[tuple[int, ...], int]] = {}  # tensor -> (shape, elem type)
    for name, t in init.items():
        known[name] = (tuple(int(d) for d in t["dims"]), t["dtype"])
    for name, shape, dtype in g["inputs"]:
        if name not in known:
            known[name] = (tuple(batch if not isinstance(d, int) or d <= 0 else d for d in shape), dtype)
    consts = {name: t["ints"] for name, t in init.items() if t["ints"]}
    layers, guessed = [], []
    for i, node in enumerate(g["nodes"]):
        op, attrs = node["op"], node["attrs"]
        if op == "Constant":
            t = attrs.get("value")
            if isinstance(t, dict):
                known[node["out"][0]] = (tuple(t["dims"]), t["dtype"])
                consts[node["out"][0]] = t["ints"]
            continue
        ins = [known.get(n) if n else None for n in node["in"]]
        if any(n and n not in known for n in node["in"]):
            missing = [n for n in node["in"] if n and n not in known]
            raise ValueError(f"node {node['name'] or op} reads {missing}, which no earlier node makes")
        outs, macs, exact = shapes.infer(op, ins, attrs, [consts.get(n) for n in node["in"]], g["opset"])
        if not exact:
            guessed.append(op)
        for name, out in zip(node["out"], outs):
            if name:
                known[name] = out
        wbytes = sum(_onnx_bytes(*known[n]) for n in node["in"] if n in init)
        abytes = (sum(_onnx_bytes(*known[n]) for n in node["in"] if n and n not in init)
                  + sum(_onnx_bytes(*known[n]) for n in node["out"] if n))
        prec = "int8" if op in shapes.INT8_OPS else "fp32"
        layers.append(Layer(node["name"] or f"{op}#{i}", op, int(macs), wbytes, abytes, prec,
                            tuple(outs[0][0]) if outs else ()))
    return GraphCost("onnx", batch, tuple(layers), tuple(guessed))


def _onnx_bytes(shape: tuple[int, ...], dtype: int) -> int:
    return math.prod(shape) * _ONNX_SIZE.get(dtype, 4)


# ----------------------------------------------------------------------------------------------
# TFLite: shapes are in the file
# ----------------------------------------------------------------------------------------------
_TFL_OPS = {0: "ADD", 1: "AVERAGE_POOL_2D", 2: "CONCATENATION", 3: "CONV_2D", 4: "DEPTHWISE_CONV_2D",
            6: "DEQUANTIZE", 9: "FULLY_CONNECTED", 14: "LOGISTIC", 17: "MAX_POOL_2D", 18: "MUL", 19: "RELU",
            21: "RELU6", 22: "RESHAPE", 23: "RESIZE_BILINEAR", 25: "SOFTMAX", 28: "TANH", 34: "PAD",
            36: "GATHER", 39: "TRANSPOSE", 40: "MEAN", 41: "SUB", 42: "DIV", 43: "SQUEEZE",
            45: "STRIDED_SLICE", 49: "SPLIT", 60: "PADV2", 65: "SLICE", 67: "TRANSPOSE_CONV",
            70: "EXPAND_DIMS", 74: "SUM", 83: "PACK", 88: "UNPACK", 97: "RESIZE_NEAREST_NEIGHBOR",
            98: "LEAKY_RELU", 114: "QUANTIZE", 117: "HARD_SWISH", 126: "BATCH_MATMUL", 132: "CONV_3D"}


def _tfl_tensor(fb: _FB, pos: int, buffers: tuple[int, int]) -> dict[str, Any]:
    """Tensor table: shape (0), type (1), buffer (2)."""
    start, n = fb.vector(pos, 0)
    shape = tuple(fb._u("<i", start + 4 * k) for k in range(n))
    tpos, bpos = fb.field(pos, 1), fb.field(pos, 2)
    ttype = fb._u("<b", tpos) if tpos is not None else 0
    index = fb._u("<I", bpos) if bpos is not None else 0
    const = False
    if 0 < index < buffers[1]:  # buffer 0 is the empty sentinel
        buffer = fb.deref(buffers[0] + 4 * index)
        _, size = fb.vector(buffer, 0)
        off = fb.field(buffer, 1)  # Buffer.offset: data stored after the FlatBuffer (large models)
        const = size > 0 or (off is not None and fb._u("<Q", off) > 0)
    return {"shape": shape, "type": ttype, "const": const}


def _tfl_macs(op: str, ins: list[dict | None], out: dict | None) -> int:
    if out is None:
        return 0
    o = out["shape"]
    if op == "CONV_2D" and ins[1] is not None:  # filter [Cout, kh, kw, Cin/groups]
        f = ins[1]["shape"]
        return math.prod(o) * f[1] * f[2] * f[3]
    if op == "DEPTHWISE_CONV_2D" and ins[1] is not None:  # filter [1, kh, kw, Cout]
        f = ins[1]["shape"]
        return math.prod(o) * f[1] * f[2]
    if op == "CONV_3D" and ins[1] is not None:  # filter [kd, kh, kw, Cin, Cout]
        f = ins[1]["shape"]
        return math.prod(o) * f[0] * f[1] * f[2] * f[3]
    if op == "TRANSPOSE_CONV" and ins[1] is not None and ins[2] is not None:  # weights [Cout, kh, kw, Cin]
        f, x = ins[1]["shape"], ins[2]["shape"]
        return math.prod(x) * f[0] * f[1] * f[2]
    if op in ("FULLY_CONNECTED", "BATCH_MATMUL") and ins[1] is not None:
        w = ins[1]["shape"]
        k = w[-1] if op == "FULLY_CONNECTED" else w[-2]
        return math.prod(o) * k
    return 0


def _tflite_cost(data: bytes) -> GraphCost:
    fb = _FB(data)
    root = fb.deref(0)
    codes_start, n_codes = fb.vector(root, 1)
    codes = []
    for k in range(n_codes):
        oc = fb.deref(codes_start + 4 * k)
        dep, new = fb.field(oc, 0), fb.field(oc, 3)
        code = max(fb._u("<b", dep) if dep is not None else 0, fb._u("<i", new) if new is not None else 0)
        codes.append(_TFL_OPS.get(code, f"BUILTIN_{code}"))
    buffers = fb.vector(root, 4)
    sub_start, n_sub = fb.vector(root, 2)
    if n_sub < 1:
        raise ValueError("no subgraph")
    sub = fb.deref(sub_start)
    t_start, n_t = fb.vector(sub, 0)
    tensors = [_tfl_tensor(fb, fb.deref(t_start + 4 * k), buffers) for k in range(n_t)]
    op_start, n_ops = fb.vector(sub, 3)
    layers = []
    for k in range(n_ops):
        opos = fb.deref(op_start + 4 * k)
        idx_pos = fb.field(opos, 0)
        op = codes[fb._u("<I", idx_pos) if idx_pos is not None else 0]
        in_start, n_in = fb.vector(opos, 1)
        out_start, n_out = fb.vector(opos, 2)
        ins = [tensors[i] if 0 <= i < n_t else None for i in (fb._u("<i", in_start + 4 * j) for j in range(n_in))]
        outs = [tensors[i] if 0 <= i < n_t else None for i in (fb._u("<i", out_start + 4 * j) for j in range(n_out))]
        out = outs[0] if outs else None
        w = sum(_tfl_bytes(t) for t in ins if t is not None and t["const"])
        a = sum(_tfl_bytes(t) for t in ins + outs if t is not None and not t["const"])
        data_in = next((t for t in ins if t is not None and not t["const"]), None)
        int8 = data_in is not None and data_in["type"] in _TFL_INT8 and op not in ("DEQUANTIZE",)
        if op == "TRANSPOSE_CONV" and len(ins) > 2 and ins[2] is not None:
            int8 = ins[2]["type"] in _TFL_INT8
        layers.append(Layer(f"{op}#{k}", op, _tfl_macs(op, ins, out), w, a, "int8" if int8 else "fp32",
                            tuple(out["shape"]) if out else ()))
    in_start, n_in = fb.vector(sub, 1)  # SubGraph.inputs: the model input's first dimension is its batch
    first = fb._u("<i", in_start) if n_in else -1
    batch = tensors[first]["shape"][0] if 0 <= first < n_t and tensors[first]["shape"] else 1
    return GraphCost("tflite", max(int(batch), 1), tuple(layers), ())


def _tfl_bytes(t: dict) -> int:
    return math.prod(t["shape"]) * _TFL_SIZE.get(t["type"], 4) if t["shape"] else _TFL_SIZE.get(t["type"], 4)
