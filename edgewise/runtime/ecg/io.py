"""Reading ECG inputs on the device with numpy only: WFDB records (format 16/212 + MIT annotations),
``.npy`` arrays and CSV files.

Hand-written because the device has no ``wfdb`` package; the host's LUDB reader uses ``wfdb`` and a
test checks that both agree sample for sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgewise.runtime.errors import InputError

# MIT annotation codes used by LUDB (wfdb's ann_label_table): N, p, t, (, )
_MIT_SYMBOLS = {1: "N", 24: "p", 27: "t", 39: "(", 40: ")"}

__all__ = ["EcgInput", "read_wfdb_header", "read_wfdb_signal", "read_mit_annotation", "read_ecg_input"]


@dataclass
class EcgInput:
    """A loaded input: float32 [leads, n] in mV (or raw units), its rate and lead names."""

    signal: np.ndarray
    fs: float | None
    leads: tuple[str, ...]
    source: str


def read_wfdb_header(base: Path) -> dict:
    """Parse ``<base>.hea``: fs, n samples and per-signal file, format, gain, baseline, name."""
    hea = base.with_suffix(".hea")
    try:
        lines = [ln.strip() for ln in hea.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
        first = lines[0].split()
        nsig, fs = int(first[1]), float(first[2].split("/")[0])
        nsamp = int(first[3]) if len(first) > 3 else None
        sigs = []
        for ln in lines[1 : 1 + nsig]:
            p = ln.split()
            fmt = int(p[1].split("x")[0].split(":")[0].split("+")[0])
            gain_s = p[2] if len(p) > 2 else "200"
            gain_txt = gain_s.split("/")[0]
            baseline = None
            if "(" in gain_txt:
                gain_txt, b = gain_txt.split("(")
                baseline = int(b.rstrip(")"))
            gain = float(gain_txt) or 200.0
            adczero = int(p[4]) if len(p) > 4 else 0
            sigs.append({"file": p[0], "fmt": fmt, "gain": gain,
                         "baseline": adczero if baseline is None else baseline,
                         "name": (p[8] if len(p) > 8 else f"sig{len(sigs)}").lower()})
    except (OSError, IndexError, ValueError) as e:
        raise InputError(f"{hea} is not a readable WFDB header ({e})") from e
    return {"fs": fs, "nsamp": nsamp, "signals": sigs}


def read_wfdb_signal(base: str | Path) -> EcgInput:
    """Read a WFDB record (all signals in one file, format 16 or 212) as physical units."""
    base = Path(base)
    hdr = read_wfdb_header(base)
    sigs = hdr["signals"]
    files = {s["file"] for s in sigs}
    fmts = {s["fmt"] for s in sigs}
    if len(files) != 1 or len(fmts) != 1 or next(iter(fmts)) not in (16, 212):
        raise InputError(f"{base}: only single-file WFDB records in format 16 or 212 are read on the device "
                         f"(got files {sorted(files)}, formats {sorted(fmts)}); convert with wfdb on the host")
    raw_path = base.parent / next(iter(files))
    nsig, fmt = len(sigs), next(iter(fmts))
    try:
        raw = raw_path.read_bytes()
    except OSError as e:
        raise InputError(f"{base}: cannot read signal file {raw_path} ({e})") from e
    if fmt == 16:
        d = np.frombuffer(raw[: len(raw) // (2 * nsig) * 2 * nsig], dtype="<i2").reshape(-1, nsig)
    else:  # 212: two 12-bit samples in three bytes
        b = np.frombuffer(raw[: len(raw) // 3 * 3], dtype=np.uint8).reshape(-1, 3).astype(np.int32)
        s0 = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
        s1 = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
        flat = np.stack([s0, s1], axis=1).reshape(-1)
        flat = np.where(flat > 2047, flat - 4096, flat)
        d = flat[: flat.size // nsig * nsig].reshape(-1, nsig)
    if hdr["nsamp"]:
        d = d[: hdr["nsamp"]]
    gain = np.array([s["gain"] for s in sigs], np.float64)
    base_v = np.array([s["baseline"] for s in sigs], np.float64)
    sig = ((d.astype(np.float64) - base_v) / gain).T.astype(np.float32)
    return EcgInput(sig, hdr["fs"], tuple(s["name"] for s in sigs), str(base))


def read_mit_annotation(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a MIT-format annotation file; returns symbols and sample indices (LUDB's subset of codes)."""
    data = Path(path).read_bytes()
    words = np.frombuffer(data[: len(data) // 2 * 2], dtype="<u2")
    symbols, samples, t, i = [], [], 0, 0
    while i < len(words):
        w = int(words[i])
        code, val = w >> 10, w & 0x3FF
        i += 1
        if code == 0 and val == 0:
            break
        if code == 59:  # SKIP: 32-bit interval in PDP-11 order
            t += (int(words[i]) << 16 | int(words[i + 1])) - (1 << 32 if words[i] & 0x8000 else 0)
            i += 2
        elif code == 63:  # AUX string of val bytes, padded to even
            i += (val + 1) // 2
        elif code in (60, 61, 62):
            pass
        else:
            t += val
            symbols.append(_MIT_SYMBOLS.get(code, "?"))
            samples.append(t)
    return symbols, np.asarray(samples, dtype=np.int64)


def _read_csv(path: Path) -> np.ndarray:
    text = path.read_text(errors="replace").splitlines()
    rows = [ln for ln in text if ln.strip()]
    if not rows:
        raise InputError(f"{path} is empty")
    header = None
    try:
        float(rows[0].replace(";", ",").split(",")[0])
    except ValueError:
        header, rows = rows[0], rows[1:]
    try:
        arr = np.array([[float(v) for v in r.replace(";", ",").split(",")] for r in rows], dtype=np.float32)
    except ValueError as e:
        bad = next(i for i, r in enumerate(rows) if not _is_numeric_row(r))
        raise InputError(f"{path}: line {bad + (2 if header else 1)} is not numeric ({rows[bad][:40]!r}); "
                         "a CSV needs one sample per line, one column per lead, an optional header") from e
    return arr, header


def _is_numeric_row(r: str) -> bool:
    try:
        [float(v) for v in r.replace(";", ",").split(",")]
        return True
    except ValueError:
        return False


def read_ecg_input(path: str | Path) -> EcgInput:
    """A WFDB record (path without extension), a ``.npy`` ([n] or [leads, n]) or a ``.csv`` (columns = leads)."""
    path = Path(path)
    if path.with_suffix(".hea").is_file() and path.suffix.lower() not in (".npy", ".csv"):
        return read_wfdb_signal(path)
    if path.suffix.lower() == ".hea":
        return read_wfdb_signal(path.with_suffix(""))
    if not path.exists():
        raise InputError(f"no such input: {path} (expected a WFDB record path without extension, a .npy or a .csv)")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise InputError(f"{path} is not a readable .npy array ({e})") from e
        arr = np.atleast_2d(arr).astype(np.float32) if arr.dtype.kind in "fiu" else arr
        if arr.dtype.kind not in "fiu":
            raise InputError(f"{path}: expected a numeric array, got dtype {arr.dtype}")
        return EcgInput(arr, None, tuple(f"lead{i}" for i in range(arr.shape[0])), str(path))
    if path.suffix.lower() == ".csv":
        arr, header = _read_csv(path)
        names = tuple(h.strip().lower() for h in header.replace(";", ",").split(",")) if header else \
            tuple(f"lead{i}" for i in range(arr.shape[1]))
        return EcgInput(arr.T.copy(), None, names, str(path))
    raise InputError(f"{path}: unsupported input (expected a WFDB record path without extension, a .npy or a .csv)")
