"""Compression on the host: structured pruning, INT8 quantisation (ONNX and TFLite), recipes, reports.

After Paupamah, James & Klein, "Quantisation and Pruning for Neural Network Compression and
Regularisation": prune, fine-tune, quantise, and measure size, speed and accuracy of every artifact.
Heavy libraries (torch, torch-pruning, onnxruntime.quantization, tensorflow) are imported inside the
functions that need them.
"""
from __future__ import annotations

from edgewise.compress.calibration import CalibrationError, CalibrationReport, check_calibration
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

__all__ = [
    "Budget",
    "CalibrationError",
    "CalibrationReport",
    "CompressionResult",
    "PruneStep",
    "QuantizeStep",
    "Recipe",
    "check_calibration",
    "compress_checkpoint",
    "default_recipe",
    "load_recipe",
    "parse_recipe",
]
