"""The one model interface over onnxruntime and LiteRT, checked against torch outputs saved in fixtures.

numpy + onnxruntime + ai-edge-litert only (runs in the bare venv too).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.backends import (
    TensorInfo,
    dequantize,
    get_backend,
    known_backends,
    load_model,
    quantize,
    register,
)
from edgewise.runtime.errors import BackendMissingError, InputError

FIX = Path(__file__).parent / "fixtures"
FP32 = ["tiny.onnx", "tiny.tflite"]


@pytest.fixture(scope="module")
def io() -> dict[str, np.ndarray]:
    data = np.load(FIX / "tiny_io.npz")
    return {"inputs": data["inputs"], "logits": data["logits"]}


@pytest.mark.parametrize("name", FP32)
@pytest.mark.parametrize("threads", [1, 2])
def test_fp32_artifacts_match_torch(io, name: str, threads: int):
    model = load_model(FIX / name, threads=threads, warmup=2)
    assert model.input_layout == "NCW" and model.input_shape == (1, 64) and model.input_dtype == np.float32
    # fp32 conversion only reorders float operations: well inside the spec's 1e-4 export tolerance
    np.testing.assert_allclose(model.run(io["inputs"], fs=500), io["logits"], atol=1e-5, rtol=0)


def test_backends_and_layouts(io):
    onnx_model, lite = load_model(FIX / "tiny.onnx"), load_model(FIX / "tiny.tflite")
    assert (onnx_model.backend, lite.backend) == ("onnxruntime", "litert")
    assert lite.implementation == "ai_edge_litert"  # the default interpreter, not a fallback
    # the TFLite file is channels-last inside; the interface hides it
    assert lite.metadata["io"]["input"]["layout"] == "NWC"
    assert lite.native_input.shape == (1, 64, 1)
    np.testing.assert_allclose(lite.run(io["inputs"]), onnx_model.run(io["inputs"]), atol=1e-5)


@pytest.mark.parametrize("name", FP32 + ["tiny_int8.tflite"])
def test_one_example_without_batch_axis(io, name: str):
    model = load_model(FIX / name)
    one = model.run(io["inputs"][2])
    assert one.shape == io["logits"].shape[1:]
    np.testing.assert_allclose(one, model.run(io["inputs"][2:3])[0], atol=1e-6)


def test_int8_artifact_quantises_transparently(io):
    model = load_model(FIX / "tiny_int8.tflite")
    native = model.native_input
    assert native.dtype == np.int8 and native.scale > 0
    assert model.input_dtype == np.float32 and model.metadata["precision"] == "int8"
    y = model.run(io["inputs"])
    assert y.dtype == np.float32
    # int8 against the fp32 torch model: error of a few quantisation steps of the output tensor
    out_scale = model.native_outputs[0].scale
    np.testing.assert_allclose(y, io["logits"], atol=max(0.02, 8 * out_scale), rtol=0)


def test_quantize_dequantize_reference():
    info = TensorInfo("t", (1, 4), np.dtype(np.int8), scale=0.5, zero_point=-3)
    x = np.array([-100.0, -1.26, 0.0, 0.74, 100.0], np.float32)
    q = quantize(x, info)
    np.testing.assert_array_equal(q, np.array([-128, -6, -3, -2, 127], np.int8))
    np.testing.assert_allclose(dequantize(q, info), (q.astype(np.float32) + 3) * 0.5)


@pytest.mark.parametrize("name", FP32)
def test_wrong_shape_is_an_input_error(io, name: str):
    model = load_model(FIX / name)
    with pytest.raises(InputError, match=r"expects input \[batch, 1, 64\] \(NCW: batch, channels, samples\), got shape \(2, 64, 1\)"):
        model.run(io["inputs"][:2].transpose(0, 2, 1))
    with pytest.raises(InputError, match="window the signal"):
        model.run(np.zeros((1, 1, 65), np.float32))
    with pytest.raises(InputError, match=r"got shape \(64,\)"):
        model.run(np.zeros(64, np.float32))


@pytest.mark.parametrize("bad", [np.zeros((1, 1, 64), np.int16), np.zeros((1, 1, 64), np.complex64),
                                 np.array([["a"] * 64], dtype=object)], ids=["int16", "complex", "object"])
def test_wrong_dtype_is_an_input_error(bad):
    model = load_model(FIX / "tiny.onnx")
    with pytest.raises(InputError, match="expects floating-point input"):
        model.run(bad)


def test_float64_is_accepted(io):
    model = load_model(FIX / "tiny.onnx")
    np.testing.assert_allclose(model.run(io["inputs"].astype(np.float64)), io["logits"], atol=1e-5)


def test_wrong_rate_is_an_input_error(io):
    model = load_model(FIX / "tiny.tflite")
    with pytest.raises(InputError, match="expects signals at 500 Hz, got 360 Hz; resample"):
        model.run(io["inputs"], fs=360)


def test_bad_arguments():
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        load_model(FIX / "tiny.onnx", threads=0)
    with pytest.raises(ValueError, match="warmup"):
        load_model(FIX / "tiny.onnx", warmup=-1)
    with pytest.raises(FileNotFoundError, match="no model artifact"):
        load_model(FIX / "missing.onnx")
    with pytest.raises(ValueError, match="backend 'litert' cannot run onnx files; use one of \\['onnxruntime'\\]"):
        load_model(FIX / "tiny.onnx", backend="litert")


def test_registry():
    assert {"onnxruntime", "litert"} <= set(known_backends())
    with pytest.raises(ValueError, match="unknown backend 'tvm'; known: .*litert.*onnxruntime"):
        get_backend("tvm")
    with pytest.raises(ValueError, match="already registered"):
        register("onnxruntime")(type("Dup", (), {"formats": ("onnx",)}))


def test_missing_litert_names_the_extra(monkeypatch):
    for mod in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter",
                "tensorflow"):
        monkeypatch.setitem(sys.modules, mod, None)
    with pytest.raises(BackendMissingError, match=r"pip install 'edgewise\[tflite\]'") as info:
        load_model(FIX / "tiny.tflite")
    assert isinstance(info.value.__cause__, ImportError)


def test_missing_onnxruntime_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(BackendMissingError, match="pip install") as info:
        load_model(FIX / "tiny.onnx")
    assert isinstance(info.value.__cause__, ImportError)


def test_repr_and_outputs():
    model = load_model(FIX / "tiny.tflite")
    assert model.output_names == ["logits"]
    assert "backend='litert'" in repr(model) and "[batch, 1, 64]" in repr(model)
