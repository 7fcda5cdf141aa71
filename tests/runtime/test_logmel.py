"""Log-Mel front end and numpy resampler: closed-form checks (numpy only) and librosa/scipy references."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from edgewise.runtime.features import LogMelConfig, log_mel, mel_filterbank, power_spectrogram, resample_poly_np, resample_to
from edgewise.runtime.features.logmel import hz_to_mel, mel_to_hz

CONFIGS = {
    "dscnn": LogMelConfig(sample_rate=8000, n_fft=512, hop_length=256, n_mels=64, fmin=50.0),
    "humbug": LogMelConfig(sample_rate=8000, n_fft=2048, hop_length=800, n_mels=128, fmin=0.0),
    "16k-reflect-topdb": LogMelConfig(sample_rate=16000, n_fft=400, hop_length=160, n_mels=40, fmin=20.0,
                                      fmax=7600.0, pad_mode="reflect", top_db=80.0),
    "magnitude-nocenter": LogMelConfig(sample_rate=8000, n_fft=256, hop_length=64, n_mels=32, center=False, power=1.0),
    "robust-max-ref": LogMelConfig(sample_rate=8000, n_fft=512, hop_length=256, n_mels=64, fmin=50.0, fmax=3400.0,
                                   top_db=80.0, ref="max"),
}


def _signal(n: int, sr: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    return 0.3 * np.sin(2 * np.pi * 600 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t)) + 0.05 * rng.standard_normal(n)


# ---------------------------------------------------------------- numpy only (runs on the bare device venv)

def test_mel_scale_round_trip_and_slaney_break():
    f = np.array([0.0, 200.0, 999.0, 1000.0, 3999.0, 12000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(f)), f, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(hz_to_mel(1000.0), 15.0)  # linear part: 1000 / (200/3)


def test_filterbank_is_slaney_normalised_triangles():
    cfg = CONFIGS["dscnn"]
    fb = mel_filterbank(cfg)
    assert fb.shape == (64, 257)
    assert (fb >= 0).all()
    # area normalisation: each triangle integrates (over Hz) to ~1 (peak 2/(hi-lo) times base/2)
    df = cfg.sample_rate / cfg.n_fft
    np.testing.assert_allclose(fb.sum(axis=1) * df, 1.0, rtol=0.1)


def test_pure_tone_peaks_in_its_mel_band():
    cfg = CONFIGS["dscnn"]
    t = np.arange(16000) / 8000
    S = log_mel(np.sin(2 * np.pi * 600 * t), cfg)
    assert S.shape == (64, cfg.n_frames(16000)) == (64, 63)
    centres = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(4000.0), 66))[1:-1]
    assert abs(centres[int(np.argmax(S[:, 30]))] - 600) < 60


def test_parseval_power_spectrogram():
    cfg = LogMelConfig(sample_rate=8000, n_fft=256, hop_length=256, n_mels=16, center=False)
    x = np.random.default_rng(1).standard_normal(256 * 4)
    P = power_spectrogram(x, cfg)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(256) / 256)
    frames = x.reshape(4, 256) * w
    energy = (2 * P[1:-1].sum(axis=0) + P[0] + P[-1]) / 256
    np.testing.assert_allclose(energy, (frames ** 2).sum(axis=1), rtol=1e-10)


def test_batch_equals_single():
    cfg = CONFIGS["dscnn"]
    x = np.stack([_signal(16000, 8000, s) for s in range(3)])
    np.testing.assert_allclose(log_mel(x, cfg), np.stack([log_mel(r, cfg) for r in x]), rtol=0, atol=1e-5)


def test_max_reference_makes_every_window_span_the_same_range_at_any_gain():
    """ref="max" with top_db: each window of a batch reads 0 dB at its own peak and no less than -top_db, and a
    gain of +-20 dB (digital silence included) leaves the features as they were (as long as no bin falls below
    the absolute ``amin`` floor: a gain that pushes the signal's quiet bins under 1e-10 still moves them)."""
    cfg = CONFIGS["robust-max-ref"]
    x = np.stack([_signal(16000, 8000, s) for s in range(3)])
    x[1, 4000:9000] = 0.0  # digital silence inside a window
    f = log_mel(x, cfg, dtype=np.float64)
    assert np.allclose(f.max(axis=(-2, -1)), 0.0) and f.min() >= -80.0 - 1e-9
    assert np.isclose(f[1].min(), -80.0)  # the silence sits on the floor
    absolute = log_mel(x, LogMelConfig(**{**cfg.to_dict(), "ref": "one"}), dtype=np.float64)
    # the two formulas round differently in float32 (the logarithm's precision): within librosa's 1e-4 dB
    np.testing.assert_allclose(f, absolute - absolute.max(axis=(-2, -1), keepdims=True), atol=1e-4)
    for gain in (10.0, 0.1):
        np.testing.assert_allclose(log_mel(gain * x, cfg, dtype=np.float64), f, rtol=0, atol=1e-6)
    np.testing.assert_allclose(log_mel(x, cfg), np.stack([log_mel(r, cfg) for r in x]), rtol=0, atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    ({"n_mels": 0}, "positive"), ({"fmin": 5000.0}, "fmin"), ({"pad_mode": "wrap"}, "pad_mode"),
    ({"power": 3.0}, "power"), ({"amin": 0.0}, "amin"), ({"ref": "mean"}, "ref"),
], ids=["n_mels", "fmin", "pad_mode", "power", "amin", "ref"])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LogMelConfig(**kwargs)


