"""Sweeping decoys (edgewise.data.sweep_decoys): their pitch moves through the mosquito range by more than any flight
tone drifts, and they replace only the rows they pick, labelled not-mosquito."""
import numpy as np
import pytest

from edgewise.data.sweep_decoys import SWEEP_PATHS, sweep_decoys, sweep_tone

SR = 8000


def _pitch_track(y, *, frame=512, hop=256):
    """Frequency of the strongest spectral peak per frame (Hz), from 200 Hz up (the fundamental carries the most
    weight, 1/h, but a harmonic may win a frame; the ratios below are taken on the fundamental's own frames)."""
    win = np.hanning(frame)
    f = np.fft.rfftfreq(4 * frame, 1 / SR)
    out = []
    for s in range(0, y.size - frame, hop):
        spec = np.abs(np.fft.rfft(y[s : s + frame] * win, 4 * frame))
        spec[f < 200] = 0
        out.append(f[int(np.argmax(spec))])
    return np.array(out)


@pytest.mark.parametrize("path", SWEEP_PATHS)
def test_each_path_sweeps_through_the_flight_tone_range(path):
    for seed in range(5):
        lo = 300.0
        y = sweep_tone(2.0, SR, np.random.default_rng(seed), path=path, lo_hz=lo)
        assert y.dtype == np.float32 and y.size == 2 * SR and 0.49 < np.abs(y).max() <= 0.5
        track = _pitch_track(y)
        fund = track[track < 2.9 * lo * 1.05]  # frames whose strongest peak is the fundamental (<= lo * max ratio)
        ratio = np.percentile(fund, 95) / np.percentile(fund, 5)
        # a flight tone drifts by +-3 % (ratio ~1.06); every sweep moves by more than 1.2x, wail/yelp by more than 1.4x
        assert ratio > (1.2 if path == "two_tone" else 1.4), (path, seed, ratio)
        assert np.percentile(fund, 5) < 420  # it starts inside the 300-900 Hz flight-tone range


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
