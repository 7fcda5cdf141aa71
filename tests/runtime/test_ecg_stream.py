"""The ECG stream engine: block sizes never change the result (so offline == live), seams and segment
edges keep waves whole, waves come out within a bounded delay, and gaps split the stream cleanly."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.postprocess import PostprocessConfig
from edgewise.runtime.ecg.stitch import WindowStitcher, window_starts
from edgewise.runtime.ecg.stream import EcgStream, StreamConfig
from edgewise.runtime.ecg.stream_resample import StreamResampler, resample_ecg
from edgewise.runtime.ecg.waves import Wave, waves_to_mask
from edgewise.runtime.errors import InputError

REPO = Path(__file__).resolve().parents[2]
INT8 = REPO / "edgewise" / "models" / "pretrained" / "ecg" / "ecg-unet-int8.onnx"
LUDB = REPO.parent / "shared" / "data" / "ludb" / "data"


def _blocks(x: np.ndarray, rng: np.random.Generator, most: int = 300):
    i = 0
    while i < x.shape[-1]:
        b = int(rng.integers(1, most))
        yield x[..., i : i + b]
        i += b


def test_window_starts_cover_the_end():
    assert window_starts(5000, 2048, 1536) == [0, 1536, 2952]
    assert window_starts(2048, 2048, 128) == [0]
    assert window_starts(100, 2048, 128) == [0]
    assert window_starts(2300, 2048, 128) == [0, 128, 252]


@pytest.mark.parametrize("fs_in", [128, 250, 257.5, 360, 1000])
def test_resampler_gives_the_same_samples_in_any_blocks(fs_in):
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.standard_normal((2, 3001)), axis=1).astype(np.float32)
    whole = resample_ecg(x, fs_in, 500)
    assert whole.shape[1] == int(np.floor(3000 * 500 / fs_in)) + 1  # every output position within the input
    for _ in range(3):
        r = StreamResampler(fs_in, 500, leads=2)
        got = np.concatenate([r.push(b) for b in _blocks(x, rng)] + [r.flush()], axis=1)
        assert np.array_equal(got, whole)


def test_resampler_keeps_an_ecg_band_sine():
    fs_in = 1000
    t = np.arange(5000) / fs_in
    y = resample_ecg(np.sin(2 * np.pi * 10 * t).astype(np.float32), fs_in, 500)[0]
    ref = np.sin(2 * np.pi * 10 * np.arange(y.size) / 500)
    assert np.abs(y[50:-50] - ref[50:-50]).max() < 0.01


def test_stitching_keeps_waves_whole_across_seams():
    n, window, hop, right = 7000, 2048, 128, 256
    waves = sorted((Wave("QRS", s - 20, s + 30) for s in (1000, 1792, 2048, 4000, 5760, 6500)), key=lambda w: w.onset)
    mask = waves_to_mask(waves, n)
    starts = window_starts(n, window, hop)
    seen = [0]

    def oracle(x):  # knows which window comes next and answers with the true mask
        s = starts[seen[0]]
        seen[0] += 1
        out = np.zeros((1, 4, window), np.float32)
        out[0, mask[s : s + window], np.arange(window)] = 1
        return out

    st = WindowStitcher(oracle, window=window, hop=hop, right=right)
    scores = np.concatenate([p for p in (st.push(np.arange(n, dtype=np.float32)), st.flush()) if p.size], axis=1)
    assert scores.shape == (4, n) and seen[0] == len(starts)
    assert np.array_equal(np.argmax(scores, axis=0), mask)


def test_each_sample_is_final_within_right_plus_hop():
    window, hop, right = 2048, 128, 256
    st = WindowStitcher(lambda x: np.zeros((1, 4, window), np.float32), window=window, hop=hop, right=right)
    received, worst = 0, 0
    for _ in range(100):
        before = st.final
        st.push(np.zeros(37, np.float32))
        received += 37
        if received > window:
            worst = max(worst, received - st.final)
        assert st.final >= before
    assert worst <= right + hop + 37


def test_short_signal_is_padded_and_flagged():
    calls = []

    def model_fn(x):
        calls.append(x.shape)
        out = np.zeros((x.shape[0], 4, x.shape[2]), np.float32)
        out[:, 0] = 1
        return out

    res = delineate(np.random.default_rng(0).standard_normal(1500), 500, model_fn, window=2048)
    assert res.padded and calls == [(1, 1, 2048)] and res.scores.shape == (4, 1500) and res.waves == []


@pytest.mark.parametrize("bad, match", [
    (np.zeros(500), "at least 2 s"),
    (np.full(3000, np.nan), "NaN"),
    (np.zeros((2, 2, 3000)), "1-D signal"),
], ids=["short", "nan", "rank3"])
def test_bad_signals(bad, match):
    with pytest.raises(InputError, match=match):
        delineate(bad, 500, lambda x: x, window=2048)


def _threshold_model(x):  # marks QRS wherever the standardised input is high
    out = np.zeros((x.shape[0], 4, x.shape[2]), np.float32)
    out[:, 0] = 0.5
    out[:, 2] = (x[:, 0] > 2).astype(np.float32)
    return out


def test_resampled_input_maps_back_to_input_rate():
    fs = 250
    x = np.zeros(2500, np.float32)
    for s in range(100, 2400, 250):
        x[s : s + 25] = 10.0
    res = delineate(x, fs, _threshold_model, window=2048)
    onsets = [w.onset for w in res.waves if w.kind == "QRS"]
    np.testing.assert_allclose(onsets, list(range(100, 2400, 250)), atol=2)


def test_a_gap_splits_the_stream_and_shifts_indices():
    x = np.zeros(3000, np.float32)
    for s in range(100, 2900, 250):
        x[s : s + 25] = 10.0
    one = [w.onset for w in delineate(x, 250, _threshold_model).waves]
    st = EcgStream(_threshold_model, 250)
    got = st.feed(x) + st.gap(1000)
    got += st.feed(x) + st.flush()
    assert [w.onset for w in got] == one + [o + 4000 for o in one]
    assert st.samples_seen == 7000


@pytest.mark.slow  # seconds natively, minutes under ISA emulation (test-isa skips)
@pytest.mark.skipif(not LUDB.is_dir() or not INT8.is_file(), reason="needs ../shared/data/ludb and the shipped model")
@pytest.mark.parametrize("fs_in", [500, 250, 1000])
def test_stream_equals_offline_on_ludb_in_any_blocks(fs_in):
    from edgewise.runtime.ecg.io import read_wfdb_signal
    from edgewise.runtime.ecg.model import load_artifact_fn

    fn, info = load_artifact_fn(INT8)
    assert info.post.p_edge_offset > 0  # P edges drawn without the offset: the refinement is block-invariant too
    rng = np.random.default_rng(fs_in)
    for rec in (1, 35, 103, 112):  # sinus; flutter (35, 103); fibrillation (112)
        sig = read_wfdb_signal(LUDB / str(rec))
        x = sig.signal[sig.leads.index("ii")].astype(np.float32)
        x = np.concatenate([x, x, x])  # 30 s: past the warm-up, rhythm decided on trailing context
        x = resample_ecg(x, 500, fs_in)[0] if fs_in != 500 else x
        ref = delineate(x, fs_in, fn, window=info.window, post=info.post).waves  # at the stream's hop (not offline_hop)
        st = EcgStream(fn, fs_in, config=StreamConfig(window=info.window, post=info.post))
        got = []
        for b in _blocks(x, rng, most=int(fs_in)):
            got += st.feed(b)
        got += st.flush()
        assert sorted(got, key=lambda w: (w.onset, w.offset)) == ref, rec
        assert len(got) == len(set(got))  # each wave once


@pytest.mark.skipif(not LUDB.is_dir() or not INT8.is_file(), reason="needs ../shared/data/ludb and the shipped model")
def test_waves_are_emitted_soon_after_their_offset():
    """After the warm-up every wave is out within right + hop + gap fill + PR look-ahead of its offset."""
    from edgewise.runtime.ecg.io import read_wfdb_signal
    from edgewise.runtime.ecg.model import load_artifact_fn

    fn, info = load_artifact_fn(INT8)
    sig = read_wfdb_signal(LUDB / "1")
    x = np.tile(sig.signal[sig.leads.index("ii")].astype(np.float32), 3)
    cfg = StreamConfig(window=info.window)
    st = EcgStream(fn, 500, config=cfg)
    delays = []
    for i in range(0, x.size, 25):  # 50 ms blocks
        for w in st.feed(x[i : i + 25]):
            if w.onset > cfg.warmup_s * 500:
                delays.append(st.samples_seen - w.offset)
    post = PostprocessConfig()
    bound = cfg.right + cfg.hop + 25 + post.min_gap_ms / 2 + post.max_pr_ms / 2 + 1
    assert delays and max(delays) <= bound, (max(delays), bound)


def test_a_multi_head_model_gives_confidence_and_uncertainty():
    """Heads that agree: delineation of their mean, confidence near 1, epistemic ~0; heads that disagree on
    one QRS: lower confidence and higher epistemic there, and the per-input means say so."""
    def heads_model(disagree: bool):
        def fn(x):
            one = _threshold_model(x)[:, None]                  # [1, 1, 4, w]
            logits = np.log(np.clip(one, 1e-3, 1)) * 8
            many = np.repeat(logits, 3, axis=1).copy()          # three heads
            if disagree:
                many[:, 2, 2] -= 6 * (x[:, 0] > 2)               # head 3 doubts every QRS
            return many
        return fn

    fs = 250
    x = np.zeros(3000, np.float32)
    for s in range(100, 2900, 250):
        x[s : s + 25] = 10.0
    one = delineate(x, fs, _threshold_model)
    agree, doubt = delineate(x, fs, heads_model(False)), delineate(x, fs, heads_model(True))
    assert one.wave_info is None and one.uncertainty is None
    assert agree.waves == one.waves == doubt.waves
    assert set(agree.wave_info) == set(agree.waves)
    assert min(i["confidence"] for i in agree.wave_info.values()) > 0.99
    assert max(i["epistemic"] for i in agree.wave_info.values()) < 1e-3
    assert max(i["confidence"] for i in doubt.wave_info.values()) < 0.99
    assert min(i["epistemic"] for i in doubt.wave_info.values()) > 0.05
    assert doubt.uncertainty["epistemic"] > agree.uncertainty["epistemic"] + 1e-3
    st = EcgStream(heads_model(True), fs)  # block by block: the same facts
    got = []
    for i in range(0, x.size, 77):
        got += st.feed(x[i : i + 77])
    got += st.flush()
    assert {w: st.wave_info[w] for w in got} == doubt.wave_info
