"""`edgewise detect AUDIO... [--model PATH] [--json]`: one JSON line per input; bad files do not stop the rest."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
sf = pytest.importorskip("soundfile")

from edgewise.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from edgewise.models.checkpoint import save_checkpoint
    from edgewise.models.mosquito import DSCNN_SPEC
    from tests.models.test_mosquito import TINY, train_tiny

    model, log = train_tiny(steps=20)
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    save_checkpoint(path, spec=DSCNN_SPEC, model=model, model_kwargs=TINY, training={"threshold": 0.5, **log})
    return path


def _files(tmp_path):
    from edgewise.data.mosquito import synthetic_flight_tone

    rng = np.random.default_rng(0)
    tone = np.concatenate([0.01 * rng.standard_normal(44100 * 2), synthetic_flight_tone(3.0, 44100, rng)])
    sf.write(tmp_path / "stereo44k.wav", np.stack([tone, 0.5 * tone], 1), 44100, subtype="PCM_24")
    sf.write(tmp_path / "short.flac", 0.1 * rng.standard_normal(4800), 48000)
    sf.write(tmp_path / "silent.wav", np.zeros(16000 * 3, np.float32), 16000, subtype="FLOAT")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    return tmp_path


def test_detect_json_lines_and_corrupt_file(tmp_path, tiny_model, capsys):
    d = _files(tmp_path)
    rc = main(["detect", str(d / "stereo44k.wav"), str(d / "corrupt.wav"), str(d / "short.flac"), str(d / "silent.wav"),
               "--model", str(tiny_model), "--json"])
    out, err = capsys.readouterr()
    assert rc == 2  # a file failed; the others were still processed
    lines = [json.loads(line) for line in out.strip().splitlines()]
    assert [r["input"] for r in lines] == [str(d / "stereo44k.wav"), str(d / "short.flac"), str(d / "silent.wav")]
    assert [r["sample_rate"] for r in lines] == [44100, 48000, 16000]
    assert err.count("edgewise: error:") == 1 and "corrupt.wav" in err and "cannot decode" in err
    full, short, silent = lines
    assert [w["start_s"] for w in full["windows"]] == [0.0, 1.0, 2.0, 3.0]
    assert all(set(w) == {"start_s", "end_s", "p"} and 0 <= w["p"] <= 1 for w in full["windows"])
    assert all(set(e) == {"start_s", "end_s", "p"} for e in full["events"])
    assert short["flags"] == ["short"] and len(short["windows"]) == 1 and short["windows"][0]["end_s"] == 0.1
    assert "silent" in silent["flags"]


def test_detect_human_output_and_missing_file(tmp_path, tiny_model, capsys):
    d = _files(tmp_path)
    rc = main(["detect", str(d / "stereo44k.wav"), str(d / "nope.wav"), "--model", str(tiny_model)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out.startswith(f"{d / 'stereo44k.wav'}: 4 windows, clip p ") and ", events:" in out
    assert "nope.wav" in err and "no audio file" in err


def test_detect_bad_model_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    rc = main(["detect", str(bad), "--model", str(bad)])
    _, err = capsys.readouterr()
    # no traceback; (checkpoint.py quotes torch's own multi-line message after the first line)
    assert rc == 2 and err.startswith("edgewise: error:") and "not a readable edgewise checkpoint" in err
    assert "Traceback" not in err


def test_detect_with_shipped_model_on_real_clip(mosquito_dir, capsys):
    from edgewise.models.mosquito.api import PRETRAINED

    if not PRETRAINED.is_file():
        pytest.skip("no shipped mosquito model yet")
    clip = mosquito_dir / "nsc2021_wingbeats_thai/Cx.Quin_1M_6D_25C_SmallCylinder_cut23.wav"
    rc = main(["detect", str(clip), "--json"])
    res = json.loads(capsys.readouterr().out)
    assert rc == 0 and res["sample_rate"] == 96000 and len(res["windows"]) == 7
