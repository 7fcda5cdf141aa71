"""Mosquito detection on the device (numpy + onnxruntime/LiteRT): windows, the artifact detector, events.

``MosquitoDetector.open("model.onnx").detect(y, fs)`` scores a signal like ``edgewise detect``; the live
engine (``edgewise.runtime.live.mosquito_stream``) runs the same detector window by window. A clip is scored
as a whole by the mean of its top-3 window probabilities (``clip_score``).
"""
from __future__ import annotations

from edgewise.runtime.mosquito.clip_score import CLIP_TOP_K, clip_score
from edgewise.runtime.mosquito.detector import (
    TASK,
    MosquitoDetector,
    hysteresis_for,
    load_detector,
    mosquito_probability,
    windows_and_events,
)
from edgewise.runtime.mosquito.windows import (
    FADE_S,
    MIN_CLIP_S,
    ClipTooShortError,
    Windows,
    detector_windows,
    frame_windows,
    min_clip_samples,
    tile_window,
)

__all__ = [
    "CLIP_TOP_K",
    "FADE_S",
    "MIN_CLIP_S",
    "TASK",
    "ClipTooShortError",
    "clip_score",
    "MosquitoDetector",
    "Windows",
    "detector_windows",
    "frame_windows",
    "hysteresis_for",
    "load_detector",
    "min_clip_samples",
    "mosquito_probability",
    "tile_window",
    "windows_and_events",
]
