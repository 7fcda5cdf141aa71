"""The embedded content hash (``edgewise.runtime.content_hash``): every shipped artifact carries a
``content_sha256`` that the runtime checks when it opens the file, so a changed weight is refused with
one line; an artifact written before the key existed still opens.

Standard library, numpy and the runtimes only (runs in the bare device venvs); files are edited with the
stdlib writers of ``tests/runtime/_mutate.py``.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime import content_hash
from edgewise.runtime.artifact import _FB, METADATA_KEY, _fields, metadata_spans, read_metadata
from edgewise.runtime.backends import load_model
from edgewise.runtime.errors import ArtifactError

from ._mutate import with_metadata

PRETRAINED = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained"
SHIPPED = sorted(PRETRAINED.glob("*/*.onnx")) + sorted(PRETRAINED.glob("*/*.tflite"))
SMALL = [PRETRAINED / "ecg" / "ecg-unet-int8.onnx", PRETRAINED / "ecg" / "ecg-unet-int8.tflite"]
CHANGED = "content does not match its content_sha256"


def _largest_weight(data: bytes) -> tuple[int, int]:
    """The span of the artifact's largest constant tensor: an ONNX initializer's ``raw_data``, or a
    TFLite ``Buffer.data`` other than the metadata's."""
    spans = []
    if data[4:8] == b"TFL3":
        fb = _FB(data)
        start, n = fb.vector(fb.deref(0), 4)  # Model.buffers
        meta = metadata_spans(data)[METADATA_KEY]
        for i in range(n):
            s, k = fb.vector(fb.deref(start + 4 * i), 0)  # Buffer.data
            if k and s != meta[0]:
                spans.append((s, s + k))
    else:
        graph = next(v for f, w, v in _fields(data, 0, len(data)) if f == 7 and w == 2)
        for f, w, init in _fields(data, *graph):
            if f == 5 and w == 2:  # GraphProto.initializer
                spans += [v for g, x, v in _fields(data, *init) if g == 9 and x == 2]  # TensorProto.raw_data
    return max(spans, key=lambda s: s[1] - s[0])


