"""Downloaders for official dataset releases, verified against the release's SHA256SUMS.

``fetch_dataset("ludb", dest)`` downloads PhysioNet's LUDB 1.0.1 file by file (resuming: files already
present with the right checksum are skipped), verifies every file against ``SHA256SUMS.txt``, and never
leaves a half-written file under its final name. ``base_url`` can point anywhere (tests use a local
HTTP server on 127.0.0.1).
"""
from __future__ import annotations

import hashlib
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from edgewise.runtime.errors import EdgewiseError


@dataclass(frozen=True)
class Release:
    name: str
    base_url: str
    sums_file: str = "SHA256SUMS.txt"
    licence: str = ""


RELEASES: dict[str, Release] = {
    "ludb": Release("ludb", "https://physionet.org/files/ludb/1.0.1/", licence="ODC-By 1.0"),
}


class DownloadError(EdgewiseError):
    """A download failed or a file did not match its published checksum."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _get(url: str, dest: Path, timeout: float) -> None:
    tmp = dest.with_name(dest.name + ".part")
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
    except (urllib.error.URLError, OSError) as e:
        tmp.unlink(missing_ok=True)
        raise DownloadError(f"could not download {url} ({e}); check the network or pass --base-url") from e
    tmp.replace(dest)


def parse_sums(text: str) -> dict[str, str]:
    """``<sha256>  <relative path>`` lines -> {path: sha256}."""
    out = {}
    for line in text.splitlines():
        parts = line.strip().split(maxsplit=1)
        if len(parts) == 2 and len(parts[0]) == 64:
            rel = parts[1].lstrip("*").strip()
            if rel.startswith("/") or ".." in Path(rel).parts:
                raise DownloadError(f"refusing unsafe path {rel!r} in the checksum list")
            out[rel] = parts[0].lower()
    if not out:
        raise DownloadError("the checksum list is empty or not in 'sha256  path' format")
    return out


def fetch_dataset(name: str, dest: str | Path, *, base_url: str | None = None, timeout: float = 60.0,
                  progress: bool = True) -> dict:
    """Download and verify a release; returns {"dest", "files", "downloaded", "skipped"}."""
    if name not in RELEASES:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(RELEASES))}")
    rel = RELEASES[name]
    base = (base_url or rel.base_url).rstrip("/") + "/"
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    sums_path = dest / rel.sums_file
    _get(urllib.parse.urljoin(base, rel.sums_file), sums_path, timeout)
    sums = parse_sums(sums_path.read_text())
    items = sorted(sums.items())
    it = items
    if progress:
        from tqdm import tqdm

        it = tqdm(items, desc=f"fetching {name}", unit="file")
    downloaded = skipped = 0
    for relpath, digest in it:
        target = dest / relpath
        if target.is_file() and _sha256(target) == digest:
            skipped += 1
            continue
        _get(urllib.parse.urljoin(base, urllib.parse.quote(relpath)), target, timeout)
        got = _sha256(target)
        if got != digest:
            bad = target.with_name(target.name + ".corrupt")
            target.replace(bad)
            raise DownloadError(f"{relpath}: sha256 {got[:16]}… does not match the published {digest[:16]}…; "
                                f"kept as {bad.name}, run the command again to retry")
        downloaded += 1
    return {"dest": str(dest), "files": len(items), "downloaded": downloaded, "skipped": skipped}
