"""The live mosquito engine: what it returns for a file fed in blocks equals `edgewise detect`; gaps, faults, latency."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.errors import InputError
from edgewise.runtime.events import Event, merge_events, window_times
from edgewise.runtime.features.resample import resample_to
from edgewise.runtime.live.mosquito_stream import MosquitoStream
from edgewise.runtime.live.sources.base import Block, Fault, Gap
from edgewise.runtime.mosquito import MosquitoDetector, hysteresis_for, load_detector

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "mosquito"

# real recordings: (path under the mosquito data folder, what it is)
RECORDINGS = [
    ("nsc2021_wingbeats_thai/Cx.Quin_1M_6D_25C_SmallCylinder_cut23.wav", "mosquito, 96 kHz, 7.5 s"),
    ("humbug_platform/anoph_arabien.wav", "mosquito, 44.1 kHz, 30.7 s"),
    ("humbug_platform/test_audio_on_off.wav", "mosquito on/off, 8 kHz stereo, 53.6 s"),
    ("songsofinsects_scraped_insects/insect_musicians_roesels_katydid.mp3", "katydid (3 false alarms), 48 kHz stereo mp3"),
    ("speech_commands_background_noise/running_tap.wav", "running tap, 16 kHz, 61.5 s"),
    ("esc10_crying_baby/4-185575-C.mp3", "crying baby, 44.1 kHz mp3, 5 s"),
    ("alsa_utils_speech/Noise.wav", "noise, 48 kHz, 1.4 s: shorter than a window (tiled)"),
    ("humbug_mozzbnn_r4/R4_cleaned_recording_17-10-17.decoded_from_aac.flac", "field recording, 8 kHz, 656 s"),
]


@pytest.fixture(scope="module", params=["onnx", "tflite"])
def det(request) -> MosquitoDetector:
    if request.param == "tflite":
        pytest.importorskip("ai_edge_litert")
    return load_detector(SHIPPED / f"model.{request.param}")


def _read(path: Path) -> tuple[np.ndarray, int]:
    sf = pytest.importorskip("soundfile")
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data, sr


def _feed(stream: MosquitoStream, data: np.ndarray, *, start: int = 0, rng=None, max_block: int = 20000,
          block: int | None = None) -> list[dict]:
    """Blocks of random (or fixed) size, as a file source read as fast as possible hands them out."""
    out, i = [], 0
    while i < data.shape[0]:
        n = block or int(rng.integers(1, max_block + 1))
        out += stream.feed(Block(start + i, data[i:i + n]))
        i += n
    return out


def _of(out: list[dict], kind: str) -> list[dict]:
    return [{k: v for k, v in o.items() if k != "type"} for o in out if o["type"] == kind]


# -- the contract with `edgewise detect` ----------------------------------------------------------------
@pytest.mark.parametrize("rel", [r for r, _ in RECORDINGS], ids=[w for _, w in RECORDINGS])
def test_a_file_fed_in_blocks_gives_what_detect_gives(det, mosquito_dir, rel):
    data, sr = _read(mosquito_dir / rel)
    stream = MosquitoStream(det, source_rate=sr)
    out = _feed(stream, data, rng=np.random.default_rng(len(rel))) + stream.flush()
    # = edgewise detect --model X --json (tests/runtime/test_mosquito_runtime.py), window p not rounded to 4 dp
    ref = det.detect(data, sr, decimals=None)
    windows, events, opens = _of(out, "window"), _of(out, "event"), _of(out, "event_open")
    assert [(w["start_s"], w["end_s"]) for w in windows] == [(w["start_s"], w["end_s"]) for w in ref["windows"]]
    np.testing.assert_allclose([w["p"] for w in windows], [w["p"] for w in ref["windows"]], rtol=0, atol=1e-6)
    assert events == ref["events"]
    assert [o["start_s"] for o in opens] == [e["start_s"] for e in events]  # one announcement per event
    assert stream.counters["windows"] == len(windows) and stream.counters["events"] == len(events)
    assert not any(o["type"] == "fault" for o in out)


@pytest.mark.parametrize("rel", ["humbug_platform/test_audio_on_off.wav", "esc10_crying_baby/4-185575-C.mp3",
                                 "nsc2021_wingbeats_thai/Cx.Quin_1M_6D_25C_SmallCylinder_cut23.wav"],
                         ids=["8k-stereo-wav", "44.1k-mp3", "96k-wav"])
def test_the_file_source_end_to_end(mosquito_dir, rel):
    """``edgewise run mosquito --source file:PATH`` without --realtime: the file source's blocks into the engine."""
    pytest.importorskip("soundfile")
    from edgewise.runtime.live.sources import open_source

    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    source = open_source(f"file:{mosquito_dir / rel}")
    stream = MosquitoStream(det, source_rate=source.rate)
    out = [o for item in source for o in stream.process(item)] + stream.flush()
    source.close()
    data, sr = _read(mosquito_dir / rel)
    ref = det.detect(data, sr, decimals=None)
    assert [(w["start_s"], w["end_s"]) for w in _of(out, "window")] == [(w["start_s"], w["end_s"]) for w in ref["windows"]]
    np.testing.assert_allclose([w["p"] for w in _of(out, "window")], [w["p"] for w in ref["windows"]], rtol=0, atol=1e-6)
    assert _of(out, "event") == ref["events"]


