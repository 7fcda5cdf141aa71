"""ECG delineation on any backend: validate, resample to the model rate, window, stitch, post-process.

``delineate(signal, fs, model_fn, ...)`` is the one implementation used by the host (torch model) and
the device (onnxruntime / LiteRT model): only ``model_fn`` differs.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgewise.runtime.ecg.postprocess import PostprocessConfig, probabilities_to_waves
from edgewise.runtime.ecg.preprocess import check_signal, resample_linear
from edgewise.runtime.ecg.waves import Wave
from edgewise.runtime.ecg.windowing import ModelFn, windowed_scores

__all__ = ["DelineationResult", "delineate", "delineation_scores"]


@dataclass
class DelineationResult:
    """Waves at the input's own rate; ``scores`` float32 [4, n_model] at the model rate; ``padded`` if short."""

    waves: list[Wave]
    fs: float
    scores: np.ndarray
    padded: bool


def delineation_scores(signal: np.ndarray, fs: float, model_fn: ModelFn, *, model_fs: int, window: int, hop: int,
                       in_channels: int = 1) -> tuple[np.ndarray, bool]:
    """Per-sample class scores [4, n_model] at ``model_fs`` for a [leads, n] (or [n]) signal at ``fs``."""
    x = check_signal(signal, fs)
    if x.shape[0] != in_channels:
        raise ValueError(f"model expects {in_channels} lead(s), got a signal with {x.shape[0]}; pick a lead with --lead")
    x = resample_linear(x, fs, model_fs)
    return windowed_scores(x, model_fn, window=window, hop=hop)


def delineate(signal: np.ndarray, fs: float, model_fn: ModelFn, *, model_fs: int = 500, window: int = 2048,
              hop: int = 1536, in_channels: int = 1, post: PostprocessConfig = PostprocessConfig()
              ) -> DelineationResult:
    """Delineate a single-lead [n] (or [leads, n]) ECG sampled at ``fs`` Hz."""
    scores, padded = delineation_scores(signal, fs, model_fn, model_fs=model_fs, window=window, hop=hop,
                                        in_channels=in_channels)
    lead = None
    if in_channels == 1:  # the single lead at the model rate, for the P-wave consistency rule
        lead = resample_linear(check_signal(signal, fs), fs, model_fs)[0]
    waves = probabilities_to_waves(scores, model_fs, post, signal=lead)
    if fs != model_fs:
        r = fs / model_fs
        n_in = np.asarray(signal).shape[-1]
        waves = [Wave(w.kind, min(int(round(w.onset * r)), n_in - 1), min(int(round(w.offset * r)), n_in - 1))
                 for w in waves]
    return DelineationResult(waves, fs, scores, padded)
