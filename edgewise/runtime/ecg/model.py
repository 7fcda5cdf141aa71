"""An exported ECG artifact (.onnx / .tflite) as a delineation model function, on any runtime backend."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgewise.runtime.ecg.postprocess import PostprocessConfig, post_config
from edgewise.runtime.ecg.stream import STREAM_HOP, STREAM_RIGHT
from edgewise.runtime.errors import ArtifactError
from edgewise.runtime.uncertainty import uncertainty_threshold


@dataclass
class EcgModelInfo:
    """What delineation needs to know about a model, from its metadata (or a checkpoint's spec)."""

    name: str
    sample_rate: int
    window: int
    hop: int  # the hop offline delineation uses (model-rate samples, ``offline_hop``)
    in_channels: int
    format: str
    precision: str = "fp32"
    path: str = ""
    # a multi-head model's mean epistemic uncertainty (nats) above which an input is unlike its training ECG
    uncertainty_threshold: float | None = None
    # the post-processing the model asks for (its metadata's ``postprocess``: P edges of a calibrated model)
    post: PostprocessConfig = field(default_factory=PostprocessConfig)


def offline_hop(window: int, meta_hop: Any = None) -> int:
    """Samples between windows when a whole recording is delineated at once (``delineate``).

    Models of up to 2048 samples (edgewise 0.1) use the live stream's hop, so offline and live give the same
    waves. A whole-strip model (a 10-s window) scores a strip of up to 10 s in one call either way; a longer
    recording would cost window/hop calls per sample at the live hop (39 for 5008/128), so offline it is
    windowed at the artifact's own ``hop`` (half a window for the 0.2 model): each sample is still decided
    by the earliest window that shows at least ``STREAM_RIGHT`` samples after it (``stitch``).
    """
    if window <= 2048:
        return STREAM_HOP
    try:
        hop = int(meta_hop)
    except (TypeError, ValueError):
        hop = window // 2
    return hop if 0 < hop <= window - STREAM_RIGHT else window // 2


def _post(meta: dict, path: Any) -> PostprocessConfig:
    try:
        return post_config(meta)
    except (TypeError, ValueError) as e:
        raise ArtifactError(f"{path}: metadata key 'postprocess' is not usable: {e}") from e


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
        window=window, hop=offline_hop(window, meta.get("hop")), in_channels=int(shape[0] or 1),
        format=model.format, precision=str(meta.get("precision", "fp32")), path=str(path),
        uncertainty_threshold=uncertainty_threshold(meta, path), post=_post(meta, path),
    )

    def fn(x: np.ndarray) -> np.ndarray:
        return np.asarray(model.run(x))

    return fn, info
