"""INT8 quantisation: which ops run in int8, sizes, metadata, closeness to the fp32 model."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

onnx = pytest.importorskip("onnx")

from edgewise.compress.calibration import synthetic_windows  # noqa: E402


@pytest.fixture(scope="module")
def fp32_onnx(tmp_path_factory):
    import edgewise.models.ecg  # noqa: F401  (registers ecg-unet)
    from edgewise.export import export_checkpoint
    from edgewise.models.checkpoint import Checkpoint
    from edgewise.models.spec import build_model, get_spec

    torch.manual_seed(0)
    model = build_model("ecg-unet").eval()
    with torch.no_grad():  # trained-like batch norms: folded conv biases differ (untrained ones are all zero)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.uniform_(-0.1, 0.1), m.running_var.uniform_(0.5, 1.5), m.bias.uniform_(-0.1, 0.1)
    ck = Checkpoint(spec=get_spec("ecg-unet"), model=model)
    out = tmp_path_factory.mktemp("fp32")
    [art] = export_checkpoint(ck, to="onnx", out=out, inputs=synthetic_windows(4, seed=9))
    return art.path


@pytest.fixture(scope="module")
def calib():
    return synthetic_windows(24, seed=1)


@pytest.mark.parametrize("fmt", ["qoperator", "qdq"])
def test_onnx_int8_structure_size_and_closeness(fp32_onnx, calib, fmt, tmp_path):
    from edgewise.compress.quantize_onnx import compute_node_names, quantize_onnx, quantized_summary
    from edgewise.runtime.backends import load_model

    q = quantize_onnx(fp32_onnx, tmp_path / f"{fmt}.onnx", calib, fmt=fmt, calibration_source="synthetic test")
    s = quantized_summary(q)
    convs = compute_node_names(fp32_onnx)
    ups = [n for n in convs if "ConvTranspose" in n]
    if fmt == "qoperator":  # no QLinearConvTranspose: the 4 up-convolutions run as 1x1 QLinearConv + interleave
        assert s["ops"]["QLinearConv"] == len(convs) and not s["float_ops"] and len(ups) == 4
        assert load_model(q).metadata["quantization"]["convtranspose_as_conv"] == ups
    # every conv has int8 weights (fused int8 kernel, or int8 storage dequantised for a float kernel)
    assert s["float_ops"] == s["weight_only_int8"]
    if fmt == "qdq":
        assert len(s["int8_ops"]) == len(convs)
    assert s["initializer_types"].get("FLOAT", 0) < 0.06 * fp32_onnx.stat().st_size  # only scales stay float
    # int8 weights are 1/4 of fp32; int32 biases, per-channel scales and the Q/DQ graph cost the rest
    # (measured on this model: QOperator 3.7x, QDQ 3.4x smaller)
    assert q.stat().st_size < fp32_onnx.stat().st_size / 3.3
    m32, m8 = load_model(fp32_onnx), load_model(q)
    assert m8.metadata["precision"] == "int8" and m8.metadata["quantization"]["format"] == fmt
    assert m8.metadata["input_layout"] == "NCW"
    x = synthetic_windows(4, seed=2)
    y32, y8 = m32.run(x), m8.run(x)
    # int8 error scales with the logit range (random weights, 19 convs of rounding): 5 % of it
    np.testing.assert_allclose(y8, y32, atol=0.05 * float(np.ptp(y32)))


def test_onnx_mixed_precision_keeps_named_layers_in_float(fp32_onnx, calib, tmp_path):
    from edgewise.compress.quantize_onnx import compute_node_names, quantize_onnx, quantized_summary

    first = compute_node_names(fp32_onnx)[0]
    q = quantize_onnx(fp32_onnx, tmp_path / "mixed.onnx", calib, fmt="qdq", keep_fp32=[first])
    s = quantized_summary(q)
    assert len(s["float_ops"]) == 1 and len(s["int8_ops"]) == len(compute_node_names(fp32_onnx)) - 1
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(q)).metadata_props}
    assert first in meta["edgewise"]  # the report names the layer kept in float


def test_tflite_full_integer_with_int8_io(fp32_onnx, calib, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("onnx2tf")
    from edgewise.compress.quantize_tflite import quantize_tflite, tflite_summary
    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.backends import load_model

    q = quantize_tflite(fp32_onnx, tmp_path / "int8.tflite", calib, metadata=read_metadata(fp32_onnx), io="int8")
    s = tflite_summary(q)
    assert s["io"] == {"input": "int8", "output": "int8"}
    assert s["float_compute_ops"] == 0 and s["compute_output_dtypes"] == {"int8": 23}
    assert q.stat().st_size < fp32_onnx.stat().st_size / 3
    from edgewise.compress.sizes import breakdown

    n_w, n_b = _param_counts(fp32_onnx)
    b = breakdown(q)
    assert (b["weights"], b["biases"]) == (n_w, 4 * n_b) and sum(b.values()) == q.stat().st_size
    assert b["zero_points"] == 2 * b["scales"]  # TFLite stores every zero point as int64 beside a float32 scale
    m8, m32 = load_model(q), load_model(fp32_onnx)
    assert m8.metadata["precision"] == "int8" and m8.metadata["quantization"]["activations"] == "int8"
    x = synthetic_windows(2, seed=2)
    y32, y8 = m32.run(x), m8.run(x)  # float in, float out: the runtime (de)quantises the int8 edges
    assert y8.shape == y32.shape == (2, 4, 2048)
    np.testing.assert_allclose(y8, y32, atol=0.05 * float(np.ptp(y32)))


def _param_counts(fp32_onnx) -> tuple[int, int]:
    """(weight elements, bias elements) of a float ONNX: its rank >= 3 and rank-1 initializers."""
    from onnx import numpy_helper

    arrays = [numpy_helper.to_array(t) for t in onnx.load(str(fp32_onnx)).graph.initializer]
    return sum(a.size for a in arrays if a.ndim >= 3), sum(a.size for a in arrays if a.ndim == 1)


def test_size_breakdown_accounts_for_every_weight(fp32_onnx, calib, tmp_path):
    from edgewise.compress.quantize_onnx import quantize_onnx
    from edgewise.compress.sizes import PARTS, breakdown, payload_ratio

    n_w, n_b = _param_counts(fp32_onnx)
    fp32 = breakdown(fp32_onnx)
    assert set(fp32) == set(PARTS) and sum(fp32.values()) == fp32_onnx.stat().st_size
    assert (fp32["weights"], fp32["biases"], fp32["scales"]) == (4 * n_w, 4 * n_b, 0)
    from onnx import numpy_helper

    g = onnx.load(str(fp32_onnx)).graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    # QOperator's up-convolutions (kernel 2 = stride) become 1x1 convs to 2x the channels: each bias repeated twice
    repeated = sum(inits[n.input[2]].size for n in g.node if n.op_type == "ConvTranspose")
    for fmt in ("qoperator", "qdq"):
        q = quantize_onnx(fp32_onnx, tmp_path / f"{fmt}.onnx", calib, fmt=fmt)
        b = breakdown(q)
        assert sum(b.values()) == q.stat().st_size
        # int8 weights, int32 biases
        assert (b["weights"], b["biases"]) == (n_w, 4 * (n_b + (repeated if fmt == "qoperator" else 0)))
        assert b["scales"] > 0 and b["zero_points"] > 0 and b["metadata"] > fp32["metadata"]  # + quantization record
        assert 3.0 < payload_ratio(fp32, b) < 4.0


def test_tflite_per_tensor_weights_drop_the_per_channel_vectors(fp32_onnx, calib, tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("onnx2tf")
    from tensorflow.lite.tools import flatbuffer_utils

    from edgewise.compress.quantize_tflite import quantize_tflite
    from edgewise.compress.sizes import breakdown
    from edgewise.runtime.artifact import read_metadata
    from edgewise.runtime.backends import load_model

    meta = read_metadata(fp32_onnx)
    per_ch = quantize_tflite(fp32_onnx, tmp_path / "pc.tflite", calib, metadata=meta)
    per_t = quantize_tflite(fp32_onnx, tmp_path / "pt.tflite", calib, metadata=meta, per_channel=False)
    for path, widest in ((per_ch, 48), (per_t, 1)):  # the widest conv has 48 output channels
        sg = flatbuffer_utils.read_model(str(path)).subgraphs[0]
        lengths = [len(t.quantization.scale) for t in sg.tensors if t.quantization is not None
                   and t.quantization.scale is not None and t.type == 9]  # 9: INT8 (weights and activations)
        assert max(lengths) == widest
    assert load_model(per_t).metadata["quantization"]["weights"] == "int8 per-tensor"
    b_ch, b_t = breakdown(per_ch), breakdown(per_t)
    assert b_t["weights"] == b_ch["weights"] and b_t["scales"] < b_ch["scales"] / 5
    assert b_t["zero_points"] < b_ch["zero_points"] / 5  # int64 per channel -> one per tensor
    assert per_t.stat().st_size < per_ch.stat().st_size
    x = synthetic_windows(2, seed=5)
    y32 = load_model(fp32_onnx).run(x)
    np.testing.assert_allclose(load_model(per_t).run(x), y32, atol=0.1 * float(np.ptp(y32)))
