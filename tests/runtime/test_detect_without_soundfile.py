"""`edgewise detect --model X.onnx` on the device install (no soundfile): PCM .wav through the standard
library, the same windows and probabilities as the host's soundfile reader."""
from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from edgewise.models.pretrained import PRETRAINED_DIR

# a file reader in child processes: nothing ISA-dependent, minutes under emulation (test-isa skips "slow")
pytestmark = pytest.mark.slow

MODEL = PRETRAINED_DIR / "mosquito" / "model.onnx"
# run the CLI with soundfile made unimportable (as on a device without it)
NO_SOUNDFILE = "import sys; sys.modules['soundfile'] = None; from edgewise.cli import main; sys.exit(main())"


def _wav(path: Path, rate: int = 16000, seconds: float = 3.0) -> Path:
    rng = np.random.default_rng(0)
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * 600 * t) * (t > 1.0) + 0.05 * rng.standard_normal(t.size)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
        w.writeframes(np.stack([pcm, pcm], axis=1).tobytes())
    return path


def _detect(code: list[str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code, "detect", *args, "--model", str(MODEL), "--json"],
                          capture_output=True, text=True, timeout=120)


def test_detect_reads_pcm_wav_without_soundfile(tmp_path):
    wav = _wav(tmp_path / "tone.wav")
    res = _detect(["-c", NO_SOUNDFILE], str(wav))
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout)
    assert got["sample_rate"] == 16000 and len(got["windows"]) >= 2
    assert all(0.0 <= w["p"] <= 1.0 for w in got["windows"])
    try:
        import soundfile  # noqa: F401
    except (ImportError, OSError):
        return
    host = _detect(["-m", "edgewise"], str(wav))
    assert host.returncode == 0, host.stderr
    assert json.loads(host.stdout) == got  # the stdlib reader scales PCM as libsndfile does


def test_detect_without_soundfile_names_the_extra_for_flac(tmp_path):
    flac = tmp_path / "x.flac"
    flac.write_bytes(b"fLaC" + bytes(100))
    res = _detect(["-c", NO_SOUNDFILE], str(flac))
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "soundfile" in lines[0] and "edgewise[audio]" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
