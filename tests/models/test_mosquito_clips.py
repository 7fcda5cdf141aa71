"""Short clips: tiled into a full window, scored like their content; under 0.05 s refused or flagged."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from edgewise.data.mosquito import ClipLabel, Recording, WindowConfig  # noqa: E402
from edgewise.models.mosquito import DSCNN_SPEC, HUMBUG_SPEC  # noqa: E402
from edgewise.models.mosquito.clips import (  # noqa: E402
    MIN_CLIP_S, ClipTooShortError, cut_short_clips, detector_windows, min_clip_samples, tile_window,
)
from edgewise.models.mosquito.evaluate import metrics_from_clips, score_clips, window_probabilities  # noqa: E402
from edgewise.models.mosquito.train import build_window_set, features  # noqa: E402
from edgewise.models.spec import build_model  # noqa: E402

SR = 8000


def _tone(seconds: float, f0: float = 400.0) -> np.ndarray:
    """A flight-tone-like harmonic stack; at 400 Hz its period (20 samples) divides 0.1 s and 0.1 s - 5 ms."""
    t = np.arange(int(round(seconds * SR))) / SR
    return (0.3 * np.sin(2 * np.pi * f0 * t) + 0.12 * np.sin(4 * np.pi * f0 * t + 1.0)
            + 0.05 * np.sin(6 * np.pi * f0 * t + 2.0)).astype(np.float32)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    out = {}
    for spec in (DSCNN_SPEC, HUMBUG_SPEC):
        m = build_model(spec.name, **({"widths": (8, 12, 16)} if spec is DSCNN_SPEC else {})).eval()
        m.in_mean.fill_(-40.0)  # roughly the scale of log-Mel dB, so the untrained net is not saturated
        m.in_std.fill_(20.0)
        out[spec.name] = (m, spec)
    return out


def test_tiling_a_tenth_of_a_second_rebuilds_the_window():
    long = _tone(2.0)
    clip = long[: int(0.1 * SR)]
    w = tile_window(clip, DSCNN_SPEC.window, sample_rate=SR)
    assert w.shape == (16000,) and w.dtype == np.float32
    np.testing.assert_allclose(w, long, atol=1e-6)  # the 5-ms crossfade blends equal samples: exact
    np.testing.assert_array_equal(tile_window(clip, 2000, sample_rate=SR, fade_s=0.0), np.tile(clip, 3)[:2000])
    np.testing.assert_array_equal(tile_window(long, 1000, sample_rate=SR), long[:1000])  # long enough: cut, not tiled


def test_seams_are_smooth_for_arbitrary_content():
    rng = np.random.default_rng(0)
    clip = np.cumsum(rng.standard_normal(900)).astype(np.float32) * 0.01  # a drifting signal: ends far apart
    clip -= clip.mean()
    jump = abs(clip[-1] - clip[0])
    w = tile_window(clip, 16000, sample_rate=SR)
    steps = np.abs(np.diff(w))
    own = np.abs(np.diff(clip)).max()
    assert jump > 5 * own  # plain repetition would click at every seam ...
    assert steps.max() <= own * 1.5  # ... the crossfaded loop never steps further than the clip itself does


@pytest.mark.parametrize("name", ["mosquito-dscnn", "mosquito-humbug-cnn"], ids=["dscnn", "humbug"])
def test_short_clip_scores_like_its_content(models, name):
    model, spec = models[name]
    long = _tone(2.0)
    clip = long[: int(0.1 * SR)]
    p_clip, times = window_probabilities(model, spec, clip)
    p_long, _ = window_probabilities(model, spec, long)
    assert p_clip.shape == (1,) and times.tolist() == [[0.0, 0.1]]
    np.testing.assert_allclose(p_clip, p_long, rtol=1e-5)  # the tiled 0.1 s is the 2-s tone, so the same score
    with torch.no_grad():
        logits = model(features(tile_window(clip, spec.window, sample_rate=SR)[None], spec)).double()
    np.testing.assert_allclose(p_clip, torch.softmax(logits, 1)[:, 1].numpy(), rtol=1e-5)
    padded = np.zeros(spec.window, np.float32)
    padded[: clip.size] = clip
    with torch.no_grad():
        p_pad = torch.softmax(model(features(padded[None], spec)).double(), 1)[0, 1].item()
    assert abs(p_pad - p_clip[0]) > 1e-4  # and it is not what zero padding gave


def test_clips_under_the_minimum_are_refused_or_flagged(models, tmp_path):
    model, spec = models["mosquito-dscnn"]
    assert MIN_CLIP_S == 0.05 and min_clip_samples(SR) == 400
    w, flags = detector_windows(_tone(0.05), spec.window, spec.hop, sample_rate=SR)
    assert w.x.shape == (1, 16000) and flags == ("tiled",) and w.valid.tolist() == [400]
    with pytest.raises(ClipTooShortError, match=r"0\.0499 s \(399 samples at 8000 Hz\).*at least 0\.05 s"):
        window_probabilities(model, spec, _tone(0.05)[:399])
    recs = [Recording(path=Path(f"{n}.wav"), rel=f"{n}.wav", label=ClipLabel.NEGATIVE, set_name="s", species="",
                      duration_s=d, licence="") for n, d in (("tiny", 0.03), ("short", 0.3), ("long", 3.0))]
    clips = score_clips(model, spec, recs, [_tone(0.03), _tone(0.3), _tone(3.0)])
    assert [c.flags for c in clips] == [("too-short",), ("tiled",), ()]
    assert clips[0].p.size == 0 and clips[1].p.size == 1 and clips[2].p.size == 2
    assert metrics_from_clips(clips)["n_clips_too_short"] == 1
    sf = pytest.importorskip("soundfile")
    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.mosquito.api import detect_file, load_detector

    save_checkpoint(tmp_path / "m.pt", spec=spec, model=model, model_kwargs={"widths": (8, 12, 16)}, training={"threshold": 0.5})
    ckpt = load_detector(tmp_path / "m.pt")
    sf.write(tmp_path / "snip.wav", _tone(0.03), SR)
    with pytest.raises(ClipTooShortError, match="snip.wav: clip is 0.0300 s"):
        detect_file(tmp_path / "snip.wav", ckpt)
    sf.write(tmp_path / "short.wav", _tone(0.2), SR)
    res = detect_file(tmp_path / "short.wav", ckpt)
    assert res["flags"] == ["short"] and [(w["start_s"], w["end_s"]) for w in res["windows"]] == [(0.0, 0.2)]
    p_direct, _ = window_probabilities(model, spec, _tone(0.2))
    np.testing.assert_allclose(res["windows"][0]["p"], p_direct[0], atol=5e-5)  # tiled, not padded (p rounded to 4 dp)


def test_training_windows_tile_short_recordings_like_scoring():
    recs = [Recording(path=Path("a.wav"), rel="a.wav", label=ClipLabel.POSITIVE, set_name="s", species="", duration_s=0.3,
                      licence=""),
            Recording(path=Path("b.wav"), rel="b.wav", label=ClipLabel.NEGATIVE, set_name="s", species="", duration_s=0.03,
                      licence="")]
    ws = build_window_set(recs, [_tone(0.3), _tone(0.03)], WindowConfig(window_s=2.0, hop_s=0.5))
    assert len(ws) == 1 and ws.y.tolist() == [1.0]  # the 0.03-s recording gives no window
    np.testing.assert_array_equal(ws.take(np.array([0]))[0], tile_window(_tone(0.3), 16000, sample_rate=SR))


def test_short_excerpts_come_from_labelled_spans_only():
    def rec(name, label, segments=()):
        return Recording(path=Path(name), rel=name, label=label, set_name=name[0], species="", duration_s=30.0,
                         licence="", segments=tuple(segments))

    recs = [rec("pos.wav", ClipLabel.POSITIVE), rec("weak.wav", ClipLabel.WEAK, [(10.0, 11.0), (20.0, 20.05)]),
            rec("vague.wav", ClipLabel.WEAK), rec("neg.wav", ClipLabel.NEGATIVE), rec("tiny.wav", ClipLabel.NEGATIVE)]
    audio = [np.zeros(30 * SR, np.float32)] * 4 + [np.zeros(int(0.08 * SR), np.float32)]
    cuts = cut_short_clips(recs, audio, sample_rate=SR, seed=3)
    assert [c.name for c in cuts] == [c.name for c in cut_short_clips(recs, audio, sample_rate=SR, seed=3)]  # seeded
    assert [c.name for c in cuts] != [c.name for c in cut_short_clips(recs, audio, sample_rate=SR, seed=4)]
    by = {}
    for c in cuts:
        by.setdefault(c.name.split("#")[0], []).append(c)
    assert set(by) == {"pos.wav", "weak.wav", "neg.wav"}  # unverified weak clip and a 0.08-s clip give none
    assert len(by["pos.wav"]) == 6 and len(by["weak.wav"]) == 1  # ceil(30 s / 5 s); 1 s of usable segment
    for c in cuts:
        assert 0.1 - 1e-3 <= c.samples.size / SR <= 0.5 + 1e-3
        assert c.mosquito == (c.name.split("#")[0] != "neg.wav")
    a, b = (float(v) for v in by["weak.wav"][0].name.split("#")[1].split("-"))
    assert 10.0 <= a < b <= 11.0  # inside the only segment long enough
