"""Channel augmentation (edgewise.data.audio_channel): each does what its name says, to the rows it picks only."""
import numpy as np
import pytest

from edgewise.data import audio_channel as ac

SR = 8000


def _tones(freqs, n=16000):
    t = np.arange(n) / SR
    return np.stack([0.3 * np.sin(2 * np.pi * f * t) for f in freqs]).astype(np.float32)


def _power_at(x, f):
    spec = np.abs(np.fft.rfft(x, axis=-1)) ** 2
    k = int(round(f * x.shape[-1] / SR))
    return spec[..., k - 2 : k + 3].sum(axis=-1)


def test_band_limit_cuts_outside_the_band_and_keeps_inside():
    x = np.repeat(_tones([60.0, 800.0, 3800.0]).sum(0, keepdims=True), 300, axis=0)
    y = ac.band_limit(x, np.random.default_rng(0), p=1.0, sample_rate=SR)
    keep = _power_at(y, 800.0) / _power_at(x, 800.0)
    assert np.median(keep) > 0.8  # 800 Hz lies inside every band (high-pass <= 400 Hz, low-pass >= 1.5 kHz)
    lost_low = _power_at(y, 60.0) / _power_at(x, 60.0)
    lost_high = _power_at(y, 3800.0) / _power_at(x, 3800.0)
    # 2/3 of rows have a high-pass (cut-off >= 100 Hz: 60 Hz loses >= 3 dB) and 2/3 a low-pass (<= 3.4 kHz: 3.8 kHz
    # loses >= 3 dB), 1/3 both
    assert 0.55 < np.mean(lost_low < 0.5) < 0.78 and 0.55 < np.mean(lost_high < 0.5) < 0.78
    assert 0.22 < np.mean((lost_low < 0.5) & (lost_high < 0.5)) < 0.45
    untouched = (lost_low > 0.9) & (lost_high > 0.9)
    assert untouched.sum() == 0  # p = 1: every row is filtered


def test_channel_functions_touch_only_a_share_p_of_rows():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((400, 4000)) * 0.1).astype(np.float32)
    for fn in (ac.speed, ac.band_limit, ac.lossy_codec):
        y = fn(x, np.random.default_rng(2), p=0.25)
        changed = np.any(np.abs(y - x) > 1e-6, axis=1)
        assert y.shape == x.shape and y.dtype == np.float32
        assert 0.15 < changed.mean() < 0.35, fn.__name__
        assert np.array_equal(y[~changed], x[~changed])
        assert np.array_equal(fn(x, np.random.default_rng(2), p=0.0), x)


def test_speed_moves_the_pitch_by_its_factor():
    x = _tones([500.0])
    y = ac.speed(x, np.random.default_rng(0), p=1.0, factors=(1.1, 1.1))
    spec = np.abs(np.fft.rfft(y[0]))
    assert abs(np.fft.rfftfreq(y.shape[-1], 1 / SR)[np.argmax(spec)] - 550.0) < 2.0


@pytest.mark.parametrize("codec", [("MP3", "MPEG_LAYER_III"), ("OGG", "VORBIS"), ("mu-law", None)])
def test_lossy_codecs_keep_the_tone_and_add_artefacts(codec):
    x = _tones([600.0])
    y = ac.lossy_codec(x, np.random.default_rng(0), p=1.0, sample_rate=SR, codecs=(codec,))
    err = y - x
    assert 0 < np.mean(err**2) < 0.05 * np.mean(x**2)  # changed, but the tone is still there
    assert _power_at(y, 600.0)[0] > 0.8 * _power_at(x, 600.0)[0]


def test_mu_law_is_8_bit_and_monotone():
    v = np.linspace(-1, 1, 10001, dtype=np.float32)
    q = ac.mu_law(v)
    assert len(np.unique(q)) == 255 and np.all(np.diff(q) >= 0)
    assert np.max(np.abs(q - v)) < 0.04


def test_bad_arguments_are_refused():
    x = np.zeros((2, 100), np.float32)
    with pytest.raises(ValueError, match="p must be"):
        ac.band_limit(x, np.random.default_rng(0), p=1.5)
    with pytest.raises(ValueError, match="factors"):
        ac.speed(x, np.random.default_rng(0), p=0.5, factors=(1.2, 1.0))
