"""LiveServer without a browser: SSE framing, the late client's snapshot, slow clients, binding, routes.

Clients are raw sockets or urllib on 127.0.0.1 (real HTTP, real threads; nothing mocked).
"""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.serve import History, LiveServer, MinMaxDecimator, is_loopback, parse_serve_address


@pytest.fixture
def serve():
    made: list[LiveServer] = []

    def make(**kw) -> LiveServer:
        kw.setdefault("task", "ecg")
        kw.setdefault("fs", 500)
        s = LiveServer(**kw)
        made.append(s)
        s.start()
        return s

    yield make
    for s in made:
        s.close()


class SSE:
    """A raw-socket /events client that parses the stream into (event fields) dicts."""

    def __init__(self, server: LiveServer, rcvbuf: int | None = None):
        host, port = server.address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect((host, port))
        self.sock.sendall(f"GET /events HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        self.buf = bytearray()

    def read_headers(self) -> str:
        while (k := self.buf.find(b"\r\n\r\n")) < 0:
            self._recv()
        head = bytes(self.buf[:k])
        del self.buf[:k + 4]
        return head.decode()

    def _recv(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("stream closed")
        self.buf += chunk

    def raw_event(self) -> bytes:
        start = 0
        while (k := self.buf.find(b"\n\n", start)) < 0:
            start = max(0, len(self.buf) - 1)
            self._recv()
        ev = bytes(self.buf[:k])
        del self.buf[:k + 2]
        return ev

    def message(self) -> dict:
        """The next ``data:`` event's JSON (skipping retry/comment blocks)."""
        while True:
            ev = self.raw_event()
            if ev.startswith(b"data: "):
                lines = ev.split(b"\n")
                assert len(lines) == 1, f"one data line per event, got {ev[:200]!r}"
                return json.loads(ev[len(b"data: "):])

    def close(self) -> None:
        self.sock.close()


def get(server: LiveServer, path: str):
    with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=5) as r:
        return r.status, r.headers.get("Content-Type"), r.read()


def test_sse_framing_snapshot_then_objects_in_order(serve):
    s = serve()
    c = SSE(s)
    head = c.read_headers()
    assert head.startswith("HTTP/1.0 200") and "Content-Type: text/event-stream" in head
    assert c.raw_event() == b"retry: 1000"
    snap = c.message()
    assert snap["type"] == "snapshot" and snap["task"] == "ecg" and snap["now"] == 0 and snap["waves"] == []
    objs = [{"type": "start", "task": "ecg", "fs": 500.0, "model": "ecg-unet"},
            {"type": "wave", "wave": "QRS", "onset": 10, "offset": 40},
            {"type": "hr", "at": 40, "bpm": 72.5},
            {"type": "fault", "kind": "garbage", "at": 41, "count": 1, "detail": "line 'a\nb'"}]
    for o in objs:
        s.publish(o)
    assert [c.message() for _ in objs] == objs  # the same objects --jsonl prints, newline in a string escaped
    s.push_samples(0, np.arange(100, dtype=np.float32))
    s.publish({"type": "wave", "wave": "T", "onset": 60, "offset": 99})
    m = c.message()  # the trace before the wave that ends in it
    assert m["type"] == "samples" and m["end"] == 100 and m["i"][0] == 0 and m["i"][-1] == 99
    assert c.message()["wave"] == "T"
    # numpy scalars and non-finite numbers become valid JSON
    s.publish({"type": "window", "start_s": np.float64(0.0), "end_s": 1.0, "p": float("nan")})
    assert c.message() == {"type": "window", "start_s": 0.0, "end_s": 1.0, "p": None}
    c.close()


def test_late_client_gets_the_last_window_then_live_updates(serve):
    fs = 500
    s = serve(fs=fs)
    x = np.sin(np.arange(30 * fs) / 40.0).astype(np.float32)
    x[1234] = 7.0  # a spike decimation must keep
    x[12 * fs + 321] = -5.0
    for k in range(0, x.size, 100):
        s.push_samples(k, x[k:k + 100])
        for w in range(k, k + 100):
            if w % 500 == 450:  # one QRS a second
                s.publish({"type": "wave", "wave": "QRS", "onset": w - 40, "offset": w})
    c = SSE(s)
    c.read_headers()
    snap = c.message()
    assert snap["type"] == "snapshot" and snap["now"] == 30 * fs
    assert [w["offset"] for w in snap["waves"]] == [t * 500 + 450 for t in range(20, 30)]  # last 10 s only
    i = np.array(snap["samples"]["i"])
    v = np.array(snap["samples"]["v"])
    assert i[0] >= 20 * fs and i[-1] == 30 * fs - 1 and np.all(np.diff(i) > 0)
    assert len(i) <= 10 * 250 and snap["bucket"] == 4  # <= 250 points/s
    assert v.max() == pytest.approx(np.max(x[20 * fs:]), abs=1e-4)
    # live updates continue where the snapshot ended, with nothing repeated
    s.push_samples(30 * fs, x[:100])
    s.publish({"type": "wave", "wave": "P", "onset": 30 * fs + 10, "offset": 30 * fs + 50})
    m = c.message()
    assert m["type"] == "samples" and m["i"][0] == 30 * fs and m["end"] == 30 * fs + 100
    assert c.message()["wave"] == "P"
    # /state is the same snapshot
    status, ctype, body = get(s, "/state")
    state = json.loads(body)
    assert status == 200 and ctype == "application/json" and state["now"] == 30 * fs + 100
    assert state["waves"][-1] == {"type": "wave", "wave": "P", "onset": 30 * fs + 10, "offset": 30 * fs + 50}
    c.close()


def test_a_quiet_stream_still_sends_its_last_samples(serve):
    s = serve(flush_s=0.05)
    c = SSE(s)
    c.read_headers()
    c.message()
    s.push_samples(0, np.ones(7))  # pushed right after a flush: only the timer sends it
    s.push_samples(7, np.ones(3))
    m = c.message()
    assert m["type"] == "samples" and m["end"] == 10
    c.close()


def test_slow_client_is_dropped_and_publish_never_waits(serve):
    s = serve(client_queue=64)
    slow = SSE(s, rcvbuf=4096)  # connects, then never reads
    slow.read_headers()
    fast = SSE(s)
    fast.read_headers()
    fast.message()
    got: list[dict] = []
    def read() -> None:
        for _ in range(300):
            got.append(fast.message())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    blob = "x" * 50_000
    worst = 0.0
    for k in range(300):  # 15 MB: more than the slow client's queue and socket buffers (4 MB) hold
        deadline = time.monotonic() + 10
        while len(got) < k - 32 and time.monotonic() < deadline:  # pace to the reading client (queue: 64)
            time.sleep(0.001)
        t = time.perf_counter()
        s.publish({"type": "fault", "kind": "garbage", "at": k, "count": 1, "detail": blob})
        worst = max(worst, time.perf_counter() - t)
    reader.join(timeout=20)
    assert s.stats["dropped_clients"] == 1
    assert len(got) == 300 and [m["at"] for m in got] == list(range(300))  # the reading client kept up
    assert worst < 0.25, f"publish blocked for {worst:.3f} s"
    health = json.loads(get(s, "/healthz")[2])
    assert health["clients"] == 1 and health["dropped_clients"] == 1 and health["errors"] == 0
    slow.close()
    fast.close()


def test_vanished_clients_are_handled_silently(serve, capfd):
    s = serve()
    for _ in range(3):
        c = SSE(s)
        c.read_headers()
        c.message()
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.close()  # RST: the server's next write fails with ConnectionReset/BrokenPipe
    for k in range(50):
        s.publish({"type": "hr", "at": k, "bpm": 60.0})
        time.sleep(0.002)
    deadline = time.monotonic() + 5
    while s.health()["clients"] and time.monotonic() < deadline:
        s.publish({"type": "hr", "at": 99, "bpm": 60.0})
        time.sleep(0.05)
    assert s.health()["clients"] == 0 and s.stats["errors"] == 0
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_too_many_viewers_get_503(serve):
    s = serve(max_clients=1)
    c = SSE(s)
    c.read_headers()
    with pytest.raises(urllib.error.HTTPError, match="503"):
        get(s, "/events")
    assert s.stats["refused_clients"] == 1
    c.close()


def test_binds_loopback_by_default_and_named_addresses_only(serve):
    s = serve()
    host, port = s.address
    assert host == "127.0.0.1" and port > 0 and is_loopback(host)
    assert s.url == f"http://127.0.0.1:{port}/"
    other = serve(host="127.0.0.2")  # another address, named explicitly
    assert other.address[0] == "127.0.0.2"
    assert get(other, "/healthz")[0] == 200
    with pytest.raises(InputError, match="cannot serve the live page"):
        LiveServer(host="127.0.0.1", port=port, task="ecg", fs=500).start()  # port taken


def test_ipv6_loopback(serve):
    probe = socket.socket(socket.AF_INET6)
    try:
        probe.bind(("::1", 0))
    except OSError as e:
        pytest.skip(f"no IPv6 loopback on this machine: {e}")
    finally:
        probe.close()
    s = serve(host="::1")
    assert s.address[0] == "::1" and s.url.startswith("http://[::1]:")
    assert get(s, "/healthz")[0] == 200


@pytest.mark.parametrize("spec, expected", [
    ("8080", ("127.0.0.1", 8080)), (":8080", ("127.0.0.1", 8080)), ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("0.0.0.0:8080", ("0.0.0.0", 8080)), ("[::1]:9000", ("::1", 9000)), ("localhost:80", ("localhost", 80)),
], ids=["port", "colon-port", "any-port", "all-interfaces", "ipv6", "name"])
def test_parse_serve_address(spec, expected):
    assert parse_serve_address(spec) == expected


@pytest.mark.parametrize("spec, match", [("host:http", "expected HOST:PORT"), ("1.2.3.4:70000", "0..65535"),
                                         ("::1:80", "brackets")], ids=["name-port", "big-port", "bare-ipv6"])
def test_parse_serve_address_rejects(spec, match):
    with pytest.raises(InputError, match=match):
        parse_serve_address(spec)


def test_is_loopback():
    assert is_loopback("127.0.0.1") and is_loopback("127.3.2.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.10") and not is_loopback("pi.local")


def test_routes_page_script_health_404(serve):
    s = serve(task="mosquito", fs=16000)
    status, ctype, body = get(s, "/")
    assert status == 200 and ctype.startswith("text/html") and b'<script src="page.js">' in body
    status, ctype, js = get(s, "/page.js")
    assert status == 200 and ctype.startswith("text/javascript") and b"EventSource" in js
    assert b"http://" not in js and b"https://" not in js and b"https://" not in body  # nothing from the network
    health = json.loads(get(s, "/healthz")[2])
    assert health["ok"] is True and health["task"] == "mosquito" and health["fs"] == 16000
    with pytest.raises(urllib.error.HTTPError, match="404"):
        get(s, "/nope")


def test_close_ends_streams_and_is_idempotent():
    s = LiveServer(task="ecg", fs=250)
    s.start()
    c = SSE(s)
    c.read_headers()
    c.message()
    t = time.monotonic()
    s.close()
    assert time.monotonic() - t < 2
    with pytest.raises(EOFError):
        while True:
            c.raw_event()
    s.close()
    s.publish({"type": "hr", "at": 1, "bpm": 60.0})  # publishing after close is harmless
    c.close()


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="task must be one of"):
        LiveServer(task="eeg", fs=500)
    with pytest.raises(InputError, match="positive sample rate"):
        LiveServer(task="ecg", fs=0)
    s = LiveServer(task="ecg", fs=500)
    with pytest.raises(InputError, match="one channel"):
        s.push_samples(0, np.zeros((10, 2)))
    with pytest.raises(InputError, match="a dict with a 'type'"):
        s.publish({"wave": "P"})
    with pytest.raises(InputError, match="numeric fields"):
        s.publish({"type": "wave", "wave": "P", "onset": "a", "offset": 3})


