"""Convert the exported ONNX to TFLite with onnx2tf, decide the tensor layout once, embed the metadata.

onnx2tf (Hyodo, PINTO0309/onnx2tf) rewrites its input in place, so it converts a COPY whose batch is
fixed to 1 (a symbolic batch breaks its ConvTranspose lowering) and whose intermediate shapes are
cleared. It makes tensors channels-last (NCW -> NWC, NCHW -> NHWC). Instead of guessing, the layout
of the file's input and of each output is found by running the TFLite and the ONNX on one probe
input and matching outputs; the result is recorded in the metadata's ``io`` so the runtime feeds and
reads the file in the model's own layout. The metadata is embedded as a FlatBuffer ``Model.metadata``
entry named ``"edgewise"`` (readable on the device with ``edgewise.runtime.artifact``), with the file's
``content_sha256`` stamped over its placeholder once the file is serialized (``write_checked``; a file
compacted with its metadata is re-stamped).

``compact_tflite`` is ``flatbuffer_utils.strip_strings`` minus what the runtime reads: the converter's
long tensor names (``model/tf.nn.convolution_12/...``), the description, subgraph name and the
signature defs (the runtime uses the subgraph's inputs/outputs) go; the input/output tensors keep
short names (the metadata's ``io`` refers to them; an embedded ``io`` is renamed with them) and metadata
entries the runtime never reads (``CONVERSION_METADATA``, duplicate ``min_runtime_version``) are dropped,
and activation tensors share the empty buffer 0 instead of one empty buffer each, and identical vectors
and option/quantisation tables are stored once (``edgewise.export._flatbuffer``). Applied alike to float
and quantised files; outputs are bit-identical (tested).

1-D conv nets are lifted to 2-D before conversion (``edgewise.export.onnx_lift``): one TFLite op per
layer instead of reshapes around every convolution.
"""
from __future__ import annotations

import contextlib
import io as _io
import json
import os
import shutil
import tempfile
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np

from edgewise._quiet import debug_enabled, quiet
from edgewise.export._flatbuffer import write_shared
from edgewise.export.metadata import check_before_writing, metadata_json, stamp_bytes

_CHANNELS_LAST = {"NCW": "NWC", "NCHW": "NHWC"}


def _static_copy(src: Path, dst: Path, *, lift: bool = True) -> bool:
    """Copy the ONNX with batch 1 on every input/output, no intermediate shapes and no metadata, lifted
    to 2-D when it is a 1-D conv net (``edgewise.export.onnx_lift``). Returns whether it was lifted."""
    import onnx

    from edgewise.export.onnx_lift import NotLiftable, lift_to_2d

    proto = onnx.load(str(src))
    for v in list(proto.graph.input) + list(proto.graph.output):
        dims = v.type.tensor_type.shape.dim
        if dims:
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    del proto.graph.value_info[:]
    del proto.metadata_props[:]
    lifted = False
    if lift:
        try:
            proto, lifted = lift_to_2d(proto), True
        except NotLiftable:
            pass
    onnx.save(proto, str(dst))
    return lifted


def _candidate_perms(rank: int, *, any_order: bool = False) -> list[tuple[int, ...]]:
    """Identity and channels-last (``[0, 2, ..., rank-1, 1]``) for rank >= 3; ``any_order``: also every
    other order that keeps the batch axis first (onnx2tf moves the channel axis of a rank-4 output whose
    inner dimensions are (classes, samples), e.g. a Hydra's [batch, heads, classes, samples], to the end)."""
    from itertools import permutations

    ident = tuple(range(rank))
    first = [ident] if rank < 3 else [ident, (0, *range(2, rank), 1)]
    if not any_order or rank < 3:
        return first
    return first + [(0, *p) for p in permutations(range(1, rank)) if (0, *p) not in first]


