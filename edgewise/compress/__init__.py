"""Compression on the host: structured pruning, INT8 quantisation (ONNX and TFLite), quantisation-aware
fine-tuning, recipes, reports, and where each artifact's bytes go.

After Paupamah, James & Klein, "Quantisation and Pruning for Neural Network Compression and
Regularisation": prune, fine-tune, quantise, and measure size, speed and accuracy of every artifact.
Heavy libraries (torch, torch-pruning, onnxruntime.quantization, tensorflow) are imported inside the
functions that need them.
"""
from __future__ import annotations

from edgewise.compress.calibration import CalibrationError, CalibrationReport, check_calibration
from edgewise.compress.qat import QatConfig, prepare_qat, quantization_aware_finetune, strip_qat
from edgewise.compress.recipe import (
    Budget,
    PruneStep,
    QuantizeStep,
    Recipe,
    default_recipe,
    load_recipe,
    parse_recipe,
)
from edgewise.compress.run import CompressionResult, compress_checkpoint
from edgewise.compress.sizes import PARTS, breakdown, payload_ratio

__all__ = [
    "PARTS",
    "Budget",
    "CalibrationError",
    "CalibrationReport",
    "CompressionResult",
    "PruneStep",
    "QatConfig",
    "QuantizeStep",
    "Recipe",
    "breakdown",
    "check_calibration",
    "compress_checkpoint",
    "default_recipe",
    "load_recipe",
    "parse_recipe",
    "payload_ratio",
    "prepare_qat",
    "quantization_aware_finetune",
    "strip_qat",
]
