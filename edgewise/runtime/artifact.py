"""Artifact files on the device: format detection, edgewise metadata, safety checks, bundle manifests.

Everything here needs only the standard library (no onnx, no tensorflow, no flatbuffers package):

- ONNX files are protobuf ``ModelProto`` messages. A small wire-format walker finds the
  ``metadata_props`` (field 14) and every tensor's ``external_data`` location, so an ONNX whose
  external weights point outside its folder is refused before any runtime opens it (onnxruntime
  >= 1.2x refuses such files too; older ones did not).
- TFLite files are FlatBuffers (identifier ``TFL3``). A bounds-checked reader of the schema's
  ``Model.metadata`` / ``Model.buffers`` tables finds the ``"edgewise"`` metadata buffer that
  ``edgewise.export.tflite`` embeds; a ``manifest.json`` beside the file is the fallback.

The metadata is one JSON object (schema ``edgewise-artifact/1``), stored under the key ``"edgewise"``.
A bundle is a folder of artifacts plus ``manifest.json`` holding each file's sha256 and metadata.
Both are untrusted input: bounded in size (checked on the raw span, before a byte is decoded) and depth,
then checked against ``edgewise.runtime.metadata_schema`` and, for an artifact, against its own graph's
input/output shapes (``edgewise.runtime.graph_io``) before anything is sized from them. An artifact whose
metadata carries ``content_sha256`` is first checked against it (``edgewise.runtime.content_hash``: the
sha256 of the whole file with that value read as zeros), so a changed weight is refused too.
References: ONNX IR spec (onnx/onnx ``onnx.proto``), TFLite schema (``tensorflow/lite/schema/schema.fbs``),
FlatBuffers binary format (google.github.io/flatbuffers/flatbuffers_internals.html).
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any, Iterator

from edgewise.runtime.errors import ArtifactError, InputError
from edgewise.runtime.validator import load_json, size_text

__all__ = [
    "LAYOUTS",
    "METADATA_KEY",
    "SCHEMA",
    "MANIFEST_NAME",
    "detect_format",
    "metadata_spans",
    "check_metadata",
    "read_metadata",
    "resolve_metadata",
    "check_onnx_external_data",
    "sha256_file",
    "write_manifest",
    "verify_manifest",
]

METADATA_KEY = "edgewise"
SCHEMA = "edgewise-artifact/1"
MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = "edgewise-bundle/1"
_TFLITE_ID = b"TFL3"
_EXTENSIONS = {".onnx": "onnx", ".tflite": "tflite"}
LAYOUTS = ("NCW", "NWC", "NCHW", "NHWC")  # the values of edgewise.models.spec.Layout


# ----------------------------------------------------------------------------------------------
# protobuf wire format (just enough of it to read ONNX ModelProto)
# ----------------------------------------------------------------------------------------------
def _varint(buf: bytes, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError("truncated or malformed varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes, start: int, end: int) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(field_number, wire_type, value)``; length-delimited values are ``(start, end)`` spans."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
        elif wire == 1:
            if pos + 8 > end:
                raise ValueError("truncated fixed64")
            value, pos = None, pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise ValueError(f"length-delimited field {number} runs past the end of the data")
            value, pos = (pos, pos + length), pos + length
        elif wire == 5:
            if pos + 4 > end:
                raise ValueError("truncated fixed32")
            value, pos = None, pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield number, wire, value


def _string_map(buf: bytes, span: tuple[int, int]) -> tuple[str, str]:
    """Decode a ``StringStringEntryProto`` (key = 1, value = 2)."""
    key = value = ""
    for number, wire, v in _fields(buf, *span):
        if wire == 2 and number in (1, 2):
            text = buf[v[0]:v[1]].decode("utf-8", errors="replace")
            key, value = (text, value) if number == 1 else (key, text)
    return key, value


# Which length-delimited fields hold nested messages worth walking: message -> {field: child message}.
_ONNX_CHILDREN: dict[str, dict[int, str]] = {
    "model": {7: "graph", 25: "function"},
    "graph": {1: "node", 5: "tensor", 15: "sparse"},
    "function": {7: "node"},
    "node": {5: "attribute"},
    "attribute": {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"},
    "sparse": {1: "tensor", 2: "tensor"},
}


def _external_locations(buf: bytes, span: tuple[int, int], kind: str, out: list[str], depth: int = 0) -> None:
    if depth > 64:
        raise ValueError("nesting deeper than 64 levels")
    if kind == "tensor":
        for number, wire, v in _fields(buf, *span):
            if number == 13 and wire == 2:  # TensorProto.external_data
                key, value = _string_map(buf, v)
                if key == "location":
                    out.append(value)
        return
    children = _ONNX_CHILDREN[kind]
    for number, wire, v in _fields(buf, *span):
        if wire == 2 and number in children:
            _external_locations(buf, v, children[number], out, depth + 1)


def _prop_span(buf: bytes, span: tuple[int, int]) -> tuple[str, tuple[int, int]]:
    """A ``StringStringEntryProto``'s key and the span of its value (decoded only once its size is checked)."""
    key, value = "", (span[0], span[0])
    for number, wire, v in _fields(buf, *span):
        if wire == 2 and number == 1:
            key = buf[v[0]:v[1]].decode("utf-8", errors="replace")
        elif wire == 2 and number == 2:
            value = v
    return key, value


