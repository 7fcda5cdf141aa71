"""SerialSource on a real pty pair (socat): a sensor process writes a LUDB lead as text lines.

The sensor (tests/runtime/live/_sensor.py) writes into one end of the pair, SerialSource reads the
other. "Unplugging" stops socat (its links vanish, the reader gets EIO) and "plugging back" starts a
new one on the same links ~1 s later, as a USB-serial adapter pulled and re-inserted would.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.sources import Fault, Gap, open_source
from edgewise.runtime.live.sources.serial import SerialSource

from ._collect import assert_indices_continuous, collect, kinds, n_samples, samples

pytest.importorskip("serial", reason="pyserial is not installed (the bare device venv); the serial source "
                    "needs edgewise[serial]")

SENSOR = Path(__file__).with_name("_sensor.py")
RATE = 500.0  # LUDB's own rate


@pytest.fixture
def values_npy(tmp_path, lead_ii) -> Path:
    path = tmp_path / "lead_ii.npy"
    np.save(path, lead_ii)
    return path


def _sensor(pair, values_npy: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(SENSOR), str(pair.sensor), str(values_npy), *args])


def _stop(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(timeout=5)


def test_receives_exactly_the_samples_written(serial_pair, values_npy, lead_ii):
    source = open_source(f"serial:{serial_pair.host}", rate=RATE)
    proc = _sensor(serial_pair, values_npy, "--rate", "0", "--crlf")  # as fast as the pty takes it
    try:
        items = collect(source, lambda it: n_samples(it) >= len(lead_ii), timeout=15)
    finally:
        _stop(proc)
        source.close()
    assert source.channels == 1 and source.rate == RATE
    assert kinds(items) == ["block"], source.counters
    assert_indices_continuous(items)
    np.testing.assert_array_equal(samples(items)[:, 0], lead_ii)  # text round trip is bit-exact


def test_garbage_and_partial_lines_are_counted_and_skipped(serial_pair, values_npy, lead_ii):
    # every 1000 samples: "lead off!", binary noise, and a value without its counter (partial)
    source = SerialSource(str(serial_pair.host), RATE, column=[0, 1])
    proc = _sensor(serial_pair, values_npy, "--rate", "0", "--counter", "--inject-every", "1000")
    try:
        items = collect(source, lambda it: n_samples(it) >= len(lead_ii), timeout=15)
    finally:
        _stop(proc)
        source.close()
    x = samples(items)
    np.testing.assert_array_equal(x[:, 0], lead_ii)           # nothing skipped that was a sample...
    np.testing.assert_array_equal(x[:, 1], np.arange(len(lead_ii)))  # ...and no index advanced for junk
    assert_indices_continuous(items)
    injections = (len(lead_ii) - 1) // 1000
    assert source.counters == {"garbage": 2 * injections, "partial": injections}
    faults = [i for i in items if isinstance(i, Fault)]
    assert {f.at for f in faults} == {1000 * k for k in range(1, injections + 1)}  # where they happened
    assert any("lead off!" in f.detail for f in faults)


@pytest.mark.parametrize("timestamps", [False, True], ids=["wall-clock", "sensor-timestamps"])
def test_unplug_and_replug(serial_pair, values_npy, lead_ii, timestamps):
    extra = {"timestamp_column": 2, "timestamp_unit": "ms"} if timestamps else {}
    source = SerialSource(str(serial_pair.host), RATE, column=[0, 1], **extra)
    proc = _sensor(serial_pair, values_npy, "--rate", str(RATE), "--counter", "--seconds", "20",
                   *(["--timestamps"] if timestamps else []))
    outage = {}
    streaming = threading.Event()

    def pull_the_cable():
        if not streaming.wait(10):  # the sensor process is up and its samples flow
            return
        time.sleep(0.3)
        t = time.monotonic()
        serial_pair.unplug()
        time.sleep(1.0)
        serial_pair.plug()
        outage["seconds"] = time.monotonic() - t

    cable = threading.Thread(target=pull_the_cable)
    cable.start()

    def done(items):  # 0.3 s of samples after the gap
        if n_samples(items) >= 100:
            streaming.set()
        gaps = [k for k, i in enumerate(items) if isinstance(i, Gap)]
        return bool(gaps) and n_samples(items[gaps[0]:]) >= 0.3 * RATE

    try:
        items = collect(source, done, timeout=15)
    finally:
        streaming.set()
        cable.join()
        _stop(proc)
        source.close()
    stream = [k for k in kinds(items) if k != "partial"]  # a line cut by the unplug is "partial"
    assert stream == ["block", "disconnected", "reconnected", "gap:disconnected", "block"], kinds(items)
    assert_indices_continuous(items)
    gap_at = next(k for k, i in enumerate(items) if isinstance(i, Gap))
    gap = items[gap_at]
    before, after = samples(items[:gap_at]), samples(items[gap_at:])
    # the samples are the sensor's, in order, on both sides of the outage
    for part in (before, after):
        counter = part[:, 1].astype(np.int64)
        np.testing.assert_array_equal(np.diff(counter), 1)
        np.testing.assert_array_equal(part[:, 0], lead_ii[counter % len(lead_ii)])
    missed = int(after[0, 1]) - int(before[-1, 1]) - 1  # what the sensor really sent into the void
    assert missed >= 0.9 * outage["seconds"] * RATE
    if timestamps:
        assert gap.samples == missed  # the sensor's clock sizes the gap exactly
    else:
        # wall clock: the arrival of the last read before and the first read after (reads of 50 ms)
        assert abs(gap.samples - missed) <= 0.05 * RATE + 0.02 * missed, (gap, missed)
    assert source.counters["disconnected"] == 1 and source.counters["reconnected"] == 1


def test_partial_line_at_disconnect_and_prompt_stop(serial_pair):
    source = SerialSource(str(serial_pair.host), RATE)
    fd = os.open(serial_pair.sensor, os.O_WRONLY | os.O_NOCTTY)
    os.write(fd, b"0.5\n0.25\n0.12")  # the cable goes while "0.125" is on its way
    got_two = threading.Event()
    stopped_at = {}

    def watcher(items):
        if n_samples(items) >= 2:
            got_two.set()
        if isinstance(items[-1], Fault) and items[-1].kind == "disconnected":
            stopped_at["t"] = time.monotonic()
            source.stop.set()  # while it backs off, waiting for the port
        return False

    def unplug():
        got_two.wait(5)
        time.sleep(0.2)
        os.close(fd)
        serial_pair.unplug()

    t = threading.Thread(target=unplug)
    t.start()
    try:
        items = collect(source, watcher, timeout=10)
        ended = time.monotonic()
    finally:
        t.join()
        source.close()
    np.testing.assert_array_equal(samples(items)[:, 0], [0.5, 0.25])
    assert kinds(items) == ["block", "partial", "disconnected"]
    assert "0.12" in items[1].detail
    assert ended - stopped_at["t"] < 0.15


def test_stop_ends_a_silent_read_promptly(serial_pair):
    source = SerialSource(str(serial_pair.host), RATE)
    threading.Timer(0.3, source.stop.set).start()
    t = time.monotonic()
    try:
        assert list(source) == []
    finally:
        source.close()
    assert 0.3 <= time.monotonic() - t < 0.45


def test_missing_port_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"cannot open serial port .*ttyNOPE.*--wait"):
        SerialSource(str(tmp_path / "ttyNOPE"), RATE)
    with pytest.raises(InputError, match="rate"):
        SerialSource(str(tmp_path / "ttyNOPE"), 0)


def test_wait_for_a_port_that_appears_later(serial_pair, values_npy, lead_ii):
    serial_pair.unplug()
    source = SerialSource(str(serial_pair.host), RATE, wait=True)
    proc = []

    def plug_in():
        time.sleep(0.5)
        serial_pair.plug()
        time.sleep(0.5)  # the reader re-tries every 0.1-0.4 s by then
        proc.append(_sensor(serial_pair, values_npy, "--rate", "0"))

    t = threading.Thread(target=plug_in)
    t.start()
    try:
        items = collect(source, lambda it: n_samples(it) >= 1000, timeout=10)
    finally:
        t.join()
        for p in proc:
            _stop(p)
        source.close()
    assert kinds(items) == ["disconnected", "reconnected", "block"]
    assert "waiting for" in items[0].detail
    assert_indices_continuous(items)
    np.testing.assert_array_equal(samples(items)[:1000, 0], lead_ii[:1000])
