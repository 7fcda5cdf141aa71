"""``edgewise run ecg`` end to end, as a process: a sensor on a real pty (socat), stdin, a file replay;
the waves equal ``delineate`` on the samples that arrived; faults are reported; SIGTERM flushes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.model import load_artifact_fn

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "edgewise" / "models" / "pretrained" / "ecg" / "ecg-unet-int8.onnx"
SENSOR = Path(__file__).with_name("_sensor.py")


class Run:
    """``edgewise run ecg ...`` in a subprocess; its JSON lines collected as they come."""

    def __init__(self, *args: str, stdin=None):
        cmd = [sys.executable, "-m", "edgewise", "run", "ecg", "--jsonl", "--model", str(MODEL), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=stdin, text=True)
        self.records: list[dict] = []
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.records.append(json.loads(line))

    def wait_for(self, pred, timeout: float) -> None:
        t = time.monotonic() + timeout
        while time.monotonic() < t:
            if pred(self.records):
                return
            if self.proc.poll() is not None and not self._t.is_alive():
                break
            time.sleep(0.02)
        assert pred(self.records), f"timed out; stderr: {self.proc.stderr.read()[-2000:] if self.proc.poll() is not None else ''}"

    def finish(self, sig: int | None = signal.SIGTERM, timeout: float = 30) -> dict:
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        self._t.join(5)
        err = self.proc.stderr.read()
        assert rc == 0, err[-3000:]
        ends = [r for r in self.records if r["type"] == "end"]
        assert len(ends) == 1, (self.records[-3:], err[-2000:])
        return ends[0]

    def waves(self, lo: int = 0, hi: int = 1 << 62) -> list[tuple]:
        return sorted((r["onset"], r["offset"], r["wave"]) for r in self.records
                      if r["type"] == "wave" and r["onset"] >= lo and r["offset"] < hi)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _offline(x: np.ndarray, fs: float = 500, lo: int = 0, hi: int = 1 << 62) -> list[tuple]:
    fn, info = load_artifact_fn(MODEL)  # at the live stream's hop: what `run ecg` computes
    return sorted((w.onset, w.offset, w.kind) for w in delineate(x, fs, fn, window=info.window, post=info.post).waves
                  if w.onset >= lo and w.offset < hi)


@pytest.fixture
def looped(tmp_path, lead_ii):
    """LUDB record 1 lead ii twice (20 s) as .npy for the sensor process."""
    x = np.tile(lead_ii.astype(np.float32), 2)
    path = tmp_path / "values.npy"
    np.save(path, x)
    return x, path


def _sensor(pair, values: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SENSOR), str(pair.sensor), str(values), *args])


def test_serial_replay_gives_the_offline_waves(serial_pair, looped):
    x, npy = looped
    run = Run("--source", f"serial:{serial_pair.host}", "--rate", "500")
    try:
        run.wait_for(lambda r: any(x["type"] == "start" for x in r), 30)
        time.sleep(0.3)
        sensor = _sensor(serial_pair, npy, "--rate", "2500")  # 5x the sensor's 500 Hz: 4 s for 20 s of ECG
        sensor.wait(60)
        time.sleep(1.5)
        end = run.finish()
    finally:
        run.kill()
    assert end["samples"] == x.size and end["source_faults"] == {}  # no sample lost
    assert run.waves() == _offline(x)  # everything: SIGTERM flushed the tail as the end of the input
    assert [r for r in run.records if r["type"] in ("gap", "fault")] == []
    hr = [r["bpm"] for r in run.records if r["type"] == "hr"]
    qrs = [w[0] for w in run.waves() if w[2] == "QRS"]
    assert hr and abs(hr[-1] - 60 * 500 / np.median(np.diff(qrs))) < 1.0


def test_garbage_lines_are_reported_and_skipped(serial_pair, looped):
    x, npy = looped
    run = Run("--source", f"serial:{serial_pair.host}", "--rate", "500", "--column", "0")
    try:
        run.wait_for(lambda r: any(x["type"] == "start" for x in r), 30)
        time.sleep(0.3)
        _sensor(serial_pair, npy, "--rate", "5000", "--counter", "--inject-every", "1000").wait(60)
        time.sleep(1.5)
        end = run.finish()
    finally:
        run.kill()
    faults = [r for r in run.records if r["type"] == "fault"]
    assert end["source_faults"].get("garbage", 0) >= 2 * (x.size // 1000 - 1)
    assert {f["kind"] for f in faults} >= {"garbage"}
    # a value without its counter still has column 0: it is a sample (the injected copy) -> compare counts only
    assert end["samples"] >= x.size


def test_unplug_replug_records_the_gap_and_keeps_what_came_before(serial_pair, looped):
    x, npy = looped
    run = Run("--source", f"serial:{serial_pair.host}", "--rate", "500")
    sensor = None
    try:
        run.wait_for(lambda r: any(x["type"] == "start" for x in r), 30)
        time.sleep(0.3)
        sensor = _sensor(serial_pair, npy, "--rate", "1000")  # 2x real time: 10 s
        time.sleep(4.0)
        serial_pair.unplug()
        time.sleep(1.0)
        serial_pair.plug()
        run.wait_for(lambda r: any(x["type"] == "gap" for x in r), 20)
        sensor.wait(30)
        time.sleep(1.5)
        end = run.finish()
    finally:
        run.kill()
        if sensor is not None and sensor.poll() is None:
            sensor.kill()
    gap = next(r for r in run.records if r["type"] == "gap")
    assert gap["reason"] == "disconnected" and 0.5 < gap["seconds"] < 3.0
    k = gap["start"]
    # the first segment is exactly the offline delineation of the samples that arrived before the cable went
    assert run.waves(hi=k) == _offline(x[:k])
    after = run.waves(lo=k)
    assert after and min(w[0] for w in after) >= k + gap["samples"]
    assert end["samples"] > k + gap["samples"]


def test_sigterm_flushes_everything_computed(tmp_path, lead_ii):
    x = np.tile(lead_ii, 2).astype(np.float32)
    csv = tmp_path / "ecg.csv"
    np.savetxt(csv, x[:, None], fmt="%r")
    run = Run("--source", f"file:{csv}", "--rate", "500", "--realtime")
    try:
        run.wait_for(lambda r: sum(x["type"] == "wave" for x in r) >= 6, 30)
        time.sleep(1.0)
        end = run.finish(signal.SIGTERM)
    finally:
        run.kill()
    n = end["samples"]
    assert end["reason"] == "stopped" and 1000 < n < x.size
    # what the run wrote is the delineation of the samples it had read, nothing missing, nothing twice
    assert run.waves() == _offline(np.loadtxt(csv, dtype=np.float32)[:n])
    assert len(run.waves()) == sum(r["type"] == "wave" for r in run.records)


def test_stdin_source(lead_ii):
    text = "".join(f"{v!r}\n" for v in lead_ii.astype(np.float64))
    run = Run("--source", "stdin", "--rate", "500", stdin=subprocess.PIPE)
    try:
        run.proc.stdin.write(text)
        run.proc.stdin.close()
        end = run.finish(sig=None)
    finally:
        run.kill()
    assert end["reason"] == "end of input" and end["samples"] == lead_ii.size
    assert run.waves() == _offline(lead_ii.astype(np.float32))


def test_missing_rate_and_bad_source_fail_clearly(tmp_path):
    for args, msg in ((["--source", "serial:/dev/nonexistent-tty"], "rate"),
                      (["--source", "bogus:x"], "unknown source"),
                      (["--source", "stdin", "--rate", "500", "--serve", "nonsense"], "serve")):
        p = subprocess.run([sys.executable, "-m", "edgewise", "run", "ecg", *args], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
        assert p.returncode == 2 and msg in p.stderr.lower(), (args, p.stderr)
        assert "Traceback" not in p.stderr


@pytest.mark.parametrize("artifact", ["ecg-unet.onnx", "ecg-unet.tflite", "ecg-unet-int8.onnx",
                                      "ecg-unet-int8.tflite"])
def test_file_gives_delineates_waves_for_every_shipped_artifact(capsys, ludb_dir, tmp_path, artifact):
    """``run ecg --source file:... --jsonl`` (as fast as possible) == ``delineate --json``, at 500 and 250 Hz."""
    from edgewise.cli import main

    if artifact.endswith(".tflite"):
        pytest.importorskip("ai_edge_litert")
    model = MODEL.parent / artifact

    def lines(argv):
        assert main(argv) == 0
        return [json.loads(s) for s in capsys.readouterr().out.splitlines() if s.startswith("{")]

    from edgewise.runtime.ecg.io import read_wfdb_signal

    rec = ludb_dir / "data" / "35"  # atrial flutter: the rhythm rules at work
    sig = read_wfdb_signal(rec)
    csv = tmp_path / "x250.csv"
    np.savetxt(csv, sig.signal[sig.leads.index("ii")][::2, None], fmt="%r")
    for path, extra in ((str(rec), []), (str(csv), ["--fs", "250"])):
        want = lines(["delineate", path, "--model", str(model), "--json", *extra])[0]["waves"]
        rate = ["--rate", "250"] if extra else []
        got = lines(["run", "ecg", "--source", f"file:{path}", "--model", str(model), "--jsonl", *rate])
        key = lambda w: (w["onset"], w["offset"], w["wave"])  # noqa: E731
        assert sorted(({k: r[k] for k in ("wave", "onset", "offset")} for r in got if r["type"] == "wave"), key=key) \
            == sorted(want, key=key)
