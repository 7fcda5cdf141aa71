"""The live page in a real headless browser (Debian's Chromium, driven over plain W3C WebDriver).

A feeder replays a stream into a ``LiveServer`` at 4x real time (ECG: two LUDB records, lead ii, with the
waves the shipped int8 model finds, published when their offset sample has been replayed, plus a gap
and a fault; mosquito: synthetic window probabilities and the hysteresis events). The page is opened
mid-replay (a late client: it starts from the snapshot), must keep updating, and when the feeder holds
at a known sample, what the page reports as drawn must equal what was published inside its window, and
the screenshot must show each colour.

The last test replays through a real ``edgewise run ecg --source file:... --realtime --serve --jsonl``
(frozen with SIGSTOP to compare the page with the JSON lines).

Needs chromium + chromium-driver (``scripts/testbed/chromium.sh`` installs them with apt, once).
"""
from __future__ import annotations

import base64
import json
import math
import os
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import numpy as np
import pytest

import edgewise
from edgewise.runtime.live.serve import LiveServer

REPO = Path(__file__).resolve().parents[3]
MODEL = Path(edgewise.__file__).parent / "models" / "pretrained" / "ecg" / "ecg-unet-int8.onnx"
SCRIPT = REPO / "scripts" / "testbed" / "chromium.sh"
# the page's colours (page.js): P, QRS, T, mosquito events, the probability trace
COLORS = {"P": (30, 100, 230), "QRS": (220, 40, 40), "T": (30, 160, 60), "event": (230, 120, 0),
          "prob": (110, 40, 170)}