def _parse_onnx(buf: bytes) -> tuple[dict[str, tuple[int, int]], list[str]]:
    """Return ``(metadata_props as key -> value span, external data locations)`` of a serialized ModelProto."""
    props: dict[str, tuple[int, int]] = {}
    locations: list[str] = []
    has_graph = has_ir = False
    for number, wire, v in _fields(buf, 0, len(buf)):
        if number == 1 and wire == 0:
            has_ir = True
        elif number == 7 and wire == 2:
            has_graph = True
            _external_locations(buf, v, "graph", locations)
        elif number == 25 and wire == 2:
            _external_locations(buf, v, "function", locations)
        elif number == 14 and wire == 2:
            key, value = _prop_span(buf, v)
            props[key] = value
    if not (has_graph and has_ir):
        raise ValueError("no ir_version or graph: this protobuf is not an ONNX model")
    return props, locations


# ----------------------------------------------------------------------------------------------
# FlatBuffers (just enough of the TFLite schema to read Model.metadata)
# ----------------------------------------------------------------------------------------------
class _FB:
    """Bounds-checked reads of a FlatBuffer; every failure is a ``ValueError``."""

    def __init__(self, buf: bytes):
        self.buf = buf

    def _u(self, fmt: str, pos: int) -> int:
        size = struct.calcsize(fmt)
        if pos < 0 or pos + size > len(self.buf):
            raise ValueError(f"offset {pos} outside the file ({len(self.buf)} bytes)")
        return struct.unpack_from(fmt, self.buf, pos)[0]

    def field(self, table: int, index: int) -> int | None:
        """Absolute position of field ``index`` of the table at ``table``, or None when absent."""
        vtable = table - self._u("<i", table)
        vt_size = self._u("<H", vtable)
        slot = 4 + 2 * index
        if slot + 2 > vt_size:
            return None
        off = self._u("<H", vtable + slot)
        return table + off if off else None

    def deref(self, pos: int) -> int:
        return pos + self._u("<I", pos)

    def vector(self, table: int, index: int) -> tuple[int, int]:
        """``(first element position, length)`` of a vector field; ``(0, 0)`` when absent."""
        pos = self.field(table, index)
        if pos is None:
            return 0, 0
        vec = self.deref(pos)
        n = self._u("<I", vec)
        return vec + 4, n

    def string(self, table: int, index: int) -> str:
        start, n = self.vector(table, index)
        if start + n > len(self.buf):
            raise ValueError("string runs past the end of the file")
        return self.buf[start:start + n].decode("utf-8", errors="replace")


