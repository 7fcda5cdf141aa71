"""The one model interface over backends: registry, input checks, layouts, int8 I/O, batching.

A backend (``_onnxruntime.py``, ``_litert.py``) only opens a file and runs a native tensor; everything
a caller relies on — the layout it feeds, the checks with actionable messages, quantisation of int8
inputs/outputs with the tensor's scale and zero point, running a batch through a fixed-batch model —
lives here once, so every backend behaves alike. numpy only at module level.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from edgewise.runtime.artifact import (
    check_onnx_external_data,
    detect_format,
    read_metadata,
    resolve_metadata,
)
from edgewise.runtime.errors import ArtifactError, BackendMissingError, InputError

LAYOUT_AXES = {"NCW": "batch, channels, samples", "NWC": "batch, samples, channels",
               "NCHW": "batch, channels, mels, frames", "NHWC": "batch, mels, frames, channels"}


@dataclass(frozen=True)
class TensorInfo:
    """A native input/output tensor of an opened artifact.

    Attributes:
        name: tensor name in the file.
        shape: full native shape including batch; ``None`` for a dynamic dimension.
        dtype: numpy dtype of the tensor.
        scale: quantisation scale (0.0 when the tensor is not quantised).
        zero_point: quantisation zero point.
    """

    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype
    scale: float = 0.0
    zero_point: int = 0


class Session(Protocol):
    """What a backend returns from ``open``: native tensors in, native tensors out."""

    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    dynamic_batch: bool

    def run(self, x: np.ndarray) -> list[np.ndarray]: ...

    def custom_metadata(self) -> dict[str, str]: ...


class Backend(Protocol):
    name: str
    formats: tuple[str, ...]

    def open(self, path: Path, *, threads: int) -> Session: ...


_BACKENDS: dict[str, Backend] = {}
_DEFAULT_FOR_FORMAT = {"onnx": "onnxruntime", "tflite": "litert"}


def register(name: str) -> Callable[[type], type]:
    """Class decorator: register a backend under ``name``; raises on a duplicate name."""

    def deco(cls: type) -> type:
        if name in _BACKENDS:
            raise ValueError(f"backend {name!r} is already registered ({type(_BACKENDS[name]).__name__})")
        obj = cls()
        obj.name = name
        _BACKENDS[name] = obj
        return cls

    return deco


def get_backend(name: str) -> Backend:
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r}; known: {', '.join(sorted(_BACKENDS))}") from None


def known_backends() -> list[str]:
    return sorted(_BACKENDS)


def _perm(spec: Any, rank: int, what: str) -> tuple[int, ...]:
    perm = tuple(int(i) for i in spec) if spec is not None else tuple(range(rank))
    if sorted(perm) != list(range(rank)):
        raise ArtifactError(f"the artifact's metadata gives {what} permutation {list(perm)} for a rank-{rank} tensor")
    return perm


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """float -> the integer dtype of ``info`` with its scale/zero point (round half to even, clipped)."""
    limits = np.iinfo(info.dtype)
    q = np.rint(x / info.scale) + info.zero_point
    return np.clip(q, limits.min, limits.max).astype(info.dtype)


def dequantize(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    return ((q.astype(np.float32) - np.float32(info.zero_point)) * np.float32(info.scale)).astype(np.float32)


class RuntimeModel:
    """An artifact opened by one backend, fed and read in the model's canonical layout.

    Attributes:
        path: the artifact file.
        format: ``"onnx"`` or ``"tflite"``.
        backend: backend name (``"onnxruntime"``, ``"litert"``).
        metadata: the edgewise metadata (or the minimal dict built from explicit fs/layout).
        output_names: output names, in order (the keys of ``run``'s dict for multi-output models).
    """

    def __init__(self, session: Session, *, path: Path, fmt: str, backend: str, metadata: dict[str, Any]):
        if len(session.inputs) != 1:
            names = [t.name for t in session.inputs]
            raise ArtifactError(f"{path} has {len(names)} inputs {names}; edgewise models take exactly one")
        self._session, self.path, self.format, self.backend = session, path, fmt, backend
        self.metadata = metadata
        self._native_in = session.inputs[0]
        rank = len(self._native_in.shape)
        io = metadata.get("io") or {}
        self._in_perm = _perm((io.get("input") or {}).get("perm"), rank, "input")
        outs = io.get("outputs")
        by_name = {t.name: i for i, t in enumerate(session.outputs)}
        if outs:
            missing = [o.get("tensor") for o in outs if o.get("tensor") not in by_name]
            if missing:
                raise ArtifactError(f"{path}: metadata names outputs {missing} that the file does not have "
                                    f"(it has {sorted(by_name)}); re-export it")
            self._outs = [(o["name"], by_name[o["tensor"]],
                           _perm(o.get("perm"), len(session.outputs[by_name[o["tensor"]]].shape), "output"))
                          for o in outs]
        else:
            self._outs = [(t.name, i, tuple(range(len(t.shape)))) for i, t in enumerate(session.outputs)]
        self.output_names = [name for name, _, _ in self._outs]

    # -- what a caller feeds ---------------------------------------------------------------------
    @property
    def input_layout(self) -> str | None:
        """Layout ``run`` expects (the model's own, e.g. ``"NCW"``), whatever the file uses inside."""
        return self.metadata.get("input_layout")

    @property
    def input_shape(self) -> tuple[int | None, ...]:
        """Input shape without the batch dimension, in ``input_layout``; ``None`` = any size."""
        shape = self.metadata.get("input_shape")
        if shape is not None:
            return tuple(None if d is None or int(d) < 0 else int(d) for d in shape)
        inverse = np.argsort(self._in_perm)
        return tuple(self._native_in.shape[i] for i in inverse)[1:]

    @property
    def input_dtype(self) -> np.dtype:
        """dtype ``run`` expects: float32 (int8 inputs are quantised inside ``run``)."""
        return np.dtype(np.float32) if self._native_in.scale else self._native_in.dtype

    @property
    def native_input(self) -> TensorInfo:
        """The file's own input tensor (layout, dtype and quantisation as stored)."""
        return self._native_in

    @property
    def native_outputs(self) -> list[TensorInfo]:
        return list(self._session.outputs)

    @property
    def implementation(self) -> str:
        """The library actually running the file (``"ai_edge_litert"``, ``"tflite_runtime"``, ``"tf.lite"``, ...)."""
        return str(getattr(self._session, "impl", self.backend))

    @property
    def sample_rate(self) -> float | None:
        return self.metadata.get("sample_rate")

    def _describe(self) -> str:
        dims = ", ".join("any" if d is None else str(d) for d in self.input_shape)
        axes = LAYOUT_AXES.get(str(self.input_layout), "batch, ...")
        return f"[batch, {dims}] ({self.input_layout or 'layout unknown'}: {axes})"

    def _check(self, x: Any, fs: float | None) -> tuple[np.ndarray, bool]:
        x = np.asarray(x)
        if x.dtype.kind != "f" and not (x.dtype == self.input_dtype):
            raise InputError(f"{self.path.name} expects floating-point input ({self.input_dtype}), got {x.dtype}; "
                             "convert with x.astype(np.float32) (scale ADC counts to physical units first)")
        want = self.input_shape
        batched = x.ndim == len(want) + 1
        if x.ndim not in (len(want), len(want) + 1) or any(
                w is not None and g != w for g, w in zip(x.shape[1:] if batched else x.shape, want)):
            raise InputError(f"{self.path.name} expects input {self._describe()}, got shape {tuple(x.shape)}; "
                             f"window the signal to the model's input size (metadata window={self.metadata.get('window')})")
        if fs is not None and self.sample_rate is not None and float(fs) != float(self.sample_rate):
            raise InputError(f"{self.path.name} expects signals at {self.sample_rate:g} Hz, got {fs:g} Hz; "
                             "resample first (e.g. scipy.signal.resample_poly on the host)")
        if not batched:
            x = x[None]
        return x, batched

    # -- running -----------------------------------------------------------------------------------
    def _run_native(self, x: np.ndarray) -> list[np.ndarray]:
        fixed = self._native_in.shape[0]
        if self._session.dynamic_batch or fixed is None or fixed == x.shape[0]:
            return self._session.run(x)
        if fixed != 1:
            raise InputError(f"{self.path.name} has a fixed batch of {fixed}; pass batches of {fixed} or of 1")
        parts = [self._session.run(x[i:i + 1]) for i in range(x.shape[0])]
        return [np.concatenate([p[k] for p in parts], axis=0) for k in range(len(parts[0]))]

    def run(self, x: np.ndarray, *, fs: float | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Run the model.

        Args:
            x: float32 ``[batch, *input_shape]`` or one example ``input_shape``, in ``input_layout``.
            fs: sample rate of ``x`` in Hz; checked against the model's when given.

        Returns:
            The output ``[batch, ...]`` (no batch axis when ``x`` had none) in the model's own layout;
            a dict ``name -> array`` when the model has several outputs.

        Raises:
            InputError: wrong shape, dtype or sample rate (the message says what is expected).
        """
        x, batched = self._check(x, fs)
        native = np.ascontiguousarray(np.transpose(x, self._in_perm))
        info = self._native_in
        native = quantize(native, info) if info.scale else native.astype(info.dtype, copy=False)
        raw = self._run_native(native)
        out = {}
        for name, index, perm in self._outs:
            y, oinfo = raw[index], self._session.outputs[index]
            y = dequantize(y, oinfo) if oinfo.scale else y
            y = np.transpose(y, perm)
            out[name] = y if batched else y[0]
        return out[self.output_names[0]] if len(out) == 1 else out

    def warmup(self, n: int = 1) -> None:
        """Run ``n`` zero inputs (first runs allocate and pick kernels)."""
        shape = tuple(1 if d is None else d for d in self._native_in.shape)
        for _ in range(n):
            self._session.run(np.zeros(shape, self._native_in.dtype))

    def __repr__(self) -> str:
        return (f"RuntimeModel({self.path.name!r}, backend={self.backend!r}, input={self._describe()}, "
                f"outputs={self.output_names})")


def _one_line(e: BaseException, limit: int = 300) -> str:
    """A runtime's own message on one line (LiteRT's span several), shortened."""
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[:limit] + "..."


def load_model(path: str | Path, *, backend: str | None = None, threads: int = 1, warmup: int = 1,
               fs: float | None = None, layout: str | None = None, require_metadata: bool = True) -> RuntimeModel:
    """Open an ONNX or TFLite artifact behind the one model interface.

    Args:
        path: ``.onnx`` or ``.tflite`` file; the format is detected from its content.
        backend: ``"onnxruntime"`` or ``"litert"``; default: the one for the file's format.
        threads: intra-op threads of the runtime.
        warmup: zero-input runs done before returning.
        fs, layout: the model's sample rate and input layout, needed only for an artifact without
            edgewise metadata (they must agree with the metadata otherwise).
        require_metadata: refuse an artifact without metadata and without ``fs``/``layout``.

    Raises:
        ArtifactError: corrupt/truncated/non-model file, unsafe external data, missing metadata.
        BackendMissingError: the runtime for this format is not installed (names the extra).
    """
    path = Path(path)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")
    if not path.is_file():
        raise FileNotFoundError(f"no model artifact at {path}")
    data = path.read_bytes()
    if not data:
        raise ArtifactError(f"{path} is empty (0 bytes); re-export it with `edgewise export`")
    fmt = detect_format(path, data)
    if fmt == "onnx":
        check_onnx_external_data(path, data)
    # the metadata is checked (schema, and against the graph's own shapes) before the runtime opens the file
    meta = read_metadata(path, data=data)
    del data
    impl = get_backend(backend or _DEFAULT_FOR_FORMAT[fmt])
    if fmt not in impl.formats:
        raise ValueError(f"backend {impl.name!r} cannot run {fmt} files; use one of "
                         f"{[n for n, b in _BACKENDS.items() if fmt in b.formats]}")
    try:
        session = impl.open(path, threads=threads)
    except (BackendMissingError, ArtifactError):
        raise
    except ImportError as e:  # a runtime that is installed but broken (missing shared library, ABI)
        raise BackendMissingError(f"{impl.name} is installed but cannot be imported ({_one_line(e)}); reinstall it, "
                                  "e.g. pip install --force-reinstall onnxruntime ai-edge-litert") from e
    except Exception as e:  # runtimes raise their own types (RuntimeError, ValueError, InvalidProtobuf, ...)
        raise ArtifactError(f"{impl.name} cannot load {path} ({type(e).__name__}: {_one_line(e)}); "
                            "the file is corrupt, truncated or uses an unsupported operator") from e
    if require_metadata or meta or fs is not None or layout is not None:
        meta = resolve_metadata(path, meta, fs=fs, layout=layout)
    model = RuntimeModel(session, path=path, fmt=fmt, backend=impl.name, metadata=meta or {})
    try:
        model.warmup(warmup)
    except Exception as e:
        raise ArtifactError(f"{impl.name} loaded {path} but cannot run it ({type(e).__name__}: {_one_line(e)})") from e
    return model

