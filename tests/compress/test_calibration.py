"""Calibration checks: too little or unrepresentative data ends with a message that says what to do."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.compress.calibration import CalibrationError, check_calibration, synthetic_windows
from edgewise.runtime.errors import InputError


@pytest.fixture(scope="module")
def good() -> np.ndarray:
    return synthetic_windows(20, seed=3)


def test_good_windows_pass_and_are_measured(good):
    rep = check_calibration(good, input_shape=(1, 2048), min_windows=16)
    assert rep.n_windows == 20 and rep.n_distinct == 20
    np.testing.assert_allclose(rep.median_std, 1.0, atol=1e-3)  # standardised exactly as the device does
    assert rep.ecg_band_power > 0.7


def test_model_that_finds_no_waves_flags_the_data(good):
    def background_only(x):
        out = np.zeros((len(x), 4, x.shape[-1]), np.float32)
        out[:, 0] = 1.0
        return out

    with pytest.raises(CalibrationError, match="finds waves in only 0.0% of the samples"):
        check_calibration(good, input_shape=(1, 2048), min_windows=16, model_fn=background_only)


@pytest.mark.parametrize("make, match", [
    (lambda g: g[:5], r"too little calibration data: 5 window\(s\), need at least 16"),
    (lambda g: g * 0.1, r"window SD median 0.1.*standardize"),
    (lambda g: g + 3.0, r"\|median\| 3.*standardize"),
    (lambda g: np.random.default_rng(0).standard_normal(g.shape).astype(np.float32), r"ECG band"),
    (lambda g: np.repeat(g[:2], 10, axis=0), r"only 2 distinct windows among 20"),
    (lambda g: g[:, :, :1000], r"must be \[n, 1, 2048\], got \(20, 1, 1000\)"),
    (lambda g: np.where(np.arange(2048) == 5, np.nan, g).astype(np.float32), r"NaN/inf"),
], ids=["too-few", "unscaled", "not-centred", "noise", "duplicates", "wrong-shape", "nan"])
def test_bad_calibration_data_is_refused(good, make, match):
    with pytest.raises(CalibrationError, match=match) as info:
        check_calibration(make(good), input_shape=(1, 2048), min_windows=16)
    assert isinstance(info.value, InputError)  # the CLI prints it as one line
