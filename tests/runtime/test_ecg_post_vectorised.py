"""The vectorised post-processing steps equal their plain definitions: gap filling (``clean_mask``,
``label_runs``) against a run-by-run loop, ``argmax_classes`` against ``np.argmax`` (ties and NaN included),
PR intervals against a loop per QRS, ``statistics.median`` of ints and the front end's ``_median`` against
``np.median``, the RR variation rule against ``np.std / np.mean``."""
from __future__ import annotations

import numpy as np
import pytest

import statistics

from edgewise.runtime.ecg.postprocess import _pr_intervals, _rr_cv_above, clean_mask, label_runs
from edgewise.runtime.ecg.preprocess import _median
from edgewise.runtime.ecg.waves import mask_to_waves
from edgewise.runtime.ecg.stream_waves import argmax_classes


def _clean_mask_loop(mask: np.ndarray, max_gap: int) -> np.ndarray:
    mask = np.asarray(mask).copy()
    if mask.size == 0:
        return mask
    change = np.flatnonzero(np.diff(mask)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [mask.size]])
    for i in range(1, len(starts) - 1):
        s, e = starts[i], ends[i]
        if mask[s] == 0 and e - s < max_gap and mask[starts[i - 1]] == mask[starts[i + 1]] != 0:
            mask[s:e] = mask[starts[i - 1]]
    return mask


@pytest.mark.parametrize("dtype", [np.int8, np.int64])
def test_clean_mask_equals_the_run_by_run_loop(dtype):
    rng = np.random.default_rng(7)
    for trial in range(3000):
        n = int(rng.integers(0, 80))
        runs = np.repeat(rng.integers(0, 4, 40), rng.integers(1, 14, 40))
        mask = (runs[:n] if trial % 2 else rng.integers(0, 4, n)).astype(dtype)
        for fs in (500, 250):
            want = _clean_mask_loop(mask, int(round(20.0 * fs / 1000)))
            got = clean_mask(mask, fs)
            assert got.dtype == mask.dtype and np.array_equal(got, want), mask
            starts, lengths, labels = label_runs(mask, int(round(20.0 * fs / 1000)))
            wave = labels != 0
            runs = [(int(s), int(s + n - 1)) for s, n in zip(starts[wave], lengths[wave])]
            assert runs == [(w.onset, w.offset) for w in mask_to_waves(want)], mask


def test_argmax_classes_equals_numpy():
    rng = np.random.default_rng(3)
    for _ in range(200):
        s = rng.integers(-2, 3, (4, 300)).astype(np.float32)  # many ties
        assert np.array_equal(argmax_classes(s), np.argmax(s, axis=0))
    s = rng.standard_normal((4, 50)).astype(np.float32)
    s[2, 7] = np.nan
    s[0, 9] = np.nan
    assert np.array_equal(argmax_classes(s), np.argmax(s, axis=0))


def test_pr_intervals_and_median_equal_their_loops():
    rng = np.random.default_rng(5)
    for _ in range(2000):
        p_on = rng.integers(0, 3000, int(rng.integers(0, 12)))  # any order, as clean_waves may get them
        qrs_on = np.sort(rng.integers(0, 3000, int(rng.integers(1, 12))))
        want = []
        for q in qrs_on:
            before = p_on[(p_on < q) & (q - p_on <= 200.0)]
            if before.size:
                want.append(q - before[-1])
        assert _pr_intervals(p_on, qrs_on, 200.0).tolist() == want
        d = rng.integers(1, 2 ** 40, int(rng.integers(1, 12))).tolist()
        assert statistics.median(d) == np.median(d)


def test_window_median_equals_numpy_bit_for_bit():
    rng = np.random.default_rng(11)
    for i in range(3000):
        shape = tuple(int(v) for v in rng.integers(1, 5, int(rng.integers(1, 3)))) + (int(rng.integers(1, 60)),)
        x = (rng.integers(-3, 3, shape) * rng.choice([1e-3, 0.37, -0.0])).astype(np.float32)  # ties, signed zeros
        if i % 3 == 0:
            x.flat[rng.integers(0, x.size, 2)] = rng.choice([np.nan, np.inf, -np.inf, -0.0])
        with np.errstate(invalid="ignore"):
            want = np.median(x, axis=-1, keepdims=True)
        got = _median(x)
        assert got.shape == want.shape and got.dtype == want.dtype, x
        assert np.array_equal(got, want, equal_nan=True) and np.array_equal(np.signbit(got), np.signbit(want)), x


def test_rr_variation_rule_equals_numpy():
    rng = np.random.default_rng(13)
    for _ in range(3000):
        qrs_on = np.cumsum(rng.integers(150, 600, int(rng.integers(4, 25))))
        rr = np.diff(qrs_on)
        cv = np.std(rr) / np.mean(rr)
        for limit in (0.086, 0.15, float(cv), float(np.nextafter(cv, 0)), float(np.nextafter(cv, 1))):
            assert _rr_cv_above(qrs_on, limit) == bool(cv > limit), (qrs_on, limit)