def _tflite_metadata(buf: bytes) -> dict[str, tuple[int, int]]:
    """Map ``Model.metadata[i].name -> span of Model.buffers[metadata[i].buffer].data`` of a TFLite file."""
    fb = _FB(buf)
    root = fb.deref(0)
    meta_start, n_meta = fb.vector(root, 6)     # Model.metadata: [Metadata]
    buf_start, n_bufs = fb.vector(root, 4)      # Model.buffers: [Buffer]
    if meta_start + 4 * n_meta > len(buf) or buf_start + 4 * n_bufs > len(buf):
        raise ValueError("the metadata or buffer list runs past the end of the file")
    out: dict[str, tuple[int, int]] = {}
    for i in range(n_meta):
        entry = fb.deref(meta_start + 4 * i)
        name = fb.string(entry, 0)
        pos = fb.field(entry, 1)
        index = fb._u("<I", pos) if pos is not None else 0
        if index >= n_bufs:
            raise ValueError(f"metadata {name!r} points at buffer {index} of {n_bufs}")
        buffer = fb.deref(buf_start + 4 * index)
        data_start, n = fb.vector(buffer, 0)
        if n == 0:  # large models keep buffers after the flatbuffer: Buffer.offset / Buffer.size
            off_pos, size_pos = fb.field(buffer, 1), fb.field(buffer, 2)
            if off_pos is not None and size_pos is not None:
                data_start, n = fb._u("<Q", off_pos), fb._u("<Q", size_pos)
        if data_start + n > len(buf):
            raise ValueError(f"metadata {name!r} runs past the end of the file")
        out[name] = (data_start, data_start + n)
    return out


# ----------------------------------------------------------------------------------------------
# public API
# ----------------------------------------------------------------------------------------------
def _read(path: Path) -> bytes:
    if not path.is_file():
        raise FileNotFoundError(f"no model artifact at {path}")
    data = path.read_bytes()
    if not data:
        raise ArtifactError(f"{path} is empty (0 bytes); re-export it with `edgewise export`")
    return data


def detect_format(path: str | Path, data: bytes | None = None) -> str:
    """Return ``"onnx"`` or ``"tflite"`` from the file's content (the extension is only a hint).

    Raises:
        ArtifactError: the file is neither a TFLite FlatBuffer nor an ONNX protobuf.
    """
    path = Path(path)
    data = _read(path) if data is None else data
    if len(data) >= 8 and data[4:8] == _TFLITE_ID:
        return "tflite"
    try:
        _parse_onnx(data)
        return "onnx"
    except ValueError as e:
        hint = _EXTENSIONS.get(path.suffix.lower())
        what = f"a corrupt or truncated {hint.upper() if hint == 'onnx' else 'TFLite'} file" if hint else "not a model"
        raise ArtifactError(
            f"{path} is {what}: neither a TFLite FlatBuffer (no 'TFL3' identifier) nor an ONNX model "
            f"({e}); re-export it with `edgewise export` or check the download"
        ) from e


def check_onnx_external_data(path: str | Path, data: bytes | None = None) -> list[str]:
    """Refuse an ONNX whose external-data locations leave its folder; return the locations.

    Raises:
        ArtifactError: a location is absolute or resolves (after symlinks) outside ``path.parent``.
    """
    path = Path(path)
    data = _read(path) if data is None else data
    try:
        _, locations = _parse_onnx(data)
    except ValueError as e:
        raise ArtifactError(f"{path} is not a readable ONNX model ({e})") from e
    folder = path.resolve().parent
    for loc in locations:
        target = (folder / loc).resolve()
        if os.path.isabs(loc) or (target != folder and folder not in target.parents):
            raise ArtifactError(
                f"refusing {path}: its external weights point outside the model's folder ({loc!r}); "
                "only files inside the folder are allowed (re-export with all weights in one file)"
            )
    return locations


def _parse_json(text: str | bytes, where: str) -> dict[str, Any]:
    from edgewise.runtime.metadata_schema import MAX_METADATA_BYTES

    return load_json(text, where=where, what="the edgewise metadata", max_bytes=MAX_METADATA_BYTES,
                     error=ArtifactError)


def _load_manifest(path: Path, *, folder: Path | None = None) -> dict[str, Any]:
    """``manifest.json``: bounded in size and depth, and checked against ``metadata_schema.MANIFEST``;
    with ``folder``, a listed name that leaves the folder is refused first."""
    from edgewise.runtime.metadata_schema import MAX_MANIFEST_BYTES, validate_manifest

    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ArtifactError(f"{path} is {size} bytes; a manifest is at most {size_text(MAX_MANIFEST_BYTES)}")
    manifest = load_json(path.read_bytes(), where=str(path), what="the manifest", max_bytes=MAX_MANIFEST_BYTES,
                         error=ArtifactError)
    if folder is not None and isinstance(manifest.get("artifacts"), dict):
        root = folder.resolve()
        for name in manifest["artifacts"]:
            if root not in (folder / name).resolve().parents:
                raise ArtifactError(f"{path} lists {name!r}, which is outside the bundle folder")
    return validate_manifest(manifest, where=str(path))


