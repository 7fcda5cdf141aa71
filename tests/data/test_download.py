"""The LUDB downloader against a local HTTP server on 127.0.0.1 serving a copy of (part of) the shared data."""
from __future__ import annotations

import hashlib
import shutil
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edgewise.data.download import DownloadError, fetch_dataset, parse_sums


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def mirror(tmp_path, ludb_dir):
    """A release folder with 3 records + SHA256SUMS.txt, served on 127.0.0.1."""
    root = tmp_path / "mirror"
    (root / "data").mkdir(parents=True)
    files = []
    for rec in ("1", "2", "3"):
        for p in sorted((ludb_dir / "data").glob(f"{rec}.*")):
            shutil.copy(p, root / "data" / p.name)
            files.append(f"data/{p.name}")
    for name in ("RECORDS", "LICENSE.txt"):
        shutil.copy(ludb_dir / name, root / name)
        files.append(name)
    sums = "".join(f"{hashlib.sha256((root / f).read_bytes()).hexdigest()}  {f}\n" for f in files)
    (root / "SHA256SUMS.txt").write_text(sums)
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/", len(files)
    server.shutdown()
    server.server_close()


def test_fetch_verifies_and_resumes(mirror, tmp_path):
    root, url, n = mirror
    dest = tmp_path / "ludb"
    res = fetch_dataset("ludb", dest, base_url=url, progress=False)
    assert res == {"dest": str(dest), "files": n, "downloaded": n, "skipped": 0}
    assert (dest / "data" / "1.hea").read_bytes() == (root / "data" / "1.hea").read_bytes()
    from edgewise.data.ludb import read_record

    assert read_record(dest, 2).signal.shape == (12, 5000)
    again = fetch_dataset("ludb", dest, base_url=url, progress=False)
    assert again["downloaded"] == 0 and again["skipped"] == n


def test_checksum_mismatch_is_refused(mirror, tmp_path):
    root, url, _ = mirror
    (root / "data" / "2.hea").write_text("tampered\n")
    with pytest.raises(DownloadError, match="does not match the published"):
        fetch_dataset("ludb", tmp_path / "ludb", base_url=url, progress=False)
    assert not (tmp_path / "ludb" / "data" / "2.hea").exists()  # never left under its final name


def test_unreachable_server_fails_clearly(tmp_path):
    with pytest.raises(DownloadError, match="could not download"):
        fetch_dataset("ludb", tmp_path / "x", base_url="http://127.0.0.1:9/", timeout=2, progress=False)


def test_unsafe_paths_in_sums_are_refused():
    with pytest.raises(DownloadError, match="unsafe"):
        parse_sums("a" * 64 + "  ../../etc/passwd\n")


def test_cli_fetch(mirror, tmp_path):
    from edgewise.cli import main

    _, url, n = mirror
    assert main(["data", "fetch", "ludb", "--dest", str(tmp_path / "d"), "--base-url", url]) == 0
    assert len(list((tmp_path / "d" / "data").glob("*"))) == n - 2
