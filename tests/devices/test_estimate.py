"""Per-layer costs read from the artifacts, the roofline, its calibration, and the 30 % acceptance here."""
from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgewise.devices import _graph
from edgewise.devices import _onnx_shapes as S
from edgewise.devices import estimate as E
from edgewise.devices.profiles import get_profile, this_machine
from edgewise.runtime.errors import ArtifactError
from edgewise.runtime.platform import cpu_info

ART = Path(__file__).resolve().parents[2] / "edgewise" / "models" / "pretrained"
ECG, ECG8 = ART / "ecg" / "ecg-unet", ART / "ecg" / "ecg-unet-int8"
MOSQ = ART / "mosquito" / "model"
SHIPPED = [p.with_suffix(s) for p in (ECG, ECG8, MOSQ) for s in (".onnx", ".tflite")]
IDS = [f"{p.parent.name}/{p.name}" for p in SHIPPED]


# ----------------------------------------------------------------------------------------------
# MACs read from the files
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stem", [ECG, ECG8, MOSQ], ids=["ecg", "ecg-int8", "mosquito"])
def test_onnx_and_tflite_readers_agree(stem):
    """Two independent paths: ONNX shapes propagated here, TFLite shapes stored by the converter."""
    onnx = _graph.graph_cost(stem.with_suffix(".onnx"), batch=1)
    tfl = _graph.graph_cost(stem.with_suffix(".tflite"))
    assert tfl.batch == 1 and not onnx.guessed
    assert onnx.macs == tfl.macs > 0
    assert _graph.graph_cost(stem.with_suffix(".onnx"), batch=3).macs == 3 * onnx.macs


def test_mac_counts_match_the_readme():
    """README: the ECG U-Net (half-rate since 0.3) is 37 M MACs per 10 s of signal, scored in one call of a
    5024-sample window (0.2's full-rate network: 130 M); INT8 keeps every MAC."""
    full = _graph.graph_cost(ECG.with_suffix(".tflite")).macs
    int8 = _graph.graph_cost(ECG8.with_suffix(".tflite")).macs
    np.testing.assert_allclose(full * 5000 / 5024, 37e6, rtol=0.02)
    assert int8 == full
    # the int8 ONNX runs its transposed convolutions as int8 1x1 convolutions (compress.onnx_upsample): same MACs
    assert _graph.graph_cost(ECG8.with_suffix(".onnx")).macs_by_precision() == {"int8": int8, "fp32": 0}
    assert _graph.graph_cost(ECG8.with_suffix(".tflite")).macs_by_precision() == {"int8": int8, "fp32": 0}