def _from_manifest(path: Path) -> dict[str, Any] | None:
    manifest = path.parent / MANIFEST_NAME
    if not manifest.is_file():
        return None
    entry = _load_manifest(manifest)["artifacts"].get(path.name)
    return dict(entry["metadata"]) if isinstance(entry, dict) and isinstance(entry.get("metadata"), dict) else None


def metadata_spans(data: bytes) -> dict[str, tuple[int, int]]:
    """Each metadata entry's name -> the ``(start, end)`` span of its value in ``data``: an ONNX file's
    ``metadata_props``, a TFLite file's ``Model.metadata`` buffers (the format from the content).

    Raises:
        ValueError: the data is not a readable ONNX or TFLite file.
    """
    if len(data) >= 8 and data[4:8] == _TFLITE_ID:
        return _tflite_metadata(data)
    return _parse_onnx(data)[0]


def _embedded_metadata(path: Path, data: bytes, fmt: str) -> tuple[dict[str, Any] | None, tuple[int, int] | None]:
    """The embedded metadata and the span of its JSON in ``data``; ``(None, None)`` when there is none."""
    from edgewise.runtime.metadata_schema import MAX_METADATA_BYTES

    try:
        spans = _parse_onnx(data)[0] if fmt == "onnx" else _tflite_metadata(data)
    except ValueError as e:
        raise ArtifactError(f"{path} is a corrupt or truncated {fmt.upper() if fmt == 'onnx' else 'TFLite'} "
                            f"file ({e})") from e
    span = spans.get(METADATA_KEY)
    if span is None:
        return None, None
    if span[1] - span[0] > MAX_METADATA_BYTES:  # before a byte of it is copied or decoded
        raise ArtifactError(f"the edgewise metadata in {path} is {span[1] - span[0]} bytes; the limit is "
                            f"{size_text(MAX_METADATA_BYTES)}: not an edgewise artifact, or padded on purpose")
    return _parse_json(data[span[0]:span[1]], str(path)), span


def check_metadata(path: str | Path, meta: Any, *, data: bytes | None = None) -> dict[str, Any]:
    """Check ``meta`` as the metadata of the artifact at ``path``: the schema (``edgewise.runtime.
    metadata_schema``) and the facts the graph itself declares (its input/output shapes).

    Returns:
        ``meta``.

    Raises:
        ArtifactError: one line naming the file, the key, the value and what was expected.
    """
    from edgewise.runtime.graph_io import graph_io
    from edgewise.runtime.metadata_schema import validate_metadata

    path = Path(path)
    data = _read(path) if data is None else data
    fmt = detect_format(path, data)
    try:
        graph = graph_io(data, fmt)
    except ValueError as e:
        raise ArtifactError(f"{path} is a corrupt or truncated file: its graph's inputs and outputs are unreadable "
                            f"({e})") from e
    validate_metadata(meta, where=str(path), fmt=fmt, graph=graph)
    if meta.get("format", fmt) != fmt:
        raise ArtifactError(f"{path}: metadata key 'format' is {meta['format']!r}, but the file is {fmt.upper()}; "
                            "the metadata was copied from another artifact: re-export it with `edgewise export`")
    return meta


def read_metadata(path: str | Path, *, data: bytes | None = None, validate: bool = True) -> dict[str, Any] | None:
    """The edgewise metadata of an artifact, or None when it carries none.

    ONNX: ``metadata_props["edgewise"]``. TFLite: the embedded ``"edgewise"`` metadata buffer, else the
    entry for this file in a ``manifest.json`` beside it. The document is bounded (1 MB, 32 levels) and,
    with ``validate``, embedded metadata that carries a ``content_sha256`` is checked against the whole
    file first (``edgewise.runtime.content_hash.verify``: a changed weight, graph or metadata byte is
    refused), then the schema and the graph (``check_metadata``), before it is returned.

    Args:
        path: the artifact.
        data: its bytes, when already read.
        validate: check the content hash, the schema and the graph (False only to repair a file's metadata).

    Raises:
        ArtifactError: unreadable, corrupted or edited file, or malformed or invalid metadata.
    """
    path = Path(path)
    data = _read(path) if data is None else data
    fmt = detect_format(path, data)
    meta, span = _embedded_metadata(path, data, fmt)
    if meta is None:
        meta = _from_manifest(path)
    elif validate:
        from edgewise.runtime.content_hash import verify

        verify(path, data, meta, span)
    if meta is not None and validate:
        check_metadata(path, meta, data=data)
    return meta


