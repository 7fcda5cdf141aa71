"""Post-processing: masks -> waves, gap filling, implausible durations, P-QRS-T order (numpy only)."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.runtime.ecg.postprocess import (
    PostprocessConfig,
    clean_mask,
    clean_waves,
    p_wave_consistency,
    probabilities_to_waves,
)
from edgewise.runtime.ecg.waves import Wave, mask_to_waves, waves_to_mask

FS = 500


def _probs(mask: np.ndarray) -> np.ndarray:
    return np.eye(4, dtype=np.float32)[mask].T


def _beat(t: int) -> list[Wave]:
    return [Wave("P", t, t + 45), Wave("QRS", t + 80, t + 130), Wave("T", t + 200, t + 300)]


def test_mask_wave_round_trip():
    waves = _beat(100) + _beat(600)
    mask = waves_to_mask(waves, 1000)
    assert mask_to_waves(mask) == waves


def test_short_gap_inside_a_wave_is_filled():
    mask = waves_to_mask([Wave("QRS", 100, 150)], 400)
    mask[120:125] = 0  # 5 samples = 10 ms < 20 ms
    assert mask_to_waves(clean_mask(mask, FS)) == [Wave("QRS", 100, 150)]
    mask[110:140] = 0  # 60 ms: a real gap stays
    assert len(mask_to_waves(clean_mask(mask, FS))) == 2


def test_gap_between_different_waves_is_not_filled():
    mask = waves_to_mask([Wave("QRS", 100, 150), Wave("T", 153, 250)], 400)
    assert [w.kind for w in mask_to_waves(clean_mask(mask, FS))] == ["QRS", "T"]


def test_implausibly_short_waves_are_dropped():
    waves = _beat(100) + [Wave("P", 500, 505)]  # a 12 ms "P wave"
    assert clean_waves(waves, FS, n=1000) == _beat(100)


def test_partial_waves_at_signal_ends_are_dropped():
    waves = [Wave("T", 0, 80)] + _beat(200) + [Wave("P", 950, 999)]
    assert clean_waves(waves, FS, n=1000) == _beat(200)


def test_p_without_following_qrs_is_dropped_in_sinus_rhythm():
    stray = Wave("P", 2600, 2640)  # no QRS follows within 400 ms, and 720 ms from the end
    waves = _beat(100) + _beat(800) + _beat(1500) + _beat(2200)[:2] + [stray]
    out = clean_waves(waves, FS, n=3000)
    assert stray not in out and len(out) == len(waves) - 1


def test_t_without_preceding_qrs_is_dropped():
    stray = Wave("T", 1500, 1600)  # nearest QRS onset 1300 samples before: > 700 ms QT
    waves = _beat(100) + [stray] + _beat(2000)
    assert stray not in clean_waves(waves, FS, n=3000)


def test_dissociated_p_waves_are_kept_in_av_block():
    # complete heart block: P waves regular at 100 bpm, QRS at 40 bpm, independent
    p = [Wave("P", s, s + 45) for s in range(100, 4900, 300)]
    q = [Wave("QRS", s, s + 60) for s in range(250, 4900, 750)]
    out = clean_waves(sorted(p + q, key=lambda w: w.onset), FS, n=5000)
    assert sum(w.kind == "P" for w in out) == len(p)


def test_order_rules_can_be_turned_off():
    stray = Wave("P", 1400, 1440)
    waves = _beat(100) + [stray] + _beat(2000)
    assert stray in clean_waves(waves, FS, PostprocessConfig(enforce_order=False), n=3000)


def test_probabilities_to_waves_and_flat_line():
    waves = _beat(100) + _beat(700)
    assert probabilities_to_waves(_probs(waves_to_mask(waves, 1200)), FS) == waves
    assert probabilities_to_waves(_probs(np.zeros(1200, np.int64)), FS) == []
    with pytest.raises(ValueError, match=r"\[4, samples\]"):
        probabilities_to_waves(np.zeros((3, 10)), FS)


def test_flutter_waves_are_not_p_waves():
    # atrial flutter 2:1: "P" every 200 ms (300/min), QRS every 400 ms
    f = [Wave("P", s, s + 40) for s in range(100, 4800, 100)]
    q = [Wave("QRS", s, s + 45) for s in range(145, 4800, 200)]
    out = clean_waves(sorted(f + q, key=lambda w: w.onset), FS, n=5000)
    assert not any(w.kind == "P" for w in out) and sum(w.kind == "QRS" for w in out) == len(q)


def test_fibrillation_drops_scattered_p_but_sinus_arrhythmia_keeps_p():
    rng = np.random.default_rng(0)
    qrs = np.cumsum(rng.uniform(250, 550, 12)).astype(int)  # irregularly irregular, RR CV > 0.15
    q = [Wave("QRS", int(s), int(s) + 45) for s in qrs]
    stray = [Wave("P", int(qrs[i]) - 150, int(qrs[i]) - 110) for i in (3, 8)]  # 2 "P" for 12 beats
    out = clean_waves(sorted(q + stray, key=lambda w: w.onset), FS, n=int(qrs[-1]) + 500)
    assert not any(w.kind == "P" for w in out)
    # the same irregular RR with a P wave before every QRS at a constant PR is sinus arrhythmia: keep them
    p = [Wave("P", int(s) - 80, int(s) - 40) for s in qrs[1:]]
    out = clean_waves(sorted(q + p, key=lambda w: w.onset), FS, n=int(qrs[-1]) + 500)
    assert sum(w.kind == "P" for w in out) == len(p)


def _irregular_rhythm(p_shape, seed=0):
    """Irregular QRS onsets with a P wave 150 ms before each; ``p_shape(i)`` gives P wave i's 50 samples."""
    rng = np.random.default_rng(seed)
    qrs = (300 + np.cumsum(rng.uniform(220, 480, 12))).astype(int)  # RR CV ~ 0.2
    x = np.zeros(int(qrs[-1]) + 600)
    waves = []
    for i, q in enumerate(qrs):
        x[q - 75 : q - 25] = p_shape(i)
        waves += [Wave("P", int(q) - 75, int(q) - 26), Wave("QRS", int(q), int(q) + 45)]
    return x, sorted(waves, key=lambda w: w.onset)


def test_irregular_rhythm_with_dissimilar_p_waves_is_fibrillation():
    rng = np.random.default_rng(1)
    x, waves = _irregular_rhythm(lambda i: rng.standard_normal(50))
    assert p_wave_consistency(x, [w for w in waves if w.kind == "P"], FS) < 0.28
    out = clean_waves(waves, FS, n=len(x), signal=x)
    assert not any(w.kind == "P" for w in out)


def test_irregular_rhythm_with_alike_p_waves_keeps_them():
    bump = np.hanning(50)
    x, waves = _irregular_rhythm(lambda i: (1 + 0.1 * i) * bump)
    assert p_wave_consistency(x, [w for w in waves if w.kind == "P"], FS) > 0.99
    out = clean_waves(waves, FS, n=len(x), signal=x)
    assert sum(w.kind == "P" for w in out) == 12
