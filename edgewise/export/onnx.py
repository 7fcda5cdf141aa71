"""Export a torch model to one ONNX file with the TorchScript exporter at the spec's opset.

``torch.onnx.export(..., dynamo=False)``: the dynamo exporter silently returns opset 18 when it cannot
down-convert to 17 and writes weights to a side file unless told otherwise (../shared/DEPENDENCIES.md),
so the opset is checked after export. The batch axis is dynamic; the edgewise metadata is embedded as
compact JSON in ``metadata_props["edgewise"]``, with the file's ``content_sha256`` (stamped after
serialization: ``edgewise.export.metadata.stamp_bytes``).

``compact_onnx`` removes bytes that serve no purpose at run time, as onnxruntime's and onnxsim's own
cleanups do, and is applied alike to float and quantised files (so size ratios compare like with like):
internal tensor names become short ids (graph inputs/outputs keep theirs: the metadata's ``io`` refers to
them), only compute layers keep their node names (mixed precision and profilers refer to them), identical
initializers are stored once (``Identity`` aliases of them removed), attributes equal to the
operator's default and ``value_info``/doc strings are dropped. The graph computes exactly the same outputs (tested).
"""
from __future__ import annotations

import itertools

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.runtime.artifact import METADATA_KEY

INPUT_NAME = "input"
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm", "QLinearConv", "QLinearMatMul", "ConvInteger",
               "MatMulInteger")
# attribute -> the value every element takes when the attribute is absent (ONNX operator specs, opset >= 11)
_DEFAULT_ATTRS = {"dilations": 1, "strides": 1, "pads": 0, "output_padding": 0, "group": 1}
_HAS_DEFAULT_ATTRS = {"Conv", "ConvTranspose", "QLinearConv", "ConvInteger", "MaxPool", "AveragePool"}


def torch_outputs(model: Any, x: np.ndarray) -> dict[str, np.ndarray]:
    """Run ``model`` on float32 ``x`` ``[batch, ...]``; outputs named as in the exported ONNX.

    A single tensor output is ``"logits"``; a tuple/list gives ``"output_0"``, ``"output_1"``, ...
    """
    import torch

    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)))
    if isinstance(y, torch.Tensor):
        return {"logits": y.detach().cpu().numpy()}
    if isinstance(y, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in y):
        return {f"output_{i}": t.detach().cpu().numpy() for i, t in enumerate(y)}
    raise TypeError(f"the model returns {type(y).__name__}; export supports a tensor or a tuple of tensors")


def export_onnx(model: Any, path: str | Path, *, input_shape: tuple[int, ...], opset: int,
                metadata: dict[str, Any] | None = None, compact: bool = True) -> Path:
    """Write ``model`` to ``path`` as one ONNX file.

    Args:
        model: torch module in eval mode taking float32 ``[batch, *input_shape]``.
        path: output ``.onnx`` file.
        input_shape: input shape without batch, in the model's layout.
        opset: ONNX opset (from the model spec); the written file is checked to have it.
        metadata: embedded under ``metadata_props["edgewise"]`` (checked against the artifact schema and the
            graph); its ``io`` is filled in if absent. None or empty: no edgewise metadata is written.
        compact: apply ``compact_onnx`` (same outputs, fewer bytes).

    Returns:
        ``path``.

    Raises:
        ValueError: the exporter produced another opset or external weight files.
    """
    import onnx
    import torch

    from edgewise.export.metadata import identity_io

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dummy = np.zeros((1, *input_shape), np.float32)
    outs = torch_outputs(model, dummy)
    names, ranks = list(outs), [v.ndim for v in outs.values()]
    with warnings.catch_warnings():  # the TorchScript exporter is chosen on purpose (see module docstring)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (torch.from_numpy(dummy),), str(path), dynamo=False, opset_version=opset,
            input_names=[INPUT_NAME], output_names=names, do_constant_folding=True,
            dynamic_axes={n: {0: "batch"} for n in [INPUT_NAME, *names]},
        )
    proto = onnx.load(str(path), load_external_data=False)
    got = {o.domain or "": o.version for o in proto.opset_import}.get("", None)
    if got != opset:
        raise ValueError(f"the ONNX exporter wrote opset {got}, not the spec's {opset}; "
                         "change ModelSpec.opset or the model's ops")
    if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer):
        raise ValueError(f"{path}: weights were written to a side file; edgewise artifacts are one file")
    if compact:
        compact_onnx(proto)
    if not metadata:  # a plain ONNX (not an edgewise artifact: it runs with explicit fs and layout)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(path))
        return path
    meta = {"io": identity_io(INPUT_NAME, names, len(input_shape) + 1, ranks), **metadata}
    write_onnx_metadata(path, meta, proto=proto)
    return path


_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = _LETTERS + "0123456789"


