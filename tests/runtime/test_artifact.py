"""Artifact files on the device: format detection, metadata, bad files, unsafe external data, manifests.

Only numpy + onnxruntime + ai-edge-litert (this folder also runs in the bare venv): the fixtures are
committed files made by fixtures/make_fixtures.py, and the unsafe ONNX files are written byte by byte.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.artifact import (
    check_onnx_external_data,
    detect_format,
    read_metadata,
    resolve_metadata,
    verify_manifest,
    write_manifest,
)
from edgewise.runtime.backends import load_model
from edgewise.runtime.errors import ArtifactError, InputError

from ._mutate import varint_bytes

FIX = Path(__file__).parent / "fixtures"
REQUIRED = ("task", "sample_rate", "window", "hop", "input_layout", "input_shape", "classes", "preprocessing",
            "precision", "source_checkpoint_sha256", "training_data", "metrics", "edgewise_version", "io")


# -- a minimal protobuf writer, to build ONNX files without the onnx package -------------------------
_varint = varint_bytes


def _f(number: int, value: int | bytes | str) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    value = value.encode() if isinstance(value, str) else value
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _value_info(name: str) -> bytes:
    dims = _f(1, _f(1, 1)) + _f(1, _f(1, 4))  # TensorShapeProto.dim {dim_value}
    return _f(1, name) + _f(2, _f(1, _f(1, 1) + _f(2, dims)))  # ValueInfoProto{name, type{tensor_type{elem, shape}}}


def matmul_onnx(location: str) -> bytes:
    """ModelProto: y = x @ W with W [4, 4] float32 stored as external data at ``location``."""
    tensor = (_f(1, 4) + _f(1, 4) + _f(2, 1) + _f(8, "W") + _f(13, _f(1, "location") + _f(2, location))
              + _f(14, 1))
    node = _f(1, "x") + _f(1, "W") + _f(2, "y") + _f(4, "MatMul")
    graph = _f(1, node) + _f(2, "g") + _f(5, tensor) + _f(11, _value_info("x")) + _f(12, _value_info("y"))
    return _f(1, 8) + _f(8, _f(1, "") + _f(2, 17)) + _f(7, graph)


@pytest.fixture()
def weights_dir(tmp_path: Path) -> Path:
    (tmp_path / "model").mkdir()
    w = (np.arange(16, dtype=np.float32).reshape(4, 4) / 10).tobytes()
    (tmp_path / "model" / "w.bin").write_bytes(w)
    (tmp_path / "secret.bin").write_bytes(w)
    return tmp_path


def test_external_data_inside_folder_loads_and_runs(weights_dir: Path):
    path = weights_dir / "model" / "m.onnx"
    path.write_bytes(matmul_onnx("w.bin"))
    assert check_onnx_external_data(path) == ["w.bin"]
    model = load_model(path, require_metadata=False)
    x = np.ones((1, 4), np.float32)
    np.testing.assert_allclose(model.run(x), x @ (np.arange(16, dtype=np.float32).reshape(4, 4) / 10), rtol=1e-6)


@pytest.mark.parametrize("where", ["../secret.bin", "ABS", "sub/../../secret.bin", "link.bin"],
                         ids=["parent", "absolute", "dotdot-in-middle", "symlink-out"])
def test_external_data_outside_folder_is_refused(weights_dir: Path, where: str):
    if where == "ABS":
        where = str(weights_dir / "secret.bin")
    if where == "link.bin":
        os.symlink(weights_dir / "secret.bin", weights_dir / "model" / "link.bin")
    path = weights_dir / "model" / "evil.onnx"
    path.write_bytes(matmul_onnx(where))
    with pytest.raises(ArtifactError, match="outside the model's folder"):
        load_model(path, require_metadata=False)


def test_onnxruntime_itself_refuses_escaping_external_data(weights_dir: Path):
    """Defence in depth: this onnxruntime refuses it too (older releases did not; we refuse first anyway)."""
    ort = pytest.importorskip("onnxruntime")
    path = weights_dir / "model" / "evil.onnx"
    path.write_bytes(matmul_onnx("../secret.bin"))
    with pytest.raises(Exception, match="(?i)escapes|outside|not allowed"):
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("name,fmt", [("tiny.onnx", "onnx"), ("tiny.tflite", "tflite"),
                                      ("tiny_int8.tflite", "tflite")])
def test_format_from_content_and_metadata_complete(name: str, fmt: str):
    path = FIX / name
    assert detect_format(path) == fmt
    meta = read_metadata(path)
    missing = [k for k in REQUIRED if k not in meta]
    assert missing == []
    assert meta["schema"] == "edgewise-artifact/1"
    assert meta["format"] == fmt and meta["sample_rate"] == 500 and meta["input_layout"] == "NCW"
    assert meta["classes"] == ["none", "p", "qrs", "t"] and len(meta["source_checkpoint_sha256"]) == 64


def test_content_wins_over_extension(tmp_path: Path):
    fake = tmp_path / "model.onnx"
    shutil.copyfile(FIX / "tiny.tflite", fake)
    model = load_model(fake)
    assert (model.format, model.backend) == ("tflite", "litert")
    data = np.load(FIX / "tiny_io.npz")
    np.testing.assert_allclose(model.run(data["inputs"]), data["logits"], atol=1e-5)


def test_onnx_metadata_parser_matches_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    sess = ort.InferenceSession(str(FIX / "tiny.onnx"), providers=["CPUExecutionProvider"])
    via_ort = json.loads(sess.get_modelmeta().custom_metadata_map["edgewise"])
    assert read_metadata(FIX / "tiny.onnx") == via_ort


@pytest.mark.parametrize("content,name", [
    (b"", "empty.onnx"),
    (b"hello, I am a text file\n" * 20, "notes.onnx"),
    (b"hello, I am a text file\n" * 20, "notes.tflite"),
    (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image.tflite"),
    (b"\x08\x08\x12\xff\xff\xff\x0f", "lies.onnx"),
], ids=["empty", "text-onnx", "text-tflite", "png-tflite", "bad-length-onnx"])
def test_non_model_files_are_clear_errors(tmp_path: Path, content: bytes, name: str):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match="empty|not a model|corrupt or truncated"):
        load_model(path)


@pytest.mark.parametrize("name", ["tiny.onnx", "tiny.tflite", "tiny_int8.tflite"])
@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99], ids=lambda k: f"keep{k}")
def test_truncated_files_are_artifact_errors(tmp_path: Path, name: str, keep: float):
    data = (FIX / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ArtifactError, match=str(path.name)):
        load_model(path)


def test_corrupt_tflite_header_bytes_are_artifact_errors(tmp_path: Path):
    data = bytearray((FIX / "tiny.tflite").read_bytes())
    rng = np.random.default_rng(0)
    for trial in range(10):
        bad = bytearray(data)
        for i in rng.integers(8, 200, 8):  # the root table and vtables live at the start
            bad[i] = int(rng.integers(0, 256))
        path = tmp_path / f"corrupt{trial}.tflite"
        path.write_bytes(bytes(bad))
        try:
            model = load_model(path, require_metadata=False)
        except ArtifactError as e:
            assert path.name in str(e)
        else:  # a flip that left the graph valid must still run
            assert model.run(np.zeros((1, 1, 64), np.float32) if model.input_layout else
                             np.zeros(model.native_input.shape, np.float32)) is not None


@pytest.mark.parametrize("name", ["tiny_nometa.onnx", "tiny_nometa.tflite"])
def test_artifact_without_metadata_needs_explicit_fs_and_layout(name: str):
    path = FIX / name
    assert read_metadata(path) is None
    with pytest.raises(ArtifactError, match="no edgewise metadata.*--fs 500 --layout NCW"):
        load_model(path)
    model = load_model(path, fs=500, layout="NWC" if name.endswith("tflite") else "NCW")
    assert model.sample_rate == 500
    data = np.load(FIX / "tiny_io.npz")
    x = data["inputs"] if name.endswith("onnx") else data["inputs"].transpose(0, 2, 1)
    want = data["logits"] if name.endswith("onnx") else data["logits"].transpose(0, 2, 1)
    np.testing.assert_allclose(model.run(x), want, atol=1e-5)


def test_explicit_values_must_agree_with_metadata():
    with pytest.raises(ArtifactError, match="exported for 500 Hz"):
        load_model(FIX / "tiny.onnx", fs=360)
    with pytest.raises(ArtifactError, match="takes NCW input"):
        load_model(FIX / "tiny.onnx", layout="NWC")
    assert resolve_metadata("x.onnx", None, fs=250, layout="NCW")["sample_rate"] == 250
    with pytest.raises(InputError, match="unknown input layout 'NTC'; choose from NCW, NWC, NCHW, NHWC"):
        load_model(FIX / "tiny_nometa.onnx", fs=500, layout="NTC")
    with pytest.raises(InputError, match="sample rate must be positive"):
        load_model(FIX / "tiny_nometa.onnx", fs=0, layout="NCW")


def test_tflite_metadata_from_manifest_beside_it(tmp_path: Path):
    shutil.copyfile(FIX / "tiny_nometa.tflite", tmp_path / "model.tflite")
    meta = read_metadata(FIX / "tiny.tflite")
    write_manifest(tmp_path, {"model.tflite": {"format": "tflite", "metadata": meta}})
    model = load_model(tmp_path / "model.tflite")
    assert model.metadata == meta and model.input_layout == "NCW"
    data = np.load(FIX / "tiny_io.npz")
    np.testing.assert_allclose(model.run(data["inputs"]), data["logits"], atol=1e-5)


def test_manifest_checksums(tmp_path: Path):
    for name in ("tiny.onnx", "tiny.tflite"):
        shutil.copyfile(FIX / name, tmp_path / name)
    write_manifest(tmp_path, {"tiny.onnx": {}, "tiny.tflite": {}})
    manifest = verify_manifest(tmp_path)
    assert set(manifest["artifacts"]) == {"tiny.onnx", "tiny.tflite"}
    assert manifest["artifacts"]["tiny.onnx"]["size_bytes"] == (FIX / "tiny.onnx").stat().st_size
    # one flipped weight byte is invisible to the runtimes but not to the checksum
    data = bytearray((tmp_path / "tiny.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (tmp_path / "tiny.tflite").write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="tiny.tflite: sha256 differs"):
        verify_manifest(tmp_path)
    text = json.loads((tmp_path / "manifest.json").read_text())
    text["artifacts"]["../escape.onnx"] = {"sha256": "0"}
    (tmp_path / "manifest.json").write_text(json.dumps(text))
    with pytest.raises(ArtifactError, match="outside the bundle"):
        verify_manifest(tmp_path)


def test_committed_fixture_manifest_is_valid():
    verify_manifest(FIX)


def test_flatbuffer_offsets_are_bounds_checked(tmp_path: Path):
    data = bytearray((FIX / "tiny.tflite").read_bytes())
    struct.pack_into("<I", data, 0, len(data) + 100)  # root table offset beyond the file
    path = tmp_path / "root.tflite"
    path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="corrupt or truncated TFLite"):
        read_metadata(path)