def test_block_size_does_not_matter():
    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    rng = np.random.default_rng(0)
    t = np.arange(int(3.3 * 16000)) / 16000
    y = (0.2 * np.sin(2 * np.pi * 550 * t) * (t > 1.5) + 0.01 * rng.standard_normal(t.size)).astype(np.float32)[:, None]
    runs = []
    for block in (5, 160, 16000, y.shape[0]):
        s = MosquitoStream(det, source_rate=16000)
        runs.append(_feed(s, y, block=block) + s.flush())
    for other in runs[1:]:
        assert other == runs[0]


# -- the event rule, one window at a time ----------------------------------------------------------
class ScriptedDetector:
    """A detector whose window probability is the window's first sample: to drive the event logic exactly."""

    sample_rate, window, hop = 100, 200, 100
    window_s, hop_s = 2.0, 1.0
    path = Path("scripted")

    def __init__(self, threshold: float = 0.5):
        self.threshold = threshold

    def score(self, x: np.ndarray) -> tuple[np.ndarray, None]:
        return np.asarray(x[:, 0], dtype=np.float64), None

    def hysteresis(self, threshold: float | None = None):
        return hysteresis_for(self.threshold if threshold is None else threshold)


def _scripted(p: np.ndarray, tail: int) -> np.ndarray:
    """Samples whose windows (2 s every 1 s at 100 Hz) score ``p``; ``tail`` extra samples after the last hop."""
    y = np.zeros(len(p) * 100 + tail, np.float32)
    y[::100][: len(p)] = p
    return y


def test_events_equal_merge_events_for_any_probabilities():
    rng = np.random.default_rng(1)
    levels = np.array([0.05, 0.29, 0.3, 0.31, 0.45, 0.5, 0.51, 0.7, 0.95])
    for trial in range(300):
        threshold = float(rng.choice([0.5, 0.7, 0.9]))
        y = _scripted(rng.choice(levels, size=int(rng.integers(1, 25))), tail=int(rng.integers(0, 100)))
        s = MosquitoStream(ScriptedDetector(), source_rate=100, threshold=threshold)
        out = _feed(s, y[:, None], rng=rng, max_block=250) + s.flush()
        win = _of(out, "window")
        p = np.array([w["p"] for w in win])
        n = y.size
        n_win = 1 if n <= 200 else (n - 200) // 100 + 1 + (n - ((n - 200) // 100 * 100 + 200) > 50)
        times = window_times(n_win, 2.0, 1.0, duration_s=n / 100)
        assert [(w["start_s"], w["end_s"]) for w in win] == [tuple(t) for t in np.round(times, 4)], trial
        want = [e.to_dict() for e in merge_events(p, times, hysteresis_for(threshold))]
        assert _of(out, "event") == want, trial
        assert [o["start_s"] for o in _of(out, "event_open")] == [e["start_s"] for e in want], trial


