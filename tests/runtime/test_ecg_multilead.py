"""Every lead through a single-lead model in batches (edgewise.runtime.ecg.multilead): the same waves as one
lead at a time, with the shipped artifacts on the runtimes the device uses."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.models.pretrained import PRETRAINED_DIR
from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.multilead import WindowCache, delineate_leads
from edgewise.runtime.ecg.preprocess import standardize
from edgewise.runtime.ecg.stitch import window_starts

ECG_DIR = PRETRAINED_DIR / "ecg"


def test_window_cache_serves_prefetched_windows_and_scores_the_rest():
    calls: list[int] = []

    def model(x: np.ndarray) -> np.ndarray:  # a real (if simple) model: per-sample scores from the input
        calls.append(x.shape[0])
        return np.concatenate([x, -x, 2 * x, x ** 2], axis=1)

    rng = np.random.default_rng(0)
    windows = rng.standard_normal((5, 1, 16)).astype(np.float32)
    fn = WindowCache(model, windows, batch=2)
    assert calls == [2, 2, 1]  # scored in batches up front
    np.testing.assert_array_equal(fn(windows[3:4]), model(windows[3:4]))
    other = rng.standard_normal((2, 1, 16)).astype(np.float32)
    mixed = np.concatenate([windows[:2], other[:1], windows[4:], other[1:]])
    got = fn(mixed)  # a batch holding two windows never seen: only those two go to the model
    assert calls[-1] == 2 and (fn.hits, fn.misses) == (4, 2)
    np.testing.assert_array_equal(got, model(mixed))
    with pytest.raises(ValueError, match="batch must be >= 1"):
        WindowCache(model, windows, batch=0)


@pytest.mark.parametrize("name", ["ecg-unet.onnx", "ecg-unet-int8.onnx", "ecg-unet.tflite",
                                  "ecg-unet-int8.tflite"])
def test_batched_scores_are_bitwise_those_of_one_window_at_a_time(name):
    from edgewise.runtime.ecg.model import load_artifact_fn

    fn, info = load_artifact_fn(ECG_DIR / name)
    t = np.arange(info.window) / 500
    x = np.stack([standardize(np.sin(2 * np.pi * f * t)[None] + 0.1 * np.sin(2 * np.pi * 17 * t))
                  for f in (0.9, 1.3, 2.1, 0.5)]).astype(np.float32)
    batched = fn(x)
    single = np.concatenate([fn(x[i : i + 1]) for i in range(len(x))])
    np.testing.assert_array_equal(batched, single)


@pytest.mark.parametrize("name, step", [pytest.param("ecg-unet.onnx", 1, marks=pytest.mark.slow),  # ~3 min emulated
                                        ("ecg-unet-int8.onnx", 2)],
                         ids=["fp32 at 500 Hz", "int8 at 250 Hz"])
def test_every_lead_as_if_alone(ludb_dir, name, step):
    from edgewise.runtime.ecg.io import read_ecg_input
    from edgewise.runtime.ecg.model import load_artifact_fn

    fn, info = load_artifact_fn(ECG_DIR / name)
    batches: list[int] = []

    def counted(x: np.ndarray) -> np.ndarray:
        batches.append(x.shape[0])
        return fn(x)

    inp = read_ecg_input(ludb_dir / "data" / "1")
    x, fs = inp.signal[:, ::step].copy(), inp.fs / step
    res = delineate_leads(x, fs, counted, model_fs=info.sample_rate, window=info.window, hop=info.hop)
    # every window (offline: at the artifact's hop, one per 10-s lead for a whole-strip model; 25 per lead
    # for a 2048-sample one) was scored once, in the prefetch batches of 64: the stream engine's own calls
    # were all cache hits
    n = 12 * len(window_starts(5000, info.window, info.hop))
    assert sum(batches) == n and n in (12, 300)
    assert batches == [64] * (n // 64) + ([n % 64] if n % 64 else [])
    assert len(res) == 12
    for row, r in zip(x, res):
        alone = delineate(row, fs, fn, model_fs=info.sample_rate, window=info.window, hop=info.hop)
        assert r.waves == alone.waves
        assert r.waves  # a real ECG: waves were found
