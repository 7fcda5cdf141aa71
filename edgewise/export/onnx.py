"""Export a torch model to one ONNX file with the TorchScript exporter at the spec's opset.

``torch.onnx.export(..., dynamo=False)``: the dynamo exporter silently returns opset 18 when it cannot
down-convert to 17 and writes weights to a side file unless told otherwise (../shared/DEPENDENCIES.md),
so the opset is checked after export. The batch axis is dynamic; the edgewise metadata is embedded as
JSON in ``metadata_props["edgewise"]``.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edgewise.runtime.artifact import METADATA_KEY

INPUT_NAME = "input"


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
                metadata: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``path`` as one ONNX file.

    Args:
        model: torch module in eval mode taking float32 ``[batch, *input_shape]``.
        path: output ``.onnx`` file.
        input_shape: input shape without batch, in the model's layout.
        opset: ONNX opset (from the model spec); the written file is checked to have it.
        metadata: embedded under ``metadata_props["edgewise"]``; its ``io`` is filled in if absent.

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
    meta = dict(metadata or {})
    meta.setdefault("io", identity_io(INPUT_NAME, names, len(input_shape) + 1, ranks))
    write_onnx_metadata(path, meta, proto=proto)
    return path


def write_onnx_metadata(path: str | Path, metadata: dict[str, Any], *, proto: Any = None) -> Path:
    """Embed ``metadata`` as JSON in ``metadata_props["edgewise"]`` of an ONNX file (in place, one file).

    Also for artifacts made elsewhere (e.g. a quantised ONNX), so that they become self-describing.
    """
    import onnx

    path = Path(path)
    proto = onnx.load(str(path)) if proto is None else proto
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    for key, value in [*kept, (METADATA_KEY, json.dumps(metadata, sort_keys=True))]:
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path
