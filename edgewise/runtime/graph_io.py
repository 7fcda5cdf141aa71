"""The graph's own inputs and outputs (names and shapes), read from the file with the standard library.

What an artifact's metadata says about its tensors (window, channels, classes, layout, input shape,
heads) is checked against what the graph itself declares, before a runtime opens the file or a buffer
is sized from the metadata (``edgewise.runtime.metadata_schema.check_graph``). The readers reuse the
bounds-checked protobuf and FlatBuffer walkers of ``edgewise.runtime.artifact``:

- ONNX: ``ModelProto.graph`` (7) -> ``GraphProto.input`` (11) / ``output`` (12), minus initializers
  (5; IR < 4 lists them as inputs) -> ``ValueInfoProto.type.tensor_type.shape.dim[]``: ``dim_value``
  (a fixed size) or ``dim_param`` (a named, dynamic one: ``None`` here).
- TFLite: ``Model.subgraphs[0]`` -> ``SubGraph.inputs`` / ``outputs`` (tensor indices) ->
  ``Tensor.shape_signature`` (-1 = dynamic) or else ``Tensor.shape``.

References: ONNX IR (onnx/onnx ``onnx.proto``), TFLite schema (``tensorflow/lite/schema/schema.fbs``).
"""
from __future__ import annotations

from dataclasses import dataclass

from edgewise.runtime.artifact import _FB, _fields

__all__ = ["GraphTensor", "GraphIO", "graph_io"]

_MAX_DIM = 1 << 40   # a dimension beyond this is not a size any model has (a corrupt varint)
_MAX_TENSORS = 4096  # graph inputs/outputs edgewise reads; more is a corrupt vector length


@dataclass(frozen=True)
class GraphTensor:
    """A graph input or output: its name and its shape in the file's own layout (``None``: dynamic)."""

    name: str
    shape: tuple[int | None, ...]


@dataclass(frozen=True)
class GraphIO:
    """The graph's inputs and outputs, in the file's order."""

    format: str
    inputs: tuple[GraphTensor, ...]
    outputs: tuple[GraphTensor, ...]


# -- ONNX ------------------------------------------------------------------------------------------
def _text(buf: bytes, span: tuple[int, int]) -> str:
    return buf[span[0]:span[1]].decode("utf-8", errors="replace")


def _onnx_shape(buf: bytes, span: tuple[int, int]) -> tuple[int | None, ...] | None:
    """``TypeProto`` -> the tensor's dims, or None when it is not a tensor or has no shape."""
    for n1, w1, tensor in _fields(buf, *span):
        if n1 != 1 or w1 != 2:  # TypeProto.tensor_type
            continue
        for n2, w2, shape in _fields(buf, *tensor):
            if n2 != 2 or w2 != 2:  # Tensor.shape
                continue
            dims: list[int | None] = []
            for n3, w3, dim in _fields(buf, *shape):
                if n3 != 1 or w3 != 2:  # TensorShapeProto.dim
                    continue
                value: int | None = None
                for n4, w4, v in _fields(buf, *dim):
                    if n4 == 1 and w4 == 0:  # dim_value (int64; a negative one is two's complement)
                        value = v if v < _MAX_DIM else None
                dims.append(value)
            return tuple(dims)
    return None


def _onnx_value_info(buf: bytes, span: tuple[int, int]) -> GraphTensor:
    name, shape = "", None
    for number, wire, v in _fields(buf, *span):
        if number == 1 and wire == 2:
            name = _text(buf, v)
        elif number == 2 and wire == 2:
            shape = _onnx_shape(buf, v)
    return GraphTensor(name, shape if shape is not None else ())


def _onnx_io(buf: bytes) -> GraphIO:
    graph = None
    for number, wire, v in _fields(buf, 0, len(buf)):
        if number == 7 and wire == 2:
            graph = v
    if graph is None:
        raise ValueError("no graph")
    inputs, outputs, initializers = [], [], set()
    for number, wire, v in _fields(buf, *graph):
        if wire != 2:
            continue
        if number == 11:
            inputs.append(_onnx_value_info(buf, v))
        elif number == 12:
            outputs.append(_onnx_value_info(buf, v))
        elif number == 5:  # TensorProto.name (8)
            initializers.update(_text(buf, t) for n, w, t in _fields(buf, *v) if n == 8 and w == 2)
    return GraphIO("onnx", tuple(t for t in inputs if t.name not in initializers), tuple(outputs))


# -- TFLite ----------------------------------------------------------------------------------------
def _ints(fb: _FB, start: int, n: int, what: str) -> list[int]:
    if n > _MAX_TENSORS or start + 4 * n > len(fb.buf):
        raise ValueError(f"{what} claims {n} entries, more than the file holds")
    return [fb._u("<i", start + 4 * k) for k in range(n)]


def _tflite_io(buf: bytes) -> GraphIO:
    fb = _FB(buf)
    root = fb.deref(0)
    sub_start, n_sub = fb.vector(root, 2)  # Model.subgraphs
    if n_sub < 1:
        raise ValueError("no subgraph")
    sub = fb.deref(sub_start)
    t_start, n_t = fb.vector(sub, 0)  # SubGraph.tensors
    if t_start + 4 * n_t > len(buf):
        raise ValueError(f"the tensor list claims {n_t} tensors, more than the file holds")

    def tensor(index: int) -> GraphTensor:
        if not 0 <= index < n_t:
            raise ValueError(f"graph input/output {index} is not one of the {n_t} tensors")
        pos = fb.deref(t_start + 4 * index)
        sig = _ints(fb, *fb.vector(pos, 7), "Tensor.shape_signature")
        shape = _ints(fb, *fb.vector(pos, 0), "Tensor.shape")
        dims = sig if sig and len(sig) == len(shape) else shape
        name = fb.string(pos, 3) if fb.field(pos, 3) is not None else ""
        return GraphTensor(name, tuple(None if d < 0 else d for d in dims))

    inputs = [tensor(i) for i in _ints(fb, *fb.vector(sub, 1), "SubGraph.inputs")]
    outputs = [tensor(i) for i in _ints(fb, *fb.vector(sub, 2), "SubGraph.outputs")]
    return GraphIO("tflite", tuple(inputs), tuple(outputs))


def graph_io(data: bytes, fmt: str) -> GraphIO:
    """The graph inputs and outputs of a serialized ``"onnx"`` or ``"tflite"`` model.

    Raises:
        ValueError: the file's structure is malformed (a truncated or corrupt file).
    """
    if fmt == "onnx":
        return _onnx_io(data)
    if fmt == "tflite":
        return _tflite_io(data)
    raise ValueError(f"unknown artifact format {fmt!r}")