def test_events_go_out_as_soon_as_they_are_final():
    s = MosquitoStream(ScriptedDetector(), source_rate=100)
    y = _scripted(np.array([0.1, 0.9, 0.8, 0.1, 0.1, 0.1, 0.9]), tail=160)  # 8.6 s: a tail window at 7 s
    out = []
    for i in range(0, y.size, 100):  # one hop at a time: what each second of audio releases
        out.append([o["type"] for o in s.feed(Block(i, y[i:i + 100, None]))])
    # window k (start k s) is scored once 2 s of it are in, i.e. with block k + 1
    assert out[2] == ["window", "event_open"]  # p 0.9 at 1 s: opened at once
    assert out[4] == ["window"]                # p 0.1 at 3 s closes it; a window at 4 s could still merge (gap < 1 s)
    assert out[5] == ["window", "event"]       # p 0.1 at 4 s: 4 - 3 >= 1, final
    assert out[7] == ["window", "event_open"]
    assert [o["type"] for o in s.flush()] == ["window", "event"]  # the tail window, and the open event closed
    assert s.flush() == []


# -- gaps -----------------------------------------------------------------------------------------
def test_a_gap_ends_the_segment_and_time_goes_on(mosquito_dir):
    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    data, sr = _read(mosquito_dir / "humbug_platform/test_audio_on_off.wav")
    cut, missing = int(20.3 * sr), int(2.5 * sr)
    a, b = data[:cut], data[cut + missing:]
    s = MosquitoStream(det, source_rate=sr)
    rng = np.random.default_rng(2)
    out = _feed(s, a, rng=rng) + s.gap(Gap(cut, missing, "disconnected"))
    out += _feed(s, b, start=cut + missing, rng=rng) + s.flush()
    i_gap = [o["type"] for o in out].index("gap")
    assert out[i_gap] == {"type": "gap", "start_s": 20.3, "end_s": 22.8, "samples": missing, "reason": "disconnected"}
    first, second = out[:i_gap], out[i_gap + 1:]
    ref_a = det.detect(a, sr)
    assert [(w["start_s"], w["end_s"]) for w in _of(first, "window")] == [(w["start_s"], w["end_s"]) for w in ref_a["windows"]]
    assert _of(first, "event") == ref_a["events"]  # events of the first segment are closed before the gap
    off = (cut + missing) / sr
    p_b, t_b = det.window_probabilities(b.mean(axis=1))
    assert [(w["start_s"], w["end_s"]) for w in _of(second, "window")] == [tuple(t) for t in np.round(t_b + off, 4)]
    np.testing.assert_allclose([w["p"] for w in _of(second, "window")], p_b, rtol=0, atol=1e-6)
    assert _of(second, "event") == [Event(e.start_s + off, e.end_s + off, e.p).to_dict()
                                    for e in merge_events(p_b, t_b, hysteresis_for(0.5))]
    assert s.counters["gaps"] == 1 and s.counters["segments"] == 2


def test_a_jump_is_a_gap_and_going_back_is_refused():
    s = MosquitoStream(ScriptedDetector(), source_rate=100)
    y = _scripted(np.array([0.9, 0.9, 0.9]), tail=0)[:, None]
    out = s.feed(Block(0, y)) + s.feed(Block(1000, y))
    # 3 s: windows at 0 and 1 s, no tail; the jump closes the event; the new segment opens one at 10 s
    assert [o["type"] for o in out] == ["window", "event_open", "window", "event", "gap", "window", "event_open", "window"]
    assert out[4] == {"type": "gap", "start_s": 3.0, "end_s": 10.0, "samples": 700, "reason": "discontinuity"}
    assert out[5]["start_s"] == 10.0
    with pytest.raises(InputError, match="starts at sample 5 but the stream is already at 1300"):
        s.feed(Block(5, y))
    with pytest.raises(InputError, match="the stream had 1 channel"):
        s.feed(Block(1300, np.zeros((10, 2), np.float32)))
    with pytest.raises(InputError, match="source_rate must be a positive whole number"):
        MosquitoStream(ScriptedDetector(), source_rate=44100.5)


