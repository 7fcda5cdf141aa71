"""Static INT8 quantisation of an exported ONNX model with onnxruntime's quantiser.

``quantize_static`` with per-channel weights, calibrated (MinMax) on real windows; QOperator format
(QLinearConv kernels, measured faster on onnxruntime's CPU provider) or QDQ (Quantize/DequantizeLinear
pairs that other runtimes fuse). ``quantize_dynamic`` is not an option for conv nets (ConvInteger has
no CPU kernel in onnxruntime; ../shared/DEPENDENCIES.md). Layers named in ``keep_fp32`` stay in float
(mixed precision). After Paupamah, James & Klein, "Quantisation and Pruning for Neural Network
Compression and Regularisation" (quantise after pruning).

Weights use a 7-bit symmetric range (``reduce_range``, levels -64..64) by default, so the artifact
computes the same numbers on every CPU. onnxruntime's x86 u8s8 kernels without VNNI (AVX2, AVX-512
without VNNI) multiply with ``vpmaddubsw``, which adds two uint8 x int8 products into a saturating int16:
255 * 127 * 2 = 64770 overflows 32767, while VNNI (``vpdpbusd``) and arm64 (``sdot``/``smull``)
accumulate in int32. With 8-bit weights the shipped pruned U-Net gave different scores on an AVX2-only
x86 than on a VNNI one (max 0.77, 61 of 252 waves moved on 8 held-out records); with 7-bit weights
(255 * 64 * 2 = 32640 fits) the scores are bit-identical (benchmarks/int8_isa.py; the onnxruntime
quantisation docs name reduce_range / U8U8 as the remedy). The price is one bit of weight precision,
measured by the recipe's budget like any other.

The edgewise metadata of the float file travels into the int8 file with ``precision = "int8"`` and a
``quantization`` record (tool, format, per-channel, calibration source, layers kept in float).
"""
from __future__ import annotations

import json
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Sequence

import numpy as np

INT8_OPS = {"QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearConcat", "QLinearMul", "ConvInteger",
            "MatMulInteger", "QLinearGlobalAveragePool", "QLinearLeakyRelu", "QLinearSigmoid"}
_COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def op_histogram(path: str | Path) -> dict[str, int]:
    """``op type -> count`` of the graph's nodes."""
    import onnx

    return dict(Counter(n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node))


