"""Mosquito detection in the runtime: windows, the artifact detector, and the host paths that use them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.errors import ArtifactError, InputError
from edgewise.runtime.mosquito import (
    ClipTooShortError,
    MosquitoDetector,
    detector_windows,
    frame_windows,
    hysteresis_for,
    mosquito_probability,
    tile_window,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "mosquito"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SR = 8000
POSITIVE = "nsc2021_wingbeats_thai/Cx.Quin_1M_6D_25C_SmallCylinder_cut23.wav"  # 96 kHz, 7.5 s, tone throughout
NEGATIVE = "speech_commands_background_noise/running_tap.wav"                  # 16 kHz, 61.5 s
SHORT = "alsa_utils_speech/Noise.wav"                                          # 48 kHz, 1.4 s: tiled


@pytest.fixture(scope="module", params=["onnx", "tflite"])
def det(request) -> MosquitoDetector:
    if request.param == "tflite":
        pytest.importorskip("ai_edge_litert")
    return MosquitoDetector.open(SHIPPED / f"model.{request.param}")


def _read(path: Path) -> tuple[np.ndarray, int]:
    sf = pytest.importorskip("soundfile")
    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return data, sr


def _tone(seconds: float, f0: float = 600.0) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return (0.3 * np.sin(2 * np.pi * f0 * t)).astype(np.float32)


# -- windows ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [100, 15999, 16000, 16001, 20000, 20001, 24001, 24003, 40000])
def test_framing_is_the_hosts(n):
    from edgewise.data.audio import frame_windows as host_frame_windows  # numpy only at module level

    y = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ours, host = frame_windows(y, 16000, 8000), host_frame_windows(y, 16000, 8000)
    for name in ("x", "starts", "valid"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(host, name))


def test_short_clips_are_tiled_and_the_shortest_refused():
    clip = _tone(0.1, f0=400.0)  # 400 Hz at 8 kHz: period 20 samples divides the clip and the loop
    w, flags = detector_windows(clip, 16000, 8000, sample_rate=SR)
    assert flags == ("tiled",) and w.x.shape == (1, 16000) and w.valid.tolist() == [800]
    np.testing.assert_allclose(w.x[0], _tone(2.0, f0=400.0), atol=1e-6)  # a stationary tone: its own longer stretch
    np.testing.assert_array_equal(tile_window(clip, 500, sample_rate=SR), clip[:500])
    with pytest.raises(ClipTooShortError, match=r"0\.0499 s \(399 samples at 8000 Hz\).*at least 0\.05 s"):
        detector_windows(clip[:399], 16000, 8000, sample_rate=SR)


def test_host_modules_reexport_the_runtime():
    pytest.importorskip("torch")
    from edgewise.models.mosquito import clips, evaluate
    from edgewise.runtime.mosquito import windows

    assert clips.tile_window is windows.tile_window and clips.detector_windows is windows.detector_windows
    assert clips.ClipTooShortError is windows.ClipTooShortError and clips.MIN_CLIP_S == windows.MIN_CLIP_S
    assert evaluate.hysteresis_for is hysteresis_for


# -- the detector ----------------------------------------------------------------------------------
def test_detector_takes_everything_from_the_artifact(det):
    assert (det.sample_rate, det.window, det.hop, det.threshold) == (8000, 16000, 8000, 0.5)
    assert (det.frontend.n_mels, det.frontend.n_fft, det.frontend.hop_length) == (64, 512, 256)
    assert det.hysteresis() == hysteresis_for(0.5) and hysteresis_for(0.5).off == pytest.approx(0.3)
    assert MosquitoDetector(det.model, threshold=0.8).threshold == 0.8
    assert f"{det.path.name}" in repr(det) and "threshold 0.5" in repr(det)
    with pytest.raises(InputError, match=r"threshold must lie in \(0, 1\], got 1.5"):
        MosquitoDetector(det.model, threshold=1.5)


def test_other_models_are_refused():
    with pytest.raises(ArtifactError, match="is a ecg-delineation model, not a mosquito detector"):
        MosquitoDetector.open(FIXTURES / "tiny.onnx")


def test_probability_over_heads():
    logits = np.array([[0.0, 0.0], [0.0, np.log(3.0)]])
    p, std = mosquito_probability(logits)
    np.testing.assert_allclose(p, [0.5, 0.75]) and std is None
    heads = np.stack([logits, logits[::-1]], axis=1)  # [2 windows, 2 heads, 2 classes]
    p, std = mosquito_probability(heads)
    np.testing.assert_allclose(p, [0.625, 0.625])
    np.testing.assert_allclose(std, [0.125, 0.125])
    with pytest.raises(ArtifactError, match=r"expected logits \[n, classes\] or \[n, heads, classes\]"):
        mosquito_probability(np.zeros(3))


def test_clip_score_is_the_mean_of_the_top_three_windows():
    from edgewise.runtime.mosquito import CLIP_TOP_K, clip_score

    assert CLIP_TOP_K == 3
    spike = [0.1, 0.1, 0.97, 0.1, 0.1, 0.1]  # one confident window of a buzzing negative
    tone = [0.2, 0.8, 0.85, 0.9, 0.3]        # a mosquito flying past: several high windows
    assert clip_score(spike) == pytest.approx(1.17 / 3) and clip_score(tone) == pytest.approx(0.85)
    assert clip_score(tone) > clip_score(spike) and max(spike) > max(tone)  # the highest window ranks them wrong
    assert clip_score([0.4, 0.6]) == pytest.approx(0.5) and clip_score([0.7]) == 0.7  # fewer windows than k
    assert clip_score([]) == 0.0 and clip_score(spike, k=1) == 0.97
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="integer >= 1"):
            clip_score(spike, k=bad)


@pytest.mark.slow  # real recordings: seconds natively, minutes under ISA emulation (test-isa skips)
def test_detect_real_recordings(det, mosquito_dir):
    data, sr = _read(mosquito_dir / POSITIVE)
    pos = det.detect(data, sr)
    assert pos["sample_rate"] == 96000 and pos["flags"] == [] and len(pos["windows"]) == 7
    assert [(e["start_s"], e["end_s"]) for e in pos["events"]] == [(0.0, 7.539)] and pos["events"][0]["p"] >= 0.99
    assert pos["p_clip"] == pytest.approx(np.mean(sorted(w["p"] for w in pos["windows"])[-3:]), abs=1e-4)
    data, sr = _read(mosquito_dir / NEGATIVE)
    neg = det.detect(data, sr)
    assert len(neg["windows"]) == 60 and neg["events"] == [] and max(w["p"] for w in neg["windows"]) < 0.3
    assert neg["p_clip"] == pytest.approx(np.mean(sorted(w["p"] for w in neg["windows"])[-3:]), abs=1e-4)
    assert neg["p_clip"] < 0.3 < 0.99 <= pos["p_clip"]
    data, sr = _read(mosquito_dir / SHORT)
    short = det.detect(data, sr)
    assert short["flags"] == ["short"] and [(w["start_s"], w["end_s"]) for w in short["windows"]] == [(0.0, 1.408)]
    assert short["p_clip"] == short["windows"][0]["p"]  # one tiled window: the clip is scored by it


def test_onnx_and_tflite_agree(mosquito_dir):
    pytest.importorskip("ai_edge_litert")
    data, sr = _read(mosquito_dir / "humbug_platform/test_audio_on_off.wav")
    y = data.mean(axis=1)[: 20 * sr]
    p_onnx, t_onnx = MosquitoDetector.open(SHIPPED / "model.onnx").window_probabilities(y)
    p_tfl, t_tfl = MosquitoDetector.open(SHIPPED / "model.tflite").window_probabilities(y)
    np.testing.assert_array_equal(t_onnx, t_tfl)
    np.testing.assert_allclose(p_tfl, p_onnx, atol=1e-5)  # the same fp32 graph in two runtimes: rounding only


def test_detect_flags_and_bad_input():
    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    silent = det.detect(np.zeros(3 * 16000, np.float32), 16000)
    assert silent["flags"] == ["silent"] and len(silent["windows"]) == 2
    square = np.sign(_tone(3.0)).astype(np.float32)
    assert det.detect(np.stack([square, 0.5 * square], 1), SR)["flags"] == ["clipped"]
    assert det.detect(_tone(0.5), SR)["flags"] == ["short"]
    with pytest.raises(ClipTooShortError, match="clip is 0.0300 s"):
        det.detect(_tone(0.03), SR)
    with pytest.raises(InputError, match="NaN or inf"):
        det.detect(np.full(SR, np.nan, np.float32), SR)
    with pytest.raises(InputError, match=r"expected samples \[n\] or \[n, channels\]"):
        det.detect(np.zeros((2, 2, 2), np.float32), SR)
    with pytest.raises(InputError, match=r"expected windows \[n, 16000\] at 8000 Hz"):
        det.score(np.zeros((2, 100), np.float32))


# -- the host paths run the runtime for artifacts ----------------------------------------------------
def test_flags_follow_load_audio(tmp_path):
    sf = pytest.importorskip("soundfile")
    from edgewise.data.audio import load_audio, read_audio

    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    square = np.sign(_tone(3.0))
    cases = {"silent.wav": (np.zeros(3 * 16000), 16000), "clipped.wav": (square, SR), "short.flac": (_tone(0.5), SR),
             "quiet48k.wav": (0.01 * np.random.default_rng(0).standard_normal(48000 * 3), 48000)}
    for name, (y, rate) in cases.items():
        sf.write(tmp_path / name, y, rate)
        data, sr, _ = read_audio(tmp_path / name)
        assert det.detect(data, sr)["flags"] == list(load_audio(tmp_path / name, SR, min_samples=16000).flags), name


@pytest.mark.slow  # real recordings: seconds natively, minutes under ISA emulation (test-isa skips)
def test_detect_file_with_an_artifact_is_the_runtime(mosquito_dir):
    pytest.importorskip("torch")
    pytest.importorskip("soundfile")
    from edgewise.data.audio import read_audio
    from edgewise.models.mosquito.api import detect_file, load_detector
    from edgewise.models.mosquito.evaluate import window_probabilities

    art = load_detector(SHIPPED / "model.onnx")
    assert isinstance(art.model, MosquitoDetector) and art.training["threshold"] == 0.5
    path = mosquito_dir / "humbug_platform/anoph_arabien.wav"  # 44.1 kHz
    data, sr, _ = read_audio(path)
    assert detect_file(path, art) == {"input": str(path), **art.model.detect(data, sr)}
    y = np.random.default_rng(0).standard_normal(5 * SR).astype(np.float32) * 0.1
    p, t = window_probabilities(art.model, art.spec, y)
    p_rt, t_rt = art.model.window_probabilities(y)
    np.testing.assert_array_equal(p, p_rt) and np.testing.assert_array_equal(t, t_rt)


@pytest.mark.slow  # real recordings: seconds natively, minutes under ISA emulation (test-isa skips)
def test_cli_detect_with_an_artifact_needs_no_torch(mosquito_dir):
    pytest.importorskip("soundfile")
    from edgewise.data.audio import read_audio

    path = mosquito_dir / POSITIVE
    code = ("import sys\nfor m in ('torch', 'tensorflow', 'onnx'):\n    sys.modules[m] = None\n"
            "from edgewise.cli import main\n"
            f"sys.exit(main(['detect', {str(path)!r}, '--model', {str(SHIPPED / 'model.onnx')!r}, '--json']))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert out.returncode == 0, out.stderr
    data, sr, _ = read_audio(path)
    det = MosquitoDetector.open(SHIPPED / "model.onnx")
    assert json.loads(out.stdout) == {"input": str(path), **det.detect(data, sr)}
