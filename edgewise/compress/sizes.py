"""Where an artifact's bytes go: weights, biases, quantisation scales and zero points, names, metadata.

Quantisation shrinks weights 4x (float32 -> int8) but adds per-channel scales and zero points, keeps
int32 biases as large as float ones, and leaves the file's fixed costs (graph structure, names, the
embedded metadata) unchanged; on a small model those fixed costs decide the file-size ratio. This
module splits a file into those parts so a ratio can be explained byte by byte (Paupamah, James &
Klein, "Quantisation and Pruning for Neural Network Compression and Regularisation", report model size
the same way: parameters stored at their precision plus what the format adds).

ONNX: every initializer is classed by the input slot it feeds (``QLinearConv`` input 4 is a weight
scale, ``DequantizeLinear`` input 2 a zero point, ...). TFLite: every constant buffer by its tensor's
type (int8/float weights, int32 biases) plus the per-tensor quantisation vectors (float32 scales, int64
zero points). ``structure`` is the rest: operators, attributes, shapes, protobuf/FlatBuffer framing and
alignment padding.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

PARTS = ("weights", "biases", "scales", "zero_points", "names", "metadata", "structure")

# op type -> {input index: role}; other indices of these ops and other ops' constants count as weights
_ROLES: dict[str, dict[int, str]] = {
    "QuantizeLinear": {1: "scales", 2: "zero_points"},
    "DequantizeLinear": {0: "weights", 1: "scales", 2: "zero_points"},
    "QLinearConv": {1: "scales", 2: "zero_points", 3: "weights", 4: "scales", 5: "zero_points", 6: "scales",
                    7: "zero_points", 8: "biases"},
    "QLinearMatMul": {1: "scales", 2: "zero_points", 4: "scales", 5: "zero_points", 6: "scales", 7: "zero_points"},
    "QLinearAdd": {1: "scales", 2: "zero_points", 4: "scales", 5: "zero_points", 6: "scales", 7: "zero_points"},
    "QLinearMul": {1: "scales", 2: "zero_points", 4: "scales", 5: "zero_points", 6: "scales", 7: "zero_points"},
    "Conv": {1: "weights", 2: "biases"},
    "ConvTranspose": {1: "weights", 2: "biases"},
    "Gemm": {1: "weights", 2: "biases"},
    "Reshape": {1: "structure"},  # a target shape (e.g. onnx_upsample's interleave) is graph structure
}


def _onnx_role(op: str, index: int) -> str:
    if op == "QLinearConcat":  # y_scale, y_zero_point, then (x, scale, zero point) per input
        return ("scales", "zero_points")[index] if index < 2 else ("weights", "scales", "zero_points")[(index - 2) % 3]
    return _ROLES.get(op, {}).get(index, "weights")


def onnx_breakdown(path: str | Path) -> dict[str, int]:
    """Bytes of an ONNX file by part (``PARTS``); the parts sum to the file size.

    Args:
        path: ``.onnx`` with its weights inside.

    Returns:
        ``{part: bytes}`` for every name in ``PARTS``.
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    proto = onnx.load(str(path), load_external_data=False)
    g = proto.graph
    source = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Identity"}  # exporters alias constants

    def resolve(name: str) -> str:
        while name in source:
            name = source[name]
        return name

    role: dict[str, str] = {}
    for n in g.node:
        for i, name in enumerate(n.input):
            if n.op_type != "Identity":
                role.setdefault(resolve(name), _onnx_role(n.op_type, i))
    out = Counter({p: 0 for p in PARTS})
    for t in g.initializer:
        part = role.get(t.name, "weights")
        if part == "weights" and t.data_type == onnx.TensorProto.INT32:  # a QDQ bias enters through DequantizeLinear
            part = "biases"
        out[part] += numpy_helper.to_array(t).nbytes
        out["names"] += len(t.name.encode())
    for n in g.node:
        out["names"] += sum(len(s.encode()) for s in [n.name, *n.input, *n.output])
    out["metadata"] = sum(p.ByteSize() for p in proto.metadata_props)
    out["structure"] = path.stat().st_size - sum(out[p] for p in PARTS if p != "structure")
    return dict(out)


def tflite_breakdown(path: str | Path) -> dict[str, int]:
    """Bytes of a TFLite file by part (``PARTS``); the parts sum to the file size.

    Args:
        path: ``.tflite`` (FlatBuffer, buffers inside the file).

    Returns:
        ``{part: bytes}`` for every name in ``PARTS``; ``metadata`` holds every metadata buffer.
    """
    from tensorflow.lite.tools import flatbuffer_utils

    path = Path(path)
    model = flatbuffer_utils.read_model(str(path))
    out = Counter({p: 0 for p in PARTS})
    meta_buffers = {m.buffer for m in model.metadata or []}
    for i in meta_buffers:
        out["metadata"] += _nbytes(model.buffers[i].data)
    out["names"] += sum(len(m.name or b"") for m in model.metadata or [])
    slots = _tflite_slots(model)
    seen: set[int] = set()
    for k, sg in enumerate(model.subgraphs):
        for i, t in enumerate(sg.tensors):
            out["names"] += len(t.name or b"")
            q = t.quantization
            if q is not None and q.scale is not None:
                out["scales"] += 4 * len(q.scale)
                out["zero_points"] += 8 * len(q.zeroPoint if q.zeroPoint is not None else [])
            if t.buffer in seen or t.buffer in meta_buffers:
                continue
            seen.add(t.buffer)
            out[slots.get((k, i), "structure")] += _nbytes(model.buffers[t.buffer].data)  # else shape constants
    out["structure"] = path.stat().st_size - sum(out[p] for p in PARTS if p != "structure")
    return dict(out)


def _tflite_slots(model: Any) -> dict[tuple[int, int], str]:
    """``(subgraph, tensor) -> "weights"|"biases"`` from the operator input slot each tensor feeds."""
    from tensorflow.lite.python import schema_py_generated as schema

    op = schema.BuiltinOperator
    table = {op.CONV_2D: {1: "weights", 2: "biases"}, op.DEPTHWISE_CONV_2D: {1: "weights", 2: "biases"},
             op.FULLY_CONNECTED: {1: "weights", 2: "biases"}, op.TRANSPOSE_CONV: {1: "weights", 3: "biases"},
             op.CONV_3D: {1: "weights", 2: "biases"}}
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    out: dict[tuple[int, int], str] = {}
    for k, sg in enumerate(model.subgraphs):
        for o in sg.operators:
            for slot, role in table.get(codes[o.opcodeIndex], {}).items():
                if slot < len(o.inputs) and o.inputs[slot] >= 0:
                    out[(k, int(o.inputs[slot]))] = role
            if codes[o.opcodeIndex] == op.DEQUANTIZE:  # float op fed by dequantised int8 weights
                out.setdefault((k, int(o.inputs[0])), "weights")
    return out


def _nbytes(data: Any) -> int:
    return 0 if data is None else len(data)


def breakdown(path: str | Path) -> dict[str, int]:
    """``onnx_breakdown`` or ``tflite_breakdown`` by the file's suffix."""
    path = Path(path)
    if path.suffix == ".onnx":
        return onnx_breakdown(path)
    if path.suffix == ".tflite":
        return tflite_breakdown(path)
    raise ValueError(f"no size breakdown for {path.name}: expected a .onnx or .tflite file")


def payload_ratio(fp32: dict[str, int], int8: dict[str, int]) -> float:
    """Size ratio without the embedded metadata (the part that does not scale with the model)."""
    return (sum(fp32.values()) - fp32["metadata"]) / max(1, sum(int8.values()) - int8["metadata"])
