"""LUDB reader: WFDB records and per-lead wave annotations -> signals, wave lists and per-sample masks.

Lobachevsky University Electrocardiography Database (Kalyakulina et al., IEEE Access 2020;
PhysioNet doi:10.13026/eegm-h675), ODC-By 1.0. Each record ``data/<id>`` holds 12 leads, 10 s at 500 Hz;
each lead has its own annotation file ``data/<id>.<lead>`` with ``(`` onset, a peak symbol (``p`` P,
``N`` QRS, ``t`` T) and ``)`` offset. Only part of each record is annotated: the span from the first
``(`` to the last ``)`` of a lead; evaluate inside it.

The reader takes any directory in LUDB's layout (the top folder with ``RECORDS`` and ``data/``, or the
``data/`` folder itself).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgewise.runtime.ecg.waves import CLASSES, Wave, waves_to_mask
from edgewise.runtime.errors import InputError

LEADS: tuple[str, ...] = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")
PEAK_SYMBOL = {"p": "P", "N": "QRS", "t": "T"}

__all__ = ["LEADS", "EcgRecord", "list_records", "read_record", "parse_annotation", "data_folder"]


@dataclass
class EcgRecord:
    """One LUDB record.

    Attributes:
        record_id: LUDB record number (also the subject id: one record per subject).
        signal: float32 [12, n] in mV, rows in ``leads`` order.
        fs: sampling rate in Hz.
        leads: lead names, lower case.
        waves: lead -> annotated waves (sample indices).
        spans: lead -> (first onset, last offset) inclusive; the annotated part of that lead.
    """

    record_id: int
    signal: np.ndarray
    fs: int
    leads: tuple[str, ...]
    waves: dict[str, list[Wave]] = field(default_factory=dict)
    spans: dict[str, tuple[int, int]] = field(default_factory=dict)

    def lead(self, name: str) -> np.ndarray:
        """float32 [n] signal of one lead."""
        return self.signal[lead_index(name, self.leads)]

    def mask(self, name: str) -> np.ndarray:
        """int64 [n] per-sample class (0 background, 1 P, 2 QRS, 3 T) of one lead."""
        return waves_to_mask(self.waves.get(name.lower(), []), self.signal.shape[1])

    def span_mask(self, name: str) -> np.ndarray:
        """bool [n]: True inside the lead's annotated span."""
        out = np.zeros(self.signal.shape[1], dtype=bool)
        if name.lower() in self.spans:
            a, b = self.spans[name.lower()]
            out[a : b + 1] = True
        return out


def lead_index(name: str, leads: tuple[str, ...] = LEADS) -> int:
    key = name.lower()
    if key not in leads:
        raise InputError(f"unknown lead {name!r}; expected one of {', '.join(leads)}")
    return leads.index(key)


def data_folder(root: str | Path) -> Path:
    """The folder that holds ``<id>.hea`` files, given LUDB's top folder or its ``data/`` folder."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"LUDB folder {root} does not exist; fetch it with `edgewise data fetch ludb`")
    for cand in (root / "data", root):
        if any(cand.glob("*.hea")):
            return cand
    raise InputError(f"{root} is not in LUDB's layout: no data/<id>.hea files found")


def list_records(root: str | Path) -> list[int]:
    """Record ids present under ``root`` (sorted numerically)."""
    folder = data_folder(root)
    return sorted(int(p.stem) for p in folder.glob("*.hea") if p.stem.isdigit())


def parse_annotation(symbols: list[str], samples: np.ndarray) -> list[Wave]:
    """Turn a WFDB annotation's symbols and samples into waves.

    A wave is a peak symbol with its ``(`` immediately before and ``)`` immediately after. A peak
    without both brackets keeps the bracket it has and takes the peak as the missing boundary.
    """
    waves: list[Wave] = []
    for i, sym in enumerate(symbols):
        kind = PEAK_SYMBOL.get(sym)
        if kind is None:
            continue
        peak = int(samples[i])
        onset = int(samples[i - 1]) if i > 0 and symbols[i - 1] == "(" else peak
        offset = int(samples[i + 1]) if i + 1 < len(symbols) and symbols[i + 1] == ")" else peak
        waves.append(Wave(kind, onset, offset, peak))
    return waves


def read_record(root: str | Path, record_id: int | str, *, leads: tuple[str, ...] | None = None) -> EcgRecord:
    """Read one record and its per-lead annotations (missing annotation files give empty lists)."""
    import wfdb

    folder = data_folder(root)
    base = folder / str(record_id)
    if not base.with_suffix(".hea").is_file():
        raise FileNotFoundError(f"no LUDB record {record_id} in {folder}")
    rec = wfdb.rdrecord(str(base))
    names = tuple(n.lower() for n in rec.sig_name)
    signal = np.nan_to_num(rec.p_signal.T.astype(np.float32))
    waves: dict[str, list[Wave]] = {}
    spans: dict[str, tuple[int, int]] = {}
    for name in leads or names:
        path = folder / f"{record_id}.{name}"
        if not path.is_file():
            continue
        ann = wfdb.rdann(str(base), name)
        waves[name] = parse_annotation(list(ann.symbol), np.asarray(ann.sample))
        onsets = [s for s, y in zip(ann.sample, ann.symbol) if y == "("]
        offsets = [s for s, y in zip(ann.sample, ann.symbol) if y == ")"]
        if onsets and offsets:
            spans[name] = (int(min(onsets)), int(max(offsets)))
    return EcgRecord(int(record_id), signal, int(rec.fs), names, waves, spans)
