"""OOD strips are made from real LUDB strips and real non-ECG audio, each kind as its docstring says."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgewise.data.ood_ecg import FS, OodKind, audio_segments, make_ood, ood_set

LUDB = Path("/work/shared/data/ludb")
AUDIO = Path("/work/shared/data/mosquito")


@pytest.fixture(scope="module")
def strip() -> np.ndarray:
    from edgewise.data.ludb import read_record

    return read_record(LUDB, 1).lead("ii").astype(np.float32)


def test_kinds_keep_length_and_are_seeded(strip):
    for kind in OodKind:
        if kind is OodKind.AUDIO:
            continue
        a = make_ood(kind, strip, np.random.default_rng(5))
        b = make_ood(kind, strip, np.random.default_rng(5))
        assert a.shape == strip.shape and a.dtype == np.float32 and np.all(np.isfinite(a)), kind
        np.testing.assert_array_equal(a, b)


def test_each_kind_is_what_it_says(strip):
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(make_ood("polarity_flipped", strip, rng), -strip)
    np.testing.assert_array_equal(make_ood("time_reversed", strip, rng), strip[::-1])
    noise = make_ood("noise_only", strip, rng)
    # the surrogate keeps the amplitude spectrum (so the power; the real Nyquist bin aside), not the waveform
    np.testing.assert_allclose(np.abs(np.fft.rfft(noise))[1:-1], np.abs(np.fft.rfft(strip - strip.mean()))[1:-1],
                               rtol=1e-3, atol=1e-2)
    assert abs(np.corrcoef(noise, strip)[0, 1]) < 0.2
    wander = make_ood("baseline_motion", strip, rng) - strip
    assert np.ptp(wander) > 1.0  # >= 1 mV of wander and motion steps, beyond training augmentation (0.5 mV)
    emg = make_ood("emg_bursts", strip, rng) - strip
    spec = np.abs(np.fft.rfft(emg)) ** 2
    f = np.fft.rfftfreq(emg.size, 1 / FS)
    assert spec[(f >= 15) & (f <= 160)].sum() > 0.95 * spec.sum()  # muscle band
    assert np.mean(np.abs(emg) < 1e-6) > 0.3                       # bursts, not continuous noise


def test_bad_input_named():
    with pytest.raises(ValueError, match="1-D strip"):
        make_ood("noise_only", np.zeros((2, 1000)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="not a valid OodKind"):
        make_ood("static", np.zeros(1000), np.random.default_rng(0))


def test_audio_segments_are_real_sound_at_500_hz(strip):
    segs = audio_segments(AUDIO, 6)
    assert len(segs) == 6 and len({name.split("/")[0] for name, _ in segs}) >= 3  # several kinds of sound
    assert all(x.shape == (10 * FS,) and np.std(x) > 0 for _, x in segs)
    out = ood_set([strip, strip], kinds=(OodKind.AUDIO, OodKind.POLARITY_FLIPPED), audio_root=AUDIO)
    assert set(out) == {"audio", "polarity_flipped"} and len(out["audio"]) == 2
    np.testing.assert_allclose(out["audio"][0].std(), strip.std(), rtol=1e-4)  # scaled to the strip
