"""The SQLite results store: round trip, filters, concurrent writers, and corrupt files refused untouched."""
from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from edgewise.devices.errors import StoreError
from edgewise.devices.store import SCHEMA_VERSION, ResultsStore, default_db_path, fingerprint


def _result(**over) -> dict:
    r = {"model": "ecg-unet-int8.tflite", "path": "/x/ecg-unet-int8.tflite", "sha256": "ab" * 32,
         "format": "tflite", "precision": "int8", "task": "ecg-delineation", "runtime": "litert",
         "runtime_version": "2.3.0", "threads": 1, "unit": "10 s of ECG at 500 Hz (3 windows)", "load_ms": 3.0,
         "first_ms": 2.0, "warmup_runs": 10, "runs": 100, "p50_ms": 1.2, "p90_ms": 1.4, "p99_ms": 2.0,
         "mean_ms": 1.3, "min_ms": 1.1, "model_p50_ms": 0.7, "throughput_per_s": 833.3, "realtime_factor": 8333.3,
         "peak_rss_mb": 80.0, "size_bytes": 88000, "cpu": {"arch": "x86_64", "model": "AMD EPYC", "cores": 2,
         "features": ["avx2"], "isa": "x86_64-avx2"}, "isa": "x86_64-avx2", "device": "this-machine",
         "emulated": False, "selfcheck": "ok", "edgewise_version": "0.1.0", "time": "2026-12-05T23:59:00+00:00",
         "hostname": "host"}
    r.update(over)
    return r


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_add_query_round_trip(tmp_path):
    db = tmp_path / "sub" / "results.sqlite"
    with ResultsStore(db) as store:
        a = store.add(_result(), device="this-machine", profile="this-machine", fingerprint="f1")
        b = store.add(_result(threads=2, runtime="onnxruntime", p50_ms=2.5), device="pi5-kitchen", profile="pi5",
                      fingerprint="f2")
        c = store.add(_result(emulated=True), device="arm64-emu", profile="pi4b", fingerprint="f3")
        assert (a, b, c) == (1, 2, 3) and len(store) == 3
        got = store.query()
        assert [r["id"] for r in got] == [1, 2, 3]
        assert got[0]["cpu"]["model"] == "AMD EPYC"  # the full result JSON is kept
        assert got[1]["device"] == "pi5-kitchen" and got[1]["profile"] == "pi5" and got[1]["fingerprint"] == "f2"
        assert [r["id"] for r in store.query(runtime="litert")] == [1, 3]
        assert [r["id"] for r in store.query(emulated=True)] == [3]
        assert [r["id"] for r in store.query(threads=[1, 2], device="pi5-kitchen")] == [2]
        assert store.integrity_check() == "ok"
        with pytest.raises(ValueError, match=r"unknown filter\(s\) \['colour'\]"):
            store.query(colour="red")
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    cols = {r[1] for r in con.execute("PRAGMA table_info(results)")}
    for col in ("device", "profile", "fingerprint", "sha256", "runtime", "runtime_version", "precision", "threads",
                "p50_ms", "p90_ms", "p99_ms", "time", "edgewise_version", "emulated", "result_json"):
        assert col in cols
    con.close()
    with ResultsStore(db) as again:  # reopening keeps everything
        assert len(again) == 3


@pytest.mark.parametrize("bad, match", [
    ({"p50_ms": None}, r"lacks \['p50_ms'\]"),
    ({"sha256": None, "runtime": None}, r"lacks \['sha256', 'runtime'\]"),
    ({"p50_ms": float("nan")}, "p50_ms=nan"),
    ({"p50_ms": "fast"}, "p50_ms='fast'"),
    ({"error": "selfcheck failed"}, "not storing a failed benchmark"),
], ids=["no-p50", "no-sha", "nan", "text", "error"])
def test_bad_results_are_refused(tmp_path, bad, match):
    with ResultsStore(tmp_path / "r.sqlite") as store:
        with pytest.raises(StoreError, match=match):
            store.add(_result(**bad), device="d", profile="p", fingerprint="f")
        assert len(store) == 0


