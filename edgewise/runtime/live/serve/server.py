"""The live page's server: the standard library's HTTP server, server-sent events, never blocking the engine.

``edgewise run ... --serve HOST:PORT`` starts a ``LiveServer``; the engine thread calls ``publish`` for
every stream object it emits (the dicts ``--jsonl`` prints) and ``push_samples`` with the raw ECG trace.
Routes:

- ``/``: the page (plain HTML + JS + canvas, no build step, nothing from the network: the Pi is offline);
- ``/events``: server-sent events. The first message is a snapshot of the last ``history_s`` seconds,
  then every object as published, and ``{"type": "samples", "i": [...], "v": [...], "end": n}`` with the
  decimated trace (flushed every ~50 ms). One ``data:`` line of JSON per event.
- ``/state``: the same snapshot, as JSON; ``/healthz``: liveness and counters.

Why it can never stall the engine: every client has a bounded queue; ``publish`` encodes the object once
and puts it into each queue without waiting. A client whose queue is full (a slow phone on bad Wi-Fi, a
dead connection the kernel has not noticed yet) is dropped and counted; its browser reconnects and starts
again from a snapshot (EventSource does that on its own). The work under the lock is a few dict updates
and one ``json.dumps`` per object.

Binding: 127.0.0.1 unless the caller names another address (the CLI passes what the user typed).
Nothing is printed: ``start`` returns the bound address, the caller says where to point a browser.
"""
from __future__ import annotations

import ipaddress
import json
import math
import queue
import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from edgewise.runtime.errors import InputError
from edgewise.runtime.live.serve.history import History

__all__ = ["LiveServer", "parse_serve_address", "is_loopback"]

DEFAULT_HOST = "127.0.0.1"
_ASSETS = {"/": ("page.html", "text/html; charset=utf-8"), "/page.js": ("page.js", "text/javascript; charset=utf-8")}
_CLOSE = None  # queue sentinel: the server is closing


def parse_serve_address(spec: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``--serve``) -> (host, port). ``"8080"`` and ``":8080"`` mean 127.0.0.1:8080;
    IPv6 hosts go in brackets (``"[::1]:8080"``); port 0 picks a free port."""
    s = str(spec).strip()
    host, sep, port_s = s.rpartition(":")
    if not sep:
        host, port_s = "", s
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise InputError(f"--serve {spec!r}: put an IPv6 address in brackets, e.g. [::1]:8080")
    try:
        port = int(port_s)
    except ValueError:
        raise InputError(f"--serve {spec!r}: expected HOST:PORT (e.g. 127.0.0.1:8080 or 0.0.0.0:8080)") from None
    if not 0 <= port <= 65535:
        raise InputError(f"--serve {spec!r}: port must be 0..65535, got {port}")
    return (host or DEFAULT_HOST), port


def is_loopback(host: str) -> bool:
    """True when ``host`` can only be reached from this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json_safe(obj):
    """Replace non-finite floats (which JSON.parse rejects) by None and numpy scalars by Python ones."""
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.ndarray):
        return _json_safe(obj.tolist())
    return obj


