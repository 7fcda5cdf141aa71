"""ECG delineation on any backend: validate, then run the stream engine over the whole signal at once.

``delineate(signal, fs, model_fn, ...)`` is the one implementation used by the host (torch model), the
device (onnxruntime / LiteRT model) and ``edgewise run`` (``EcgStream`` fed block by block): only
``model_fn`` and the block sizes differ, and block sizes do not change the result.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.runtime.ecg.postprocess import PostprocessConfig
from edgewise.runtime.ecg.preprocess import check_signal
from edgewise.runtime.ecg.stitch import ModelFn
from edgewise.runtime.ecg.stream import EcgStream, StreamConfig
from edgewise.runtime.ecg.waves import Wave

__all__ = ["DelineationResult", "delineate", "delineation_scores"]


@dataclass
class DelineationResult:
    """Waves at the input's own rate; ``scores`` float32 [4, n_model] at the model rate; ``padded`` if short.

    A multi-head model (Hydra) adds ``wave_info`` (per wave: ``confidence`` 0-1 and ``epistemic``) and
    ``uncertainty`` (means over the signal: ``total``, ``aleatoric``, ``epistemic``, in nats).
    """

    waves: list[Wave]
    fs: float
    scores: np.ndarray
    padded: bool
    wave_info: dict | None = None
    uncertainty: dict | None = None


def _config(window: int, hop: int | None, post: PostprocessConfig) -> StreamConfig:
    if hop is None:
        return StreamConfig(window=window, post=post)
    return StreamConfig(window=window, hop=hop, post=post)


def delineate(signal: np.ndarray, fs: float, model_fn: ModelFn, *, model_fs: int = 500, window: int = 2048,
              hop: int | None = None, in_channels: int = 1, post: PostprocessConfig = PostprocessConfig()
              ) -> DelineationResult:
    """Delineate a single-lead [n] (or [leads, n]) ECG sampled at ``fs`` Hz.

    ``hop``: model-rate samples between windows (default ``edgewise.runtime.ecg.stream.STREAM_HOP``, the
    same as ``edgewise run``).
    """
    x = check_signal(signal, fs)
    if x.shape[0] != in_channels:
        raise ValueError(f"model expects {in_channels} lead(s), got a signal with {x.shape[0]}; pick a lead with --lead")
    stream = EcgStream(model_fn, fs, model_fs=model_fs, in_channels=in_channels, config=_config(window, hop, post),
                       keep_scores=True)
    waves = stream.flush(x)  # every window in one batch (identical to feed + flush)
    waves.sort(key=lambda w: (w.onset, w.offset))
    scores = stream.scores[0] if stream.scores else np.zeros((4, 0), np.float32)
    return DelineationResult(waves, fs, scores, stream.padded, stream.wave_info or None, stream.uncertainty())


def delineation_scores(signal: np.ndarray, fs: float, model_fn: ModelFn, *, model_fs: int, window: int,
                       hop: int | None = None, in_channels: int = 1) -> tuple[np.ndarray, bool]:
    """Per-sample class scores [4, n_model] at ``model_fs`` for a [leads, n] (or [n]) signal at ``fs``."""
    res = delineate(signal, fs, model_fn, model_fs=model_fs, window=window, hop=hop, in_channels=in_channels)
    return res.scores, res.padded