def quantized_summary(path: str | Path) -> dict[str, Any]:
    """Structural facts of a (quantised) ONNX: which compute ops run in int8 and which stay in float.

    For QDQ graphs a Conv counts as int8 when its weight comes from a DequantizeLinear of an int8
    initializer, its input from a DequantizeLinear and its output goes to QuantizeLinear (the runtime
    then fuses it into an int8 kernel); int8 weights with float activations are "weight only".
    """
    import onnx

    g = onnx.load(str(path), load_external_data=False).graph
    inits = {t.name: t for t in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    int8, float_ops, weight_only = [], [], []
    for n in g.node:
        if n.op_type in INT8_OPS:
            int8.append(n.name or n.op_type)
        elif n.op_type in _COMPUTE_OPS:
            src = producers.get(n.input[1]) if len(n.input) > 1 else None
            w = inits.get(src.input[0]) if src is not None and src.op_type == "DequantizeLinear" else None
            act = producers.get(n.input[0])
            quantized_out = all(c.op_type == "QuantizeLinear" for c in consumers.get(n.output[0], [None]) if c)
            if w is None or w.data_type not in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
                float_ops.append(n.name)
            elif act is not None and act.op_type == "DequantizeLinear" and quantized_out:
                int8.append(n.name)
            else:  # int8 weights, float activations: stored small, computed in float
                weight_only.append(n.name)
                float_ops.append(n.name)
    weight_bytes = Counter(onnx.TensorProto.DataType.Name(t.data_type) for t in g.initializer)
    return {"int8_ops": int8, "float_ops": float_ops, "weight_only_int8": weight_only, "ops": dict(Counter(n.op_type for n in g.node)),
            "initializer_types": dict(weight_bytes)}


def compute_node_names(path: str | Path) -> list[str]:
    """Names of the Conv/ConvTranspose/MatMul/Gemm nodes of a float ONNX (candidates for ``keep_fp32``)."""
    import onnx

    return [n.name for n in onnx.load(str(path), load_external_data=False).graph.node if n.op_type in _COMPUTE_OPS]


def int8_weights_for_float_ops(path: str | Path, op_types: Sequence[str] = ("ConvTranspose",)) -> list[str]:
    """Store the float weights of ``op_types`` nodes as per-channel int8 + DequantizeLinear (in place).

    onnxruntime's QOperator format has no int8 ConvTranspose, so the quantiser leaves those layers in
    float with fp32 weights; storing their weights in int8 (computed in float after dequantisation at
    session start) keeps the file ~4x smaller there too. Returns the names of the nodes changed.
    """
    import onnx
    from onnx import helper, numpy_helper

    proto = onnx.load(str(path))
    g = proto.graph
    inits = {t.name: t for t in g.initializer}
    changed, new_nodes = [], []
    for n in g.node:
        w = inits.get(n.input[1]) if n.op_type in op_types and len(n.input) > 1 else None
        if w is None or w.data_type != onnx.TensorProto.FLOAT:
            continue
        arr = numpy_helper.to_array(w)  # ConvTranspose weight: [in, out / groups, k]: axis 1 = output channel
        red = tuple(i for i in range(arr.ndim) if i != 1)
        scale = np.maximum(np.abs(arr).max(axis=red), 1e-12).astype(np.float32) / 127.0
        shape = [1] * arr.ndim
        shape[1] = -1
        q = np.clip(np.rint(arr / scale.reshape(shape)), -127, 127).astype(np.int8)
        base = w.name
        g.initializer.remove(w)
        g.initializer.extend([numpy_helper.from_array(q, base + "_q"), numpy_helper.from_array(scale, base + "_s"),
                              numpy_helper.from_array(np.zeros_like(scale, np.int8), base + "_z")])
        new_nodes.append(helper.make_node("DequantizeLinear", [base + "_q", base + "_s", base + "_z"], [base + "_dq"],
                                          axis=1, name=base + "_DequantizeLinear"))
        n.input[1] = base + "_dq"
        changed.append(n.name)
    if changed:
        nodes = new_nodes + list(g.node)
        del g.node[:]
        g.node.extend(nodes)
        onnx.save(proto, str(path))
    return changed


class _Reader:
    """onnxruntime CalibrationDataReader over float32 windows, one window per call."""

    def __init__(self, name: str, x: np.ndarray):
        self._it = iter([{name: x[i : i + 1]} for i in range(len(x))])

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:  # pragma: no cover (ORT >= 1.20 may call it)
        pass


def _set_metadata(path: Path, metadata: dict[str, Any]) -> None:
    import onnx

    from edgewise.export.onnx import compact_onnx, write_onnx_metadata

    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    write_onnx_metadata(path, metadata, proto=compact_onnx(proto))  # checks the model too


def quantize_onnx(src: str | Path, dst: str | Path, calibration: np.ndarray, *, fmt: str = "qoperator",
                  per_channel: bool = True, keep_fp32: Sequence[str] = (), calibration_source: str = "",
                  reduce_range: bool = True) -> Path:
    """Write a static INT8 copy of the float ONNX ``src`` to ``dst``.

    Args:
        src: float ONNX with edgewise metadata (left untouched).
        dst: output ``.onnx``.
        calibration: float32 ``[n, *input_shape]`` windows, preprocessed like device input (checked by
            ``edgewise.compress.calibration.check_calibration`` beforehand).
        fmt: ``"qoperator"`` or ``"qdq"``.
        per_channel: per-output-channel weight scales (recommended for convs).
        keep_fp32: node names left in float (mixed precision).
        calibration_source: where the windows came from (into the metadata).
        reduce_range: 7-bit weights (-64..64): identical results on every x86 ISA and arm64 (module
            docstring). False: full 8-bit weights, which saturate on x86 without VNNI.

    Returns:
        ``dst``.
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    proto = onnx.load(str(src))
    meta = json.loads({p.key: p.value for p in proto.metadata_props}.get("edgewise", "{}"))
    input_name = proto.graph.input[0].name
    qfmt = {"qoperator": QuantFormat.QOperator, "qdq": QuantFormat.QDQ}[str(fmt)]
    with tempfile.TemporaryDirectory(prefix="edgewise-quant-") as tmp:
        pre, rewritten = Path(tmp) / "pre.onnx", []
        if qfmt == QuantFormat.QOperator:  # QOperator has no int8 ConvTranspose: give it one it can quantise
            from edgewise.compress.onnx_upsample import convtranspose_as_conv

            upsampled, rewritten = convtranspose_as_conv(proto, skip=set(keep_fp32))
            if rewritten:
                onnx.save(upsampled, str(Path(tmp) / "rewritten.onnx"))
        quant_pre_process(str(Path(tmp) / "rewritten.onnx" if rewritten else src), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre), str(dst), _Reader(input_name, np.asarray(calibration, np.float32)), quant_format=qfmt,
            per_channel=per_channel, reduce_range=reduce_range, activation_type=QuantType.QUInt8 if qfmt == QuantFormat.QOperator else QuantType.QInt8,
            weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=list(keep_fp32), extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    weight_only = int8_weights_for_float_ops(dst)
    summary = quantized_summary(dst)
    from edgewise.export.metadata import without_file_facts

    meta = without_file_facts(meta)  # the float file's self-check and verified ISAs are not this file's
    meta.update(precision="int8", quantization={
        "tool": "onnxruntime.quantization.quantize_static", "format": str(fmt), "per_channel": per_channel,
        "weights": "int8 symmetric" + (" 7-bit" if reduce_range else ""), "activations": "uint8" if qfmt == QuantFormat.QOperator else "int8",
        "calibration": calibration_source or f"{len(calibration)} windows", "kept_fp32": list(keep_fp32),
        "int8_ops": len(summary["int8_ops"]), "float_ops": summary["float_ops"], "weight_only_int8": weight_only,
        "convtranspose_as_conv": rewritten,
        "fp32_size_bytes": src.stat().st_size})
    _set_metadata(dst, meta)
    from edgewise.export.metadata import add_selfcheck

    add_selfcheck(dst)  # on the int8 file itself: its own outputs, not the float model's
    return dst