# ---- History (no server) ------------------------------------------------------------------------
@pytest.mark.parametrize("block", [1, 7, 64, 5000], ids=["1", "7", "64", "all"])
def test_decimator_keeps_extremes_whatever_the_blocks(block):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(5000)
    one = MinMaxDecimator(4)
    ref_i, ref_v = one.push(0, x)
    d = MinMaxDecimator(4)
    parts = [d.push(k, x[k:k + block]) for k in range(0, x.size, block)] + [d.flush()]
    i = np.concatenate([p[0] for p in parts])
    v = np.concatenate([p[1] for p in parts])
    np.testing.assert_array_equal(i, ref_i)
    np.testing.assert_array_equal(v, x[i])
    buckets = x.reshape(-1, 4)
    np.testing.assert_array_equal(v.reshape(-1, 2).max(axis=1), buckets.max(axis=1))
    np.testing.assert_array_equal(v.reshape(-1, 2).min(axis=1), buckets.min(axis=1))


def test_decimator_jump_and_nan():
    d = MinMaxDecimator(4)
    i1, _ = d.push(0, np.arange(6.0))  # one full bucket, two carried
    i2, v2 = d.push(100, np.array([np.nan, np.nan, np.nan, np.nan]))  # a jump closes the carried bucket
    assert i1.tolist() == [0, 3] and i2.tolist() == [4, 5, 100]
    assert np.isnan(v2[-1]) and d.end == 104
    h = History("ecg", 500)
    h.add_samples(0, np.array([1.0, np.nan, np.inf, 2.0]))
    h.add_samples(4, np.full(4, np.nan))
    assert h.snapshot()["samples"]["v"] == [1.0, 2.0, None]


