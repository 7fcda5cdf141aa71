"""EcgLive (NaN runs, rail-stuck signal, heart rate, gaps) and the writers (JSON lines, text, rotating logs)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.artifact import read_metadata
from edgewise.runtime.ecg.model import load_artifact_fn
from edgewise.runtime.live.ecg_live import EcgLive
from edgewise.runtime.live.output import JsonlWriter, RotatingLog, TextWriter
from edgewise.runtime.live.sources.base import Block, Gap

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "edgewise" / "models" / "pretrained" / "ecg" / "ecg-unet-int8.onnx"
WINDOW = int(read_metadata(MODEL)["window"])  # 5008 since 0.2: live runs it at the stream's hop


@pytest.fixture(scope="module")
def fn():
    return load_artifact_fn(MODEL)[0]


def _feed(live: EcgLive, x: np.ndarray, block: int = 250) -> list[dict]:
    out = []
    for s in range(0, x.size, block):
        out += live.feed(Block(s, x[s : s + block, None]))
    return out + live.flush()


def _waves(recs: list[dict]) -> list[tuple]:
    return sorted((r["onset"], r["offset"], r["wave"]) for r in recs if r["type"] == "wave")


def _offline(fn, x: np.ndarray, shift: int = 0) -> list[tuple]:
    return [(w.onset + shift, w.offset + shift, w.kind) for w in delineate(x, 500, fn, window=WINDOW).waves]


def test_a_nan_run_is_a_gap_between_two_segments(fn, lead_ii):
    x = np.tile(lead_ii.astype(np.float32), 2)
    x[6000:6100] = np.nan
    recs = _feed(EcgLive(fn, source_fs=500, window=WINDOW), x)
    faults = [r for r in recs if r["type"] == "fault"]
    assert faults == [{"type": "fault", "kind": "nonfinite", "at": 6000, "count": 100,
                       "detail": "100 NaN/inf samples: treated as a gap"}]
    assert _waves(recs) == sorted(_offline(fn, x[:6000]) + _offline(fn, x[6100:], 6100))


def test_a_source_gap_shifts_the_next_segment(fn, lead_ii):
    x = lead_ii.astype(np.float32)
    live = EcgLive(fn, source_fs=500, window=WINDOW)
    recs = []
    for s in range(0, x.size, 500):
        recs += live.feed(Block(s, x[s : s + 500, None]))
    recs += live.gap(Gap(x.size, 750, "disconnected"))
    for s in range(0, x.size, 500):
        recs += live.feed(Block(x.size + 750 + s, x[s : s + 500, None]))
    recs += live.flush()
    gap = [r for r in recs if r["type"] == "gap"]
    assert gap == [{"type": "gap", "start": 5000, "samples": 750, "reason": "disconnected", "seconds": 1.5}]
    assert _waves(recs) == sorted(_offline(fn, x) + _offline(fn, x, 5750))
    assert live.summary()["samples"] == 10750


def test_heart_rate_follows_the_rr_intervals(fn, lead_ii):
    recs = _feed(EcgLive(fn, source_fs=500, window=WINDOW), np.tile(lead_ii.astype(np.float32), 3))
    qrs = [r["onset"] for r in recs if r["type"] == "wave" and r["wave"] == "QRS"]
    hr = [r for r in recs if r["type"] == "hr"]
    assert len(hr) == len(qrs) - 1 and hr[0]["at"] == qrs[1]
    assert hr[-1]["bpm"] == pytest.approx(60 * 500 / np.median(np.diff(qrs)[-8:]), abs=0.06)


def test_a_signal_stuck_at_a_rail_is_reported_once_per_second(fn, lead_ii):
    x = lead_ii.astype(np.float32).copy()
    top = float(x.max()) + 1.0
    x[3000:3400] = top  # 0.8 s stuck at the new maximum
    recs = _feed(EcgLive(fn, source_fs=500, window=WINDOW), x, block=37)
    sat = [r for r in recs if r["type"] == "fault" and r["kind"] == "saturated"]
    assert len(sat) == 1 and 3000 <= sat[0]["at"] <= 3050 and "maximum" in sat[0]["detail"]


def test_writers(tmp_path):
    buf = io.StringIO()
    recs = [{"type": "start", "task": "ecg", "fs": 250.0, "model": "m.onnx"},
            {"type": "wave", "wave": "QRS", "onset": 250, "offset": 274},
            {"type": "hr", "at": 250, "bpm": 71.6, "beats": 3},
            {"type": "gap", "start": 500, "samples": 250, "reason": "disconnected", "seconds": 1.0},
            {"type": "end", "reason": "stopped", "wall_s": 2.0, "seconds": 3.0, "waves": {"P": 0, "QRS": 1, "T": 0}}]
    w = JsonlWriter(buf)
    for r in recs:
        w.write(r)
    assert [json.loads(s) for s in buf.getvalue().splitlines()] == recs
    text = io.StringIO()
    t = TextWriter(text)
    for r in recs:
        t.write(r)
    lines = text.getvalue().splitlines()
    assert "250 Hz" in lines[0] and "QRS" in lines[1] and "1.000 s" in lines[1] and "100 ms" in lines[1]
    assert "72 bpm" in lines[2] and "gap of 250 samples" in lines[3] and lines[4].startswith("stopped: 3.0 s")

    log = RotatingLog(tmp_path / "log", "ecg", max_bytes=200)
    for i in range(20):
        log.write({"type": "wave", "wave": "P", "onset": i, "offset": i + 10})
    log.close()
    jsonl = sorted((tmp_path / "log").glob("*.jsonl"))
    assert len(jsonl) >= 3  # rotated
    back = [json.loads(s) for f in jsonl for s in f.read_text().splitlines()]
    assert [r["onset"] for r in back] == list(range(20))  # nothing lost across files
    rows = [s for f in sorted((tmp_path / "log").glob("*.csv")) for s in f.read_text().splitlines()[1:]]
    assert rows[0] == "P,0,10" and len(rows) == 20


def test_a_reader_that_goes_away_ends_the_run_quietly():
    class Closed(io.StringIO):
        def write(self, s):
            raise BrokenPipeError

        def fileno(self):
            raise ValueError

    w = JsonlWriter(Closed())
    w.write({"type": "start"})
    assert w.broken
    w.write({"type": "end"})  # no second error
