"""An exported ECG artifact (.onnx / .tflite) as a delineation model function, on any runtime backend."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from edgewise.runtime.ecg.stream import STREAM_HOP
from edgewise.runtime.errors import ArtifactError


@dataclass
class EcgModelInfo:
    """What delineation needs to know about a model, from its metadata (or a checkpoint's spec)."""

    name: str
    sample_rate: int
    window: int
    hop: int  # the stream hop delineation uses (model-rate samples), not the metadata's export-time hop
    in_channels: int
    format: str
    precision: str = "fp32"
    path: str = ""
    # a multi-head model's mean epistemic uncertainty (nats) above which an input is unlike its training ECG
    uncertainty_threshold: float | None = None


def _threshold(meta: dict, path: str | Path) -> float | None:
    t = meta.get("uncertainty_threshold")
    if t is None:
        return None
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t < 100:
        raise ArtifactError(f"{path}: metadata key 'uncertainty_threshold' is {t!r}: expected a number in 0..100 (nats)")
    return float(t)


def load_artifact_fn(path: str | Path, *, threads: int = 1, backend: str | None = None, fs: float | None = None,
                     layout: str | None = None) -> tuple[Callable[[np.ndarray], np.ndarray], EcgModelInfo]:
    """Open an ECG artifact; returns (fn: float32 [b, leads, window] -> [b, 4, window], info)."""
    from edgewise.runtime.backends import load_model

    model = load_model(path, backend=backend, threads=threads, fs=fs, layout=layout)
    meta = model.metadata
    task = meta.get("task")
    if task not in (None, "ecg-delineation"):
        raise ArtifactError(f"{path} is a {task!r} model, not an ECG delineation model")
    shape = model.input_shape
    if len(shape) != 2:
        raise ArtifactError(f"{path}: ECG models take [batch, leads, samples], this one takes {shape}")
    window = int(meta.get("window") or shape[1] or 2048)
    info = EcgModelInfo(
        name=str(meta.get("name", Path(path).stem)), sample_rate=int(meta.get("sample_rate") or fs or 500),
        window=window, hop=STREAM_HOP, in_channels=int(shape[0] or 1),
        format=model.format, precision=str(meta.get("precision", "fp32")), path=str(path),
        uncertainty_threshold=_threshold(meta, path),
    )

    def fn(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.run(x))

    return fn, info