def resolve_metadata(path: str | Path, meta: dict[str, Any] | None, *, fs: float | None = None,
                     layout: str | None = None) -> dict[str, Any]:
    """Metadata to run an artifact with: its own, or a minimal one from explicit ``fs``/``layout``.

    Explicit values must agree with embedded ones (a mismatch is an error, not a silent override).

    Raises:
        ArtifactError: no metadata and no explicit ``fs`` and ``layout``, or a disagreement.
    """
    if meta:
        have_fs, have_layout = meta.get("sample_rate"), meta.get("input_layout")
        if fs is not None and have_fs is not None and float(fs) != float(have_fs):
            raise ArtifactError(f"{path} was exported for {have_fs} Hz, but fs={fs} was given; "
                                "drop the flag (the artifact knows its rate) or resample the signal")
        if layout is not None and have_layout is not None and str(layout) != str(have_layout):
            raise ArtifactError(f"{path} takes {have_layout} input, but layout={layout} was given; "
                                "drop the flag (the artifact knows its layout)")
        return dict(meta)
    if fs is None or layout is None:
        raise ArtifactError(
            f"{path} carries no edgewise metadata (not exported by `edgewise export`, and no {MANIFEST_NAME} "
            f"beside it); pass the sample rate and the input layout explicitly, e.g. --fs 500 --layout NCW"
        )
    if fs <= 0:
        raise InputError(f"sample rate must be positive, got {fs}")
    if str(layout) not in LAYOUTS:
        raise InputError(f"unknown input layout {layout!r}; choose from {', '.join(LAYOUTS)}")
    return {"schema": None, "sample_rate": fs, "input_layout": str(layout), "explicit": True}


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(folder: str | Path, artifacts: dict[str, dict[str, Any]]) -> Path:
    """Write ``folder/manifest.json`` for files already in ``folder``.

    Args:
        folder: the bundle folder.
        artifacts: file name (relative to ``folder``) -> extra facts (``metadata``, ``parity``, ...).

    Returns:
        The manifest path. Each entry gets ``sha256`` and ``size_bytes``.
    """
    from edgewise.runtime.metadata_schema import validate_manifest

    folder = Path(folder)
    entries = {}
    for name, extra in artifacts.items():
        file = folder / name
        if not file.is_file():
            raise FileNotFoundError(f"cannot list {name} in the manifest: no file {file}")
        entries[name] = {**extra, "sha256": sha256_file(file), "size_bytes": file.stat().st_size}
    path = folder / MANIFEST_NAME
    manifest = validate_manifest({"schema": MANIFEST_SCHEMA, "artifacts": entries}, where=str(path))
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return path


def verify_manifest(folder: str | Path) -> dict[str, Any]:
    """Check every file listed in ``folder/manifest.json`` against its sha256; return the manifest.

    Raises:
        ArtifactError: missing manifest or file, a path leaving the folder, or a checksum mismatch.
    """
    folder = Path(folder)
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(f"no {MANIFEST_NAME} in {folder}: not an edgewise bundle")
    manifest = _load_manifest(path, folder=folder)
    bad = []
    for name, entry in manifest["artifacts"].items():
        file = (folder / name).resolve()
        if not file.is_file():
            bad.append(f"{name}: missing")
        elif file.stat().st_size != entry["size_bytes"]:
            bad.append(f"{name}: {file.stat().st_size} bytes, the manifest says {entry['size_bytes']} (truncated or "
                       "replaced)")
        elif sha256_file(file) != entry["sha256"]:
            bad.append(f"{name}: sha256 differs from the manifest (corrupt or replaced file)")
    if bad:
        raise ArtifactError(f"bundle {folder} failed its checksums: " + "; ".join(bad))
    return manifest