def _short_id(i: int) -> str:
    """The ``i``-th shortest name: a letter, then letters or digits (52 of one character, 3,224 of two)."""
    if i < len(_LETTERS):
        return _LETTERS[i]
    i -= len(_LETTERS)
    out, width, block = "", 2, len(_LETTERS) * len(_DIGITS)
    while i >= block:
        i, width, block = i - block, width + 1, block * len(_DIGITS)
    for _ in range(width - 1):
        i, r = divmod(i, len(_DIGITS))
        out = _DIGITS[r] + out
    return _LETTERS[i] + out


def _dedupe_initializers(graph: Any) -> dict[str, str]:
    """Drop initializers identical (dtype, shape, bytes) to an earlier one; returns ``dropped -> kept``."""
    from onnx import numpy_helper

    first: dict[tuple, str] = {}
    alias: dict[str, str] = {}
    keep = []
    inputs = {v.name for v in graph.input}  # IR < 4 lists initializers as inputs: leave those alone
    for t in graph.initializer:
        if t.name in inputs:
            keep.append(t)
            continue
        a = numpy_helper.to_array(t)
        key = (t.data_type, tuple(t.dims), a.tobytes())
        if key in first:
            alias[t.name] = first[key]
        else:
            first[key] = t.name
            keep.append(t)
    if alias:
        del graph.initializer[:]
        graph.initializer.extend(keep)
    return alias


def _drop_identities(graph: Any) -> dict[str, str]:
    """Remove ``Identity`` nodes that only alias an initializer (the exporter's way of sharing equal
    constants); returns ``output -> initializer`` for renaming their consumers."""
    inits = {t.name for t in graph.initializer}
    outputs = {v.name for v in graph.output}
    drop = [n for n in graph.node if n.op_type == "Identity" and n.input[0] in inits and n.output[0] not in outputs]
    for n in drop:
        graph.node.remove(n)
    return {n.output[0]: n.input[0] for n in drop}


def _scalar_weight_zero_points(graph: Any) -> None:
    """A QLinearConv's all-zero per-channel weight zero point becomes one scalar 0 (the spec allows a scalar)."""
    import numpy as np
    from onnx import numpy_helper

    inits = {t.name: t for t in graph.initializer}
    for n in graph.node:
        t = inits.get(n.input[5]) if n.op_type == "QLinearConv" and len(n.input) > 5 else None
        if t is not None and len(t.dims) == 1 and not numpy_helper.to_array(t).any():
            t.CopyFrom(numpy_helper.from_array(np.zeros((), numpy_helper.to_array(t).dtype), t.name))


def compact_onnx(proto: Any) -> Any:
    """Remove what onnxruntime never reads, in place (see the module docstring); returns ``proto``.

    Args:
        proto: ``onnx.ModelProto`` with its weights inside (not external data).
    """
    g = proto.graph
    _scalar_weight_zero_points(g)
    alias = _dedupe_initializers(g)
    alias.update(_drop_identities(g))
    keep = {v.name for v in list(g.input) + list(g.output)}
    names: dict[str, str] = {}

    ids = (n for n in map(_short_id, itertools.count()) if n not in keep)

    def short(name: str) -> str:
        while name in alias:
            name = alias[name]
        if not name or name in keep:
            return name
        if name not in names:
            names[name] = next(ids)
        return names[name]

    for t in g.initializer:
        t.name = short(t.name)
    for n in g.node:
        n.name = n.name.removesuffix("_quant") if n.op_type in COMPUTE_OPS else ""
        n.doc_string = ""
        n.input[:] = [short(x) for x in n.input]
        n.output[:] = [short(x) for x in n.output]
        if n.op_type in _HAS_DEFAULT_ATTRS:
            drop = [a for a in n.attribute if a.name in _DEFAULT_ATTRS
                    and all(v == _DEFAULT_ATTRS[a.name] for v in (a.ints if a.ints else [a.i]))]
            for a in drop:
                n.attribute.remove(a)
    del g.value_info[:]
    g.doc_string = proto.doc_string = ""
    return proto


def write_onnx_metadata(path: str | Path, metadata: dict[str, Any], *, proto: Any = None) -> Path:
    """Embed ``metadata`` as JSON in ``metadata_props["edgewise"]`` of an ONNX file (in place, one file),
    with the written file's ``content_sha256``.

    Also for artifacts made elsewhere (e.g. a quantised ONNX), so that they become self-describing.

    Raises:
        ArtifactError: the metadata breaks the schema or contradicts the graph (nothing is written).
    """
    import onnx

    from edgewise.export.metadata import check_before_writing, metadata_json, stamp_bytes

    path = Path(path)
    proto = onnx.load(str(path)) if proto is None else proto
    # the file's own format, whatever the source said; its own content hash, stamped once serialized
    text = metadata_json({**metadata, "format": "onnx"}, stamp=True)
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    for key, value in [*kept, (METADATA_KEY, text)]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    data = stamp_bytes(proto.SerializeToString())
    check_before_writing(path, text, data)  # a bad artifact is never written
    path.write_bytes(data)
    return path
