"""Mosquito dataset: labels and weak-label policy, split by recording, augmentation, synthetic tones."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgewise.data.mosquito import (
    ClipLabel, Recording, WindowConfig, augment_batch, decoy_tones, mix_at_snr, random_eq, read_recordings, short_excerpts,
    split_recordings, synthetic_flight_tone, synthetic_recordings, window_labels,
)
from edgewise.runtime.errors import InputError


def _rec(label: ClipLabel, segments=(), name="r.wav", set_name="s") -> Recording:
    return Recording(path=Path(name), rel=name, label=label, set_name=set_name, species="", duration_s=10.0,
                     licence="", segments=tuple(segments))


def test_weak_label_policy():
    cfg = WindowConfig(window_s=2.0, hop_s=1.0, min_overlap_s=0.5)
    starts = np.arange(8, dtype=float)
    np.testing.assert_array_equal(window_labels(_rec(ClipLabel.POSITIVE), starts, cfg), np.ones(8))
    np.testing.assert_array_equal(window_labels(_rec(ClipLabel.NEGATIVE), starts, cfg), np.zeros(8))
    weak = window_labels(_rec(ClipLabel.WEAK, [(3.0, 4.0), (4.0, 4.4)]), starts, cfg)
    # windows [2,4) and [3,5) overlap >= 0.5 s; [1,3) and [4,6) only by 0 s and 0.4 s: unlabelled, never negative
    np.testing.assert_array_equal(np.isfinite(weak), [False, False, True, True, False, False, False, False])
    np.testing.assert_array_equal(weak[[2, 3]], [1.0, 1.0])
    assert np.isnan(window_labels(_rec(ClipLabel.WEAK), starts, cfg)).all()  # clip-level only
    assert np.isnan(window_labels(_rec(ClipLabel.UNKNOWN), starts, cfg)).all()


def test_split_is_by_recording_stratified_and_deterministic():
    recs = [_rec(ClipLabel.NEGATIVE, name=f"n{i}.wav", set_name="noise") for i in range(20)]
    recs += [_rec(ClipLabel.WEAK, [(1, 2)], name=f"w{i}.wav", set_name="field") for i in range(10)]
    recs += [_rec(ClipLabel.POSITIVE, name="solo.wav", set_name="lab"), _rec(ClipLabel.UNKNOWN, name="u.wav")]
    a, b = split_recordings(recs, seed=3), split_recordings(recs, seed=3)
    assert {k: [r.rel for r in v] for k, v in a.items()} == {k: [r.rel for r in v] for k, v in b.items()}
    names = [r.rel for part in a.values() for r in part]
    assert len(names) == len(set(names)) == 31  # every usable recording once, 'unknown' dropped
    assert sum(r.set_name == "field" for r in a["test"]) == 2 and sum(r.set_name == "noise" for r in a["test"]) == 5
    assert "solo.wav" in [r.rel for r in a["train"]]  # a one-recording stratum stays in train
    c = split_recordings(recs, seed=4)
    assert [r.rel for r in c["test"]] != [r.rel for r in a["test"]]
    with pytest.raises(ValueError, match="fractions"):
        split_recordings(recs, val=0.6, test=0.5)


def test_real_labels_and_segments(mosquito_dir):
    recs = read_recordings(mosquito_dir)
    by = {r.rel: r for r in recs}
    assert len(recs) >= 100
    culex = [r for r in recs if r.set_name == "humbug_mfcc_features_culex"]
    assert culex and all(r.label is ClipLabel.WEAK and r.segments for r in culex)
    assert by["humbug_platform/record.wav"].label is ClipLabel.UNKNOWN
    assert all(r.label is ClipLabel.NEGATIVE for r in recs if r.set_name == "beehive_bee_sound")
    split = split_recordings(recs)
    for part in ("train", "test"):
        assert any(r.mosquito for r in split[part]) and any(not r.mosquito for r in split[part])


def test_missing_or_bad_labels_file(tmp_path):
    with pytest.raises(InputError, match="labels.csv"):
        read_recordings(tmp_path)
    (tmp_path / "labels.csv").write_text("path,label,set,class,sample_rate,duration_s,license\na.wav,maybe,s,,8000,1,x\n")
    with pytest.raises(InputError, match="unknown label 'maybe'"):
        read_recordings(tmp_path)


def test_mix_at_snr_hits_the_requested_snr():
    rng = np.random.default_rng(0)
    bg, sig = rng.standard_normal((3, 8000)).astype(np.float32), rng.standard_normal((3, 8000)).astype(np.float32)
    snr = np.array([-5.0, 0.0, 12.0])
    mixed = mix_at_snr(bg, sig, snr)
    added = mixed - bg
    measured = 10 * np.log10(np.mean(added.astype(np.float64) ** 2, 1) / np.mean(bg.astype(np.float64) ** 2, 1))
    np.testing.assert_allclose(measured, snr, atol=1e-3)


def test_random_eq_is_bounded():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 4000)).astype(np.float32)
    y = random_eq(x, rng, max_db=6.0)
    ratio = np.abs(np.fft.rfft(y)) / (np.abs(np.fft.rfft(x)) + 1e-9)
    assert y.shape == x.shape and ratio.max() < 10 ** (6 * 1.5 / 20) + 1e-3 and ratio.min() > 10 ** (-6 * 1.5 / 20) - 1e-3


@pytest.mark.parametrize("f0", [320.0, 550.0, 880.0], ids=lambda f: f"{f:.0f}Hz")
def test_synthetic_flight_tone_fundamental(f0):
    y = synthetic_flight_tone(2.0, 8000, np.random.default_rng(2), f0=f0)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    freqs = np.fft.rfftfreq(y.size, 1 / 8000)
    assert y.shape == (16000,) and abs(np.abs(y).max() - 0.5) < 1e-6
    assert abs(freqs[np.argmax(spec)] - f0) < 0.05 * f0  # the fundamental is the strongest line (FM ±3 %)


def test_augment_batch_labels_and_range():
    rng = np.random.default_rng(3)
    x = (0.1 * rng.standard_normal((64, 16000))).astype(np.float32)
    y = np.zeros(64)
    xa, ya = augment_batch(x, y, rng, positives=x[:8] + 0.3, negatives=x[8:16], p_mix=0.5, p_synth=0.25)
    assert xa.shape == x.shape and xa.dtype == np.float32 and np.abs(xa).max() <= 1.0
    assert 0.5 < ya.mean() < 0.95  # about 75 % became positives
    assert set(np.unique(ya)) <= {0.0, 1.0}


def test_decoy_tones_are_negatives_pitched_outside_the_mosquito_range():
    rng = np.random.default_rng(4)
    x = np.zeros((300, 16000), np.float32)
    quiet = (1e-4 * np.random.default_rng(5).standard_normal((8, 16000))).astype(np.float32)
    xd, yd, decoy = decoy_tones(x, np.ones(300), rng, p=0.2, negatives=quiet, snr_db=(30.0, 30.0))
    assert 40 <= decoy.sum() <= 80 and xd.dtype == np.float32 and xd.shape == x.shape
    assert np.all(yd[decoy] == 0) and np.all(yd[~decoy] == 1) and not np.any(xd[~decoy])
    freqs = np.fft.rfftfreq(16000, 1 / 8000)
    for row in xd[decoy]:
        spec = np.abs(np.fft.rfft(row * np.hanning(row.size)))
        spec[freqs < 60] = 0  # below the lowest decoy fundamental (80 Hz)
        f0 = freqs[np.argmax(spec > 0.2 * spec.max())]  # the lowest strong line is the fundamental
        assert f0 < 265 or f0 > 1050, f"decoy fundamental {f0:.0f} Hz lies in the mosquito range"
    assert not decoy_tones(x, np.ones(300), rng, p=0.0, negatives=quiet)[2].any()


def test_short_excerpts_tile_a_short_piece_of_the_window_itself():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 16000)).astype(np.float32)
    xs = short_excerpts(x, np.random.default_rng(7), p=0.3, length_s=(0.05, 0.5))
    changed = [i for i in range(len(x)) if not np.array_equal(x[i], xs[i])]
    assert 40 <= len(changed) <= 80 and xs.shape == x.shape and xs.dtype == np.float32
    for i in changed[:10]:
        # periodic: the loop (excerpt minus its 5-ms crossfade) repeats; 0.05-0.5 s is 400-4000 samples
        period = next(m for m in range(300, 4001) if np.array_equal(xs[i, m : m + 200], xs[i, :200]))
        piece = xs[i, 40:period]  # past the crossfade the loop holds the excerpt's own samples
        hits = np.flatnonzero(x[i] == piece[0])
        assert any(np.array_equal(x[i, h : h + piece.size], piece) for h in hits), f"row {i} is not from its window"
    assert np.array_equal(short_excerpts(x, np.random.default_rng(7), p=0.0), x)
    with pytest.raises(ValueError):
        short_excerpts(x, rng, p=1.5)


def test_synthetic_recordings_are_named_synthetic():
    clips = synthetic_recordings(4, duration_s=4.0)
    assert all(name.startswith("synthetic-") for name, *_ in clips)
    assert [present for _, _, present, _ in clips] == [False, True, False, True]
    assert all(y.shape == (32000,) and np.abs(y).max() <= 1 for _, y, _, _ in clips)


def test_decoded_audio_cache_is_written_whole(tmp_path):
    import wave

    from edgewise.data.mosquito import load_recording_audio

    pcm = (0.3 * np.sin(2 * np.pi * 500 * np.arange(8000) / 8000) * 32767).astype("<i2")
    path = tmp_path / "tone.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(pcm.tobytes())
    rec = Recording(path=path, rel="tone.wav", label=ClipLabel.POSITIVE, set_name="s", species="", duration_s=1.0,
                    licence="", segments=())
    first = load_recording_audio(rec, 8000, cache_dir=tmp_path / "cache")
    cached = list((tmp_path / "cache").iterdir())
    # one finished .npy (renamed into place, so a second process never reads half a file), no temporary left
    assert len(cached) == 1 and cached[0].suffix == ".npy" and ".tmp" not in cached[0].name
    again = load_recording_audio(rec, 8000, cache_dir=tmp_path / "cache")
    assert np.array_equal(first, again) and first.shape == (8000,)