@pytest.mark.parametrize("path", [p for p in SHIPPED if p.suffix == ".onnx"], ids=lambda p: p.parent.name + "/" + p.name)
def test_onnx_shapes_agree_with_onnx_shape_inference(path):
    onnx = pytest.importorskip("onnx")
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(str(path)))
    known = {vi.name: [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
             for vi in list(model.graph.value_info) + list(model.graph.output)}
    nodes = [n for n in model.graph.node if n.op_type != "Constant"]
    layers = _graph.graph_cost(path, batch=3).layers
    assert len(nodes) == len(layers)
    compared = 0
    for node, layer in zip(nodes, layers):
        ref = known.get(node.output[0])
        if not ref:  # onnx cannot infer com.microsoft QLinear* ops; TFLite agreement covers those
            continue
        assert tuple(3 if d is None else d for d in ref) == layer.out_shape, node.name
        compared += 1
    # onnx infers nothing past a com.microsoft op (the half-rate ECG INT8 graph pools its input with
    # QLinearAveragePool: 2 layers compared); test_onnx_and_tflite_readers_agree covers every layer of those
    contrib = any(n.domain == "com.microsoft" for n in model.graph.node)
    assert compared >= (1 if contrib else 20)


def test_operator_formulas():
    F = 1
    # Conv1d: 8 -> 16 channels, k=5, stride 2, pads 2/2, dilation 2, group 2 (weight [16, 4, 5])
    outs, macs, exact = S.infer("Conv", [((3, 8, 100), F), ((16, 4, 5), F)],
                                {"strides": [2], "pads": [2, 2], "dilations": [2], "group": 2}, [None, None], 17)
    length = (100 + 4 - 2 * 4 - 1) // 2 + 1
    assert outs[0][0] == (3, 16, length) and exact and macs == 3 * 16 * length * 4 * 5
    # ConvTranspose1d: stride 2, k 4, pads 1/1, output_padding 1 -> 2*(L-1) + 1 + 4 - 2
    outs, macs, _ = S.infer("ConvTranspose", [((2, 6, 50), F), ((6, 3, 4), F)],
                            {"strides": [2], "pads": [1, 1], "output_padding": [1]}, [None, None], 17)
    assert outs[0][0] == (2, 3, 2 * 49 + 1 + 4 - 2) and macs == 2 * 6 * 50 * 3 * 4
    # SAME_UPPER conv and a ceil-mode pool
    assert S.infer("Conv", [((1, 1, 64, 63), F), ((24, 1, 3, 3), F)], {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
                   [None, None], 17)[0][0][0] == (1, 24, 32, 32)
    assert S.infer("MaxPool", [((1, 4, 9, 9), F)], {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1},
                   [None], 17)[0][0][0] == (1, 4, 5, 5)
    # onnxruntime's int8 average pool (com.microsoft): a pool on its int8 input (a half-rate U-Net's first op)
    outs, _, exact = S.infer("QLinearAveragePool", [((1, 1, 5024, 1), 2), ((), F), ((), 2), ((), F), ((), 2)],
                             {"kernel_shape": [2, 1], "strides": [2, 1]}, [None] * 5, 17)
    assert outs[0] == ((1, 1, 2512, 1), 2) and exact
    # Gemm with transB, MatMul broadcasting, Reshape 0/-1, ReduceMean without keepdims
    outs, macs, _ = S.infer("Gemm", [((4, 96), F), ((2, 96), F), ((2,), F)], {"transB": 1}, [None] * 3, 17)
    assert outs[0][0] == (4, 2) and macs == 4 * 96 * 2
    outs, macs, _ = S.infer("MatMul", [((5, 1, 7, 8), F), ((3, 8, 2), F)], {}, [None, None], 17)
    assert outs[0][0] == (5, 3, 7, 2) and macs == 5 * 3 * 7 * 8 * 2
    assert S.infer("Reshape", [((2, 3, 4), F), ((3,), 7)], {}, [None, [0, -1, 2]], 17)[0][0][0] == (2, 6, 2)
    assert S.infer("ReduceMean", [((2, 3, 4), F)], {"axes": [1, 2], "keepdims": 0}, [None], 17)[0][0][0] == (2,)
    assert S.infer("ReduceMean", [((2, 3, 4), F), ((1,), 7)], {}, [None, [-1]], 18)[0][0][0] == (2, 3, 1)
    # an operator the table does not know keeps its input's shape and says so
    outs, macs, exact = S.infer("Einsum", [((2, 3), F)], {}, [None], 17)
    assert outs[0][0] == (2, 3) and macs == 0 and not exact


def test_tiny_onnx_graph_through_the_protobuf_reader(tmp_path):
    """A graph built with the onnx package (host only) exercises the wire-format reader: packed ints,
    raw-data initializers, Constant nodes, dynamic batch, and an unknown op reported as guessed."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((16, 2, 3), np.float32), "w")
    wt = numpy_helper.from_array(np.zeros((16, 4, 4), np.float32), "wt")
    fc = numpy_helper.from_array(np.zeros((4 * 40, 10), np.float32), "fc")
    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], strides=[2], pads=[1, 1], group=2),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("ConvTranspose", ["r", "wt"], ["t"], strides=[2], pads=[1, 1]),
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([0, -1], np.int64))),
        helper.make_node("Reshape", ["t", "shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "fc"], ["y0"]),
        helper.make_node("MysteryOp", ["y0"], ["y"], domain="example.custom"),
    ]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 40])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 10])], [w, wt, fc])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    cost = _graph.graph_cost(path, batch=5)
    by_op = {la.op: la for la in cost.layers}
    assert by_op["Conv"].out_shape == (5, 16, 20) and by_op["Conv"].macs == 5 * 16 * 20 * 2 * 3
    assert by_op["ConvTranspose"].out_shape == (5, 4, 40) and by_op["ConvTranspose"].macs == 5 * 16 * 20 * 4 * 4
    assert by_op["Reshape"].out_shape == (5, 160) and by_op["MatMul"].macs == 5 * 160 * 10
    assert by_op["Conv"].weight_bytes == 16 * 2 * 3 * 4
    assert cost.guessed == ("MysteryOp",)


def test_truncated_artifacts_are_refused(tmp_path):
    for src in (ECG.with_suffix(".onnx"), ECG.with_suffix(".tflite")):
        bad = tmp_path / src.name
        bad.write_bytes(src.read_bytes()[: 5000])
        with pytest.raises(ArtifactError, match=src.name):
            _graph.graph_cost(bad)


# ----------------------------------------------------------------------------------------------
# roofline and calibration
# ----------------------------------------------------------------------------------------------
def test_unit_of_work():
    for suffix in (".onnx", ".tflite"):  # one call of the whole-strip window per 10 s
        cost = E.artifact_cost(ECG.with_suffix(suffix))
        assert (cost.rows, cost.calls, cost.task) == (1, 1, "ecg-delineation")
        assert cost.unit == "10 s of ECG at 500 Hz (1 window)"
        assert cost.macs == _graph.graph_cost(ECG.with_suffix(".tflite")).macs
    mosq = E.artifact_cost(MOSQ.with_suffix(".onnx"))
    assert (mosq.rows, mosq.calls, mosq.runtime, mosq.precision) == (1, 1, "onnxruntime", "fp32")
    assert E.artifact_cost(ECG8.with_suffix(".tflite")).precision == "int8"


def test_roofline_compute_and_memory_bounds():
    cost = E.artifact_cost(ECG.with_suffix(".tflite"))
    base = get_profile("pi4b")
    roof, bound = E.roofline_ms(cost, base)
    expected = cost.macs / (base.peak_gmacs("fp32") * 1e9) * 1e3
    assert bound == "compute"
    np.testing.assert_allclose(roof, expected, rtol=1e-9)  # every layer fits the 1 MB cache: compute-bound
    assert E.roofline_ms(cost, base, threads=2)[0] == pytest.approx(roof / 2)
    starved = dataclasses.replace(base, cache_kb=1, mem_bw_gbs=0.001)
    roof_m, bound_m = E.roofline_ms(cost, starved)
    assert bound_m == "memory" and roof_m > 100 * roof


def _fake(path: Path, factor: float, **over) -> dict:
    cost = E.artifact_cost(path)
    roof, _ = E.roofline_ms(cost, this_machine())
    r = {"path": str(path), "sha256": cost.sha256, "model_p50_ms": factor * roof, "p50_ms": 2 * factor * roof,
         "threads": 1, "runtime": cost.runtime, "precision": cost.precision, "isa": this_machine().isa,
         "emulated": False}
    r.update(over)
    return r


def test_calibration_recovers_the_factor_and_falls_back_in_order():
    isa = this_machine().isa
    runs = [_fake(ECG.with_suffix(".onnx"), 1.5), _fake(MOSQ.with_suffix(".onnx"), 1.5 * 1.21),
            _fake(ECG8.with_suffix(".tflite"), 3.0),
            _fake(ECG8.with_suffix(".onnx"), 50.0, emulated=True),  # emulated: never used
            _fake(MOSQ.with_suffix(".tflite"), 9.0, sha256="0" * 64)]  # not this file: skipped
    cals = E.calibrate(runs)
    assert len(cals.samples) == 3
    c = cals.lookup(isa, "fp32", "onnxruntime")
    assert c.level == "isa+precision+runtime+threads" and c.artifacts == 2
    assert c.factor == pytest.approx(1.5 * math.sqrt(1.21), rel=1e-3)  # geometric mean over artifacts
    assert cals.lookup(isa, "fp32", "onnxruntime", threads=4).level == "isa+precision+runtime"
    other = cals.lookup(isa, "int8", "onnxruntime")
    assert other.level == "isa+precision" and other.factor == pytest.approx(3.0, rel=1e-3)
    moved = cals.lookup("aarch64-dotprod", "int8", "litert")
    assert moved.level == "precision+runtime, other ISA" and "transferred" in moved.source
    assert cals.lookup("aarch64-neon", "fp32", "litert").level == "default"
    assert "default factors measured" in cals.lookup("aarch64-neon", "fp32", "litert").source
    bare = E.Calibrations([], defaults=False).lookup(isa, "fp32", "litert")
    assert bare.level == "uncalibrated" and bare.factor == 2.0
    sha = E.artifact_cost(ECG8.with_suffix(".tflite")).sha256
    assert cals.lookup(isa, "int8", "litert", exclude_sha256=sha).level == "default"
    est = E.estimate(ECG.with_suffix(".onnx"), this_machine(), calibrations=cals)
    assert est.kind == "estimate" and est.ms == pytest.approx(est.roofline_ms * c.factor)
    d = est.as_dict()
    assert d["kind"] == "estimate" and d["calibration"] == c.level and d["macs"] == est.macs
    assert E.estimate(ECG.with_suffix(".onnx"), "pi5").calibration.level == "default"


# ----------------------------------------------------------------------------------------------
# acceptance: within 30 % of the measured model time on this machine
# ----------------------------------------------------------------------------------------------
# Timed in a fresh interpreter that loads only the device runtime and numpy (and compress.report's numpy-only timer,
# latency_p50), as on a device: inside the test session, thread
# pools left by earlier tests (torch's OpenMP workers, other runtimes' pools) share the 2 cores and slowed the
# artifacts unevenly (ecg-unet.onnx 2.1-2.2 ms and model.tflite 0.18-0.19 ms there, 1.5 and 0.12 alone), which is the
# session's state, not the estimator's error.
_MEASURE = """
import json, sys
import numpy as np
from edgewise.compress.report import latency_p50
from edgewise.runtime.backends import load_model
paths, rows, repeats = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
work = []
for path, n in zip(paths, rows):
    model = load_model(path, threads=1)
    work.append((model, np.random.default_rng(0).standard_normal((n, *model.input_shape)).astype(np.float32)))
best = [float("inf")] * len(work)
for r in range(repeats):  # the artifacts take turns, so a slow spell falls on all of them alike
    for i, (model, x) in enumerate(work):
        best[i] = min(best[i], latency_p50(model.run, x, repeats=15, warmup=5 if r == 0 else 0))
print(json.dumps(best))
"""


def _measure_models_ms(paths: list[Path], repeats: int = 5) -> list[float]:
    """Model time of each artifact's unit of work (all rows in one call), 1 thread: the median thread CPU time of 15
    runs, best of ``repeats`` rounds in which the artifacts take turns, in a fresh interpreter (``_MEASURE``). CPU time
    of the calling thread (where both runtimes compute at 1 thread) leaves out the time other processes take on a
    shared machine, as benchmarks/compression.py measures for the README."""
    rows = [E.artifact_cost(p).rows for p in paths]
    done = subprocess.run([sys.executable, "-c", _MEASURE, json.dumps([str(p) for p in paths]), json.dumps(rows),
                           str(repeats)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_estimates_within_30_percent_on_this_machine(capsys):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("ai_edge_litert")
    isa = cpu_info().isa
    runs = []
    for path, ms in zip(SHIPPED, _measure_models_ms(list(SHIPPED))):
        cost = E.artifact_cost(path)
        runs.append({"path": str(path), "sha256": cost.sha256, "model_p50_ms": ms, "threads": 1,
                     "runtime": cost.runtime, "precision": cost.precision, "isa": isa, "emulated": False})
    checks = E.validate(runs)
    assert len(checks) == len(SHIPPED)
    with capsys.disabled():
        print(f"\n{'artifact':30} {'runtime':12} {'meas ms':>8} {'roof ms':>8} {'in-sample':>9} {'loo':>6}  loo calibration")
        for c in checks:
            print(f"{c['artifact']:30} {c['runtime']:12} {c['measured_ms']:8.3f} {c['roofline_ms']:8.3f} "
                  f"{c['in_sample_err'] * 100:+8.0f}% {c['loo_err'] * 100:+5.0f}%  {c['loo_calibration'].level}")
    for c in checks:
        assert abs(c["in_sample_err"]) <= 0.30, c
        assert math.isfinite(c["loo_err"])
