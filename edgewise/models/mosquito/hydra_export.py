"""A mosquito checkpoint (a Hydra student above all) to fp32 and INT8 ONNX/TFLite artifacts, heads kept.

1. fp32: ``edgewise.export.export_checkpoint`` (ONNX, then TFLite from it), each loaded through the device
   runtime and compared with torch on real log-Mel windows; a Hydra's output stays ``[batch, heads, 2]`` and
   its metadata says ``"heads": M`` (checked against the graph by ``edgewise.runtime.metadata_schema``);
2. INT8: static post-training quantisation of that ONNX (onnxruntime, QOperator, per-channel 7-bit weights:
   ``edgewise.compress.quantize_onnx``) and a full-integer TFLite with float I/O
   (``edgewise.compress.quantize_tflite``), both calibrated on log-Mel windows of the training recordings.

The checks each file gets (parity, the quantised graphs' op summaries, the metadata schema) are those of the
modules named; ``heads_parity`` adds the one a Hydra needs: each artifact's per-head probabilities against
torch's, so a converter that merged or reordered heads would be caught.
"""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["export_mosquito_artifacts", "heads_parity"]


def heads_parity(ckpt: Any, artifact: str | Path, x: np.ndarray) -> dict[str, float]:
    """Max |p - p_torch| over windows and heads of an artifact's per-head mosquito probabilities on features ``x``.

    Returns:
        ``{"max_abs_p": float, "heads": int, "windows": int}``.
    """
    import torch

    from edgewise.runtime.backends import load_model
    from edgewise.runtime.uncertainty import softmax

    with torch.inference_mode():
        ref = ckpt.model(torch.from_numpy(np.ascontiguousarray(x, np.float32))).numpy()
    got = np.asarray(load_model(artifact, threads=1).run(np.ascontiguousarray(x, np.float32)))
    if got.shape != ref.shape:
        raise ValueError(f"{artifact}: output shape {got.shape} but torch gives {ref.shape}")
    d = np.abs(softmax(got, axis=-1)[..., 1] - softmax(ref, axis=-1)[..., 1])
    return {"max_abs_p": float(d.max()), "heads": int(ref.shape[1]) if ref.ndim == 3 else 1, "windows": len(x)}


def export_mosquito_artifacts(checkpoint: str | Path, out: str | Path, *, calibration: np.ndarray,
                              parity_inputs: np.ndarray, stem: str, calibration_source: str,
                              tflite: bool = True) -> dict[str, Path]:
    """Write ``{stem}.onnx``, ``{stem}.tflite``, ``{stem}-int8.onnx``, ``{stem}-int8.tflite`` into ``out``.

    Args:
        checkpoint: a mosquito ``.pt`` (e.g. ``hydra.pt``).
        calibration: float32 [n, 1, mels, frames] log-Mel windows of training recordings (INT8 ranges).
        parity_inputs: float32 [n, 1, mels, frames] real windows the fp32 files are checked on against torch.
        stem: file name stem.
        calibration_source: into the INT8 files' metadata.
        tflite: also the two TFLite files (False: ONNX only, no TensorFlow needed).

    Returns:
        ``{"onnx": path, "tflite": path, "onnx-int8": path, "tflite-int8": path}`` (without the TFLite keys when
        ``tflite`` is False).
    """
    from edgewise.compress.quantize_onnx import quantize_onnx
    from edgewise.export import export_checkpoint
    from edgewise.models.checkpoint import load_checkpoint
    from edgewise.runtime.artifact import read_metadata

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = load_checkpoint(checkpoint)
    work = out / f".{stem}-fp32"
    formats = ("onnx", "tflite") if tflite else ("onnx",)
    arts = {a.format: a.path for a in export_checkpoint(ckpt, to=formats, out=work, inputs=parity_inputs)}
    paths = {f: out / f"{stem}.{f}" for f in formats}
    for fmt, dst in paths.items():
        shutil.copyfile(arts[fmt], dst)
    calib = np.asarray(calibration, np.float32)
    paths["onnx-int8"] = quantize_onnx(paths["onnx"], out / f"{stem}-int8.onnx", calib,
                                       calibration_source=calibration_source)
    if not tflite:
        shutil.rmtree(work, ignore_errors=True)
        return paths
    from edgewise.compress.quantize_tflite import quantize_tflite

    paths["tflite-int8"] = quantize_tflite(paths["onnx"], out / f"{stem}-int8.tflite", calib,
                                           metadata=read_metadata(paths["tflite"]) or {},
                                           calibration_source=calibration_source, per_channel=True,
                                           fp32_size_bytes=paths["tflite"].stat().st_size)
    shutil.rmtree(work, ignore_errors=True)
    return paths
