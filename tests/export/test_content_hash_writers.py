"""Every writer of edgewise artifacts stamps the file's ``content_sha256`` (``edgewise.runtime.
content_hash``), and the runtime verifies it: ONNX (``write_onnx_metadata``), TFLite (``embed_metadata``,
``compact_tflite``) and both through ``update_metadata``, on copies of the shipped int8 artifacts."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("tensorflow")

from edgewise.export.metadata import metadata_json, update_metadata, without_file_facts  # noqa: E402
from edgewise.runtime import content_hash  # noqa: E402
from edgewise.runtime.artifact import METADATA_KEY, metadata_spans, read_metadata  # noqa: E402
from edgewise.runtime.errors import ArtifactError  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained" / "ecg"
ONNX = SHIPPED / "ecg-unet-int8.onnx"
TFLITE = SHIPPED / "ecg-unet-int8.tflite"


def _stamped_correctly(path: Path) -> str:
    """The file's hash, checked against the definition (sha256 of the file with the value as 64 zeros)."""
    data = path.read_bytes()
    value = read_metadata(path)["content_sha256"]  # verified by the runtime on the way in
    span = content_hash.value_span(data, metadata_spans(data)[METADATA_KEY])
    assert data[span[0]:span[1]] == value.encode() != content_hash.PLACEHOLDER.encode()
    assert hashlib.sha256(data[:span[0]] + b"0" * 64 + data[span[1]:]).hexdigest() == value
    return value


def test_metadata_json_leaves_out_another_files_hash_or_holds_the_placeholder():
    meta = read_metadata(ONNX)
    assert "content_sha256" not in json.loads(metadata_json(meta))
    assert json.loads(metadata_json(meta, stamp=True))["content_sha256"] == "0" * 64
    assert "content_sha256" not in without_file_facts(meta)  # a derived file gets its own


def test_write_onnx_metadata_stamps_the_file(tmp_path):
    from edgewise.export.onnx import write_onnx_metadata

    path = tmp_path / "m.onnx"
    shutil.copyfile(ONNX, path)
    old = read_metadata(path)
    write_onnx_metadata(path, {**old, "name": "renamed"})  # carries the source's (now stale) hash: replaced
    value = _stamped_correctly(path)
    assert value != old["content_sha256"] and read_metadata(path)["name"] == "renamed"


def test_embed_and_compact_tflite_stamp_the_file(tmp_path):
    from edgewise.export.tflite import compact_tflite, embed_metadata

    meta = read_metadata(TFLITE)
    dst = tmp_path / "embedded.tflite"
    embed_metadata(TFLITE, dst, {**meta, "name": "renamed"})
    first = _stamped_correctly(dst)
    compact = compact_tflite(dst, tmp_path / "compact.tflite")  # rewrites the metadata (io names): re-stamped
    assert _stamped_correctly(compact)
    assert read_metadata(compact)["name"] == "renamed" and first != meta["content_sha256"]


@pytest.mark.parametrize("src", [ONNX, TFLITE], ids=["onnx", "tflite"])
def test_update_metadata_restamps_and_an_unchanged_update_is_byte_identical(src, tmp_path):
    path = tmp_path / src.name
    shutil.copyfile(src, path)
    update_metadata(path, {})
    assert path.read_bytes() == src.read_bytes()  # same graph, same metadata: the same file, the same hash
    update_metadata(path, {"metrics": {"extra": 1.5}})
    assert _stamped_correctly(path) != read_metadata(src)["content_sha256"]
    assert read_metadata(path)["metrics"]["extra"] == 1.5


@pytest.mark.parametrize("src", [ONNX, TFLITE], ids=["onnx", "tflite"])
def test_update_metadata_restamps_a_hand_edited_file(src, tmp_path):
    """A metadata edit made outside edgewise (stale hash) is refused; ``update_metadata`` (which reads the
    file unchecked, to repair it) writes it with its new hash, and a changed weight is refused again."""
    from tests.runtime._mutate import with_metadata

    meta = read_metadata(src)
    path = tmp_path / src.name
    path.write_bytes(with_metadata(src.read_bytes(), src.suffix[1:], json.dumps({**meta, "name": "mine"}).encode(),
                                   restamp=False))
    with pytest.raises(ArtifactError, match="content does not match its content_sha256 \\(edited file"):
        read_metadata(path)
    update_metadata(path, {})
    _stamped_correctly(path)
    assert read_metadata(path)["name"] == "mine"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x04  # a third of the way in: the graph and its weights
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="content does not match its content_sha256|corrupt"):
        read_metadata(path)