def match_io(onnx_path: Path, tflite_path: Path, *, input_shape: tuple[int, ...], layout: str,
             seed: int = 0) -> tuple[dict[str, Any], float]:
    """Find how the TFLite's tensors map to the model's layout by running both files on one probe.

    Returns:
        ``(io, worst max-abs difference of the chosen mapping)``; ``io`` as in ``build_metadata``.
    """
    from edgewise.runtime.backends import dequantize, get_backend, load_model, quantize

    ref_model = load_model(onnx_path, require_metadata=False, warmup=0)
    session = get_backend("litert").open(Path(tflite_path), threads=1)
    probe = np.random.default_rng(seed).standard_normal((1, *input_shape)).astype(np.float32)
    ref = ref_model.run(probe)
    ref = ref if isinstance(ref, dict) else {ref_model.output_names[0]: ref}
    native_in = session.inputs[0]
    best: tuple[float, dict[str, Any]] | None = None
    for perm in _candidate_perms(probe.ndim):
        if tuple(probe.transpose(perm).shape) != tuple(d or 1 for d in native_in.shape):
            continue
        native = np.ascontiguousarray(probe.transpose(perm))
        raw = session.run(quantize(native, native_in) if native_in.scale else native)
        raw = [dequantize(y, t) if t.scale else y for y, t in zip(raw, session.outputs)]
        outputs, worst, used = [], 0.0, set()
        for name, want in ref.items():
            options = []
            for (k, y), operm in product(enumerate(raw), _candidate_perms(want.ndim, any_order=True)):
                if k in used or y.ndim != want.ndim or y.transpose(operm).shape != want.shape:
                    continue
                options.append((float(np.max(np.abs(y.transpose(operm) - want))), k, operm))
            if not options:
                break
            err, k, operm = min(options)
            used.add(k)
            worst = max(worst, err)
            outputs.append({"name": name, "tensor": session.outputs[k].name, "perm": list(operm)})
        else:
            in_layout = layout if perm == tuple(range(probe.ndim)) else _CHANNELS_LAST.get(layout, "channels-last")
            io = {"input": {"tensor": native_in.name, "perm": list(perm), "layout": in_layout}, "outputs": outputs}
            if best is None or worst < best[0]:
                best = (worst, io)
    if best is None:
        raise ValueError(f"cannot match the TFLite's tensors {[t.shape for t in session.outputs]} to the "
                         f"ONNX outputs {[v.shape for v in ref.values()]}: the conversion changed their shapes")
    return best[1], best[0]


def embed_metadata(src: Path, dst: Path, metadata: dict[str, Any]) -> None:
    """Write ``src`` to ``dst`` with ``metadata`` as the FlatBuffer metadata entry ``"edgewise"``.

    Raises:
        ArtifactError: the metadata breaks the schema or contradicts the graph (``dst`` is not written).
    """
    with quiet():  # the first TensorFlow import logs
        from tensorflow.lite.python import schema_py_generated as schema
        from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    model.metadata = [m for m in (model.metadata or []) if m.name not in (b"edgewise", "edgewise")]
    buffer = schema.BufferT()
    # the file's own format, whatever the source said; its own content hash, stamped once serialized
    text = metadata_json({**metadata, "format": "tflite"}, stamp=True)
    buffer.data = np.frombuffer(text.encode(), np.uint8)
    model.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name, entry.buffer = "edgewise", len(model.buffers) - 1
    model.metadata.append(entry)
    write_checked(model, Path(dst), text)


def write_checked(model: Any, dst: Path, text: str) -> None:
    """Write a TFLite model object to ``dst`` only if its metadata ``text`` passes the artifact schema and
    agrees with the graph (``edgewise.runtime.artifact.check_metadata``): written beside ``dst`` first,
    stamped with its ``content_sha256`` (``text`` holds the placeholder: ``metadata_json(..., stamp=True)``),
    checked, then moved into place, so a refused file never replaces a good one."""
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    try:
        write_shared(model, tmp)
        data = stamp_bytes(tmp.read_bytes())
        check_before_writing(dst, text, data)
        tmp.write_bytes(data)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def compact_tflite(src: str | Path, dst: str | Path | None = None) -> Path:
    """Strip what the interpreter never reads from a TFLite file (see the module docstring).

    Args:
        src: ``.tflite`` written by the TFLite converter (no buffer offsets, i.e. < 2 GB).
        dst: output path (default: in place).

    Returns:
        The written path.
    """
    with quiet():  # the first TensorFlow import logs
        from tensorflow.lite.tools import flatbuffer_utils

    src = Path(src)
    dst = Path(dst or src)
    model = flatbuffer_utils.read_model(str(src))
    model.description = None
    model.signatureDefs = None
    renamed: dict[str, str] = {}
    for k, sg in enumerate(model.subgraphs):
        sg.name = None
        io = {int(i): f"in{j}" for j, i in enumerate(sg.inputs)}
        io.update({int(i): f"out{j}" for j, i in enumerate(sg.outputs)})
        for i, t in enumerate(sg.tensors):
            if k == 0 and i in io and t.name is not None:
                renamed[t.name.decode() if isinstance(t.name, bytes) else t.name] = io[i]
            t.name = (io[i] if k == 0 else f"s{k}_{io[i]}") if i in io else None
    stamped = _rename_io(model, renamed)
    seen, kept = set(), []
    for m in model.metadata or []:
        name = m.name.decode() if isinstance(m.name, bytes) else m.name
        if name == "CONVERSION_METADATA" or name in seen:
            model.buffers[m.buffer].data = None  # the buffer index stays valid, its bytes go
            continue
        seen.add(name)
        kept.append(m)
    model.metadata = kept
    _share_empty_buffers(model)
    write_shared(model, dst)
    if stamped:  # the compacted file's own content hash
        dst.write_bytes(stamp_bytes(dst.read_bytes()))
    return dst


