"""The SYNTHETIC ECG generator: exact boundaries, options, validation."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.data.synthetic_ecg import SyntheticEcgConfig, synthetic_ecg
from edgewise.runtime.ecg.waves import waves_to_mask


def test_waves_are_exact_and_ordered():
    cfg = SyntheticEcgConfig(baseline_mv=0, mains_mv=0, emg_mv=0, p_missing=0)
    x, mask, waves = synthetic_ecg(1, cfg)
    assert x.dtype == np.float32 and x.shape == (5000,)
    np.testing.assert_array_equal(mask, waves_to_mask(waves, 5000))
    # without noise the signal is exactly zero outside every (whole) wave
    inner = slice(waves[0].onset, waves[-1].offset + 1)
    assert np.all(x[inner][mask[inner] == 0] == 0)
    kinds = [w.kind for w in waves]
    first = kinds.index("P")
    assert kinds[first : first + 3] == ["P", "QRS", "T"]


def test_missing_p_and_inverted_t():
    cfg = SyntheticEcgConfig(p_missing=1.0, t_inverted=1.0, baseline_mv=0, mains_mv=0, emg_mv=0)
    x, mask, waves = synthetic_ecg(2, cfg)
    assert not any(w.kind == "P" for w in waves)
    t = [w for w in waves if w.kind == "T"]
    assert t and all(x[w.onset : w.offset + 1].sum() < 0 for w in t)


def test_heart_rate_follows_config():
    cfg = SyntheticEcgConfig(heart_rate=(120, 120), hrv=0.0)
    _, _, waves = synthetic_ecg(3, cfg)
    qrs = [w.onset for w in waves if w.kind == "QRS"]
    np.testing.assert_allclose(np.diff(qrs), 250, atol=1)


def test_bad_config():
    with pytest.raises(ValueError, match="heart_rate"):
        SyntheticEcgConfig(heart_rate=(120, 60))
