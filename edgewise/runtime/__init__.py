"""The device runtime: numpy + onnxruntime / LiteRT only.

Nothing here imports torch, tensorflow, onnx or any other edgewise package, and nothing heavier
than numpy at module level (a test proves it). onnxruntime and the TFLite interpreters are imported
inside the backend that needs them.
"""
from __future__ import annotations

from edgewise.runtime.backends import RuntimeModel, load_model
from edgewise.runtime.errors import (
    ArtifactError,
    BackendMissingError,
    BudgetError,
    EdgewiseError,
    ExportMismatchError,
    InputError,
)

__all__ = [
    "ArtifactError",
    "BackendMissingError",
    "BudgetError",
    "EdgewiseError",
    "ExportMismatchError",
    "InputError",
    "RuntimeModel",
    "load_model",
]
