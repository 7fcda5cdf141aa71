"""The artifact metadata schema, its cross-check against the graph, the manifest schema and the validator.

numpy + onnxruntime + LiteRT only (runs in the bare device venv); edited files are written with the stdlib
writers of ``tests/runtime/_mutate.py``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgewise.runtime.artifact import check_metadata, read_metadata, verify_manifest, write_manifest
from edgewise.runtime.backends import load_model
from edgewise.runtime.errors import ArtifactError
from edgewise.runtime.graph_io import GraphIO, GraphTensor, graph_io
from edgewise.runtime.metadata_schema import check_graph, validate_manifest, validate_metadata
from edgewise.runtime.validator import Rule, check, depth, load_json

from ._mutate import with_metadata

REPO = Path(__file__).resolve().parents[2]
FIX = Path(__file__).parent / "fixtures"
SHIPPED = sorted((REPO / "edgewise" / "models" / "pretrained").glob("*/*.onnx")) + sorted(
    (REPO / "edgewise" / "models" / "pretrained").glob("*/*.tflite"))
ECG = REPO / "edgewise" / "models" / "pretrained" / "ecg" / "ecg-unet-int8.onnx"
MOSQUITO = REPO / "edgewise" / "models" / "pretrained" / "mosquito" / "model.tflite"
W = int(read_metadata(ECG)["window"])  # the shipped ECG files' window (5024 since 0.3: a multiple of the half-rate U-Net's 32)


@pytest.mark.parametrize("path", SHIPPED + [FIX / "tiny.onnx", FIX / "tiny.tflite", FIX / "tiny_int8.tflite"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_and_fixture_artifacts_pass_and_the_walker_reads_the_runtimes_shapes(path):
    meta = read_metadata(path)  # validated: schema and graph
    assert meta is not None and check_metadata(path, meta) is meta
    model = load_model(path, warmup=0)
    g = graph_io(path.read_bytes(), model.format)
    assert [t.name for t in g.inputs] == [model.native_input.name]
    assert [t.name for t in g.outputs] == [t.name for t in model.native_outputs]
    assert g.inputs[0].shape == model.native_input.shape  # None = dynamic (the ONNX batch), as the runtime says
    assert [t.shape for t in g.outputs] == [t.shape for t in model.native_outputs]


def test_shipped_manifests_pass():
    for folder in ("ecg", "mosquito"):
        verify_manifest(REPO / "edgewise" / "models" / "pretrained" / folder)


def _edited(tmp_path: Path, src: Path, **changes) -> Path:
    meta = {**read_metadata(src), **changes}
    meta = {k: v for k, v in meta.items() if v is not ...}
    out = tmp_path / f"edited{src.suffix}"
    out.write_bytes(with_metadata(src.read_bytes(), src.suffix[1:], json.dumps(meta).encode()))
    return out


@pytest.mark.parametrize("changes, message", [
    ({"window": -5}, r"metadata key 'window' is -5: expected an integer in 1..1048576"),
    ({"window": 1_000_000_000}, r"metadata key 'window' is 1000000000: expected an integer in 1..1048576"),
    ({"window": 1024}, rf"metadata key 'window' is 1024, but the graph's output 'logits' is \[\?, 4, {W}\] in the "
                       r"model's layout: the metadata does not describe this graph"),
    ({"window": 1024, "input_shape": [1, 1024]},
     rf"metadata key 'window' is 1024, but the graph's input 'input' is \[\?, 1, {W}\] in the model's layout"),
    ({"input_shape": [3, W]}, rf"metadata key 'input_shape' is \[3, {W}\], but the graph's input 'input' is "
                                 rf"\[\?, 1, {W}\]"),
    ({"sample_rate": "abc"}, r"metadata key 'sample_rate' is \"abc\": expected an integer in 50..20000"),
    ({"sample_rate": 500.5}, r"metadata key 'sample_rate' is 500.5: expected an integer"),
    ({"input_layout": "XYZ"}, r"metadata key 'input_layout' is \"XYZ\": expected \"NCW\""),
    ({"classes": []}, r"metadata key 'classes' is \[\]: expected 4 names"),
    ({"classes": ["a", "b", "c", "c"]}, r"metadata key 'classes' is .*: expected 4 names"),
    ({"hop": 6000}, rf"metadata key 'hop' is 6000: expected at most the window \({W}\)"),
    ({"heads": 3}, rf"metadata key 'heads' is 3, but the graph's output 'logits' is \[\?, 4, {W}\]"),
    ({"format": "tflite"}, r"metadata key 'format' is 'tflite', but the file is ONNX"),
    ({"io": {"outputs": [{"name": "logits", "tensor": "nope"}]}},
     r"metadata key 'io.outputs\[0\].tensor' is \"nope\", but the graph's outputs are \['logits'\]"),
    ({"io": {"input": {"perm": [0, 1]}}}, r"metadata key 'io.input.perm' is \[0, 1\], but the graph's input 'input' has rank 3"),
    ({"task": ...}, r"required metadata key 'task' is missing"),
    ({"task": "speech"}, r"metadata key 'task' is \"speech\": expected one of \"ecg-delineation\", \"mosquito-detection\""),
    ({"schema": "edgewise-artifact/2"}, r"expected \"edgewise-artifact/1\" \(a newer schema needs a newer edgewise\)"),
    ({"export_atol": float("nan")}, r"metadata key 'export_atol' is NaN: expected a finite number"),
    ({"source_checkpoint_sha256": "abc"}, r"'source_checkpoint_sha256' is \"abc\": expected 64 hex digits or null"),
], ids=lambda v: None if isinstance(v, str) else ",".join(v))
def test_edited_ecg_metadata_is_refused_naming_key_value_and_file(tmp_path, changes, message):
    path = _edited(tmp_path, ECG, **changes)
    with pytest.raises(ArtifactError, match=message) as e:
        load_model(path)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


@pytest.mark.parametrize("changes, message", [
    ({"preprocessing": {"n_fft": 1 << 20}}, r"'preprocessing.n_fft' is 1048576: expected an integer in 16..8192"),
    ({"preprocessing": {"n_fft": 4096}}, r"'preprocessing.n_fft' is 4096: expected at most 2080 for 63 frames"),
    ({"preprocessing": {"n_mels": 32}}, r"'preprocessing.n_mels' is 32: expected 64, the mel axis of input_shape"),
    ({"preprocessing": {"hop_length": 128}}, r"'window' is 16000: expected a window that the front end cuts into the "
                                             r"63 frames of input_shape \[1, 64, 63\] \(hop_length 128: it makes 126\)"),
    ({"preprocessing": {"sample_rate": 16000}}, r"'preprocessing.sample_rate' is 16000: expected the model's sample_rate"),
    ({"preprocessing": {"resample": "linear"}}, r"'preprocessing.resample' is \"linear\": expected \"polyphase-kaiser5\""),
    ({"preprocessing": {"fmin": 5000.0}}, r"'preprocessing.fmax' is [0-9.]+: expected above fmin \(5000.0\)"),
    ({"training": {"threshold": 0}}, r"'training.threshold' is 0: expected a finite number in \(0, 1\]"),
    ({"input_layout": "NHWC"}, r"'input_shape' is \[1, 64, 63\]: expected one channel"),
    ({"classes": ["background"]}, r"'classes' is \[\"background\"\]: expected a list of 2..64 items"),
    ({"classes": ["a", "b", "c"]}, r"'classes' is \[\"a\", \"b\", \"c\"\], but the graph's output '[^']+' is \[1, 2\]"),
    ({"io": ...}, r"required metadata key 'io' is missing \(expected an object with input.perm"),
    ({"io": {"input": {"tensor": "input"}, "outputs": [{"name": "logits", "tensor": "Identity", "perm": [0, 1]}]}},
     r"required metadata key 'io.input.perm' is missing"),
], ids=lambda v: None if isinstance(v, str) else ",".join(v))
def test_edited_mosquito_metadata_is_refused(tmp_path, changes, message):
    meta = read_metadata(MOSQUITO)
    merged = {k: ({**meta[k], **v} if isinstance(v, dict) and k in ("preprocessing", "training") else v)
              for k, v in changes.items()}
    path = _edited(tmp_path, MOSQUITO, **merged)
    with pytest.raises(ArtifactError, match=message):
        read_metadata(path)


def test_relations_without_a_graph():
    """What export checks before a file exists: keys that must agree with each other."""
    meta = read_metadata(ECG)
    with pytest.raises(ArtifactError, match=rf"m.onnx: metadata key 'window' is 1024: expected {W}, the samples axis "
                                            rf"of input_shape \[1, {W}\]"):
        validate_metadata({**meta, "window": 1024}, where="m.onnx")
    with pytest.raises(ArtifactError, match=rf"metadata key 'hop' is 6000: expected at most the window \({W}\)"):
        validate_metadata({**meta, "hop": 6000}, where="m.onnx")


def test_a_valid_edit_and_unknown_keys_are_accepted(tmp_path):
    path = _edited(tmp_path, ECG, name="renamed", heads=1, added_by_a_newer_exporter={"x": [1, 2]}, metrics={})
    model = load_model(path)
    assert model.metadata["name"] == "renamed" and model.metadata["heads"] == 1


def test_manifest_metadata_beside_a_tflite_is_checked_against_its_graph(tmp_path):
    shutil.copyfile(FIX / "tiny_nometa.tflite", tmp_path / "model.tflite")
    meta = read_metadata(FIX / "tiny.tflite")
    write_manifest(tmp_path, {"model.tflite": {"format": "tflite", "metadata": {**meta, "input_shape": [1, 32],
                                                                                   "window": 32, "hop": 16}}})
    with pytest.raises(ArtifactError, match=r"model.tflite: metadata key 'window' is 32, but the graph's input"):
        load_model(tmp_path / "model.tflite")


# -- the graph cross-check on its own (a multi-head output without a file) --------------------------------------
def _ecg_meta(**kw) -> dict:
    return validate_metadata({"task": "ecg-delineation", "sample_rate": 500, "window": 64, "hop": 32,
                              "input_layout": "NCW", "input_shape": [1, 64], "classes": ["b", "p", "qrs", "t"],
                              **kw}, where="m.onnx")


def _graph(out: tuple, n_out: int = 1) -> GraphIO:
    return GraphIO("onnx", (GraphTensor("input", (None, 1, 64)),),
                   tuple(GraphTensor(f"o{i}", out) for i in range(n_out)))


def test_hydra_heads_are_checked_against_a_rank_4_output():
    check_graph(_ecg_meta(heads=3), _graph((None, 3, 4, 64)), where="m.onnx")
    check_graph(_ecg_meta(), _graph((None, 3, 4, 64)), where="m.onnx")  # heads is optional
    with pytest.raises(ArtifactError, match=r"'heads' is 5, but the graph's output 'o0' is \[\?, 3, 4, 64\]"):
        check_graph(_ecg_meta(heads=5), _graph((None, 3, 4, 64)), where="m.onnx")
    with pytest.raises(ArtifactError, match=r"'heads' is 2, but .* is \[\?, 4, 64\]"):
        check_graph(_ecg_meta(heads=2), _graph((None, 4, 64)), where="m.onnx")
    with pytest.raises(ArtifactError, match=r"outputs \[batch, classes, samples\] or \[batch, heads, classes, samples\]"):
        check_graph(_ecg_meta(), _graph((None, 2, 3, 4, 64)), where="m.onnx")
    with pytest.raises(ArtifactError, match=r"has 2 graph inputs"):
        check_graph(_ecg_meta(), GraphIO("onnx", (GraphTensor("a", (1,)), GraphTensor("b", (1,))), ()), where="m.onnx")


def test_detector_heads_as_one_output_or_several():
    meta = validate_metadata({**read_metadata(MOSQUITO), "io": {}, "heads": 3}, where="d.onnx")
    inp = (GraphTensor("input", (None, 1, 64, 63)),)
    check_graph(meta, GraphIO("onnx", inp, (GraphTensor("y", (None, 3, 2)),)), where="d.onnx")
    check_graph(meta, GraphIO("onnx", inp, tuple(GraphTensor(f"y{i}", (None, 2)) for i in range(3))), where="d.onnx")
    with pytest.raises(ArtifactError, match=r"'heads' is 3, but the graph has 2 outputs \(heads\)"):
        check_graph(meta, GraphIO("onnx", inp, tuple(GraphTensor(f"y{i}", (None, 2)) for i in range(2))), where="d.onnx")


# -- manifests -------------------------------------------------------------------------------------------------
def test_manifest_schema(tmp_path):
    shutil.copyfile(FIX / "tiny.onnx", tmp_path / "tiny.onnx")
    write_manifest(tmp_path, {"tiny.onnx": {"format": "onnx"}})
    good = json.loads((tmp_path / "manifest.json").read_text())
    for edit, message in [
        ({"schema": "edgewise-bundle/9"}, r"manifest key 'schema' is \"edgewise-bundle/9\""),
        ({"artifacts": []}, r"manifest key 'artifacts' is \[\]: expected an object"),
        ({"artifacts": {"tiny.onnx": {**good["artifacts"]["tiny.onnx"], "size_bytes": -1}}},
         r"manifest key 'artifacts.tiny.onnx.size_bytes' is -1"),
        ({"artifacts": {"tiny.onnx": {**good["artifacts"]["tiny.onnx"], "sha256": None}}},
         r"'artifacts.tiny.onnx.sha256' is null: expected 64 hex digits"),
        ({"artifacts": {"tiny.onnx": {**good["artifacts"]["tiny.onnx"], "metadata": {"task": "ecg-delineation"}}}},
         r"\(artifacts.tiny.onnx.metadata\): required metadata key 'sample_rate' is missing"),
    ]:
        (tmp_path / "manifest.json").write_text(json.dumps({**good, **edit}))
        with pytest.raises(ArtifactError, match=message):
            verify_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps(good))
    with open(tmp_path / "tiny.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ArtifactError, match=r"tiny.onnx: 2558 bytes, the manifest says 2557 \(truncated or replaced\)"):
        verify_manifest(tmp_path)
    (tmp_path / "manifest.json").write_text(" " * (9 << 20))
    with pytest.raises(ArtifactError, match=r"manifest.json is 9437184 bytes; a manifest is at most 8 MB"):
        verify_manifest(tmp_path)
    with pytest.raises(ArtifactError, match=r"'artifacts.tiny.onnx.kind' is \"blob\""):
        write_manifest(tmp_path, {"tiny.onnx": {"kind": "blob"}})
    with pytest.raises(ArtifactError, match=r"manifest key 'artifacts' is \[\]"):
        validate_manifest({"schema": "edgewise-bundle/1", "artifacts": []}, where="m.json")


# -- the validator ---------------------------------------------------------------------------------------------
def test_validator_messages_and_bounds():
    rule = Rule("dict", closed=True, required=("n",), keys={
        "n": Rule("int", min=1, max=9), "r": Rule("number", min=0, max=1, min_open=True, max_open=True),
        "tags": Rule("list", max_len=2, unique=True, items=Rule("str", allowed=("a", "b")))})
    check({"n": 3, "r": 0.5, "tags": ["a"]}, rule, key="", where="doc")
    for doc, message in [
        ({"n": True}, r"doc: key 'n' is true: expected an integer in 1..9"),  # a bool is not an integer
        ({"n": 3, "r": 1}, r"key 'r' is 1: expected a finite number in \(0, 1\)"),
        ({"n": 3, "tags": ["a", "a"]}, r"key 'tags' is \[\"a\", \"a\"\]: expected a list of 0..2 items \(unique\)"),
        ({"n": 3, "tags": ["c"]}, r"key 'tags\[0\]' is \"c\": expected one of \"a\", \"b\""),
        ({"n": 3, "x": 1, "y": 2}, r"doc: unknown key\(s\) \['x', 'y'\]; allowed: \['n', 'r', 'tags'\]"),
        ({}, r"doc: required key 'n' is missing \(expected an integer in 1..9\)"),
        ({"n": "x" * 10_000}, r"key 'n' is \"x{30}\"\.\.\. \(10000 characters\): expected"),
    ]:
        with pytest.raises(ValueError, match=message):
            check(doc, rule, key="", where="doc")
    nested: list = []
    for _ in range(40):
        nested = [nested]
    assert depth({"a": nested}) == 42
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        load_json(json.dumps({"a": nested}), where="f", what="the doc", max_bytes=1 << 20)
    with pytest.raises(ValueError, match="nested deeper than 32 levels"):
        load_json("[" * 200_000 + "]" * 200_000, where="f", what="the doc", max_bytes=1 << 20)
    with pytest.raises(ValueError, match=r"the doc in f is 2000001 bytes; the limit is 1 MB"):
        load_json(b" " * 2_000_001, where="f", what="the doc", max_bytes=1 << 20)
    with pytest.raises(ValueError, match=r"not valid JSON .*digits"):
        load_json('{"a": ' + "9" * 5000 + "}", where="f", what="the doc", max_bytes=1 << 20)