def test_segments_under_the_minimum_give_no_window():
    s = MosquitoStream(ScriptedDetector(), source_rate=100)
    assert s.feed(Block(0, np.full((4, 1), 0.9, np.float32))) == []  # 0.04 s < 0.05 s
    assert s.flush() == []
    assert [o["type"] for o in s.feed(Block(4, np.full((5, 1), 0.9, np.float32))) + s.flush()] == \
        ["window", "event_open", "event"]  # 0.05 s: tiled into one window


# -- faults -----------------------------------------------------------------------------------------
def test_nonfinite_samples_are_zeroed_and_reported_once():
    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    rng = np.random.default_rng(3)
    y = (0.05 * rng.standard_normal((5 * 8000, 1))).astype(np.float32)
    y[1000:1010] = np.nan
    y[30000, 0] = np.inf
    s = MosquitoStream(det, source_rate=8000)
    out = _feed(s, y, block=4000) + s.flush()
    faults = _of(out, "fault")
    assert faults == [{"kind": "nonfinite", "at": 1000, "count": 10, "detail": faults[0]["detail"]}]
    assert s.counters["nonfinite"] == 11 and "replaced by 0" in faults[0]["detail"]
    clean = y.copy()
    clean[~np.isfinite(clean)] = 0
    p_ref, _ = det.window_probabilities(clean[:, 0])
    np.testing.assert_allclose([w["p"] for w in _of(out, "window")], p_ref, rtol=0, atol=1e-6)


