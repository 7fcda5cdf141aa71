"""Sweeping decoys (edgewise.data.sweep_decoys): their pitch moves through the mosquito range by more than any flight
tone drifts, and they replace only the rows they pick, labelled not-mosquito."""
import numpy as np
import pytest

from edgewise.data.sweep_decoys import SWEEP_PATHS, pitch_path, sweep_decoys, sweep_tone

SR = 8000


@pytest.mark.parametrize("path", SWEEP_PATHS)
def test_every_2s_window_covers_the_whole_sweep(path):
    """The rates make a 2-s window hold a full wail cycle, two yelps or two hi-lo jumps: every window's pitch spans
    its ratio (>= 1.5, hi-lo >= 1.25), where a flight tone drifts by +-3 % (1.06). Over 300 draws, not a lucky seed."""
    for seed in range(300):
        f = pitch_path(2.0, SR, np.random.default_rng(seed), path=path)
        assert f.max() / f.min() >= (1.25 if path == "two_tone" else 1.5) - 1e-6, (path, seed)
        assert 250 <= f.min() <= 700 and f.max() <= 700 * 3 + 1e-6


@pytest.mark.parametrize("path", SWEEP_PATHS)
def test_the_tone_follows_its_pitch_path(path):
    """In every 32-ms frame the tone's strongest frequency is a harmonic (1..8) of the path's fundamental there."""
    n = 256
    freqs = np.fft.rfftfreq(4 * n, 1 / SR)
    for seed in range(10):
        f = pitch_path(2.0, SR, np.random.default_rng(seed), path=path)
        y = sweep_tone(2.0, SR, np.random.default_rng(seed), path=path)  # the same draws: the same path
        assert y.dtype == np.float32 and y.size == 2 * SR and 0.49 < np.abs(y).max() <= 0.5
        for s in range(0, y.size - n, n):
            peak = freqs[np.argmax(np.abs(np.fft.rfft(y[s : s + n] * np.hanning(n), 4 * n)))]
            h = peak / f[s + n // 2]
            assert 1 <= round(h) <= 8 and abs(h - round(h)) < 0.15, (path, seed, s, h)


def test_harmonics_stay_below_nyquist():
    for seed in range(20):
        y = sweep_tone(1.0, SR, np.random.default_rng(seed), lo_hz=700.0)
        spec = np.abs(np.fft.rfft(y))
        f = np.fft.rfftfreq(y.size, 1 / SR)
        assert spec[f > 0.97 * SR / 2].max() < 1e-2 * spec.max()


def test_sweep_decoys_replace_a_share_p_of_rows_with_label_zero():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((400, 4000)) * 0.05).astype(np.float32)
    y = np.ones(400, np.float32)
    neg = (rng.standard_normal((10, 4000)) * 0.05).astype(np.float32)
    x0, y0 = x.copy(), y.copy()
    x2, y2, decoy = sweep_decoys(x, y, np.random.default_rng(1), p=0.25, negatives=neg)
    assert 0.18 < decoy.mean() < 0.32
    changed = np.any(x2 != x, axis=1)
    np.testing.assert_array_equal(changed, decoy)
    assert np.all(y2[decoy] == 0) and np.all(y2[~decoy] == 1)
    np.testing.assert_array_equal(x, x0)  # the inputs are left as they were (copies returned)
    np.testing.assert_array_equal(y, y0)
    _, _, none = sweep_decoys(x, y, np.random.default_rng(1), p=0.0, negatives=neg)
    assert not none.any()


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="p must be in"):
        sweep_decoys(np.zeros((2, 100), np.float32), np.zeros(2), np.random.default_rng(0), p=1.5,
                     negatives=np.zeros((1, 100), np.float32))
    with pytest.raises(ValueError, match="unknown sweep path"):
        sweep_tone(1.0, SR, np.random.default_rng(0), path="chirp")
    from edgewise.models.mosquito.train import TrainConfig

    with pytest.raises(ValueError, match="p_short"):
        TrainConfig(p_sweep=0.1, p_short=0.1)
