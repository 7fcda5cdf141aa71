"""Audio reading: any rate, bit depth, channel count and container; resampling; windowing; bad files."""
from __future__ import annotations

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")
pytest.importorskip("scipy")

from edgewise.data.audio import clip_fraction, frame_windows, load_audio, read_audio, resample  # noqa: E402
from edgewise.runtime.errors import InputError  # noqa: E402

TONE_HZ = 700.0


def _tone(sr: int, seconds: float = 1.0, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    y = amp * np.sin(2 * np.pi * TONE_HZ * t)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


def _peak_hz(y: np.ndarray, sr: int, fmin: float = 0.0) -> float:
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    f = np.fft.rfftfreq(y.size, 1 / sr)
    spec[f < fmin] = 0
    return float(f[np.argmax(spec)])


CASES = [
    (8000, 1, "WAV", "PCM_U8"), (16000, 1, "WAV", "PCM_16"), (44100, 2, "WAV", "PCM_24"),
    (48000, 2, "WAV", "FLOAT"), (96000, 1, "WAV", "PCM_32"), (22050, 2, "FLAC", "PCM_16"),
    (44100, 2, "MP3", "MPEG_LAYER_III"),
]


@pytest.mark.parametrize("sr, channels, fmt, subtype", CASES, ids=[f"{c[2]}-{c[3]}-{c[0]}Hz-{c[1]}ch" for c in CASES])
def test_any_rate_depth_channels_to_8k_mono(tmp_path, sr, channels, fmt, subtype):
    if fmt == "MP3" and fmt not in sf.available_formats():
        pytest.skip("this libsndfile cannot write mp3")
    path = tmp_path / f"tone.{fmt.lower()}"
    sf.write(path, _tone(sr, channels=channels), sr, format=fmt, subtype=subtype)
    audio = load_audio(path, 8000, min_samples=8000)
    assert audio.source_rate == sr and audio.channels == channels and audio.sample_rate == 8000
    assert audio.samples.dtype == np.float32 and audio.samples.ndim == 1
    assert abs(audio.samples.size - 8000) <= (1200 if fmt == "MP3" else 1)  # mp3 adds encoder padding
    assert abs(_peak_hz(audio.samples, 8000) - TONE_HZ) < 5
    rms = np.sqrt(np.mean(audio.samples[800:-800] ** 2))
    np.testing.assert_allclose(rms, 0.5 / np.sqrt(2), rtol=0.05 if subtype in ("PCM_U8", "MPEG_LAYER_III") else 0.01)
    assert audio.flags == ()


def test_resample_is_anti_aliased():
    sr = 44100
    t = np.arange(sr) / sr
    y = resample(np.sin(2 * np.pi * 5000 * t), sr, 8000)  # above the 4 kHz Nyquist of the target
    assert np.sqrt(np.mean(y[400:-400] ** 2)) < 0.01


def test_short_silent_and_clipped_inputs_are_flagged(tmp_path):
    sf.write(tmp_path / "short.wav", _tone(16000, seconds=0.3), 16000)
    sf.write(tmp_path / "silent.wav", np.zeros(16000 * 3), 16000)
    sf.write(tmp_path / "clipped.wav", np.clip(_tone(16000, 3, amp=3.0), -1, 1), 16000)
    assert "short" in load_audio(tmp_path / "short.wav", 8000, min_samples=16000).flags
    assert "silent" in load_audio(tmp_path / "silent.wav", 8000).flags
    assert "clipped" in load_audio(tmp_path / "clipped.wav", 8000).flags
    assert clip_fraction(np.array([1.0, -1.0, 0.0, 0.5])) == 0.5


@pytest.mark.parametrize("content", [b"", b"RIFF\x24\x00\x00\x00WAVEfmt garbage", b"\x00" * 100, b"ID3\x03junk" * 30],
                         ids=["empty", "truncated-wav", "zeros", "fake-mp3"])
def test_corrupt_files_raise_clear_input_error(tmp_path, content):
    path = tmp_path / ("bad.mp3" if content.startswith(b"ID3") else "bad.wav")
    path.write_bytes(content)
    with pytest.raises(InputError, match="cannot decode|no samples"):
        read_audio(path)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no audio file"):
        load_audio(tmp_path / "nope.wav", 8000)


def test_frame_windows_pads_short_and_tail():
    w = frame_windows(np.ones(5), 8, 4)
    assert w.x.shape == (1, 8) and w.valid.tolist() == [5]
    np.testing.assert_array_equal(w.x[0], [1, 1, 1, 1, 1, 0, 0, 0])
    w = frame_windows(np.arange(23, dtype=float), 8, 4)
    assert w.starts.tolist() == [0, 4, 8, 12, 16]  # tail of 7 > hop/2 gets a padded window
    np.testing.assert_array_equal(w.x[-1], [16, 17, 18, 19, 20, 21, 22, 0])
    with pytest.raises(ValueError, match="positive"):
        frame_windows(np.ones(3), 0, 1)


def test_reads_real_mp3_stereo_and_96k(mosquito_dir):
    mp3 = load_audio(mosquito_dir / "xenocanto_insects_learn_game/11.US.IL.DAS.Magicicada_neotredecim_David_Marshall.mp3", 8000)
    assert mp3.source_rate == 44100 and abs(mp3.duration_s - 9.62) < 0.1
    hi = load_audio(mosquito_dir / "nsc2021_wingbeats_thai/An.Minimus_1M_5D_25C_SmallCylinder_cut6.wav", 8000)
    assert hi.source_rate == 96000 and abs(hi.duration_s - 3.8846) < 0.01
    assert hi.channels == 1 and hi.subtype == "PCM_24" and np.isfinite(hi.samples).all()
    assert np.sqrt(np.mean(hi.samples ** 2)) > 1e-4 and hi.flags == ()
