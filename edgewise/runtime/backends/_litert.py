"""LiteRT backend for TFLite files: ``ai_edge_litert`` first, then ``tflite_runtime``, then ``tf.lite``.

The interpreter is imported only when a file is opened; none installed raises ``BackendMissingError``
naming the extra. int8 tensors carry (scale, zero point), which the model interface uses to quantise
inputs and dequantise outputs.

The first ``allocate_tensors`` of a process prints ``INFO: Created TensorFlow Lite XNNPACK delegate for
CPU.`` from C++ straight to file descriptor 2, below Python; ``_quiet_fd2`` points fd 2 at a temporary
file meanwhile (replayed if allocation fails; left alone with ``EDGEWISE_DEBUG=1``, which ``edgewise
--debug`` sets). Host-side library calls get the fuller ``edgewise._quiet.quiet``; this small stdlib
copy exists because the runtime imports nothing above it.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from edgewise.runtime.backends._base import TensorInfo, register
from edgewise.runtime.errors import BackendMissingError


def interpreter_class() -> tuple[Any, str]:
    """``(Interpreter class, implementation name)`` of the first TFLite interpreter that imports."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai_edge_litert"
    except ImportError as e1:
        first = e1
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite_runtime"
    except ImportError:
        pass
    try:
        import tensorflow as tf

        return tf.lite.Interpreter, "tf.lite"
    except ImportError:
        pass
    raise BackendMissingError(
        "no TFLite interpreter is installed (tried ai_edge_litert, tflite_runtime, tensorflow); "
        "install LiteRT with: pip install 'edgewise[tflite]'"
    ) from first


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    """fd 2 -> a temporary file for the block, restored always; its text is replayed if the block raises."""
    if os.environ.get("EDGEWISE_DEBUG", "") not in ("", "0"):
        yield
        return
    with contextlib.suppress(AttributeError, OSError, ValueError):
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with tempfile.TemporaryFile() as log:
            os.dup2(log.fileno(), 2)
            try:
                yield
            except BaseException:
                os.dup2(saved, 2)
                log.seek(0)
                sys.stderr.write(log.read().decode("utf-8", "replace"))
                sys.stderr.flush()
                raise
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def _info(d: dict) -> TensorInfo:
    sig = d.get("shape_signature", d["shape"])
    shape = tuple(None if int(s) < 0 else int(n) for s, n in zip(sig, d["shape"]))
    scale, zero = d.get("quantization", (0.0, 0))
    dtype = np.dtype(d["dtype"])
    if dtype.kind not in "iu":
        scale, zero = 0.0, 0
    return TensorInfo(name=d["name"], shape=shape, dtype=dtype, scale=float(scale), zero_point=int(zero))


class _LiteRTSession:
    def __init__(self, interp: Any, impl: str):
        self._it, self.impl = interp, impl
        with _quiet_fd2():  # the XNNPACK delegate is applied (and announced) here
            interp.allocate_tensors()
        self._in = interp.get_input_details()
        self._out = interp.get_output_details()
        self.inputs = [_info(d) for d in self._in]
        self.outputs = [_info(d) for d in self._out]
        self.dynamic_batch = bool(self.inputs) and self.inputs[0].shape[:1] == (None,)
        self._batch = int(self._in[0]["shape"][0]) if self._in else 1

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        index = self._in[0]["index"]
        if self.dynamic_batch and x.shape[0] != self._batch:
            self._it.resize_tensor_input(index, list(x.shape), strict=True)
            self._it.allocate_tensors()
            self._batch = x.shape[0]
        self._it.set_tensor(index, x)
        self._it.invoke()
        return [self._it.get_tensor(d["index"]) for d in self._out]  # get_tensor returns a copy already

    def custom_metadata(self) -> dict[str, str]:
        return {}  # read from the file by edgewise.runtime.artifact (the interpreters do not expose it)


@register("litert")
class LiteRTBackend:
    """TFLite files through the LiteRT interpreter (XNNPACK on CPU)."""

    name = "litert"
    formats = ("tflite",)

    def open(self, path: Path, *, threads: int) -> _LiteRTSession:
        cls, impl = interpreter_class()
        return _LiteRTSession(cls(model_path=str(path), num_threads=threads), impl)
