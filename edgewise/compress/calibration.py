"""Calibration windows for post-training quantisation, and the checks that refuse bad ones.

Static INT8 quantisation fixes each activation's range from the calibration windows; with too few
windows, or windows unlike what the model sees on the device, the ranges are wrong and accuracy drops
silently (the complaint users of onnxruntime's quantiser, NNCF and TF-MOT raise most). So before
quantising we check the windows against the model's expected input distribution: the spec's input
shape, its preprocessing (per-window median-centred, unit-SD ECG), ECG-band spectral content, enough
distinct windows, and whether the model actually finds waves in them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from edgewise.runtime.errors import InputError

ECG_BAND_HZ = (0.5, 40.0)


class CalibrationError(InputError):
    """Calibration data that would give wrong quantisation ranges; the message says what to pass instead."""


@dataclass(frozen=True)
class CalibrationReport:
    """What the checks measured on the calibration windows (recorded in the compression report)."""

    n_windows: int
    n_distinct: int
    median_std: float
    median_abs_center: float
    ecg_band_power: float
    wave_fraction: float | None
    source: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def windows_from_records(records: Sequence[Any], n: int, *, window: int = 2048, seed: int = 0) -> np.ndarray:
    """float32 [n, 1, window]: standardised windows of random leads at random offsets of ``records``.

    Args:
        records: ``edgewise.data.ludb.EcgRecord`` objects (use training records, never held-out ones).
        n: number of windows.
        window: samples per window.
    """
    from edgewise.runtime.ecg.preprocess import standardized_window

    if not records:
        raise CalibrationError("no records to draw calibration windows from; pass a LUDB folder")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        r = records[int(rng.integers(len(records)))] if i >= len(records) else records[i]
        lead = r.signal[int(rng.integers(r.signal.shape[0]))]
        s = int(rng.integers(0, max(1, len(lead) - window + 1)))
        out.append(standardized_window(lead[None, s : s + window], window))
    return np.stack(out).astype(np.float32)


def synthetic_windows(n: int, *, window: int = 2048, seed: int = 0) -> np.ndarray:
    """float32 [n, 1, window] of SYNTHETIC ECG, standardised (used only when no real data is given)."""
    from edgewise.data.synthetic_ecg import SyntheticEcgConfig, synthetic_ecg
    from edgewise.runtime.ecg.preprocess import standardize

    cfg = SyntheticEcgConfig(seconds=window / 500 + 0.01)
    rng = np.random.default_rng(seed)
    return np.stack([standardize(synthetic_ecg(rng, cfg)[0][None, :window]) for _ in range(n)]).astype(np.float32)


def _band_power(x: np.ndarray, fs: float) -> float:
    spec = np.abs(np.fft.rfft(x - x.mean(axis=-1, keepdims=True), axis=-1)) ** 2
    f = np.fft.rfftfreq(x.shape[-1], 1 / fs)
    band = (f >= ECG_BAND_HZ[0]) & (f <= ECG_BAND_HZ[1])
    total = spec.sum(axis=-1)
    frac = spec[..., band].sum(axis=-1) / np.maximum(total, 1e-12)
    return float(np.median(frac))


def check_calibration(x: Any, *, input_shape: Sequence[int], min_windows: int, fs: float = 500.0,
                      model_fn: Callable[[np.ndarray], np.ndarray] | None = None,
                      source: str = "given") -> CalibrationReport:
    """Check calibration windows against what the model expects; raise with a fix when they are unfit.

    Args:
        x: float32 ``[n, *input_shape]`` windows, preprocessed as on the device.
        input_shape: the model spec's input shape without batch (``(1, 2048)``).
        min_windows: fewest windows accepted.
        fs: sample rate of the windows in Hz.
        model_fn: the float model (``[b, c, w] -> [b, classes, w]`` logits); when given, windows in
            which it finds no waves at all count as unrepresentative.
        source: where the windows came from (for the report).

    Returns:
        The measured statistics.

    Raises:
        CalibrationError: wrong shape, non-finite values, too few or too few distinct windows, windows
            not standardised like the device input, not ECG-like spectra, or no waves found in them.
    """
    x = np.asarray(x, dtype=np.float32)
    shape = tuple(int(d) for d in input_shape)
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise CalibrationError(f"calibration windows must be [n, {', '.join(map(str, shape))}], got {x.shape}; "
                               "cut the signal into model windows first")
    if not np.all(np.isfinite(x)):
        raise CalibrationError(f"calibration windows contain {int(np.sum(~np.isfinite(x)))} NaN/inf values")
    n = len(x)
    if n < min_windows:
        raise CalibrationError(f"too little calibration data: {n} window(s), need at least {min_windows} "
                               "(activation ranges from so few windows are unreliable); pass more real ECG")
    flat = x.reshape(n, -1)
    distinct = len(np.unique(np.round(flat[:, :: max(1, flat.shape[1] // 256)], 3), axis=0))
    if distinct < min_windows:
        raise CalibrationError(f"unrepresentative calibration data: only {distinct} distinct windows among {n} "
                               f"(need {min_windows}); draw windows from many records and offsets")
    std = np.std(flat, axis=1)
    center = np.abs(np.median(flat, axis=1))
    med_std, med_center = float(np.median(std)), float(np.median(center))
    if not 0.5 <= med_std <= 2.0 or med_center > 0.5:
        raise CalibrationError(
            f"unrepresentative calibration data: window SD median {med_std:.3g}, |median| {med_center:.3g}, but "
            "the model sees per-window median-centred unit-SD ECG; apply "
            "edgewise.runtime.ecg.preprocess.standardize to each window (as the device does)")
    band = _band_power(flat, fs)
    if band < 0.5:
        raise CalibrationError(
            f"unrepresentative calibration data: only {band:.0%} of the power lies in the ECG band "
            f"{ECG_BAND_HZ[0]}-{ECG_BAND_HZ[1]:g} Hz (real ECG: most of it); is this noise, or another sample rate "
            f"than {fs:g} Hz?")
    waves = None
    if model_fn is not None:
        pred = np.concatenate([np.argmax(model_fn(x[i : i + 16]), axis=1) for i in range(0, n, 16)])
        waves = float(np.mean(pred > 0))
        if waves < 0.02:
            raise CalibrationError(
                f"unrepresentative calibration data: the float model finds waves in only {waves:.1%} of the "
                "samples; calibrate on windows that contain heartbeats")
    return CalibrationReport(n, distinct, med_std, med_center, band, waves, source)
