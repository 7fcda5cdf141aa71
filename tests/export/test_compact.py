"""Artifact compaction: fewer bytes, bit-identical outputs, metadata and io still found by the runtime."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

FIXTURES = Path(__file__).resolve().parents[1] / "runtime" / "fixtures"


def _ort_outputs(path: Path, x: np.ndarray) -> list[np.ndarray]:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})


def _tflite_outputs(path: Path, x: np.ndarray) -> list[np.ndarray]:
    from edgewise.runtime.backends import interpreter_class

    cls, _ = interpreter_class()
    it = cls(model_path=str(path))
    it.allocate_tensors()
    d = it.get_input_details()[0]
    it.set_tensor(d["index"], x.astype(d["dtype"]).reshape(d["shape"]))
    it.invoke()
    return [it.get_tensor(o["index"]).copy() for o in it.get_output_details()]


def test_compact_onnx_same_outputs_fewer_bytes(tmp_path):
    from edgewise.export.onnx import compact_onnx
    from edgewise.runtime.artifact import read_metadata

    src = FIXTURES / "tiny.onnx"
    proto = onnx.load(str(src))
    proto.graph.doc_string = "a doc string the runtime never reads"
    proto = onnx.shape_inference.infer_shapes(proto)  # value_info, as exporters write it
    assert len(proto.graph.value_info) > 0
    before = tmp_path / "before.onnx"
    onnx.save(proto, str(before))
    after = tmp_path / "after.onnx"
    onnx.save(compact_onnx(onnx.load(str(before))), str(after))
    onnx.checker.check_model(str(after))
    shape = [d.dim_value or 1 for d in proto.graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(0).standard_normal((2, *shape[1:])).astype(np.float32)
    for a, b in zip(_ort_outputs(before, x), _ort_outputs(after, x)):
        np.testing.assert_array_equal(b, a)  # compaction changes no arithmetic
    assert after.stat().st_size < before.stat().st_size
    g = onnx.load(str(after)).graph
    assert not g.value_info and not g.doc_string
    assert [n.name for n in g.node if n.op_type in ("Conv", "ConvTranspose")] == \
        [n.name for n in proto.graph.node if n.op_type in ("Conv", "ConvTranspose")]  # layers keep their names
    assert all(n.name == "" for n in g.node if n.op_type not in ("Conv", "ConvTranspose"))
    assert [v.name for v in g.input] == [v.name for v in proto.graph.input]  # the metadata's io still matches
    assert read_metadata(after) == read_metadata(before)
    assert all(len(t.name) <= 4 for t in g.initializer)


def test_compact_onnx_merges_identical_initializers_and_default_attributes(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    from edgewise.export.onnx import compact_onnx

    w = np.random.default_rng(1).standard_normal((2, 1, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "weight_of_the_first_conv"), numpy_helper.from_array(w.copy(), "same_weights")]
    nodes = [helper.make_node("Conv", ["x", "weight_of_the_first_conv"], ["a"], name="c1", dilations=[1], strides=[1],
                              group=1, pads=[1, 1]),
             helper.make_node("Conv", ["x", "same_weights"], ["b"], name="c2", pads=[1, 1]),
             helper.make_node("Add", ["a", "b"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    before, after = tmp_path / "b.onnx", tmp_path / "a.onnx"
    onnx.save(model, str(before))
    compact = compact_onnx(onnx.load(str(before)))
    onnx.save(compact, str(after))
    assert len(compact.graph.initializer) == 1
    assert [a.name for a in compact.graph.node[0].attribute] == ["pads"]  # dilations/strides/group were defaults
    x = np.random.default_rng(2).standard_normal((1, 1, 8)).astype(np.float32)
    np.testing.assert_array_equal(_ort_outputs(after, x)[0], _ort_outputs(before, x)[0])


def test_compact_tflite_same_outputs_metadata_kept(tmp_path):
    pytest.importorskip("tensorflow")
    from tensorflow.lite.tools import flatbuffer_utils

    from edgewise.export.tflite import compact_tflite
    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.backends import interpreter_class

    for name in ("tiny.tflite", "tiny_int8.tflite"):
        src = tmp_path / name
        shutil.copyfile(FIXTURES / name, src)
        dst = compact_tflite(src, tmp_path / f"compact-{name}")
        shape = interpreter_class()[0](model_path=str(src)).get_input_details()[0]["shape"]
        x = np.random.default_rng(3).standard_normal(shape).astype(np.float32) * 3
        for a, b in zip(_tflite_outputs(src, x), _tflite_outputs(dst, x)):
            np.testing.assert_array_equal(b, a)
        assert dst.stat().st_size < src.stat().st_size
        # the edgewise entry survives, readable (and valid) on the device; its io follows the renamed tensors
        meta, want = read_metadata(dst), read_metadata(src)
        assert {k: v for k, v in meta.items() if k not in ("io", "content_sha256")} == {
            k: v for k, v in want.items() if k not in ("io", "content_sha256")}
        assert len(meta["content_sha256"]) == 64  # the compacted file's own hash (read_metadata verified it)
        assert meta["io"]["input"]["tensor"] == "in0" and [o["tensor"] for o in meta["io"]["outputs"]] == ["out0"]
        model = flatbuffer_utils.read_model(str(dst))
        sg = model.subgraphs[0]
        assert {sg.tensors[i].name for i in sg.inputs} == {b"in0"} and not model.signatureDefs
        assert all(t.name is None for i, t in enumerate(sg.tensors) if i not in set(sg.inputs) | set(sg.outputs))
        assert b"CONVERSION_METADATA" not in {m.name for m in model.metadata}
        buffers = [model.buffers[t.buffer] for t in sg.tensors]
        assert all(b.data is not None and len(b.data) for b in buffers if b is not model.buffers[0])
        assert sum(1 for b in model.buffers[1:] if b.data is None or not len(b.data)) == 0  # one shared empty buffer


def test_embedded_metadata_drops_logs_keeps_facts():
    import json

    from edgewise.export.metadata import LOG_KEYS, metadata_json

    meta = {"task": "ecg-delineation", "sample_rate": 500, "training": {
        "train_records": [1, 2], "history": [{"epoch": 1, "loss": 0.5}] * 50,
        "calibration": {"p_logit_bias": 1.25, "sweep": [{"bias": 0.0, "P": 0.98}] * 9}},
        "metrics": {"test_lead_ii": {"wave_f1": {"P": 0.991234567}, "boundaries": [{"kind": "P on"}] * 6}}}
    embedded = json.loads(metadata_json(meta))
    assert embedded == {"task": "ecg-delineation", "sample_rate": 500,
                        "training": {"train_records": [1, 2], "calibration": {"p_logit_bias": 1.25}},
                        "metrics": {"test_lead_ii": {"wave_f1": {"P": 0.991235}}}}
    assert not LOG_KEYS & set(json.dumps(embedded).split('"'))
    assert "history" in meta["training"]  # the caller's dict is not touched


def test_shared_writer_reads_back_the_same_model(tmp_path):
    pytest.importorskip("tensorflow")
    from tensorflow.lite.tools import flatbuffer_utils

    from edgewise.export._flatbuffer import write_shared

    src = FIXTURES / "tiny_int8.tflite"
    model = flatbuffer_utils.read_model(str(src))
    from tensorflow.lite.python import schema_py_generated as schema

    pack = schema.QuantizationParametersT.Pack
    plain, shared = tmp_path / "plain.tflite", tmp_path / "shared.tflite"
    flatbuffer_utils.write_model(model, str(plain))
    write_shared(model, shared)
    assert schema.QuantizationParametersT.Pack is pack  # the schema's packers are restored
    assert shared.stat().st_size < plain.stat().st_size
    a, b = (flatbuffer_utils.read_model(str(p)) for p in (plain, shared))
    for ta, tb in zip(a.subgraphs[0].tensors, b.subgraphs[0].tensors):
        np.testing.assert_array_equal(tb.shape, ta.shape)
        assert tb.type == ta.type and tb.buffer == ta.buffer
        qa, qb = ta.quantization, tb.quantization
        if qa is not None and qa.scale is not None:
            np.testing.assert_array_equal(qb.scale, qa.scale)
            np.testing.assert_array_equal(qb.zeroPoint, qa.zeroPoint)
    assert [op.opcodeIndex for op in b.subgraphs[0].operators] == [op.opcodeIndex for op in a.subgraphs[0].operators]
    x = np.random.default_rng(4).standard_normal(
        flatbuffer_utils.read_model(str(src)).subgraphs[0].tensors[0].shape).astype(np.float32)
    for ya, yb in zip(_tflite_outputs(plain, x), _tflite_outputs(shared, x)):
        np.testing.assert_array_equal(yb, ya)
