"""Export a checkpoint to self-describing ONNX and TFLite artifacts, verified against torch.

``export_checkpoint`` writes ``model.onnx`` (TorchScript exporter, the spec's opset) and
``model.tflite`` (onnx2tf from a copy of that ONNX), embeds the metadata in each, loads each through
the device runtime, checks parity with the torch model and writes ``manifest.json`` with checksums.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edgewise.export.metadata import Format, Precision, add_selfcheck, build_metadata
from edgewise.export.parity import PostProcess, check_parity, raise_for

__all__ = [
    "ExportedArtifact",
    "Format",
    "Precision",
    "build_metadata",
    "check_parity",
    "export_checkpoint",
    "parse_formats",
    "representative_inputs",
    "resolve_checkpoint",
]

FILE_NAMES = {Format.ONNX: "model.onnx", Format.TFLITE: "model.tflite"}


@dataclass(frozen=True)
class ExportedArtifact:
    """One written artifact: where it is, what it weighs, its checksum, parity record and metadata."""

    format: str
    path: Path
    size_bytes: int
    sha256: str
    parity: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def parse_formats(to: str | Sequence[str]) -> list[Format]:
    items = [t.strip() for t in (to.split(",") if isinstance(to, str) else to) if t.strip()]
    allowed = [f.value for f in Format]
    bad = [t for t in items if t not in allowed]
    if bad or not items:
        raise ValueError(f"unknown export format(s) {bad or items}; choose from {allowed}, e.g. --to onnx,tflite")
    return [Format(t) for t in dict.fromkeys(items)]


def representative_inputs(spec: Any, inputs: np.ndarray | None = None, *, training: dict[str, Any] | None = None,
                          n: int = 8, seed: int = 0) -> tuple[np.ndarray, str]:
    """Validate given inputs, else real windows of the task's data if present (ECG: LUDB), else ``n``
    seeded unit-Gaussian inputs; returns ``(float32 [batch, *input_shape], source note)``."""
    from edgewise.export._inputs import task_inputs

    shape = tuple(spec.input_shape)
    if inputs is None:
        real = task_inputs(spec, training or {})
        if real is not None:
            return real
        x = np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)
        return x, f"synthetic: {n} seeded unit-Gaussian inputs (pass real windows for a representative check)"
    x = np.asarray(inputs, dtype=np.float32)
    if x.ndim == len(shape):
        x = x[None]
    if tuple(x.shape[1:]) != shape:
        raise ValueError(f"parity inputs must be [batch, {', '.join(map(str, shape))}] for {spec.name}, "
                         f"got {tuple(np.shape(inputs))}")
    return x, f"given: {len(x)} inputs"


def _register_model_packages() -> None:
    """Import every model package under ``edgewise.models`` so their specs are registered."""
    import importlib
    import pkgutil

    import edgewise.models

    for info in pkgutil.iter_modules(edgewise.models.__path__):
        if info.ispkg and info.name != "pretrained":
            importlib.import_module(f"edgewise.models.{info.name}")


def resolve_checkpoint(checkpoint: Any) -> Any:
    """A ``Checkpoint`` as is, or load one from a path after registering every model package's specs."""
    from edgewise.models.checkpoint import Checkpoint, load_checkpoint

    if isinstance(checkpoint, Checkpoint):
        return checkpoint
    _register_model_packages()
    return load_checkpoint(checkpoint)


def export_checkpoint(checkpoint: Any, *, to: str | Sequence[str] = ("onnx", "tflite"), out: str | Path,
                      inputs: np.ndarray | None = None, postprocess: PostProcess | None = None,
                      atol: float | None = None) -> list[ExportedArtifact]:
    """Export a checkpoint to verified, self-describing artifacts in ``out``.

    Args:
        checkpoint: a ``.pt`` path or an ``edgewise.models.checkpoint.Checkpoint``.
        to: formats, ``("onnx", "tflite")`` or ``"onnx,tflite"``.
        out: folder for ``model.onnx``, ``model.tflite`` and ``manifest.json``.
        inputs: float32 ``[batch, *spec.input_shape]`` representative (real) inputs for the parity
            check; default: real windows of the task's data when present (ECG: LUDB test records),
            else seeded Gaussian inputs, recorded as synthetic.
        postprocess: see ``check_parity`` (results must be identical to torch's).
        atol: parity tolerance; default the spec's ``export_atol``.

    Returns:
        One ``ExportedArtifact`` per format, in the order asked.

    Raises:
        ExportMismatchError: an artifact does not match torch (files and manifest are still written,
            so the failure can be inspected).
    """
    from edgewise.export.onnx import export_onnx
    from edgewise.export.tflite import export_tflite
    from edgewise.runtime.artifact import read_metadata, sha256_file, write_manifest

    formats = parse_formats(to)
    ckpt = resolve_checkpoint(checkpoint)
    spec, out = ckpt.spec, Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x, source = representative_inputs(spec, inputs, training=ckpt.training)
    written: dict[Format, tuple[Path, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="edgewise-export-") as tmp:
        onnx_path = out / FILE_NAMES[Format.ONNX] if Format.ONNX in formats else Path(tmp) / "model.onnx"
        onnx_meta = build_metadata(ckpt, fmt=Format.ONNX, io={})
        onnx_meta.pop("io")
        export_onnx(ckpt.model, onnx_path, input_shape=tuple(spec.input_shape), opset=spec.opset, metadata=onnx_meta)
        if Format.ONNX in formats:
            add_selfcheck(onnx_path)
            written[Format.ONNX] = (onnx_path, read_metadata(onnx_path) or {})
        if Format.TFLITE in formats:
            meta = build_metadata(ckpt, fmt=Format.TFLITE, io={})
            tfl, _ = export_tflite(onnx_path, out / FILE_NAMES[Format.TFLITE], input_shape=tuple(spec.input_shape),
                                   layout=spec.input_layout.value, metadata=meta)
            add_selfcheck(tfl)
            written[Format.TFLITE] = (tfl, read_metadata(tfl) or {})
    tol = spec.export_atol if atol is None else atol
    record = check_parity(ckpt.model, [written[f][0] for f in formats], x, atol=tol, postprocess=postprocess,
                          inputs_source=source, raise_on_failure=False)
    entries = {}
    for f in formats:
        path, meta = written[f]
        entries[path.name] = {"format": f.value, "metadata": meta,
                              "parity": {**record["artifacts"][path.name], "atol": tol, "inputs": record["inputs"]}}
    write_manifest(out, entries)
    result = [ExportedArtifact(format=f.value, path=written[f][0], size_bytes=written[f][0].stat().st_size,
                               sha256=sha256_file(written[f][0]), parity=entries[written[f][0].name]["parity"],
                               metadata=written[f][1]) for f in formats]
    raise_for(record)  # after the manifest, so a failing export can be inspected
    return result
