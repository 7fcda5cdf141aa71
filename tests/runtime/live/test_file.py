"""FileSource: real recordings (mosquito wav/flac, LUDB WFDB) replayed exactly, paced, looped."""
from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.sources import open_source
from edgewise.runtime.live.sources.file import FileSource

from ._collect import assert_indices_continuous, collect, kinds, n_samples, samples

# real recordings from ../shared/data/mosquito (labels.csv): a 24-bit mono wav, a 16-bit stereo wav, a flac
WAV24 = "nsc2021_wingbeats_thai/Ae.Aegypti_1F_5D_25C_SmallCylinder_Cut5.wav"
WAV16_STEREO = "humbug_platform/record.wav"
FLAC = "abuzz_phone_species/aedes_sierrensis1.flac"


def _replay(source) -> np.ndarray:
    items = list(source)
    assert_indices_continuous(items)
    assert set(kinds(items)) <= {"block"}
    return samples(items)


@pytest.mark.parametrize("name", [WAV24, FLAC], ids=["wav-pcm24", "flac"])
def test_audio_replays_the_file_exactly(mosquito_dir, name):
    soundfile = pytest.importorskip("soundfile", reason="soundfile is not installed (the bare device venv)")

    ref, fs = soundfile.read(str(mosquito_dir / name), dtype="float32", always_2d=True)
    source = open_source(f"file:{mosquito_dir / name}")
    assert source.rate == fs and source.channels == 1 and source.samples_per_pass == len(ref)
    np.testing.assert_array_equal(_replay(source)[:, 0], ref[:, 0])


def test_stereo_audio_is_mixed_to_mono_or_one_channel_picked(mosquito_dir):
    soundfile = pytest.importorskip("soundfile", reason="soundfile is not installed (the bare device venv)")

    path = mosquito_dir / WAV16_STEREO
    ref, _ = soundfile.read(str(path), dtype="float32", always_2d=True)
    assert ref.shape[1] == 2
    np.testing.assert_array_equal(_replay(FileSource(path))[:, 0], ref.mean(axis=1, dtype=np.float32))
    np.testing.assert_array_equal(_replay(FileSource(path, column=1))[:, 0], ref[:, 1])
    with pytest.raises(InputError, match="column 2 not found.*ch0.*ch1"):
        FileSource(path, column=2)


def test_wav_without_soundfile_matches_soundfile(mosquito_dir, tmp_path):
    """The bare device install has no soundfile: stdlib ``wave`` must give the very same floats."""
    soundfile = pytest.importorskip("soundfile", reason="soundfile is not installed (the bare device venv)")

    for name in (WAV24, WAV16_STEREO):
        out = tmp_path / "bare.npy"
        code = ("import sys; sys.modules['soundfile'] = None\n"
                "import numpy as np\n"
                "from edgewise.runtime.live.sources.file import FileSource\n"
                f"s = FileSource({str(mosquito_dir / name)!r})\n"
                "np.save(sys.argv[1], np.concatenate([b.samples for b in s]))\n")
        subprocess.run([sys.executable, "-c", code, str(out)], check=True, timeout=60)
        ref, _ = soundfile.read(str(mosquito_dir / name), dtype="float32", always_2d=True)
        np.testing.assert_array_equal(np.load(out)[:, 0], ref.mean(axis=1, dtype=np.float32))
    code = ("import sys; sys.modules['soundfile'] = None\n"
            "from edgewise.runtime.live.sources.file import FileSource\n"
            f"FileSource({str(mosquito_dir / FLAC)!r})\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode != 0 and "pip install 'edgewise[audio]'" in p.stderr


def test_wfdb_record_lead_ii_by_default(ludb_record, lead_ii):
    from edgewise.runtime.ecg.io import read_wfdb_signal

    source = open_source(f"file:{ludb_record}")
    assert source.rate == 500.0 and "[ii]" in source.name
    np.testing.assert_array_equal(_replay(source)[:, 0], lead_ii)
    rec = read_wfdb_signal(ludb_record)
    for column, lead in [("V1", "v1"), (0, "i"), ("3", "avr")]:
        x = _replay(FileSource(ludb_record, column=column))[:, 0]
        np.testing.assert_array_equal(x, rec.signal[rec.leads.index(lead)])
    with pytest.raises(InputError, match="column 'v9' not found.*ii"):
        FileSource(ludb_record, column="v9")
    with pytest.raises(InputError, match="recorded at 500 Hz but rate 250"):
        FileSource(ludb_record, rate=250)


def test_csv_and_npy_need_a_rate(tmp_path, ludb_record, lead_ii):
    from edgewise.runtime.ecg.io import read_wfdb_signal

    rec = read_wfdb_signal(ludb_record)
    csv = tmp_path / "two_leads.csv"
    rows = "\n".join(f"{float(a)!r},{float(b)!r}" for a, b in zip(rec.signal[0], lead_ii))
    csv.write_text("i,ii\n" + rows + "\n")
    npy = tmp_path / "lead.npy"
    np.save(npy, lead_ii)
    for path in (csv, npy):
        with pytest.raises(InputError, match="does not say its sample rate.*--rate"):
            FileSource(path)
        np.testing.assert_array_equal(_replay(FileSource(path, rate=500))[:, 0], lead_ii)


def test_realtime_pacing_follows_the_wall_clock(ludb_record, lead_ii):
    source = FileSource(ludb_record, realtime=True, block_seconds=0.05)
    t0 = time.monotonic()
    items = collect(source, lambda it: n_samples(it) >= 500, timeout=5)  # 1.0 s of ECG
    took = time.monotonic() - t0
    assert n_samples(items) == 500
    assert 0.9 <= took <= 1.1, f"1 s of signal took {took:.3f} s"
    np.testing.assert_array_equal(samples(items)[:, 0], lead_ii[:500])


def test_loop_replays_with_continuing_indices(tmp_path, lead_ii):
    npy = tmp_path / "short.npy"
    np.save(npy, lead_ii[:230])
    x = _replay(FileSource(npy, rate=500, loop=3, block_seconds=0.1))
    np.testing.assert_array_equal(x[:, 0], np.tile(lead_ii[:230], 3))
    forever = FileSource(npy, rate=500, loop=0)
    items = collect(forever, lambda it: n_samples(it) >= 10 * 230, timeout=10)
    assert_indices_continuous(items)
    np.testing.assert_array_equal(samples(items)[: 10 * 230, 0], np.tile(lead_ii[:230], 10))


def test_stop_ends_a_realtime_replay_promptly(ludb_record):
    source = FileSource(ludb_record, realtime=True, block_seconds=1.0)  # waits 1 s per block
    t0 = time.monotonic()
    items = collect(source, lambda it: False, timeout=0.2)
    assert items == [] and time.monotonic() - t0 < 0.3


def test_bad_files_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no such audio file"):
        FileSource(tmp_path / "nope.wav")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unknown format.*WFDB"):
        FileSource(tmp_path / "notes.txt")
    (tmp_path / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(InputError, match="broken.wav"):
        FileSource(tmp_path / "broken.wav")
    with pytest.raises(InputError, match="unknown source 'usb:1'.*serial:PATH.*mic:NAME_OR_INDEX.*stdin"):
        open_source("usb:1")
