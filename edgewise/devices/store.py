"""The results store: every benchmark, local or remote, in one SQLite file.

One row per ``edgewise bench`` result (one model x thread count on one device), with the columns a
comparison filters on (device, its fingerprint and profile, artifact sha256, runtime and version,
precision, threads, the latency statistics, time, edgewise version, the emulated flag) and the full result
JSON beside them, so nothing the benchmark reported is lost when the schema grows.

Safety, because a results history is worth keeping:

- WAL journal, ``busy_timeout`` and one ``BEGIN IMMEDIATE`` transaction per write: several processes
  (``--device a,b,c`` in parallel, two terminals) can add at once without losing or corrupting rows.
- A file that is not an SQLite database, or fails SQLite's header and ``quick_check`` tests (truncated,
  overwritten), or is an SQLite database of something else, or has a newer schema, is refused with a
  ``StoreError`` naming the file — and never written to: the checks run on a read-only connection before
  the read-write one is opened.

Default location: ``$EDGEWISE_DB``, else ``$XDG_DATA_HOME/edgewise/results.sqlite``
(``~/.local/share/edgewise/results.sqlite``).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
import struct
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from edgewise.devices.errors import StoreError

__all__ = ["ResultsStore", "default_db_path", "fingerprint", "SCHEMA_VERSION", "FILTERS"]

SCHEMA_VERSION = 1
_APP = "edgewise-results"
_BUSY_MS = 30_000
_HEADER = b"SQLite format 3\x00"

# column -> SQL type; the first block is filled from the store's own arguments, the rest from the result
_COLUMNS: dict[str, str] = {
    "device": "TEXT NOT NULL", "profile": "TEXT NOT NULL", "fingerprint": "TEXT NOT NULL",
    "emulated": "INTEGER NOT NULL", "added": "TEXT NOT NULL",
    "time": "TEXT", "model": "TEXT", "sha256": "TEXT NOT NULL", "format": "TEXT", "task": "TEXT",
    "precision": "TEXT", "runtime": "TEXT NOT NULL", "runtime_version": "TEXT", "threads": "INTEGER NOT NULL",
    "isa": "TEXT", "unit": "TEXT", "runs": "INTEGER",
    "p50_ms": "REAL NOT NULL", "p90_ms": "REAL", "p99_ms": "REAL", "mean_ms": "REAL", "min_ms": "REAL",
    "model_p50_ms": "REAL", "load_ms": "REAL", "first_ms": "REAL", "peak_rss_mb": "REAL",
    "realtime_factor": "REAL", "selfcheck": "TEXT", "edgewise_version": "TEXT", "hostname": "TEXT",
}
_REQUIRED = ("sha256", "runtime", "threads", "p50_ms")
FILTERS = ("device", "profile", "fingerprint", "emulated", "model", "sha256", "format", "task", "precision",
           "runtime", "runtime_version", "threads", "isa", "edgewise_version")

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, applied TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS results (id INTEGER PRIMARY KEY AUTOINCREMENT, "
    + ", ".join(f"{c} {t}" for c, t in _COLUMNS.items()) + ", result_json TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS results_device ON results (device, sha256, runtime, threads)",
    "CREATE INDEX IF NOT EXISTS results_sha ON results (sha256)",
]


def default_db_path() -> Path:
    """``$EDGEWISE_DB``, else ``$XDG_DATA_HOME/edgewise/results.sqlite`` (``~/.local/share`` by default)."""
    env = os.environ.get("EDGEWISE_DB")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "edgewise" / "results.sqlite"


def fingerprint(result: dict[str, Any]) -> str:
    """A short stable id of the machine a result came from: hostname + CPU (arch, model, cores, features)."""
    cpu = result.get("cpu") or {}
    key = json.dumps({"hostname": result.get("hostname", ""), "arch": cpu.get("arch"), "model": cpu.get("model"),
                      "cores": cpu.get("cores"), "features": sorted(cpu.get("features") or [])}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class ResultsStore:
    """The SQLite results database at ``path`` (created with its folder when absent).

    Raises:
        StoreError: the file exists but is not a usable edgewise results database (never modified then).
    """

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        for attempt in range(5):
            try:
                self._check_existing()
                break
            except StoreError:
                # another process may be writing this new file's first page this instant: look again shortly
                st = self.path.stat() if self.path.is_file() else None
                creating = st is not None and st.st_size < 4096 and time.time() - st.st_mtime < 2.0
                if not creating or attempt == 4:
                    raise
                time.sleep(0.1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(str(self.path), timeout=_BUSY_MS / 1000, isolation_level=None)
            self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            self._wal()
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._create()
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot use the results database {self.path}: {e}; it was left as it is "
                             "(use another --db, or move the file away)") from e

    def _wal(self) -> None:
        """Switch to WAL. The switch needs the file to itself for an instant and SQLite answers "locked" at
        once (without its busy handler) while another process is creating the same new file: retry."""
        deadline = time.time() + _BUSY_MS / 1000
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.time() > deadline:
                    raise
                time.sleep(0.05)

    # -- opening safely ----------------------------------------------------------------------------
    def _refuse(self, why: str) -> StoreError:
        return StoreError(f"refusing the results database {self.path}: {why}; the file was not modified "
                          "(move it away or pass another --db PATH)")

    def _check_existing(self) -> None:
        if not self.path.exists():
            return
        if not self.path.is_file():
            raise self._refuse("not a regular file")
        size = self.path.stat().st_size
        if size == 0:  # SQLite's own convention: an empty file is an empty database
            return
        with open(self.path, "rb") as f:
            head = f.read(100)
        if len(head) < 100 or head[:16] != _HEADER:
            raise self._refuse("not an SQLite database (no 'SQLite format 3' header)")
        page = struct.unpack(">H", head[16:18])[0]
        page = 65536 if page == 1 else page
        counter, pages = struct.unpack(">II", head[24:32])  # file change counter, database size in pages
        valid_for = struct.unpack(">I", head[92:96])[0]     # the size is valid when this equals the counter
        wal = self.path.with_name(self.path.name + "-wal")
        has_wal = wal.exists() and wal.stat().st_size > 0
        if page < 512 or page & (page - 1):
            raise self._refuse(f"corrupt header (page size {page})")
        if size % page and not has_wal:
            raise self._refuse(f"truncated ({size} bytes is not a whole number of {page}-byte pages)")
        if valid_for == counter and pages and size < pages * page and not has_wal:
            raise self._refuse(f"truncated ({size} bytes, the header says {pages} pages of {page} bytes)")
        try:
            uri = f"file:{self.path.resolve()}?mode=ro"
            ro = sqlite3.connect(uri, uri=True, timeout=_BUSY_MS / 1000)
            try:
                ro.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
                check = ro.execute("PRAGMA quick_check").fetchall()
                tables = {r[0] for r in ro.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                meta = dict(ro.execute("SELECT key, value FROM store_meta").fetchall()) if "store_meta" in tables else {}
            finally:
                ro.close()
        except sqlite3.DatabaseError as e:
            raise self._refuse(f"SQLite cannot read it ({e})") from e
        if [r[0] for r in check] != ["ok"]:
            raise self._refuse("it fails SQLite's quick_check: " + "; ".join(str(r[0]) for r in check[:3]))
        user_tables = {t for t in tables if not t.startswith("sqlite_")}
        if user_tables and meta.get("application") != _APP:
            raise self._refuse(f"an SQLite database of something else (tables: {', '.join(sorted(user_tables))})")
        if int(meta.get("schema_version", 0) or 0) > SCHEMA_VERSION:
            raise self._refuse(f"written by a newer edgewise (schema {meta['schema_version']} > {SCHEMA_VERSION}); "
                               "upgrade edgewise to read it")

    def _create(self) -> None:
        with self._transaction() as c:
            for stmt in _SCHEMA:
                c.execute(stmt)
            c.execute("INSERT OR IGNORE INTO store_meta VALUES ('application', ?)", (_APP,))
            c.execute("INSERT OR IGNORE INTO store_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            if c.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == 0:
                c.execute("INSERT INTO schema_version VALUES (?, ?)", (SCHEMA_VERSION, _now()))

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``BEGIN IMMEDIATE`` takes the write lock up front (waits up to busy_timeout)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- public API ----------------------------------------------------------------------------------
    def add(self, result: dict[str, Any], *, device: str, profile: str, fingerprint: str) -> int:
        """Store one bench result; returns its row id.

        Raises:
            StoreError: the result lacks a required field or reports an error instead of timings.
        """
        if not isinstance(result, dict):
            raise StoreError(f"a bench result must be a JSON object, got {type(result).__name__}")
        if result.get("error"):
            raise StoreError(f"not storing a failed benchmark of {result.get('model', '?')}: {result['error']}")
        missing = [k for k in _REQUIRED if result.get(k) is None]
        if missing:
            raise StoreError(f"the bench result of {result.get('model', '?')} lacks {missing}; "
                             "produce it with `edgewise bench --json`")
        p50 = result["p50_ms"]
        if isinstance(p50, bool) or not isinstance(p50, (int, float)) or not math.isfinite(p50) or p50 < 0:
            raise StoreError(f"the bench result of {result.get('model', '?')} has p50_ms={p50!r}; expected a "
                             "non-negative number of milliseconds")
        row = {c: result.get(c) for c in _COLUMNS}
        row.update(device=device, profile=profile, fingerprint=fingerprint,
                   emulated=int(bool(result.get("emulated"))), added=_now(), threads=int(result["threads"]))
        row = {k: (json.dumps(v) if isinstance(v, (dict, list)) else v) for k, v in row.items()}
        cols = ", ".join(row)
        marks = ", ".join("?" for _ in row)
        with self._transaction() as c:
            cur = c.execute(f"INSERT INTO results ({cols}, result_json) VALUES ({marks}, ?)",
                            (*row.values(), json.dumps(result, sort_keys=True)))
            return int(cur.lastrowid)

    def query(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored results matching ``column=value`` filters (a list/tuple value means any of them), oldest first.

        Each dict is the full result as the benchmark reported it, plus the store's ``id``, ``device``,
        ``profile``, ``fingerprint``, ``emulated`` and ``added``.
        """
        bad = sorted(set(filters) - set(FILTERS))
        if bad:
            raise ValueError(f"unknown filter(s) {bad}; filter on {', '.join(FILTERS)}")
        where, args = [], []
        for k, v in filters.items():
            if isinstance(v, (list, tuple, set)):
                where.append(f"{k} IN ({', '.join('?' for _ in v)})")
                args += [int(x) if k == "emulated" else x for x in v]
            else:
                where.append(f"{k} = ?")
                args.append(int(bool(v)) if k == "emulated" else v)
        sql = "SELECT id, device, profile, fingerprint, emulated, added, result_json FROM results"
        if where:
            sql += " WHERE " + " AND ".join(where)
        out = []
        for rid, dev, prof, fp, emu, added, blob in self._conn.execute(sql + " ORDER BY id", args):
            result = json.loads(blob)
            result.update(id=rid, device=dev, profile=prof, fingerprint=fp, emulated=bool(emu), added=added)
            out.append(result)
        return out

    def __len__(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.query())

    def integrity_check(self) -> str:
        """SQLite's full ``integrity_check``: ``"ok"`` or the problems found."""
        return "; ".join(str(r[0]) for r in self._conn.execute("PRAGMA integrity_check").fetchall())

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