def _rename_io(model: Any, renamed: dict[str, str]) -> bool:
    """Keep an embedded ``edgewise`` metadata's ``io`` tensor names in step with the renamed graph tensors
    (the runtime finds outputs by these names; the metadata check compares them with the graph), and give
    it a ``content_sha256`` placeholder for the compacted file. Returns whether there is such metadata."""
    entry = next((m for m in model.metadata or [] if m.name in (b"edgewise", "edgewise")), None)
    if entry is None or model.buffers[entry.buffer].data is None:
        return False
    try:
        meta = json.loads(bytes(model.buffers[entry.buffer].data))
    except ValueError:
        return False  # not edgewise's JSON: left as it is (the runtime refuses it with one line)
    if not isinstance(meta, dict):
        return False
    io = meta.get("io")
    for t in [io.get("input"), *(io.get("outputs") or [])] if isinstance(io, dict) else []:
        if isinstance(t, dict) and t.get("tensor") in renamed:
            t["tensor"] = renamed[t["tensor"]]
    model.buffers[entry.buffer].data = np.frombuffer(metadata_json(meta, stamp=True).encode(), np.uint8)
    return True


def _share_empty_buffers(model: Any) -> None:
    """Point every tensor without constant data at buffer 0 (the schema's empty sentinel) and drop the
    converter's one-empty-buffer-per-activation (~12 bytes each)."""
    if model.metadataBuffer is not None and len(model.metadataBuffer):
        return  # deprecated index list into buffers: leave the numbering alone
    empty = {i for i, b in enumerate(model.buffers) if i > 0 and (b.data is None or len(b.data) == 0)
             and not getattr(b, "offset", 0)}
    keep = [i for i in range(len(model.buffers)) if i not in empty]
    new = {old: k for k, old in enumerate(keep)}
    for sg in model.subgraphs:
        for t in sg.tensors:
            t.buffer = new.get(t.buffer, 0)
    for m in model.metadata or []:
        m.buffer = new[m.buffer]
    model.buffers = [model.buffers[i] for i in keep]


def convert_onnx(onnx_path: str | Path, work: Path, *, lift: bool = True) -> Path:
    """onnx2tf on a static-batch copy of ``onnx_path`` (lifted to 2-D if ``lift`` and it is a 1-D conv
    net); returns the float32 .tflite inside ``work``."""
    copy = work / "copy.onnx"
    _static_copy(Path(onnx_path), copy, lift=lift)
    out = work / "tf"
    # onnx2tf prints to stdout; with --debug it reaches the console, else the tail goes into the error
    printed = contextlib.nullcontext(None) if debug_enabled() else contextlib.redirect_stdout(_io.StringIO())
    with quiet("onnx2tf/TensorFlow"), printed as log:
        import onnx2tf

        try:
            onnx2tf.convert(input_onnx_file_path=str(copy), output_folder_path=str(out), non_verbose=True)
        except BaseException as e:  # onnx2tf calls sys.exit() on some failures
            tail = log.getvalue().strip().splitlines()[-5:] if log is not None else ["(printed above)"]
            raise ValueError(f"onnx2tf could not convert {onnx_path} ({type(e).__name__}: {e}); "
                             f"last output: {' | '.join(tail)}") from e
    found = sorted(out.glob("*_float32.tflite"))
    if not found:
        raise ValueError(f"onnx2tf wrote no float32 .tflite for {onnx_path} (files: {sorted(p.name for p in out.iterdir())})")
    return found[0]


def export_tflite(onnx_path: str | Path, path: str | Path, *, input_shape: tuple[int, ...], layout: str,
                  metadata: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
    """Convert ``onnx_path`` to a self-describing fp32 TFLite at ``path``.

    Args:
        onnx_path: the exported ONNX (left untouched).
        path: output ``.tflite``.
        input_shape: model input shape without batch, in ``layout``.
        layout: the model's input layout (``"NCW"``, ...).
        metadata: artifact metadata; ``io`` is replaced by the mapping found here.

    Returns:
        ``(path, metadata as embedded)``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgewise-tflite-") as tmp:
        raw = compact_tflite(convert_onnx(onnx_path, Path(tmp)))
        io, _ = match_io(Path(onnx_path), raw, input_shape=input_shape, layout=layout)
        meta = {**metadata, "io": io}
        embed_metadata(raw, Path(tmp) / "embedded.tflite", meta)
        shutil.copyfile(Path(tmp) / "embedded.tflite", path)
    return path, json.loads(metadata_json(meta))  # as embedded, less the file's own content_sha256