def _run(path: Path) -> np.ndarray:
    model = load_model(path, warmup=0)
    x = np.random.default_rng(0).standard_normal((2, *model.metadata["input_shape"])).astype(np.float32)
    y = model.run(x)
    return np.asarray(y if not isinstance(y, dict) else next(iter(y.values())))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_artifact_carries_its_own_hash(path):
    data = path.read_bytes()
    meta = read_metadata(path)  # verified on the way in
    span = content_hash.value_span(data, metadata_spans(data)[METADATA_KEY])
    assert data[span[0]:span[1]].decode() == meta["content_sha256"]
    zeroed = data[:span[0]] + b"0" * 64 + data[span[1]:]
    assert hashlib.sha256(zeroed).hexdigest() == meta["content_sha256"]  # the definition, spelt out
    # what edgewise writes is compact JSON with sorted keys: the form that tells a hand edit apart
    start, end = metadata_spans(data)[METADATA_KEY]
    assert json.dumps(meta, sort_keys=True, separators=(",", ":")).encode() == data[start:end]


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.suffix[1:])
def test_stamp_fills_the_placeholder_in_place(path):
    data = path.read_bytes()
    meta = read_metadata(path)
    text = json.dumps({**meta, "content_sha256": content_hash.PLACEHOLDER}, sort_keys=True,
                      separators=(",", ":")).encode()
    fmt = path.suffix[1:]
    placeholder = with_metadata(data, fmt, text, restamp=False)
    with pytest.raises(ArtifactError, match=CHANGED):  # 64 zeros are a hash like any other
        read_metadata(path, data=placeholder)
    stamped, value = content_hash.stamp(placeholder)
    assert len(stamped) == len(placeholder) and value == hashlib.sha256(placeholder).hexdigest()
    assert read_metadata(path, data=stamped)["content_sha256"] == value
    assert content_hash.stamp(stamped) == (stamped, value)  # re-stamping a stamped file changes nothing


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.suffix[1:])
def test_a_flipped_weight_byte_is_refused(path, tmp_path):
    data = path.read_bytes()
    start, end = _largest_weight(data)
    bad = bytearray(data)
    bad[(start + end) // 2] ^= 0x10
    copy = tmp_path / f"flipped{path.suffix}"
    copy.write_bytes(bad)
    with pytest.raises(ArtifactError) as e:
        load_model(copy, warmup=0)
    msg = str(e.value)
    assert msg.startswith(f"{copy}: {CHANGED} (corrupted or edited file: its graph, weights or metadata changed")
    assert "\n" not in msg and "re-export it" in msg
    # the same flip in an unstamped copy: it opens and runs, with different outputs (what the hash prevents)
    meta = {k: v for k, v in read_metadata(path).items() if k != "content_sha256"}
    old = with_metadata(data, path.suffix[1:], json.dumps(meta).encode())
    a, b = _largest_weight(old)
    assert old[a:b] == data[start:end]
    old_bad = bytearray(old)
    old_bad[(a + b) // 2] ^= 0x10
    (tmp_path / f"old{path.suffix}").write_bytes(old)
    (tmp_path / f"old-flipped{path.suffix}").write_bytes(old_bad)
    assert not np.array_equal(_run(tmp_path / f"old{path.suffix}"), _run(tmp_path / f"old-flipped{path.suffix}"))


@pytest.mark.parametrize("path", SMALL, ids=lambda p: p.suffix[1:])
def test_an_artifact_without_the_key_still_opens(path, tmp_path):
    data = path.read_bytes()
    meta = {k: v for k, v in read_metadata(path).items() if k != "content_sha256"}
    old = tmp_path / f"old{path.suffix}"
    old.write_bytes(with_metadata(data, path.suffix[1:], json.dumps(meta).encode()))
    assert read_metadata(old) == meta
    np.testing.assert_array_equal(_run(old), _run(path))


def test_a_hand_edit_is_named_as_such(tmp_path):
    """Metadata edited by another tool (not edgewise's compact sorted JSON) without a new stamp: the
    message says the metadata was rewritten; a valid-JSON flip in a value cannot be told from a weight."""
    src = SMALL[0]
    meta = read_metadata(src)
    edited = tmp_path / "edited.onnx"
    edited.write_bytes(with_metadata(src.read_bytes(), "onnx", json.dumps({**meta, "hop": 1024}).encode(),
                                     restamp=False))
    with pytest.raises(ArtifactError, match=f"{CHANGED} \\(edited file: its metadata was rewritten outside "
                                            "edgewise .*update_metadata"):
        read_metadata(edited)
    restamped = tmp_path / "restamped.onnx"
    restamped.write_bytes(with_metadata(src.read_bytes(), "onnx", json.dumps({**meta, "hop": 1024}).encode()))
    assert read_metadata(restamped)["hop"] == 1024  # re-stamped: the edit itself is judged (and valid)
    data = bytearray(src.read_bytes())
    start, end = metadata_spans(bytes(data))[METADATA_KEY]
    pos = data.find(b'"hop":1536', start, end) + len('"hop":15')
    data[pos] ^= 0x01  # "1536" -> "1526": still valid, still compact JSON
    with pytest.raises(ArtifactError, match=f"{CHANGED} \\(corrupted or edited file: its graph, weights or "
                                            "metadata changed"):
        read_metadata(src, data=bytes(data))


def test_a_hash_written_twice_or_escaped_is_refused():
    src = SMALL[0]
    meta = read_metadata(src)
    twice = with_metadata(src.read_bytes(), "onnx", json.dumps(
        {**meta, "metrics": {"content_sha256": meta["content_sha256"]}}).encode(), restamp=False)
    with pytest.raises(ArtifactError, match='"content_sha256" appears 2 times .* the content hash is ambiguous'):
        read_metadata(src, data=twice)
    with pytest.raises(ValueError, match="appears 2 times"):
        content_hash.stamp(twice)
    escaped = with_metadata(src.read_bytes(), "onnx", json.dumps(meta).replace(
        '"content_sha256"', '"content\\u005fsha256"').encode(), restamp=False)
    with pytest.raises(ArtifactError, match="metadata key 'content_sha256' is not written as edgewise writes it"):
        read_metadata(src, data=escaped)


def test_a_malformed_hash_is_a_schema_error_naming_the_key():
    src = SMALL[1]
    meta = read_metadata(src)
    bad = with_metadata(src.read_bytes(), "tflite", json.dumps({**meta, "content_sha256": "ABC"}).encode())
    with pytest.raises(ArtifactError, match="metadata key 'content_sha256' is \"ABC\": expected 64 hex digits"):
        read_metadata(src, data=bad)
    assert read_metadata(src, data=bad, validate=False)["content_sha256"] == "ABC"  # repairable


def test_stamp_needs_an_entry_to_fill():
    src = SMALL[0]
    meta = {k: v for k, v in read_metadata(src).items() if k != "content_sha256"}
    with pytest.raises(ValueError, match='no "content_sha256" entry to stamp'):
        content_hash.stamp(with_metadata(src.read_bytes(), "onnx", json.dumps(meta).encode()))
    with pytest.raises(ValueError, match="carries no edgewise metadata"):
        content_hash.stamp(with_metadata(src.read_bytes(), "onnx", None))
