"""Windowed inference: seams produce neither duplicated nor split waves; short signals are padded."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.windowing import window_starts, windowed_scores
from edgewise.runtime.ecg.waves import Wave, waves_to_mask
from edgewise.runtime.errors import InputError


def test_window_starts_cover_the_end():
    assert window_starts(5000, 2048, 1536) == [0, 1536, 2952]
    assert window_starts(2048, 2048, 1536) == [0]
    assert window_starts(100, 2048, 1536) == [0]


def test_stitching_keeps_waves_whole_across_seams():
    n, window, hop = 7000, 2048, 1536
    # waves placed right across every seam region
    waves = [Wave("QRS", s - 20, s + 30) for s in (1536 + 256, 2 * 1536 + 256, 1000, 4000, 6500)]
    waves = sorted(waves, key=lambda w: w.onset)
    mask = waves_to_mask(waves, n)
    ramp = np.arange(n, dtype=np.float32)  # a ramp: each window's content tells where it lies

    starts = window_starts(n, window, hop)
    seen = [0]

    def model_fn(x):  # an oracle: knows which window comes next and answers with the true mask
        out = np.zeros((x.shape[0], 4, window), np.float32)
        for b in range(x.shape[0]):
            s = starts[seen[0]]
            out[b, mask[s : s + window], np.arange(window)] = 1
            seen[0] += 1
        return out

    scores, padded = windowed_scores(ramp[None], model_fn, window=window, hop=hop, batch=2)
    assert not padded and scores.shape == (4, n)
    from edgewise.runtime.ecg.postprocess import PostprocessConfig, probabilities_to_waves

    got = probabilities_to_waves(scores, 500, PostprocessConfig(enforce_order=False))
    assert got == waves


def test_short_signal_is_padded_and_flagged():
    calls = []

    def model_fn(x):
        calls.append(x.shape)
        out = np.zeros((x.shape[0], 4, x.shape[2]), np.float32)
        out[:, 0] = 1
        return out

    res = delineate(np.random.default_rng(0).standard_normal(1500), 500, model_fn, window=2048, hop=1536)
    assert res.padded and calls == [(1, 1, 2048)] and res.scores.shape == (4, 1500) and res.waves == []


@pytest.mark.parametrize("bad, match", [
    (np.zeros(500), "at least 2 s"),
    (np.full(3000, np.nan), "NaN"),
    (np.zeros((2, 2, 3000)), "1-D signal"),
], ids=["short", "nan", "rank3"])
def test_bad_signals(bad, match):
    with pytest.raises(InputError, match=match):
        delineate(bad, 500, lambda x: x, window=2048, hop=1536)


def test_resampled_input_maps_back_to_input_rate():
    # a model that marks QRS wherever the (standardised) input is high
    def model_fn(x):
        out = np.zeros((x.shape[0], 4, x.shape[2]), np.float32)
        out[:, 0] = 0.5
        out[:, 2] = (x[:, 0] > 2).astype(np.float32)
        return out

    fs = 250
    x = np.zeros(2500, np.float32)
    for s in range(100, 2400, 250):
        x[s : s + 25] = 10.0
    res = delineate(x, fs, model_fn, window=2048, hop=1536)
    onsets = [w.onset for w in res.waves if w.kind == "QRS"]
    np.testing.assert_allclose(onsets, list(range(100, 2400, 250)), atol=2)
