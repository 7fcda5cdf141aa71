"""A bad artifact cannot be written: every writer of embedded metadata checks it (schema + graph) first,
and a refused write leaves the file that was there untouched."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("onnx")

from edgewise.export.metadata import update_metadata  # noqa: E402
from edgewise.runtime.artifact import read_metadata, sha256_file  # noqa: E402
from edgewise.runtime.errors import ArtifactError  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FIX = REPO / "tests" / "runtime" / "fixtures"
SHIPPED = REPO / "edgewise" / "models" / "pretrained"


def test_write_onnx_metadata_refuses_metadata_that_contradicts_the_graph(tmp_path):
    from edgewise.export.onnx import write_onnx_metadata

    path = tmp_path / "m.onnx"
    shutil.copyfile(FIX / "tiny_nometa.onnx", path)
    before = sha256_file(path)
    meta = read_metadata(FIX / "tiny.onnx")
    with pytest.raises(ArtifactError, match=r"m.onnx: metadata key 'window' is 128, but the graph's input 'input' is "
                                            r"\[\?, 1, 64\]"):
        write_onnx_metadata(path, {**meta, "window": 128, "input_shape": [1, 128]})
    with pytest.raises(ArtifactError, match=r"metadata key 'sample_rate' is -500"):
        write_onnx_metadata(path, {**meta, "sample_rate": -500})
    assert sha256_file(path) == before  # nothing was written
    write_onnx_metadata(path, {**meta, "format": "tflite"})  # the writer states the file's own format
    assert read_metadata(path)["format"] == "onnx"


@pytest.mark.parametrize("name", ["ecg/ecg-unet-int8.onnx", "ecg/ecg-unet-int8.tflite",
                                  "mosquito/model.tflite"])
def test_update_metadata_refuses_a_bad_result_and_keeps_the_file(tmp_path, name):
    if name.endswith(".tflite"):
        pytest.importorskip("tensorflow")
    path = tmp_path / Path(name).name
    shutil.copyfile(SHIPPED / name, path)
    before = sha256_file(path)
    with pytest.raises(ArtifactError, match=r"metadata key 'classes' is \[\]"):
        update_metadata(path, {"classes": []})
    with pytest.raises(ArtifactError, match=r"metadata key 'window' is 1000000000: expected an integer"):
        update_metadata(path, {"window": 10 ** 9}, dest=tmp_path / f"copy{path.suffix}")
    assert sha256_file(path) == before and not (tmp_path / f"copy{path.suffix}").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left behind


def test_update_metadata_can_repair_a_file_the_runtime_refuses(tmp_path):
    from tests.runtime._mutate import with_metadata

    src = SHIPPED / "ecg" / "ecg-unet-int8.onnx"
    meta = read_metadata(src)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(with_metadata(src.read_bytes(), "onnx", b'{"task": "ecg-delineation", "window": -5}'))
    with pytest.raises(ArtifactError, match="required metadata key 'sample_rate' is missing"):
        read_metadata(bad)
    update_metadata(bad, meta, merge=False)
    assert read_metadata(bad) == meta


def test_build_metadata_checks_the_spec_before_anything_is_converted():
    pytest.importorskip("torch")
    from dataclasses import replace

    from edgewise.export import resolve_checkpoint
    from edgewise.export.metadata import build_metadata

    ckpt = resolve_checkpoint(SHIPPED / "ecg" / "ecg-unet.pt")
    ckpt.spec = replace(ckpt.spec, sample_rate=100_000)  # a spec no ECG front end accepts
    with pytest.raises(ArtifactError, match=r"the metadata built for 'ecg-unet': metadata key 'sample_rate' is 100000: "
                                            r"expected an integer in 50..20000"):
        build_metadata(ckpt, fmt="onnx", io={})
