"""Batched model calls in the ECG stream engine: the windows one feed completes go to the model in one
call, and the scores and waves are bit for bit those of one call per window, on the shipped artifacts
(1 thread, real LUDB lead II); a live stream fed in small blocks still calls the model one window at a time."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.ecg.stitch import WindowStitcher, window_starts
from edgewise.runtime.ecg.stream import STREAM_MAX_BATCH, EcgStream, StreamConfig

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "ecg"
LUDB = REPO.parent / "shared" / "data" / "ludb" / "data"
ARTIFACTS = ["ecg-unet-int8.onnx", "ecg-unet-int8.tflite", "ecg-unet.onnx", "ecg-unet.tflite"]


def _counting(fn):
    batches: list[int] = []

    def counted(x):
        batches.append(x.shape[0])
        return fn(x)

    return counted, batches


def _run(fn, x: np.ndarray, *, max_batch: int, window: int, block: int | None = None, at_once: bool = False):
    counted, batches = _counting(fn)
    st = EcgStream(counted, 500, config=StreamConfig(window=window, max_batch=max_batch), keep_scores=True)
    if at_once:  # every window in batches of max_batch
        waves = st.flush(x)
    elif block is None:  # what delineate() does: the grid windows, then the end-aligned one
        waves = st.feed(x) + st.flush()
    else:
        waves = [w for s in range(0, x.size, block) for w in st.feed(x[s : s + block])] + st.flush()
    return st.scores[0], sorted(waves, key=lambda w: (w.onset, w.offset)), batches


@pytest.fixture(scope="module")
def lead_ii() -> np.ndarray:
    from edgewise.runtime.ecg.io import read_wfdb_signal

    if not LUDB.is_dir():
        pytest.skip("needs ../shared/data/ludb")
    sig = read_wfdb_signal(LUDB / "1")
    return sig.signal[sig.leads.index("ii")].astype(np.float32)


# fp32: minutes each under ISA emulation (test-isa skips "slow"); the int8 files, whose kernels differ most
# between ISAs, run there
@pytest.mark.parametrize("name", [pytest.param(a, marks=pytest.mark.slow) if "int8" not in a else a for a in ARTIFACTS])
def test_batched_calls_equal_one_window_per_call(name, lead_ii):
    from edgewise.runtime.ecg.model import load_artifact_fn

    path = SHIPPED / name
    if not path.is_file():
        pytest.skip(f"{name} is not shipped")
    try:
        fn, info = load_artifact_fn(path, threads=1)
    except ImportError as e:  # BackendMissingError: LiteRT not installed
        pytest.skip(str(e))
    w = info.window
    for x in (lead_ii, np.tile(lead_ii, 3)):  # 10 s: one call; 30 s: more windows than STREAM_MAX_BATCH
        one, one_waves, one_batches = _run(fn, x, max_batch=1, window=w)
        many, many_waves, many_batches = _run(fn, x, max_batch=STREAM_MAX_BATCH, window=w, at_once=True)
        fed, fed_waves, fed_batches = _run(fn, x, max_batch=STREAM_MAX_BATCH, window=w)
        n_windows = len(window_starts(x.size, w, StreamConfig(window=w).hop))
        assert one_batches == [1] * n_windows
        assert sum(many_batches) == n_windows and len(many_batches) == -(-n_windows // STREAM_MAX_BATCH)
        assert sum(fed_batches) == n_windows and fed_batches[-1] == 1
        assert np.array_equal(one, many), (name, float(np.abs(one - many).max()))
        assert np.array_equal(one, fed)
        assert one_waves == many_waves == fed_waves and len(many_waves) > 10


def test_live_blocks_score_one_window_per_call_with_the_same_result(lead_ii):
    from edgewise.runtime.ecg.model import load_artifact_fn

    fn, info = load_artifact_fn(SHIPPED / "ecg-unet-int8.onnx", threads=1)
    x = np.tile(lead_ii, 2)  # 20 s: many windows at the stream's hop, also for a whole-strip model
    offline, offline_waves, _ = _run(fn, x, max_batch=STREAM_MAX_BATCH, window=info.window)
    live, live_waves, batches = _run(fn, x, max_batch=STREAM_MAX_BATCH, window=info.window, block=25)  # 50-ms blocks
    assert set(batches) == {1}  # each window as soon as it is complete: the live latency is unchanged
    assert np.array_equal(live, offline) and live_waves == offline_waves


def test_a_model_returning_the_wrong_batch_is_refused():
    st = WindowStitcher(lambda x: np.zeros((1, 4, 256), np.float32), window=256, hop=32, right=32, max_batch=8)
    with pytest.raises(ValueError, match="batch of"):
        st.push(np.zeros(1000, np.float32))
    with pytest.raises(ValueError, match="max_batch"):
        WindowStitcher(lambda x: x, window=256, hop=32, right=32, max_batch=0)


@pytest.mark.parametrize("n", [200, 256, 300, 256 + 32 * 5, 1000])
@pytest.mark.parametrize("max_batch", [2, 3, 64])
def test_finish_equals_push_then_flush_for_any_batch(n, max_batch):
    """Segment ends (shorter than a window, exactly on the grid, past it) give the same track batched or not."""
    rng = np.random.default_rng(n)
    w = rng.standard_normal((4, 9)).astype(np.float32)

    def model(x):  # a per-window function of the standardised input (no state, no batch coupling)
        feats = np.stack([np.roll(x[:, 0], k, axis=-1) for k in range(9)], axis=1)  # [b, 9, window]
        return np.einsum("ck,bkt->bct", w, feats)

    x = rng.standard_normal(n).astype(np.float32)
    ref = WindowStitcher(model, window=256, hop=32, right=32)
    a = [ref.push(x[:123]), ref.push(x[123:]), ref.flush()]
    got = WindowStitcher(model, window=256, hop=32, right=32, max_batch=max_batch)
    b = [got.push(x[:123]), got.finish(x[123:])]
    track_a = np.concatenate([p for p in a if p.size], axis=-1)
    track_b = np.concatenate([p for p in b if p.size], axis=-1)
    assert track_a.shape == (4, n) and np.array_equal(track_a, track_b)
    assert got.padded == ref.padded == (n < 256)
    assert got.flush().size == 0  # nothing left


def test_model_input_equals_one_standardize_per_window(lead_ii):
    from edgewise.runtime.ecg.preprocess import standardize
    from edgewise.runtime.ecg.stitch import model_input

    x = np.stack([lead_ii, lead_ii[::-1] * 3 + 1])  # two leads
    starts = window_starts(x.shape[1], 2048, 128)
    got = model_input(x, starts, 2048)
    assert got.shape == (len(starts), 2, 2048) and got.dtype == np.float32 and got.flags.c_contiguous
    for i, s in enumerate(starts):
        assert np.array_equal(got[i], standardize(x[:, s : s + 2048]))
