"""The embedded content hash of an artifact: ``content_sha256`` in its edgewise metadata.

A bundle's ``manifest.json`` holds each file's sha256, but a standalone ``.onnx``/``.tflite`` travels
without one: a flipped bit in a weight would run silently, with wrong outputs. So every artifact
edgewise writes carries the sha256 of its whole file -- graph, weights, the rest of the metadata --
inside that same file. A value cannot hash itself, so the hash is taken over the file with the
value's 64 hex characters replaced by 64 ``"0"`` characters:

1. the writer embeds ``"content_sha256": "000...0"`` (``PLACEHOLDER``) and serializes the file;
2. ``stamp`` hashes those bytes and writes the 64 hex digits over the placeholder, in place: the
   metadata keeps its length, so no protobuf length prefix or FlatBuffer offset moves;
3. ``verify`` (from ``edgewise.runtime.artifact.read_metadata``, before the schema and before any
   runtime opens the file) puts the zeros back in its hash and compares.

The key is optional: an artifact written before it existed carries none and opens as before (a
bundle's manifest checksum still covers it). A wrong value is refused with one line. The check costs
one sha256 of the file (about 1 ms for 750 KB) and no copy of it.

Standard library only (it runs on the device).
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from edgewise.runtime.errors import ArtifactError

__all__ = ["KEY", "PLACEHOLDER", "value_span", "digest", "stamp", "stamp_file", "verify"]

KEY = "content_sha256"
PLACEHOLDER = "0" * 64
_HEX64 = re.compile(r"[0-9a-f]{64}")
# the key and its value as JSON writes them (whitespace allowed around the colon for hand-written files)
_ENTRY = re.compile(rb'"content_sha256"\s*:\s*"([0-9a-f]{64})"')
_ADVICE = "re-export it with `edgewise export` or restore the original file"


def value_span(data: bytes, metadata: tuple[int, int]) -> tuple[int, int] | None:
    """Where the 64 hex characters of ``content_sha256`` lie in ``data``, or None when the metadata has
    no such entry.

    Args:
        data: the artifact's bytes.
        metadata: the ``(start, end)`` span of its edgewise metadata JSON in ``data``.

    Raises:
        ValueError: the entry appears more than once (which one the hash covers would be ambiguous).
    """
    found = list(_ENTRY.finditer(data, *metadata))
    if len(found) > 1:
        raise ValueError(f'"{KEY}" appears {len(found)} times in the edgewise metadata')
    return found[0].span(1) if found else None


def digest(data: bytes, span: tuple[int, int]) -> str:
    """sha256 (hex) of ``data`` with ``data[span]`` (the 64 hex characters) read as ``PLACEHOLDER``."""
    start, end = span
    view = memoryview(data)
    h = hashlib.sha256(view[:start])
    h.update(PLACEHOLDER.encode())
    h.update(view[end:])
    return h.hexdigest()


def _metadata_span(data: bytes) -> tuple[int, int]:
    from edgewise.runtime.artifact import METADATA_KEY, metadata_spans

    span = metadata_spans(data).get(METADATA_KEY)
    if span is None:
        raise ValueError("the artifact carries no edgewise metadata to stamp")
    return span


def stamp(data: bytes) -> tuple[bytes, str]:
    """Write the content hash of a serialized artifact into its ``content_sha256`` entry.

    Args:
        data: a whole ``.onnx`` or ``.tflite`` file whose edgewise metadata holds ``content_sha256``
            (normally ``PLACEHOLDER``; any earlier value is replaced the same way).

    Returns:
        ``(the stamped bytes, the hash)``; the bytes have the same length as ``data``.

    Raises:
        ValueError: not an artifact, no edgewise metadata, or no single ``content_sha256`` entry in it.
    """
    span = value_span(data, _metadata_span(data))
    if span is None:
        raise ValueError(f'the edgewise metadata has no "{KEY}" entry to stamp (write it with "{KEY}": '
                         f'"{PLACEHOLDER[:4]}...", 64 characters)')
    value = digest(data, span)
    out = bytearray(data)
    out[span[0]:span[1]] = value.encode()
    return bytes(out), value


def stamp_file(path: str | Path) -> str:
    """``stamp`` the artifact at ``path`` in place; returns the hash."""
    path = Path(path)
    data, value = stamp(path.read_bytes())
    path.write_bytes(data)
    return value


def _canonical(meta: dict[str, Any], text: bytes) -> bool:
    """Whether ``text`` is exactly what edgewise writes for ``meta`` (compact JSON, sorted keys: see
    ``edgewise.export.metadata.metadata_json``)."""
    try:
        return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode() == text
    except (TypeError, ValueError):
        return False


def verify(path: str | Path, data: bytes, meta: dict[str, Any], metadata: tuple[int, int]) -> str | None:
    """Check an artifact against the ``content_sha256`` its metadata carries.

    Args:
        path: the artifact (for messages).
        data: its bytes.
        meta: its parsed edgewise metadata.
        metadata: the span of that metadata's JSON in ``data``.

    Returns:
        The verified hash, or None when the metadata carries no well-formed ``content_sha256`` (an
        artifact written before the key existed; a malformed value is left to the schema, which names it).

    Raises:
        ArtifactError: the file's content does not match the hash, one line; it says whether the metadata
            itself was rewritten (its JSON is not in the form edgewise writes) or something else changed.
    """
    value = meta.get(KEY)
    if not isinstance(value, str) or not _HEX64.fullmatch(value):
        return None
    try:
        span = value_span(data, metadata)
    except ValueError as e:
        raise ArtifactError(f"{path}: {e}; the content hash is ambiguous: {_ADVICE}") from None
    if span is None or data[span[0]:span[1]] != value.encode():
        raise ArtifactError(f"{path}: metadata key '{KEY}' is not written as edgewise writes it (a plain "
                            f'"{KEY}":"<64 hex digits>" entry, once): the metadata was edited; {_ADVICE}')
    if digest(data, span) == value:
        return value
    if not _canonical(meta, data[metadata[0]:metadata[1]]):
        what = ("edited file: its metadata was rewritten outside edgewise (edgewise.export.metadata."
                "update_metadata writes an edit with its new hash)")
    else:
        what = "corrupted or edited file: its graph, weights or metadata changed since it was written"
    raise ArtifactError(f"{path}: content does not match its {KEY} ({what}): {_ADVICE}")
