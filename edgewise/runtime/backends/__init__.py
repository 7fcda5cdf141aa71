"""One model interface over the device runtimes (onnxruntime, LiteRT).

``load_model(path)`` detects the format from the file's content, refuses unsafe or corrupt files,
reads the edgewise metadata and returns a ``RuntimeModel`` whose ``run(x)`` takes and returns tensors
in the model's own layout whatever the file uses inside. numpy only at module level: the runtimes
are imported when a file is opened.
"""
from __future__ import annotations

from edgewise.runtime.backends import _litert, _onnxruntime  # noqa: F401  (register the backends)
from edgewise.runtime.backends._base import (
    RuntimeModel,
    TensorInfo,
    dequantize,
    get_backend,
    known_backends,
    load_model,
    quantize,
    register,
)
from edgewise.runtime.backends._litert import interpreter_class

__all__ = [
    "RuntimeModel",
    "TensorInfo",
    "dequantize",
    "get_backend",
    "interpreter_class",
    "known_backends",
    "load_model",
    "quantize",
    "register",
]