def test_config_round_trip_rejects_unknown_keys():
    cfg = CONFIGS["humbug"]
    assert LogMelConfig.from_dict({"kind": "logmel", **cfg.to_dict()}) == cfg
    with pytest.raises(ValueError, match="unknown log-Mel parameters"):
        LogMelConfig.from_dict({"n_melz": 64})


def test_log_mel_rejects_nan_and_empty():
    with pytest.raises(ValueError, match="NaN"):
        log_mel(np.array([0.0, np.nan] * 600), CONFIGS["dscnn"])
    with pytest.raises(ValueError, match="samples > 0"):
        log_mel(np.zeros(0), CONFIGS["dscnn"])


def test_silence_hits_the_floor_not_nan():
    S = log_mel(np.zeros(16000), CONFIGS["dscnn"])
    np.testing.assert_allclose(S, -100.0)  # 10 log10(amin = 1e-10)


def test_resampler_keeps_tone_and_rejects_alias():
    sr_in = 48000
    t = np.arange(sr_in) / sr_in
    y = resample_to(np.sin(2 * np.pi * 500 * t), sr_in, 8000)
    assert y.shape == (8000,)
    ref = np.sin(2 * np.pi * 500 * np.arange(8000) / 8000)
    np.testing.assert_allclose(y[400:-400], ref[400:-400], atol=2e-3)
    alias = resample_to(np.sin(2 * np.pi * 6000 * t), sr_in, 8000)  # would fold to 2 kHz without the filter
    assert np.sqrt(np.mean(alias[400:-400] ** 2)) < 0.01 * np.sqrt(0.5)  # > 40 dB down


def test_resampler_rejects_bad_rates():
    with pytest.raises(ValueError, match="positive"):
        resample_poly_np(np.zeros(10), 0, 3)
    with pytest.raises(ValueError, match="positive"):
        resample_to(np.zeros(10), -1, 8000)


def test_features_import_without_scipy_librosa_torch():
    code = ("import sys\nfor m in ('torch', 'scipy', 'librosa', 'soundfile', 'sklearn'):\n    sys.modules[m] = None\n"
            "import numpy as np\nfrom edgewise.runtime.features import log_mel, LogMelConfig, resample_to\n"
            "from edgewise.runtime.events import merge_events\n"
            "y = resample_to(np.random.default_rng(0).standard_normal(88200), 44100, 8000)\n"
            "print(log_mel(y[:16000], LogMelConfig(hop_length=256)).shape)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(64, 63)"


# ---------------------------------------------------------------- against the references (host only)

@pytest.mark.parametrize("name", list(CONFIGS), ids=list(CONFIGS))
def test_matches_librosa_within_1e4(name):
    librosa = pytest.importorskip("librosa")
    cfg = CONFIGS[name]
    x = _signal(int(2.3 * cfg.sample_rate), cfg.sample_rate)
    fmax = cfg.sample_rate / 2 if cfg.fmax is None else cfg.fmax
    S = librosa.feature.melspectrogram(
        y=x, sr=cfg.sample_rate, n_fft=cfg.n_fft, hop_length=cfg.hop_length, n_mels=cfg.n_mels, fmin=cfg.fmin,
        fmax=fmax, center=cfg.center, pad_mode=cfg.pad_mode, power=cfg.power)
    r = np.max if cfg.ref == "max" else 1.0
    ref = librosa.power_to_db(S, ref=r, amin=cfg.amin, top_db=cfg.top_db) if cfg.power == 2.0 else \
        librosa.amplitude_to_db(S, ref=r, amin=cfg.amin, top_db=cfg.top_db)
    np.testing.assert_allclose(log_mel(x, cfg, dtype=np.float64), ref, rtol=0, atol=1e-4)
    np.testing.assert_allclose(
        mel_filterbank(cfg), librosa.filters.mel(sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels,
                                                 fmin=cfg.fmin, fmax=fmax), rtol=0, atol=1e-6)


@pytest.mark.parametrize("rate_in", [8000, 16000, 22050, 44100, 48000, 96000], ids=lambda r: f"{r}Hz")
def test_resampler_matches_scipy(rate_in):
    signal = pytest.importorskip("scipy.signal")
    from fractions import Fraction

    x = np.random.default_rng(2).standard_normal((2, rate_in // 2 + 7))
    f = Fraction(8000, rate_in)
    ref = signal.resample_poly(x, f.numerator, f.denominator, axis=-1)
    np.testing.assert_allclose(resample_to(x, rate_in, 8000), ref, rtol=0, atol=1e-10)
