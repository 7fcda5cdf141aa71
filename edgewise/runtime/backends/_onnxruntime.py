"""onnxruntime backend (the base install's runtime). onnxruntime is imported only when a file is opened."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgewise.runtime.backends._base import TensorInfo, register
from edgewise.runtime.errors import BackendMissingError

_DTYPES = {
    "tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
    "tensor(int8)": np.int8, "tensor(uint8)": np.uint8, "tensor(int16)": np.int16,
    "tensor(int32)": np.int32, "tensor(int64)": np.int64, "tensor(bool)": np.bool_,
}


def _ort():
    try:
        import onnxruntime
    except ImportError as e:
        raise BackendMissingError(
            "onnxruntime is not installed; it is part of the base install: pip install edgewise "
            "(or pip install onnxruntime)"
        ) from e
    return onnxruntime


def _info(arg) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in arg.shape)
    if arg.type not in _DTYPES:
        raise ValueError(f"tensor {arg.name!r} has unsupported type {arg.type}")
    return TensorInfo(name=arg.name, shape=shape, dtype=np.dtype(_DTYPES[arg.type]))


class _OrtSession:
    def __init__(self, sess):
        self._sess = sess
        self.inputs = [_info(a) for a in sess.get_inputs()]
        self.outputs = [_info(a) for a in sess.get_outputs()]
        self.dynamic_batch = bool(self.inputs) and self.inputs[0].shape[:1] == (None,)
        self._in_name = self.inputs[0].name if self.inputs else None

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self._sess.run(None, {self._in_name: x})

    def custom_metadata(self) -> dict[str, str]:
        return dict(self._sess.get_modelmeta().custom_metadata_map)


@register("onnxruntime")
class OnnxRuntimeBackend:
    """ONNX files through ``onnxruntime.InferenceSession`` on the CPU execution provider."""

    name = "onnxruntime"
    formats = ("onnx",)

    def open(self, path: Path, *, threads: int) -> _OrtSession:
        ort = _ort()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        # fatal only (errors too with EDGEWISE_DEBUG=1): warnings about unused initializers are noise on a device,
        # and an error is raised as well, so the CLI prints it once, on one line, instead of twice
        opts.log_severity_level = 3 if os.environ.get("EDGEWISE_DEBUG", "") not in ("", "0") else 4
        sess = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        return _OrtSession(sess)
