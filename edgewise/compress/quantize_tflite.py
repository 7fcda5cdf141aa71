"""Full-integer TFLite quantisation: int8 weights and int8 (or int16) activations, float or int8 I/O.

The float ONNX is converted by onnx2tf (as in ``edgewise.export.tflite``) to a TensorFlow SavedModel;
the TFLite converter then quantises it with a representative dataset of real windows
(``Optimize.DEFAULT`` + ``TFLITE_BUILTINS_INT8``, or the 16x8 scheme
``EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8`` whose int16 activations keep more
accuracy where int8 costs it). The file's layout (onnx2tf makes it channels-last) is found by probing,
as for the float export, and recorded with the metadata, so the runtime feeds it in the model's layout
and (de)quantises int8 I/O transparently. After Paupamah, James & Klein, "Quantisation and Pruning for
Neural Network Compression and Regularisation".
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from edgewise._quiet import quiet


def tflite_summary(path: str | Path) -> dict[str, Any]:
    """Structural facts: op histogram and the dtypes of the tensors (which ops run in int8/int16)."""
    from edgewise.runtime.backends import interpreter_class

    cls, _ = interpreter_class()
    with quiet("LiteRT"):
        it = cls(model_path=str(path))
    ops = Counter(d["op_name"] for d in it._get_ops_details())
    tensors = it.get_tensor_details()
    by_index = {t["index"]: np.dtype(t["dtype"]).name for t in tensors}
    compute = [d for d in it._get_ops_details() if d["op_name"] in ("CONV_2D", "TRANSPOSE_CONV", "DEPTHWISE_CONV_2D",
                                                                     "FULLY_CONNECTED")]
    io_types = {"input": np.dtype(it.get_input_details()[0]["dtype"]).name,
                "output": np.dtype(it.get_output_details()[0]["dtype"]).name}
    act = Counter(by_index[d["outputs"][0]] for d in compute)
    return {"ops": dict(ops), "compute_output_dtypes": dict(act), "io": io_types,
            "float_compute_ops": sum(v for k, v in act.items() if k.startswith("float"))}


def _saved_model(onnx_path: Path, work: Path) -> Path:
    from edgewise.export.tflite import convert_onnx

    convert_onnx(onnx_path, work)
    sm = work / "tf"
    if not (sm / "saved_model.pb").is_file():
        raise ValueError(f"onnx2tf wrote no SavedModel for {onnx_path} (files: {sorted(p.name for p in sm.iterdir())})")
    return sm


def _native_inputs(saved_model: Path, x: np.ndarray) -> np.ndarray:
    """Windows in the SavedModel's input layout (onnx2tf makes NCW channels-last: NWC)."""
    import tensorflow as tf

    with quiet():
        fn = tf.saved_model.load(str(saved_model)).signatures["serving_default"]
    spec = list(fn.structured_input_signature[1].values())[0]
    shape = tuple(spec.shape.as_list()[1:])
    if tuple(x.shape[1:]) == shape:
        return x
    moved = np.moveaxis(x, 1, -1)
    if tuple(moved.shape[1:]) != shape:
        raise ValueError(f"cannot map calibration windows {x.shape} to the SavedModel's input {spec.shape}")
    return np.ascontiguousarray(moved)


def quantize_tflite(onnx_path: str | Path, dst: str | Path, calibration: np.ndarray, *, metadata: dict[str, Any],
                    io: str = "float", activations: str = "int8", calibration_source: str = "",
                    per_channel: bool = True, fp32_size_bytes: int | None = None) -> Path:
    """Write a full-integer quantised TFLite of the float ONNX ``onnx_path`` to ``dst``.

    Args:
        onnx_path: float ONNX (left untouched; a copy is converted).
        dst: output ``.tflite``.
        calibration: float32 ``[n, *input_shape]`` windows in the model's layout (NCW), preprocessed.
        metadata: the float artifact's edgewise metadata (``precision``, ``io`` and ``quantization`` are set here).
        io: ``"float"`` (float32 input/output, quantised inside) or ``"int8"`` (int8/int16 tensors at the edges).
        activations: ``"int8"`` or ``"int16"`` (16x8 scheme).
        calibration_source: where the windows came from (into the metadata).
        per_channel: one weight scale per output channel (default) or one per tensor (smaller file: the
            schema stores a float32 scale and an int64 zero point per channel for weights and biases).
        fp32_size_bytes: size of the float TFLite of the same model (into the metadata, for size ratios).

    Returns:
        ``dst``.
    """
    with quiet():  # the first TensorFlow import logs
        import tensorflow as tf

    from edgewise.export.tflite import compact_tflite, embed_metadata, match_io

    if activations not in ("int8", "int16") or io not in ("float", "int8"):
        raise ValueError(f"activations must be 'int8' or 'int16' and io 'float' or 'int8', got {activations!r}, {io!r}")
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    x = np.asarray(calibration, np.float32)
    with tempfile.TemporaryDirectory(prefix="edgewise-tfq-") as tmp:
        sm = _saved_model(Path(onnx_path), Path(tmp))
        native = _native_inputs(sm, x)
        conv = tf.lite.TFLiteConverter.from_saved_model(str(sm))
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([native[i : i + 1]] for i in range(len(native)))
        if activations == "int16":
            conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
            edge = tf.int16
        else:
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            edge = tf.int8
        if not per_channel:
            conv._experimental_disable_per_channel = True  # the converter's only switch for it (TF 2.19)
        if io == "int8":
            conv.inference_input_type = conv.inference_output_type = edge
        raw = Path(tmp) / "quant.tflite"
        with quiet("the TFLite converter"):
            raw.write_bytes(conv.convert())
        compact_tflite(raw)
        layout = metadata.get("input_layout", "NCW")
        found_io, _ = match_io(Path(onnx_path), raw, input_shape=tuple(x.shape[1:]), layout=layout)
        summary = tflite_summary(raw)
        from edgewise.export.metadata import without_file_facts

        meta = {**without_file_facts(metadata), "io": found_io, "precision": "int8", "quantization": {
            "tool": f"tf.lite.TFLiteConverter {tf.__version__} (full integer)", "weights": "int8 per-channel" if per_channel else "int8 per-tensor",
            "activations": activations, "io": summary["io"], "calibration": calibration_source or f"{len(x)} windows",
            "float_compute_ops": summary["float_compute_ops"], "fp32_size_bytes": fp32_size_bytes}}
        json.dumps(meta)
        embed_metadata(raw, Path(tmp) / "embedded.tflite", meta)
        shutil.copyfile(Path(tmp) / "embedded.tflite", dst)
    from edgewise.export.metadata import add_selfcheck

    add_selfcheck(dst)  # on the int8 file itself: its own outputs, not the float model's
    return dst
