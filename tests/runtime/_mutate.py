"""Rewrite the edgewise metadata of an .onnx/.tflite file with the standard library only (no onnx, no
flatbuffers package), so the bare device venv can make edited artifacts at test time.

- ONNX (a protobuf ``ModelProto``): every top-level field is copied as it is except the
  ``metadata_props`` (14) entry keyed ``"edgewise"``; the new entry is appended (protobuf fields may
  come in any order).
- TFLite (a FlatBuffer): the new document is appended as a ``[ubyte]`` vector at the end of the file
  and the metadata ``Buffer.data`` offset (an unsigned offset, so the target must lie after it, which
  the end of the file does) is pointed at it; the old bytes stay in the file, unreferenced.

A ``content_sha256`` in the new document is re-stamped for the new file unless ``restamp=False``.
"""
from __future__ import annotations

import struct

from edgewise.runtime.artifact import _FB, _varint
from edgewise.runtime.content_hash import stamp

KEY = b"edgewise"


def varint_bytes(n: int) -> bytes:
    """``n`` as a protobuf varint (the writer's side of ``edgewise.runtime.artifact._varint``)."""
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return varint_bytes(number << 3 | 2) + varint_bytes(len(payload)) + payload


def _skip(data: bytes, pos: int, wire: int) -> int:
    if wire == 0:
        return _varint(data, pos, len(data))[1]
    if wire == 1:
        return pos + 8
    if wire == 5:
        return pos + 4
    if wire == 2:
        n, pos = _varint(data, pos, len(data))
        return pos + n
    raise ValueError(f"wire type {wire}")


def _is_edgewise_entry(entry: bytes) -> bool:
    pos = 0
    while pos < len(entry):
        key, pos = _varint(entry, pos, len(entry))
        end = _skip(entry, pos, key & 7)
        if key >> 3 == 1 and key & 7 == 2:
            n, start = _varint(entry, pos, len(entry))
            return entry[start:start + n] == KEY
        pos = end
    return False


def onnx_with_metadata(data: bytes, text: bytes | None) -> bytes:
    """``data`` (a serialized ModelProto) with ``metadata_props["edgewise"] = text`` (None: removed)."""
    out, pos = bytearray(), 0
    while pos < len(data):
        start = pos
        key, pos = _varint(data, pos, len(data))
        body = pos
        pos = _skip(data, pos, key & 7)
        if key >> 3 == 14 and key & 7 == 2:
            n, inner = _varint(data, body, len(data))
            if _is_edgewise_entry(data[inner:inner + n]):
                continue
        out += data[start:pos]
    if text is not None:
        out += _field(14, _field(1, KEY) + _field(2, text))
    return bytes(out)


def _tflite_entry(data: bytes) -> tuple[_FB, int, int]:
    """(reader, the edgewise Metadata table, its Buffer table)."""
    fb = _FB(data)
    root = fb.deref(0)
    meta_start, n_meta = fb.vector(root, 6)
    buf_start, _ = fb.vector(root, 4)
    for i in range(n_meta):
        entry = fb.deref(meta_start + 4 * i)
        if fb.string(entry, 0) == KEY.decode():
            index = fb._u("<I", fb.field(entry, 1))
            return fb, entry, fb.deref(buf_start + 4 * index)
    raise ValueError("no edgewise metadata in this TFLite file")


def tflite_with_metadata(data: bytes, text: bytes | None) -> bytes:
    """``data`` (a TFLite FlatBuffer) with its ``"edgewise"`` metadata buffer holding ``text``; None renames
    the entry (``"edgewisX"``) so that the file carries no edgewise metadata."""
    fb, entry, buffer = _tflite_entry(data)
    out = bytearray(data)
    if text is None:
        start, n = fb.vector(entry, 0)
        out[start + n - 1] = ord("X")
        return bytes(out)
    pos = fb.field(buffer, 0)  # Buffer.data: uoffset to a [ubyte] vector
    out += bytes(-(len(out) + 4) % 16)  # the data itself 16-byte aligned, like the converter's buffers
    vec = len(out)
    out += struct.pack("<I", len(text)) + text + bytes(-len(text) % 4)
    struct.pack_into("<I", out, pos, vec - pos)
    return bytes(out)


def with_metadata(data: bytes, fmt: str, text: bytes | None, *, restamp: bool = True) -> bytes:
    """``data`` with its edgewise metadata replaced by ``text``; with ``restamp``, a well-formed
    ``content_sha256`` in ``text`` is re-stamped for the new file (as ``update_metadata`` would), so that
    the edit itself is what the runtime judges. False keeps the value as written (a stale hash)."""
    out = onnx_with_metadata(data, text) if fmt == "onnx" else tflite_with_metadata(data, text)
    if restamp and text is not None:
        try:
            out = stamp(out)[0]
        except ValueError:
            pass  # no single well-formed content_sha256 in this document: nothing to stamp
    return out
