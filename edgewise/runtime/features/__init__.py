"""Signal front ends that run on the device (numpy only): log-Mel spectrogram and resampling."""
from __future__ import annotations

from edgewise.runtime.features.logmel import LogMelConfig, hz_to_mel, log_mel, mel_filterbank, mel_to_hz, power_spectrogram
from edgewise.runtime.features.resample import resample_poly_np, resample_to

__all__ = [
    "LogMelConfig",
    "hz_to_mel",
    "log_mel",
    "mel_filterbank",
    "mel_to_hz",
    "power_spectrogram",
    "resample_poly_np",
    "resample_to",
]