def _encode(obj: dict) -> bytes:
    """One server-sent event: ``data: <json>\\n\\n`` (JSON without newlines)."""
    try:
        text = json.dumps(obj, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(_json_safe(obj), separators=(",", ":"), allow_nan=False, default=str)
    return b"data: " + text.encode() + b"\n\n"


@dataclass(eq=False)
class _Client:
    """One connected /events client: its bounded queue and its socket (shut down to drop it)."""

    sock: socket.socket
    peer: str
    queue: "queue.Queue[bytes | None]"
    dropped: bool = False


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 16

    def handle_error(self, request, client_address) -> None:
        """A browser that went away is normal; anything else is counted (``/healthz``), never printed."""
        err = sys.exc_info()[1]
        if isinstance(err, (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout)):
            return
        live = getattr(self, "live", None)
        if live is not None:
            live.stats["errors"] += 1
            live.last_error = f"{type(err).__name__}: {err}"

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(host), a reverse-DNS look-up that can hang for
        # seconds on an offline Pi; the name is only used in CGI variables.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


class LiveServer:
    """Serves the live page for one stream.

    Args:
        host: address to bind; 127.0.0.1 unless the user named another one (``--serve 0.0.0.0:8080``).
        port: TCP port; 0 picks a free one (``start`` returns it).
        task: "ecg" (trace, P/QRS/T spans, heart rate) or "mosquito" (probability trace, threshold, events).
        fs: the source's sample rate in Hz (indices in ``onset``/``offset``/``at``/``start`` are at fs).
        history_s: seconds shown and kept (default 10 s for ECG, 60 s for mosquito).
        threshold: mosquito operating threshold drawn on the page (a ``start`` object's ``threshold``
            or ``on`` field overrides it).
        client_queue: messages buffered per client before it counts as slow and is dropped (~50 ms of
            trace per message: 512 is ~25 s of backlog).
        max_points_per_s: trace points per second sent to browsers.
        flush_s: the trace is sent to browsers at least this often (and at most once per push).
        max_clients: event streams served at once (each holds a thread); more get 503.

    Example::

        server = LiveServer(*parse_serve_address(args.serve), task="ecg", fs=source.rate)
        host, port = server.start()
        ...  # engine: server.push_samples(block.start, block.samples[:, 0]); server.publish(obj)
        server.close()
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, *, task: str, fs: float,
                 history_s: float | None = None, threshold: float = 0.5, client_queue: int = 512,
                 max_points_per_s: int = 250, flush_s: float = 0.05, max_clients: int = 16):
        if not isinstance(host, str) or not host:
            raise InputError(f"host must be an address such as 127.0.0.1, got {host!r}")
        if max_clients < 1:
            raise InputError(f"max_clients must be >= 1, got {max_clients}")
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError(f"port must be 0..65535 (0: any free port), got {port!r}")
        if client_queue < 2:
            raise InputError(f"client_queue must be >= 2 messages, got {client_queue}")
        self.host, self.port = host, port
        self.history = History(task, fs, history_s=history_s, threshold=threshold,
                               max_points_per_s=max_points_per_s)
        self.client_queue, self.flush_s = int(client_queue), float(flush_s)
        self._lock = threading.Lock()
        self._clients: list[_Client] = []
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._pending_end = 0  # one past the last raw sample received
        self._sent_end = 0  # ... and the last one browsers were told about
        self._last_flush = time.monotonic()
        self._closing = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._started_at = 0.0
        self.max_clients = int(max_clients)
        self.last_error = ""
        self.stats = {"published": 0, "sample_messages": 0, "connections": 0, "dropped_clients": 0,
                      "refused_clients": 0, "errors": 0}

    # ---- lifecycle -------------------------------------------------------------------------------
    def start(self) -> tuple[str, int]:
        """Bind and serve in daemon threads; returns the bound (host, port). Idempotent."""
        if self._httpd is not None:
            return self.address
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
            family = infos[0][0]
            cls = _HTTPServer6 if family == socket.AF_INET6 else _HTTPServer
            httpd = cls((self.host, self.port), _Handler, bind_and_activate=True)
        except OSError as e:
            raise InputError(f"cannot serve the live page on {self.host}:{self.port}: {e.strerror or e}; "
                             "pick another port (or port 0 for any free one)") from e
        httpd.live = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._started_at = time.monotonic()
        serve = lambda: httpd.serve_forever(poll_interval=0.1)  # noqa: E731 - close() returns within 0.1 s
        for name, target in (("http", serve), ("flush", self._flush_loop)):
            t = threading.Thread(target=target, name=f"edgewise-live-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        return self.address

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); before ``start``, what was asked for."""
        if self._httpd is None:
            return self.host, self.port
        return str(self._httpd.server_address[0]), int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    def close(self) -> None:
        """Stop serving: flush the trace, end every event stream, close the socket. Safe to call twice."""
        if self._closing.is_set():
            return
        with self._lock:
            self._flush_locked(final=True)
            self._closing.set()
            for c in self._clients:
                self._end_client(c)
            self._clients.clear()
        if self._httpd is not None:
            # shutdown() waits for serve_forever() to notice; bounded, so a wedged serving thread can never
            # keep the process (and the engine's final flush) from ending
            stopper = threading.Thread(target=self._httpd.shutdown, name="edgewise-live-shutdown", daemon=True)
            stopper.start()
            stopper.join(timeout=5.0)
            self._httpd.server_close()
        for t in self._threads:
            t.join(timeout=2.0)

    def __enter__(self) -> "LiveServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- engine side: never blocks ---------------------------------------------------------------
    def publish(self, obj: dict) -> None:
        """Send one stream object: ``{"type": "start" | "wave" | "hr" | "window" | "event" | "gap" | "fault", ...}``.

        Other types (``summary``, ...) are forwarded and the latest of each kept in the snapshot.
        """
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            raise InputError(f"publish takes a stream object (a dict with a 'type'), got {obj!r:.200}")
        data = _encode(obj)
        with self._lock:
            self._flush_locked()  # the trace up to now goes first: a wave never arrives before its samples
            self.history.apply(obj)
            if obj["type"] == "start":  # a new stream: indices restart at 0
                self._pending.clear()
                self._pending_end = self._sent_end = 0
            self.stats["published"] += 1
            self._broadcast_locked(data)

    def push_samples(self, start: int, samples: np.ndarray) -> None:
        """Add raw trace samples (float [n] or [n, 1], at fs) whose first is at index ``start``."""
        x = np.asarray(samples)
        if x.ndim == 2 and x.shape[1] == 1:
            x = x[:, 0]
        if x.ndim != 1:
            raise InputError(f"push_samples takes one channel, float [n] (or [n, 1]), got shape {x.shape}")
        if not x.size:
            return
        with self._lock:
            i, v = self.history.add_samples(int(start), x)
            if i.size:
                self._pending.append((i, v))
            self._pending_end = self.history.decimator.end
            if time.monotonic() - self._last_flush >= self.flush_s:
                self._flush_locked()

    def snapshot(self) -> dict:
        """The last ``history_s`` seconds as the page receives it first (also served at /state)."""
        with self._lock:
            self._flush_locked()
            return self._snapshot_locked()

    def health(self) -> dict:
        with self._lock:
            return {"ok": not self._closing.is_set(), "task": self.history.task, "fs": self.history.fs,
                    "now": int(self.history.now), "clients": len(self._clients),
                    "uptime_s": round(time.monotonic() - self._started_at, 3) if self._started_at else 0.0,
                    **self.stats}

    # ---- internals (hold self._lock) -------------------------------------------------------------
    def _snapshot_locked(self) -> dict:
        snap = self.history.snapshot()
        snap["stats"] = dict(self.stats)
        return snap

    def _flush_locked(self, final: bool = False) -> None:
        if final:
            i, v = self.history.decimator.flush()
            if i.size:
                self.history.points.append((i, v))
                self._pending.append((i, v))
        self._last_flush = time.monotonic()
        if not self._pending and self._pending_end <= self._sent_end:
            return
        if self._pending:
            i = np.concatenate([p[0] for p in self._pending])
            v = np.concatenate([p[1] for p in self._pending])
        else:
            i, v = np.zeros(0, dtype=np.int64), np.zeros(0)
        self._pending.clear()
        self._sent_end = self._pending_end
        self.stats["sample_messages"] += 1
        self._broadcast_locked(_encode(History.samples_message(i, v, self._pending_end)))

    def _broadcast_locked(self, data: bytes) -> None:
        for c in list(self._clients):
            try:
                c.queue.put_nowait(data)
            except queue.Full:
                self._drop_locked(c)

    def _drop_locked(self, c: _Client) -> None:
        """A client that cannot keep up: forget it and shut its socket (its writer thread then ends)."""
        c.dropped = True
        self.stats["dropped_clients"] += 1
        if c in self._clients:
            self._clients.remove(c)
        self._end_client(c)

    @staticmethod
    def _end_client(c: _Client) -> None:
        try:
            c.queue.put_nowait(_CLOSE)
        except queue.Full:
            pass
        try:
            c.sock.shutdown(socket.SHUT_RDWR)  # never blocks; wakes a writer stuck in send()
        except OSError:
            pass

    def _register(self, sock: socket.socket, peer: str) -> _Client | None:
        """A new /events client: its queue starts with the snapshot, atomically with joining the broadcast.
        None when ``max_clients`` streams are already open."""
        c = _Client(sock, peer, queue.Queue(maxsize=self.client_queue))
        with self._lock:
            if len(self._clients) >= self.max_clients:
                self.stats["refused_clients"] += 1
                return None
            self._flush_locked()
            c.queue.put_nowait(_encode(self._snapshot_locked()))
            if self._closing.is_set():
                c.queue.put_nowait(_CLOSE)
            else:
                self._clients.append(c)
            self.stats["connections"] += 1
        return c

    def _unregister(self, c: _Client) -> None:
        with self._lock:
            if c in self._clients:
                self._clients.remove(c)

    def _flush_loop(self) -> None:
        """Sends the trace's tail when the engine goes quiet (a stalled sensor still shows its last samples)."""
        while not self._closing.wait(self.flush_s):
            with self._lock:
                if time.monotonic() - self._last_flush >= self.flush_s:
                    self._flush_locked()


class _Handler(BaseHTTPRequestHandler):
    """GET only: the page, its script, the event stream, the snapshot and the health check."""

    server_version = "edgewise-live"
    timeout = 10.0  # a send that stalls this long ends the connection (a vanished client)
    keepalive_s = 10.0

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        """Print nothing: the CLI owns the terminal."""

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout):
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        live: LiveServer = self.server.live  # type: ignore[attr-defined]
        path = self.path.split("?", 1)[0]
        if path in _ASSETS:
            name, ctype = _ASSETS[path]
            try:
                body = (Path(__file__).parent / name).read_bytes()
            except OSError:
                msg = f"{name} is missing from this install of edgewise (package data of edgewise.runtime.live.serve)\n"
                self._send(500, msg.encode(), "text/plain; charset=utf-8")
                return
            self._send(200, body, ctype)
        elif path == "/events":
            self._events(live)
        elif path == "/state":
            self._send(200, json.dumps(_json_safe(live.snapshot()), allow_nan=False).encode(), "application/json")
        elif path == "/healthz":
            self._send(200, json.dumps(live.health()).encode(), "application/json")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _events(self, live: LiveServer) -> None:
        client = live._register(self.connection, f"{self.client_address[0]}:{self.client_address[1]}")
        if client is None:
            self._send(503, f"too many viewers (at most {live.max_clients})\n".encode(), "text/plain; charset=utf-8")
            return
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Accel-Buffering", "no")
            self.end_headers()
            self.wfile.write(b"retry: 1000\n\n")  # EventSource reconnects after 1 s
            last = time.monotonic()
            while True:
                try:
                    data = client.queue.get(timeout=1.0)
                except queue.Empty:
                    if time.monotonic() - last >= self.keepalive_s:
                        self.wfile.write(b": keepalive\n\n")  # finds dead peers; keeps proxies open
                        last = time.monotonic()
                    continue
                if data is _CLOSE:
                    break
                self.wfile.write(data)
                last = time.monotonic()
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, socket.timeout, OSError):
            pass  # the browser went away (or was dropped as too slow): nothing to report
        finally:
            live._unregister(client)
            self.close_connection = True
