"""Where live records go: readable lines or JSON lines on stdout, and rotating log files.

Every writer flushes each record as it is written, so a crash or power cut loses nothing already
computed (at most the line being written).
"""
from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import IO

__all__ = ["JsonlWriter", "TextWriter", "RotatingLog"]


class _Console:
    """A console writer; a reader that went away (``| head``) ends the run quietly (``broken``)."""

    def __init__(self, stream: IO[str]):
        self.stream = stream
        self.broken = False

    def _put(self, line: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except BrokenPipeError:
            self.broken = True
            try:  # keep the interpreter's own final flush from failing too
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self.stream.fileno())
            except (OSError, ValueError, AttributeError):
                pass


class JsonlWriter(_Console):
    """One JSON object per line."""

    def write(self, rec: dict) -> None:
        self._put(json.dumps(rec, separators=(", ", ": ")))


class TextWriter(_Console):
    """Readable live lines: a wave per line with its time, the heart rate, events, faults."""

    def __init__(self, stream: IO[str], fs: float = 1.0):
        super().__init__(stream)
        self.fs = fs

    def _line(self, rec: dict) -> str | None:
        t = rec.get("type")
        if t == "start":
            self.fs = float(rec.get("fs") or self.fs)
            return f"edgewise run {rec.get('task')}: {rec.get('model', '')} at {self.fs:g} Hz (Ctrl-C stops)"
        if t == "wave":
            on, off = rec["onset"], rec["offset"]
            return f"{on / self.fs:9.3f} s  {rec['wave']:<3}  {(off - on + 1) * 1000 / self.fs:4.0f} ms  [{on}..{off}]"
        if t == "hr":
            return f"{rec['at'] / self.fs:9.3f} s  heart rate {rec['bpm']:.0f} bpm"
        if t == "event_open":
            return f"{rec['start_s']:9.3f} s  MOSQUITO? p {rec['p']:.2f} (event open)"
        if t == "event":
            return f"{rec['start_s']:9.3f} s  MOSQUITO {rec['start_s']:.2f}-{rec['end_s']:.2f} s  p {rec['p']:.2f}"
        if t == "window":
            return None  # too chatty for a console; --jsonl has them
        if t == "gap":
            return f"{rec['start'] / self.fs:9.3f} s  ! gap of {rec['samples']} samples ({rec['reason']})"
        if t == "fault":
            return f"{rec['at'] / self.fs:9.3f} s  ! {rec['kind']} x{rec['count']}: {rec.get('detail', '')}"
        if t == "end":
            found = rec.get("waves") or {k: v for k, v in rec.get("records", {}).items() if k in ("event", "window")}
            faults = rec.get("source_faults") or {}
            return (f"{rec['reason']}: {rec.get('seconds', 0):.1f} s of input in {rec['wall_s']:.1f} s; "
                    + ", ".join(f"{v} {k}" for k, v in found.items())
                    + (f"; source faults: {', '.join(f'{k} {v}' for k, v in faults.items())}" if faults else ""))
        return None

    def write(self, rec: dict) -> None:
        line = self._line(rec)
        if line is not None:
            self._put(line)


class RotatingLog:
    """``DIR/edgewise-<task>-<UTC time>-<n>.jsonl`` (every record) and ``.csv`` (waves or events), rotated
    every ``max_seconds`` or ``max_bytes``; each line is flushed (and fsync'd every ``sync_s``)."""

    CSV_FIELDS = {"ecg": ("wave", "onset", "offset"), "mosquito": ("start_s", "end_s", "p")}
    CSV_TYPES = {"ecg": "wave", "mosquito": "event"}

    def __init__(self, folder: str | Path, task: str, *, max_seconds: float = 3600.0, max_bytes: int = 50 * 2**20,
                 sync_s: float = 5.0):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.task, self.max_seconds, self.max_bytes, self.sync_s = task, max_seconds, max_bytes, sync_s
        self.files: list[Path] = []
        self._jsonl = self._csv_f = self._csv = None
        self._opened = self._synced = 0.0
        self._seq = 0
        self._open()

    def _open(self) -> None:
        self.close()
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        while True:  # names sort in time order: UTC start, then a sequence number
            self._seq += 1
            base = self.folder / f"edgewise-{self.task}-{stamp}-{self._seq:03d}"
            if not base.with_suffix(".jsonl").exists():
                break
        self._jsonl = open(base.with_suffix(".jsonl"), "a", encoding="utf-8")
        self._csv_f = open(base.with_suffix(".csv"), "a", newline="", encoding="utf-8")
        self._csv = csv.writer(self._csv_f)
        self._csv.writerow(self.CSV_FIELDS.get(self.task, ("type",)))
        self.files += [base.with_suffix(".jsonl"), base.with_suffix(".csv")]
        self._opened = self._synced = time.monotonic()

    def write(self, rec: dict) -> None:
        now = time.monotonic()
        if now - self._opened > self.max_seconds or self._jsonl.tell() > self.max_bytes:
            self._open()
        self._jsonl.write(json.dumps(rec) + "\n")
        self._jsonl.flush()
        if rec.get("type") == self.CSV_TYPES.get(self.task):
            self._csv.writerow([rec.get(k) for k in self.CSV_FIELDS[self.task]])
            self._csv_f.flush()
        if now - self._synced > self.sync_s:
            for f in (self._jsonl, self._csv_f):
                os.fsync(f.fileno())
            self._synced = now

    def close(self) -> None:
        for f in (self._jsonl, self._csv_f):
            if f is not None and not f.closed:
                f.flush()
                os.fsync(f.fileno())
                f.close()