def test_clipping_is_reported_at_most_once_per_second():
    s = MosquitoStream(MosquitoDetector.open(SHIPPED / "model.onnx"), source_rate=8000)
    t = np.arange(4 * 8000) / 8000
    y = np.clip(3 * np.sin(2 * np.pi * 500 * t), -1, 1).astype(np.float32)[:, None]  # hard-clipped for 4 s
    y[: 8000] *= 0.5  # the first second is clean
    clicks = np.zeros((8000, 1), np.float32)
    clicks[::1000] = 1.0  # 8 isolated full-scale samples in a second: not "many" (0.1 % = 8 -> needs 9)
    out = _feed(s, y, block=300) + _feed(s, clicks, start=y.shape[0], block=300)
    faults = _of(out, "fault")
    assert [f["kind"] for f in faults] == ["saturated"] * 3
    assert [f["at"] // 8000 for f in faults] == [1, 2, 3]
    assert all(f["count"] >= 9 and "clipped" in f["detail"] for f in faults)
    assert s.counters["saturated"] == int((np.abs(y) >= 0.999).sum()) + 8


def test_source_faults_pass_through_and_the_runner_interface():
    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    s = MosquitoStream(det, source_rate=48000, threshold=0.7)
    assert s.start_record() == {"type": "start", "task": "mosquito", "fs": 48000, "model": "model.onnx",
                                "model_fs": 8000, "window_s": 2.0, "hop_s": 1.0, "threshold": 0.7}
    assert s.process(Fault("overflow", 480, 2, "input overflow")) == [
        {"type": "fault", "kind": "overflow", "at": 480, "count": 2, "detail": "input overflow"}]
    s.process(Block(0, np.zeros((4800, 1), np.float32)))
    assert s.summary()["samples"] == 4800 and s.summary()["seconds"] == 0.1
    with pytest.raises(InputError, match="expected a Block, Gap or Fault"):
        s.process("x")
    json.dumps(s.flush() + [s.summary()])  # JSON-ready


# -- uncertainty --------------------------------------------------------------------------------------
def _multihead_artifact(path: Path, heads: int = 3) -> Path:
    """A tiny ONNX with the shipped model's metadata whose output is logits [n, heads, 2]."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    meta = dict(MosquitoDetector.open(SHIPPED / "model.onnx").metadata)
    for fact in ("selfcheck", "content_sha256"):  # the shipped file's own facts, not this graph's
        meta.pop(fact, None)
    meta["io"] = {"input": {"tensor": "input", "perm": [0, 1, 2, 3]},
                  "outputs": [{"name": "logits", "tensor": "logits", "perm": [0, 1, 2]}]}
    rng = np.random.default_rng(4)
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 2 * heads], (0.05 * rng.standard_normal(2 * heads)).tolist())
    b = helper.make_tensor("b", TensorProto.FLOAT, [2 * heads], rng.standard_normal(2 * heads).tolist())
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [-1, heads, 2])
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], axes=[2, 3], keepdims=0),  # [n, 1]: mean dB level
             helper.make_node("MatMul", ["m", "w"], ["z"]), helper.make_node("Add", ["z", "b"], ["zb"]),
             helper.make_node("Reshape", ["zb", "shape"], ["logits"])]
    graph = helper.make_graph(nodes, "heads", [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 1, 64, 63])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [None, heads, 2])],
                              initializer=[w, b, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"edgewise": json.dumps(meta)})
    onnx.save(model, str(path))
    return path


def test_multi_head_models_carry_p_std(tmp_path):
    det = MosquitoDetector.open(_multihead_artifact(tmp_path / "heads.onnx"))
    rng = np.random.default_rng(5)
    y = (0.1 * rng.standard_normal(int(4.5 * 8000))).astype(np.float32)
    p, p_std, times, _ = det.window_scores(y)
    logits = det(det.features(np.stack([y[:16000], y[8000:24000]])))
    assert logits.shape == (2, 3, 2)
    probs = np.exp(logits[..., 1]) / np.exp(logits).sum(-1)
    np.testing.assert_allclose(p[:2], probs.mean(1), rtol=1e-6)
    np.testing.assert_allclose(p_std[:2], probs.std(1), rtol=1e-5)
    assert p_std.min() > 0
    s = MosquitoStream(det, source_rate=8000)
    win = _of(_feed(s, y[:, None], block=999) + s.flush(), "window")
    np.testing.assert_allclose([w["p_std"] for w in win], p_std, rtol=0, atol=1e-7)
    single = MosquitoStream(MosquitoDetector.open(SHIPPED / "model.onnx"), source_rate=8000)
    assert all("p_std" not in w for w in _of(_feed(single, y[:, None], block=999) + single.flush(), "window"))


# -- detection latency ------------------------------------------------------------------------------------
@pytest.mark.parametrize("lead_in", ["silence", "running_tap"])
def test_a_mosquito_after_silence_or_noise_is_announced_within_3_s(mosquito_dir, lead_in):
    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    mosq, sr = _read(mosquito_dir / "humbug_platform/anoph_arabien.wav")  # 44.1 kHz, as a microphone could give
    if lead_in == "silence":
        before = np.zeros((6 * sr, 1), np.float32)
    else:
        tap, tap_sr = _read(mosquito_dir / "speech_commands_background_noise/running_tap.wav")
        before = resample_to(tap[: 6 * tap_sr, 0], tap_sr, sr).astype(np.float32)[:, None]
    for onset_s in (4.0, 4.5):  # two phases of the onset against the 1-s window grid
        onset = int(onset_s * sr)
        y = np.concatenate([before[:onset], mosq[: 6 * sr]])
        s = MosquitoStream(det, source_rate=sr)
        blk = sr // 100  # 10-ms blocks, as a microphone hands them out
        heard = None
        for i in range(0, y.shape[0], blk):
            opened = [o for o in s.feed(Block(i, y[i:i + blk])) if o["type"] == "event_open"]
            if opened:
                heard = (min(i + blk, y.shape[0]) - onset) / sr, opened[0]
                break
        assert heard is not None, f"no event_open within 6 s of the mosquito (onset {onset_s} s)"
        latency, first = heard
        assert 0 < latency <= 3.0, f"event_open {latency:.2f} s after the onset"
        assert first["start_s"] + det.window_s > onset_s  # the window that opened it holds mosquito audio