def test_history_start_resets_and_sets_threshold():
    h = History("mosquito", 16000)
    assert h.history_s == 60 and h.threshold == 0.5
    h.apply({"type": "window", "start_s": 0.0, "end_s": 1.0, "p": 0.2})
    h.apply({"type": "start", "task": "mosquito", "fs": 8000.0, "threshold": 0.7, "model": "ds-cnn"})
    snap = h.snapshot()
    assert snap["windows"] == [] and snap["threshold"] == 0.7 and snap["fs"] == 8000 and snap["model"] == "ds-cnn"
    h.apply({"type": "event", "start_s": 10.0, "end_s": 12.0, "p": 0.9})
    h.apply({"type": "window", "start_s": 80.0, "end_s": 81.0, "p": 0.1})
    assert h.snapshot()["events"] == [] and h.now == 81 * 8000  # the event scrolled out of the 60 s
    h.apply({"type": "summary", "waves": 3})
    assert h.snapshot()["extra"]["summary"]["waves"] == 3


def test_history_mosquito_records_of_the_live_engine():
    """The shapes edgewise.runtime.live.mosquito_stream emits: gaps in seconds, event_open before event."""
    h = History("mosquito", 16000)
    h.apply({"type": "gap", "start_s": 1.0, "end_s": 3.0, "samples": 32000, "reason": "overflow"})
    assert h.now == 3 * 16000 and h.totals["gap_samples"] == 32000
    assert h.gap_span(h.snapshot()["gaps"][0]) == (16000, 48000)
    h.apply({"type": "event_open", "start_s": 4.0, "p": 0.8})
    assert h.snapshot()["open_event"] == {"type": "event_open", "start_s": 4.0, "p": 0.8}
    h.apply({"type": "event", "start_s": 4.0, "end_s": 6.0, "p": 0.9})
    snap = h.snapshot()
    assert snap["open_event"] is None and len(snap["events"]) == 1 and snap["totals"]["events"] == 1
    with pytest.raises(InputError, match="start_s"):
        h.apply({"type": "gap", "samples": 3, "reason": "x"})