def test_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEWISE_DB", str(tmp_path / "x.sqlite"))
    assert default_db_path() == tmp_path / "x.sqlite"
    monkeypatch.delenv("EDGEWISE_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "edgewise" / "results.sqlite"


def test_fingerprint_is_stable_and_tells_machines_apart():
    assert fingerprint(_result()) == fingerprint(_result(p50_ms=9.0))
    assert fingerprint(_result()) != fingerprint(_result(hostname="other"))
    assert len(fingerprint(_result())) == 16


def test_concurrent_writers(tmp_path):
    db = tmp_path / "shared.sqlite"
    n = 60
    code = textwrap.dedent(f"""
        import sys
        from edgewise.devices.store import ResultsStore
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_store import _result
        store = ResultsStore(sys.argv[1])
        for i in range({n}):
            store.add(_result(p50_ms=float(i), hostname=sys.argv[2]), device=sys.argv[2], profile="pi5",
                      fingerprint=sys.argv[2])
        store.close()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db), who], stderr=subprocess.PIPE, text=True)
             for who in ("writer-a", "writer-b")]
    errs = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    with ResultsStore(db) as store:
        rows = store.query()
        assert len(rows) == 2 * n
        assert len({r["id"] for r in rows}) == 2 * n
        for who in ("writer-a", "writer-b"):
            assert sorted(r["p50_ms"] for r in rows if r["device"] == who) == [float(i) for i in range(n)]
        assert store.integrity_check() == "ok"


def _good_db(path: Path, rows: int = 200) -> None:
    with ResultsStore(path) as store:
        for i in range(rows):
            store.add(_result(p50_ms=float(i), unit="x" * 200), device="d", profile="p", fingerprint="f")
    con = sqlite3.connect(path)  # fold the WAL into the main file, as a finished session leaves it
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("PRAGMA journal_mode = DELETE")
    con.close()


@pytest.mark.parametrize("damage, match", [
    ("random", "not an SQLite database"),
    ("text", "not an SQLite database"),
    ("half", "truncated"),
    ("pages", "truncated"),
    ("header-only", "truncated"),
    ("scribble", "quick_check|SQLite cannot read it|malformed"),
], ids=lambda v: v)
def test_corrupt_database_is_refused_and_never_written(tmp_path, damage, match):
    db = tmp_path / "results.sqlite"
    if damage == "random":
        db.write_bytes(os.urandom(8192))
    elif damage == "text":
        db.write_text("device,p50\npi,1.0\n" * 100)
    else:
        _good_db(db)
        data = db.read_bytes()
        page = int.from_bytes(data[16:18], "big")
        if damage == "half":
            data = data[: len(data) // 2 + 100]
        elif damage == "pages":  # whole pages, but fewer than the header says
            data = data[: (len(data) // page // 2) * page]
        elif damage == "header-only":
            data = data[:100]
        elif damage == "scribble":  # overwrite the middle of every page after the first with junk
            junk = bytearray(data)
            for start in range(page, len(junk), page):
                junk[start + 8: start + page // 2] = os.urandom(page // 2 - 8)
            data = bytes(junk)
        db.write_bytes(data)
    before = _sha(db)
    with pytest.raises(StoreError, match=match) as e:
        ResultsStore(db)
    assert str(db) in str(e.value) and "not modified" in str(e.value)
    assert _sha(db) == before
    assert not Path(str(db) + "-wal").exists() or Path(str(db) + "-wal").stat().st_size == 0


def test_other_sqlite_databases_are_refused(tmp_path):
    db = tmp_path / "other.sqlite"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE photos (id INTEGER, name TEXT)")
    con.execute("INSERT INTO photos VALUES (1, 'cat')")
    con.commit()
    con.close()
    before = _sha(db)
    with pytest.raises(StoreError, match=r"an SQLite database of something else \(tables: photos\)"):
        ResultsStore(db)
    assert _sha(db) == before


def test_newer_schema_is_refused(tmp_path):
    db = tmp_path / "r.sqlite"
    _good_db(db, rows=1)
    con = sqlite3.connect(db)
    con.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    before = _sha(db)
    with pytest.raises(StoreError, match="newer edgewise"):
        ResultsStore(db)
    assert _sha(db) == before


def test_empty_file_is_a_new_database(tmp_path):
    db = tmp_path / "r.sqlite"
    db.touch()
    with ResultsStore(db) as store:
        store.add(_result(), device="d", profile="p", fingerprint="f")
        assert len(store) == 1


def test_a_folder_is_refused(tmp_path):
    with pytest.raises(StoreError, match="not a regular file"):
        ResultsStore(tmp_path)
