"""The live loop: source -> engine -> writers (and the live page), until the source ends or a signal.

SIGINT and SIGTERM set the source's stop flag; the loop then flushes the engine (the waves or events
the samples so far allow are still emitted), writes an "end" record with the counts and closes
everything. An exception from the source is reported as a "fault" record before the same flush.
"""
from __future__ import annotations

import signal
import threading
import time
from typing import Any, Protocol

from edgewise.runtime.live.sources.base import Block, Fault, Gap, Source

__all__ = ["Engine", "run_live"]


class Engine(Protocol):
    def start_record(self) -> dict: ...
    def feed(self, block: Block) -> list[dict]: ...
    def gap(self, gap: Gap) -> list[dict]: ...
    def fault(self, fault: Fault) -> list[dict]: ...
    def flush(self) -> list[dict]: ...
    def summary(self) -> dict: ...


def _install_signals(stop: threading.Event) -> dict:
    if threading.current_thread() is not threading.main_thread():
        return {}
    old = {}

    def handler(signum, frame):  # noqa: ARG001
        stop.set()

    for s in (signal.SIGINT, signal.SIGTERM):
        old[s] = signal.signal(s, handler)
    return old


def run_live(source: Source, engine: Engine, writers: list[Any], *, server: Any = None,
             samples_to_server: bool = False) -> dict:
    """Run until the source ends or is stopped; returns the "end" record (also written)."""
    old = _install_signals(source.stop)
    counts: dict[str, int] = {}
    t0 = time.monotonic()
    error = None

    def emit(records: list[dict]) -> None:
        for rec in records:
            counts[rec["type"]] = counts.get(rec["type"], 0) + 1
            for w in writers:
                w.write(rec)
            if server is not None:
                server.publish(rec)
        if any(getattr(w, "broken", False) for w in writers):
            source.stop.set()  # the console reader went away: stop like any Unix tool

    try:
        emit([engine.start_record()])
        for item in source:
            if isinstance(item, Block):
                if server is not None and samples_to_server:
                    x = item.samples
                    server.push_samples(item.start, x[:, 0] if x.ndim == 2 else x)
                emit(engine.feed(item))
            elif isinstance(item, Gap):
                emit(engine.gap(item))
            elif isinstance(item, Fault):
                emit(engine.fault(item))
    except Exception as e:  # the device vanished for good, a decoding error...: report, then flush
        error = e
        emit([{"type": "fault", "kind": "source-error", "at": int(engine.summary().get("samples", 0)), "count": 1,
               "detail": f"{type(e).__name__}: {e}"}])
    finally:
        try:
            emit(engine.flush())
        finally:
            source.close()
            for s, h in old.items():
                signal.signal(s, h)
    end = {"type": "end", "reason": "stopped" if source.stop.is_set() else ("error" if error else "end of input"),
           "wall_s": round(time.monotonic() - t0, 3), **engine.summary(),
           "records": counts, "source_faults": dict(source.counters)}
    emit([end])
    return end