# ---- a minimal W3C WebDriver client (urllib only) -------------------------------------------------
class WebDriver:
    """Just enough WebDriver for these tests: navigate, run a script, take a screenshot."""

    def __init__(self, base: str, session: str):
        self.base, self.session = base, session

    @staticmethod
    def call(base: str, method: str, path: str, body: dict | None = None, timeout: float = 30.0):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}").get("value")
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"WebDriver {method} {path}: {e.code} {e.read()[:500]!r}") from e

    def _s(self, method: str, path: str, body: dict | None = None):
        return self.call(self.base, method, f"/session/{self.session}{path}", body)

    def get(self, url: str) -> None:
        self._s("POST", "/url", {"url": url})

    def js(self, script: str, *args):
        return self._s("POST", "/execute/sync", {"script": script, "args": list(args)})

    def screenshot_png(self) -> bytes:
        """The viewport as PNG. Through chromedriver's CDP bridge with optimizeForSpeed when it can: Chromium
        then writes only 'Up'-filtered rows, which decode_png undoes in numpy (the W3C endpoint's Paeth rows
        take seconds in pure Python)."""
        try:
            value = self._s("POST", "/goog/cdp/execute",
                            {"cmd": "Page.captureScreenshot", "params": {"format": "png", "optimizeForSpeed": True}})
            return base64.b64decode(value["data"])
        except (RuntimeError, KeyError, TypeError):
            return base64.b64decode(self._s("GET", "/screenshot"))

    def drawn(self) -> dict | None:
        text = self.js("const e = document.getElementById('drawn'); return e ? e.textContent : '';")
        return json.loads(text) if text else None

    def wait_drawn(self, cond, timeout: float, what: str) -> dict:
        deadline, d = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            d = self.drawn()
            if d is not None and cond(d):
                return d
            time.sleep(0.05)
        raise AssertionError(f"page never showed {what} within {timeout} s; last drawn: {json.dumps(d)[:600]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium under chromedriver; both killed (their process group) in teardown."""
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        pytest.fail(f"scripts/testbed/chromium.sh failed (exit {out.returncode}): {out.stderr[-2000:]}")
    env = dict(line.split("=", 1) for line in out.stdout.split() if "=" in line)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    driver = subprocess.Popen([env["EW_CHROMEDRIVER"], f"--port={port}"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if WebDriver.call(base, "GET", "/status", timeout=2)["ready"]:
                    break
            except (OSError, RuntimeError):
                pass
            if time.monotonic() > deadline or driver.poll() is not None:
                raise RuntimeError(f"chromedriver did not come up on port {port}")
            time.sleep(0.1)
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,800", "--force-device-scale-factor=1", "--force-color-profile=srgb",
                "--hide-scrollbars", "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-renderer-backgrounding", "--disable-background-timer-throttling"]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": env["EW_CHROMIUM"], "args": args}}}}
        session = WebDriver.call(base, "POST", "/session", caps, timeout=60)["sessionId"]
        wd = WebDriver(base, session)
        yield wd
        try:
            WebDriver.call(base, "DELETE", f"/session/{session}", timeout=10)
        except (OSError, RuntimeError):
            pass
    finally:
        try:
            os.killpg(driver.pid, signal.SIGKILL)  # chromedriver and the chromium it started
        except ProcessLookupError:
            pass
        driver.wait(timeout=10)


# ---- the feeder ---------------------------------------------------------------------------------
class Replay(threading.Thread):
    """Plays a timeline of (sample index, action) into a LiveServer at ``speed`` x real time.

    Actions: ("samples", start, array) -> push_samples; ("publish", obj) -> publish (and recorded in
    ``published``). Before the first action past ``hold_at`` it sets ``held`` and waits for ``resume``.
    """

    def __init__(self, server: LiveServer, fs: float, timeline: list, *, hold_at: int, speed: float):
        super().__init__(daemon=True)
        self.server, self.fs, self.hold_at, self.speed = server, fs, hold_at, speed
        self.timeline = sorted(timeline, key=lambda a: a[0])  # stable: samples before the waves they end
        self.published: list[dict] = []
        self.position = 0
        self.held, self.resume, self.stop, self.done = (threading.Event() for _ in range(4))
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            t0 = time.monotonic()
            for at, *action in self.timeline:
                if at > self.hold_at and not self.held.is_set():
                    self.held.set()
                    self.resume.wait()
                    t0 = time.monotonic() - at / self.fs / self.speed
                if self.stop.is_set():
                    return
                delay = t0 + at / self.fs / self.speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if action[0] == "samples":
                    self.server.push_samples(action[1], action[2])
                else:
                    self.published.append(action[1])
                    self.server.publish(action[1])
                self.position = at
        except BaseException as e:  # surfaced by the test
            self.error = e
        finally:
            self.done.set()

    def wait_position(self, at: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.position < at:
            assert time.monotonic() < deadline and self.error is None, f"replay stuck at {self.position}: {self.error}"
            time.sleep(0.02)


@pytest.fixture
def start_replay():
    made: list[tuple[LiveServer, Replay]] = []

    def start(server: LiveServer, fs: float, timeline: list, hold_at: int, speed: float) -> Replay:
        server.start()
        r = Replay(server, fs, timeline, hold_at=hold_at, speed=speed)
        made.append((server, r))
        r.start()
        return r

    yield start
    for server, r in made:
        r.stop.set()
        r.resume.set()
        r.join(timeout=5)
        server.close()


# ---- screenshots --------------------------------------------------------------------------------
def decode_png(data: bytes) -> np.ndarray:
    """8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) -> uint8 [h, w, 3]."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = hdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, f"unsupported PNG {hdr}"
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), dtype=np.int32)
    prev = np.zeros(w * bpp, dtype=np.int32)
    for y in range(h):
        f, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if f == 0:
            cur = line
        elif f == 1:  # Sub: a running sum along the row, per channel
            cur = (np.cumsum(line.reshape(w, bpp), axis=0) & 255).reshape(-1)
        elif f == 2:  # Up
            cur = (line + prev) & 255
        else:  # 3 (Average), 4 (Paeth) depend on the decoded pixel to the left: pixel by pixel
            cur, b_row = [0] * (w * bpp), prev.tolist()
            for x, v in enumerate(line.tolist()):
                a = cur[x - bpp] if x >= bpp else 0
                b, c = b_row[x], (b_row[x - bpp] if x >= bpp else 0)
                if f == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (v + pred) & 255
            cur = np.array(cur, dtype=np.int32)
        out[y], prev = cur, cur
    return out.reshape(h, w, bpp)[:, :, :3].astype(np.uint8)


def screenshot(wd: WebDriver, name: str, tmp_path: Path) -> np.ndarray:
    """Save the screenshot to /tmp/<name> and the test's tmp folder; returns the canvas's pixels."""
    png = wd.screenshot_png()
    Path("/tmp", name).write_bytes(png)
    (tmp_path / name).write_bytes(png)
    print(f"screenshot: /tmp/{name} (also {tmp_path / name})")
    img = decode_png(png)
    r = wd.js("const r = document.getElementById('plot').getBoundingClientRect();"
              "return [r.left, r.top, r.width, r.height, window.devicePixelRatio];")
    left, top, width, height, dpr = (float(v) for v in r)
    y0, x0 = int(top * dpr), int(left * dpr)
    return img[y0:y0 + int(height * dpr), x0:x0 + int(width * dpr)]


def pixels_of(img: np.ndarray, color: tuple[int, int, int], tol: int = 10) -> int:
    return int(np.all(np.abs(img.astype(np.int16) - np.array(color, dtype=np.int16)) <= tol, axis=2).sum())


# ---- ECG ----------------------------------------------------------------------------------------
def ecg_timeline(ludb: Path, fs: int = 500, block: int = 50) -> tuple[list, dict]:
    """Two LUDB records (lead ii) with their waves, a 0.5 s gap at 11 s and a fault at 12 s."""
    from edgewise.runtime.ecg.delineate import delineate
    from edgewise.runtime.ecg.io import read_wfdb_signal
    from edgewise.runtime.ecg.model import load_artifact_fn

    fn, info = load_artifact_fn(MODEL)
    leads = []
    for rec in (2, 3):
        e = read_wfdb_signal(ludb / "data" / str(rec))
        assert e.fs == fs
        leads.append(e.signal[e.leads.index("ii")].astype(np.float32))
    x = np.concatenate(leads)
    waves = delineate(x, fs, fn, model_fs=info.sample_rate, window=info.window, hop=info.hop, post=info.post).waves
    gap = (11 * fs, fs // 2)  # samples [5500, 5750) never arrive
    g0, g1 = gap[0], gap[0] + gap[1]
    waves = [w for w in waves if w.offset < g0 or w.onset >= g1]  # an engine finds nothing in a gap
    tl: list = [(0, "publish", {"type": "start", "task": "ecg", "fs": float(fs), "model": info.name})]
    for s in range(0, x.size, block):
        e = min(s + block, x.size)
        if e <= g0 or s >= g1:
            tl.append((e, "samples", s, x[s:e]))
    tl.append((g1, "publish", {"type": "gap", "start": g0, "samples": gap[1], "reason": "disconnected"}))
    tl.append((12 * fs, "publish", {"type": "fault", "kind": "garbage", "at": 12 * fs, "count": 2,
                                    "detail": "unparsable line 'x7'"}))
    qrs: list[int] = []
    for w in sorted(waves, key=lambda w: w.offset):
        at = (w.offset // block + 1) * block  # published once the block holding its offset was replayed
        tl.append((at, "publish", {"type": "wave", "wave": w.kind, "onset": w.onset, "offset": w.offset}))
        if w.kind == "QRS":
            qrs.append(w.onset)
            if len(qrs) >= 3:
                rr = np.median(np.diff(qrs[-5:])) / fs  # median: a beat lost in the gap does not halve it
                tl.append((at, "publish", {"type": "hr", "at": w.offset, "bpm": round(60.0 / float(rr), 1)}))
    return tl, {"n": x.size, "gap": gap}


def test_ecg_page_draws_the_published_waves(browser, start_replay, ludb_dir, tmp_path):
    fs = 500
    timeline, facts = ecg_timeline(ludb_dir, fs)
    hold = int(15.3 * fs)  # the page's 10 s window then spans [5.3 s, 15.3 s): both records, the gap, the fault
    server = LiveServer(task="ecg", fs=fs)
    replay = start_replay(server, fs, timeline, hold, speed=4.0)
    replay.wait_position(6 * fs, timeout=10)  # mid-replay: the page is a late client
    browser.get(server.url)
    first = browser.wait_drawn(lambda d: d["now"] >= 6 * fs and d["points"] > 0, 5, "the snapshot")
    later = browser.wait_drawn(lambda d: d["now"] > first["now"] + fs // 2, 5, "live updates")
    assert later["connected"] and later["task"] == "ecg"

    assert replay.held.wait(10), f"replay did not reach the hold point: {replay.error}"
    browser.wait_drawn(lambda d: d["now"] == hold, 5, f"the stream up to sample {hold}")
    time.sleep(0.3)  # anything still in flight lands and is drawn
    drawn = browser.drawn()
    assert drawn["now"] == hold and drawn["from"] == hold - 10 * fs
    img = screenshot(browser, "live-page-ecg.png", tmp_path)

    # (a) the waves on screen are exactly the published waves inside the window
    lo = drawn["from"]
    expected = [(o["wave"], o["onset"], o["offset"]) for o in replay.published
                if o["type"] == "wave" and o["offset"] >= lo and o["onset"] <= hold]
    got = [(w["wave"], w["onset"], w["offset"]) for w in drawn["waves"]]
    assert sorted(got) == sorted(expected)
    assert {k for k, _, _ in got} == {"P", "QRS", "T"} and len(got) >= 20
    # the gap and the fault are marked; the trace covers the window except the gap
    assert drawn["gaps"] == [{"start": facts["gap"][0], "samples": facts["gap"][1], "reason": "disconnected"}]
    assert drawn["faults"] == [{"kind": "garbage", "at": 12 * fs, "count": 2}]
    assert drawn["first_i"] - lo < 4 and hold - drawn["last_i"] <= 4
    assert 2000 <= drawn["points"] <= 2500  # <= 250 points/s over 10 s (less the gap)
    # (b) the screenshot shows each wave's colour and a dark trace
    for kind in ("P", "QRS", "T"):
        assert pixels_of(img, COLORS[kind]) >= 40, f"no {kind} colour {COLORS[kind]} in the screenshot"
    assert pixels_of(img, (25, 25, 25), tol=40) >= 1000
    # (c) the heart rate shown is the newest one published inside the window
    hr = [o for o in replay.published if o["type"] == "hr" and lo <= o["at"] < hold][-1]
    assert drawn["hr"] == {"at": hr["at"], "bpm": hr["bpm"]}
    shown = browser.js("return document.getElementById('big').textContent;")
    assert shown == str(math.floor(hr["bpm"] + 0.5)) and 40 <= hr["bpm"] <= 150

    replay.resume.set()  # and it keeps going after the hold
    browser.wait_drawn(lambda d: d["now"] > hold + fs, 5, "updates after the hold")


# ---- mosquito -----------------------------------------------------------------------------------
def mosquito_timeline(fs: int = 16000) -> tuple[list, list]:
    """90 s of 1 s windows every 0.5 s with three bursts of mosquito-like probability, in the objects
    edgewise.runtime.live.mosquito_stream emits: windows, event_open when a window opens an event, the
    event once closed (hysteresis), a gap (in seconds) at 40-42 s and a fault at 60 s."""
    from edgewise.runtime.events import merge_events, window_times

    times = window_times(179, 1.0, 0.5)
    c = times.mean(axis=1)
    p = 0.05 + 0.04 * np.sin(c)
    for a, b, peak in ((18.0, 27.0, 0.9), (50.0, 53.0, 0.7), (70.0, 88.0, 0.95)):
        p = np.where((c >= a) & (c <= b), peak - 0.1 * np.abs(np.sin(c * 3)), p)
    p = np.round(p, 3)
    events = merge_events(p, times)
    tl: list = [(0, "publish", {"type": "start", "task": "mosquito", "fs": float(fs), "model": "ds-cnn-int8.onnx",
                                "model_fs": 8000, "window_s": 1.0, "hop_s": 0.5, "threshold": 0.5})]
    for (s, e), q in zip(times, p):
        if e > 40.0 and s < 42.0:
            continue  # the gap: no audio, no window
        at = int(round(e * fs))
        tl.append((at, "publish", {"type": "window", "start_s": float(s), "end_s": float(e), "p": float(q)}))
        if any(ev.start_s == s for ev in events):
            tl.append((at, "publish", {"type": "event_open", "start_s": float(s), "p": float(q)}))
    for ev in events:
        closes = next((int(round(e * fs)) for (_, e) in times if e > ev.end_s), int(round(ev.end_s * fs)))
        tl.append((closes, "publish", {"type": "event", **ev.to_dict()}))
    tl.append((42 * fs, "publish", {"type": "gap", "start_s": 40.0, "end_s": 42.0, "samples": 2 * fs,
                                    "reason": "overflow"}))
    tl.append((60 * fs, "publish", {"type": "fault", "kind": "saturated", "at": 60 * fs, "count": 1600,
                                    "detail": "0.1 s at the rail"}))
    return tl, events


def test_mosquito_page_draws_probabilities_and_events(browser, start_replay, tmp_path):
    fs = 16000
    timeline, events = mosquito_timeline(fs)
    assert len(events) == 3
    hold = 84 * fs  # the 60 s window then spans [24 s, 84 s): the end of burst 1, burst 2, burst 3 still open
    server = LiveServer(task="mosquito", fs=fs)
    # 30x: a window every 17 ms of wall time, the whole minute and a half in 3 s
    replay = start_replay(server, fs, timeline, hold, speed=30.0)
    replay.wait_position(30 * fs, timeout=10)
    browser.get(server.url)  # a late client: 30 s of windows come in the snapshot
    assert replay.held.wait(10), f"replay did not reach the hold point: {replay.error}"
    browser.wait_drawn(lambda d: d["now"] == hold, 5, f"the stream up to {hold / fs} s")
    time.sleep(0.3)
    drawn = browser.drawn()
    img = screenshot(browser, "live-page-mosquito.png", tmp_path)

    lo_s = drawn["from"] / fs
    assert drawn["task"] == "mosquito" and drawn["history_s"] == 60 and drawn["threshold"] == 0.5
    published = replay.published
    expected_w = [(o["start_s"], o["end_s"], o["p"]) for o in published if o["type"] == "window" and o["end_s"] > lo_s]
    assert [(w["start_s"], w["end_s"], w["p"]) for w in drawn["windows"]] == expected_w
    assert len(expected_w) == 120 - 5  # 60 s of windows every 0.5 s, less the 5 the gap swallowed
    expected_e = [(o["start_s"], o["end_s"], o["p"]) for o in published if o["type"] == "event" and o["end_s"] > lo_s]
    assert [(e["start_s"], e["end_s"], e["p"]) for e in drawn["events"]] == expected_e and len(expected_e) == 2
    opened = [o for o in published if o["type"] == "event_open"][-1]
    assert drawn["open_event"] == {"start_s": opened["start_s"], "p": opened["p"]} and opened["start_s"] > 60
    assert drawn["gaps"] == [{"start": 40 * fs, "samples": 2 * fs, "reason": "overflow"}]
    assert drawn["faults"] == [{"kind": "saturated", "at": 60 * fs, "count": 1600}]
    assert drawn["big"] == f"{expected_w[-1][2]:.2f}"
    assert pixels_of(img, COLORS["event"]) >= 200, "no event colour in the screenshot"
    assert pixels_of(img, COLORS["prob"], tol=30) >= 300, "no probability trace in the screenshot"


def test_page_reconnects_when_the_server_comes_back(browser):
    """``edgewise run`` restarted on the same port: the open page says so, then shows the new stream."""
    first = LiveServer(task="ecg", fs=250)
    host, port = first.start()
    try:
        first.publish({"type": "start", "task": "ecg", "fs": 250.0, "model": "first"})
        first.push_samples(0, np.sin(np.arange(1000) / 10.0))
        browser.get(first.url)
        browser.wait_drawn(lambda d: d["connected"] and d["now"] == 1000, 5, "the first stream")
    finally:
        first.close()
    browser.wait_drawn(lambda d: not d["connected"], 5, "the lost connection")
    assert "reconnecting" in browser.js("return document.getElementById('status').textContent;")
    with LiveServer(host, port, task="ecg", fs=250) as second:
        second.publish({"type": "start", "task": "ecg", "fs": 250.0, "model": "second"})
        second.push_samples(0, np.cos(np.arange(300) / 10.0))
        second.publish({"type": "wave", "wave": "QRS", "onset": 100, "offset": 120})
        d = browser.wait_drawn(lambda d: d["connected"] and d["now"] == 300, 10, "the second stream")
        assert d["waves"] == [{"wave": "QRS", "onset": 100, "offset": 120}]
        assert "second" in browser.js("return document.getElementById('title').textContent;")


# ---- the real thing: edgewise run --serve -------------------------------------------------------
def test_edgewise_run_serves_a_replayed_record(browser, ludb_dir, tmp_path):
    """``edgewise run ecg --source file:REC --realtime --serve``: the page shows what the JSON stream says."""
    import sys

    fs, port = 500, _free_port()
    cmd = [sys.executable, "-m", "edgewise", "run", "ecg", "--source", f"file:{ludb_dir / 'data' / '2'}",
           "--realtime", "--loop", "3", "--serve", f"127.0.0.1:{port}", "--jsonl", "--model", str(MODEL)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONFAULTHANDLER="1"))  # stacks on SIGABRT, if it ever hangs
    records: list[dict] = []
    reader = threading.Thread(target=lambda: records.extend(json.loads(s) for s in proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not records and time.monotonic() < deadline:
            time.sleep(0.05)
        browser.get(f"http://127.0.0.1:{port}/")
        # past the 10-s warm-up, so the P waves of the first 10 s are out too
        browser.wait_drawn(lambda d: d["now"] >= int(12.5 * fs), 25, "12.5 s of the replay")
        proc.send_signal(signal.SIGSTOP)  # freeze the run: page and JSON stream hold still
        time.sleep(0.6)
        drawn = browser.drawn()
        img = screenshot(browser, "live-page-run-ecg.png", tmp_path)
        lo, now = drawn["from"], drawn["now"]
        expected = sorted((r["wave"], r["onset"], r["offset"]) for r in records
                          if r["type"] == "wave" and r["offset"] >= lo and r["onset"] <= now)
        got = sorted((w["wave"], w["onset"], w["offset"]) for w in drawn["waves"])
        assert got == expected and {k for k, _, _ in got} == {"P", "QRS", "T"} and len(got) >= 20
        hr = [r for r in records if r["type"] == "hr" and lo <= r["at"] <= now][-1]
        assert drawn["hr"] == {"at": hr["at"], "bpm": hr["bpm"]}
        for kind in ("P", "QRS", "T"):
            assert pixels_of(img, COLORS[kind]) >= 40, f"no {kind} colour in the screenshot"
        proc.send_signal(signal.SIGCONT)
        time.sleep(0.5)  # running again before it is asked to stop
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack to stderr
            proc.wait(10)
            raise AssertionError(f"edgewise run did not stop on SIGTERM: {proc.stderr.read()[-4000:]}")
        assert rc == 0, proc.stderr.read()[-2000:]
        reader.join(5)
        assert records[-1]["type"] == "end" and records[-1]["reason"] == "stopped"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait()
