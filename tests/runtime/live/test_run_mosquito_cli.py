"""``edgewise run mosquito`` end to end: a file gives exactly ``edgewise detect``'s windows and events for
every shipped artifact; a mosquito played into a virtual microphone (PulseAudio null sink) is detected
within 3 s of its start; SIGTERM flushes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edgewise.cli import main

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "edgewise" / "models" / "pretrained" / "mosquito"
MOSQUITO = "humbug_platform/anoph_arabien.wav"  # Anopheles arabiensis, 44.1 kHz, 30 s
CLIPS = [MOSQUITO, "alsa_utils_speech/Front_Center.wav"]


def _jsonl(capsys, argv: list[str]) -> list[dict]:
    assert main(argv) == 0
    return [json.loads(s) for s in capsys.readouterr().out.splitlines() if s.startswith("{")]


@pytest.mark.parametrize("artifact", ["model.onnx", "model.tflite"])
def test_file_gives_detects_windows_and_events(capsys, mosquito_dir, artifact):
    pytest.importorskip("soundfile", reason="detect and the file source read wav/mp3 with edgewise[audio]")
    if artifact.endswith(".tflite"):
        pytest.importorskip("ai_edge_litert")
    model = SHIPPED / artifact
    for rel in CLIPS:
        path = mosquito_dir / rel
        want = _jsonl(capsys, ["detect", str(path), "--model", str(model), "--json"])[0]
        got = _jsonl(capsys, ["run", "mosquito", "--source", f"file:{path}", "--model", str(model), "--jsonl"])
        windows = [r for r in got if r["type"] == "window"]
        assert [(w["start_s"], w["end_s"]) for w in windows] == [(w["start_s"], w["end_s"]) for w in want["windows"]]
        assert max(abs(a["p"] - b["p"]) for a, b in zip(windows, want["windows"])) < 1e-4  # detect rounds to 4
        events = [{k: r[k] for k in ("start_s", "end_s", "p")} for r in got if r["type"] == "event"]
        assert events == want["events"], rel
        assert len([r for r in got if r["type"] == "event_open"]) == len(events)
        assert got[-1]["type"] == "end" and got[-1]["reason"] == "end of input"


def test_mosquito_in_the_room_is_detected_within_3_s(vmic, mosquito_dir, tmp_path):
    """The recording is played into the null sink while ``run`` listens through sounddevice (ALSA pulse)."""
    cmd = [sys.executable, "-m", "edgewise", "run", "mosquito", "--source", "mic:pulse", "--jsonl",
           "--log", str(tmp_path / "log")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
    records: list[tuple[float, dict]] = []

    def read():
        for line in proc.stdout:
            records.append((time.monotonic(), json.loads(line)))

    th = threading.Thread(target=read, daemon=True)
    th.start()
    player = None
    try:
        deadline = time.monotonic() + 30
        while not any(r["type"] == "window" for _, r in records):  # listening, and scoring silence
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()[-2000:]
            time.sleep(0.05)
        quiet = [r for _, r in records if r["type"] == "event_open"]
        t_play = time.monotonic()
        player = subprocess.Popen(["paplay", "--device=vmic_sink", str(mosquito_dir / MOSQUITO)])
        while not any(r["type"] == "event_open" and t > t_play for t, r in records):
            assert time.monotonic() < t_play + 10, [r for _, r in records][-5:]
            time.sleep(0.02)
        detected = next(t for t, r in records if r["type"] == "event_open" and t > t_play) - t_play
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.stderr.read()[-2000:]
        th.join(5)
    finally:
        for p in (player, proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()
    assert quiet == []  # silence raised no alarm
    assert detected <= 3.0, detected
    recs = [r for _, r in records]
    assert recs[-1]["type"] == "end" and recs[-1]["reason"] == "stopped"
    # SIGTERM closed the open event: it was flushed as a final event, and the log holds every record
    assert any(r["type"] == "event" for r in recs)
    logged = [json.loads(s) for f in sorted((tmp_path / "log").glob("*.jsonl")) for s in f.read_text().splitlines()]
    assert logged == recs
