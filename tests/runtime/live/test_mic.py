"""MicSource on a PulseAudio virtual microphone: a real mosquito recording played "into the room".

sounddevice reaches PulseAudio through ALSA's ``pulse`` device; ``paplay --device=vmic_sink`` is the
sound. The null sink is lossless apart from PulseAudio's 44.1 -> 48 -> 44.1 kHz resampling, so once
aligned the captured audio is the file itself (waveform correlation ~0.9998 measured here).
The test that stops PulseAudio under a running stream comes last: the others share the module's server.
"""
from __future__ import annotations

import subprocess
import threading
import time

import numpy as np
import pytest

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.sources import Block, Fault, Gap, open_source
from edgewise.runtime.live.sources.mic import MicSource

from ._collect import assert_indices_continuous, collect, kinds, n_samples, samples
from .conftest import run_script

MOSQUITO = "humbug_platform/anoph_arabien.wav"  # Anopheles arabiensis, 44.1 kHz mono, 30 s


def _align(x: np.ndarray, ref: np.ndarray) -> int:
    """Where ``ref`` starts inside ``x`` (FFT cross-correlation)."""
    n = 1 << int(np.ceil(np.log2(len(x) + len(ref))))
    c = np.fft.irfft(np.fft.rfft(x, n) * np.conj(np.fft.rfft(ref, n)), n)
    return int(np.argmax(c[: len(x)]))


def test_records_a_mosquito_played_into_the_room(vmic, mosquito_dir):
    soundfile = pytest.importorskip("soundfile", reason="soundfile is not installed")

    wav = mosquito_dir / MOSQUITO
    ref, fs = soundfile.read(str(wav), dtype="float32")
    source = open_source("mic:pulse")
    assert source.rate == fs == 44100 and source.channels == 1  # the device's own rate
    assert 0.05 <= source.latency < 0.5
    items, arrivals, player, played_at = [], [], None, 0
    try:
        for item in source:
            items.append(item)
            arrivals.append((time.monotonic(), n_samples(items)))
            if player is None:  # the room was silent until now
                played_at = n_samples(items)
                player = subprocess.Popen(["paplay", "--device=vmic_sink", str(wav)])
            if n_samples(items) >= 3.0 * fs:
                break
    finally:
        if player is not None:
            player.kill()
            player.wait()
        source.close()
    assert kinds(items) == ["block"]
    assert_indices_continuous(items)
    # the rate: samples delivered per wall-clock second, first block to last
    (t0, n0), (t1, n1) = arrivals[0], arrivals[-1]
    assert abs((n1 - n0) / (t1 - t0) / fs - 1) < 0.05
    x = samples(items)[:, 0]
    assert np.sqrt(np.mean(x[:played_at] ** 2)) < 1e-6  # silence before the mosquito
    # what was captured is the recording: aligned, the waveforms agree, at the file's level
    lag = _align(x, ref[: 4 * fs])
    assert played_at <= lag < played_at + 0.5 * fs  # it started after paplay did, within 0.5 s
    got = x[lag:]
    want = ref[: len(got)]
    assert len(got) > 1.5 * fs
    assert np.corrcoef(got, want)[0, 1] > 0.99
    np.testing.assert_allclose(np.sqrt(np.mean(got ** 2)), np.sqrt(np.mean(want ** 2)), rtol=0.05)


def test_unknown_device_lists_the_inputs(vmic):
    with pytest.raises(InputError, match=r"no input device named like 'no-such-mic'.*\d+: pulse \(.*mic:N"):
        MicSource("no-such-mic")
    with pytest.raises(InputError, match="no input device with index 999"):
        open_source("mic:999")


def test_a_slow_consumer_gets_an_overflow_gap_and_indices_keep_time(vmic):
    source = MicSource("pulse", block_seconds=0.05, queue_seconds=0.2)  # 4 blocks of room
    items = []
    try:
        it = iter(source)
        items.append(next(it))  # a fresh PulseAudio capture may take ~2 s to deliver its first block
        t0 = time.monotonic() - len(items[0].samples) / source.rate  # wall time of the stream's sample 0
        time.sleep(0.8)   # the engine is stuck: ~0.6 s more audio than the queue holds
        for item in it:
            items.append(item)
            if time.monotonic() - t0 > 1.3:
                break
    finally:
        source.close()
    took = time.monotonic() - t0
    assert kinds(items)[:4] == ["block", "overflow", "gap:overflow", "block"], kinds(items)
    assert_indices_continuous(items)
    gap = next(i for i in items if isinstance(i, Gap))
    assert 0.4 * source.rate < gap.samples < 0.8 * source.rate
    assert source.counters["overflow"] >= 1
    # blocks + gap still say "seconds since start x rate"
    end = items[-1].end
    assert abs(end / source.rate - took) < 0.15, (end / source.rate, took)


def test_the_device_vanishes_and_comes_back(vmic):
    source = MicSource("pulse")
    times: dict[str, float] = {}

    def pull_and_replug():
        time.sleep(0.5)
        times["down"] = time.monotonic()
        run_script("vmic.sh", "down", str(vmic))
        time.sleep(1.0)
        run_script("vmic.sh", "up", str(vmic))

    plug = threading.Thread(target=pull_and_replug)
    arrivals: list[float] = []

    def until(items):
        arrivals.append(time.monotonic())
        gaps = [k for k, i in enumerate(items) if isinstance(i, Gap)]
        return bool(gaps) and n_samples(items[gaps[0]:]) >= 0.2 * source.rate

    plug.start()
    try:
        items = collect(source, until, timeout=12)
    finally:
        plug.join()
        source.close()
    assert kinds(items) == ["block", "vanished", "reconnected", "gap:vanished", "block"], kinds(items)
    assert_indices_continuous(items)
    k = next(k for k, i in enumerate(items) if isinstance(i, Gap))
    gap, first_after = items[k], items[k + 1]
    last_before = max(j for j in range(k) if isinstance(items[j], Block))
    # the gap is the wall-clock silence between the last block before and the first block after
    silence = arrivals[k + 1] - arrivals[last_before]
    assert abs((gap.samples + len(first_after.samples)) / source.rate - silence) < 0.1, (gap, silence)
    assert gap.samples / source.rate > 0.9  # PulseAudio was gone for 1 s
    assert items[k - 2].kind == "vanished" and isinstance(items[k - 1], Fault)
