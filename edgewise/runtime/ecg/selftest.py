"""Device self-test: delineate LUDB-layout records with an artifact and score them, numpy + one runtime only.

Uses the device's own WFDB and annotation readers (``edgewise.runtime.ecg.io``), so the F1 measured on
the device can be compared with the host's torch figure for the same records.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from edgewise.runtime.ecg.delineate import delineate
from edgewise.runtime.ecg.io import read_mit_annotation, read_wfdb_signal
from edgewise.runtime.ecg.metrics import DelineationScore, score_waves
from edgewise.runtime.ecg.model import load_artifact_fn
from edgewise.runtime.ecg.waves import Wave

_PEAKS = {"p": "P", "N": "QRS", "t": "T"}

__all__ = ["read_annotated_lead", "selftest"]


def read_annotated_lead(base: Path, lead: str) -> tuple[list[Wave], tuple[int, int]]:
    """Waves and annotated span of one lead from ``<base>.<lead>`` (LUDB's per-lead MIT annotations)."""
    sym, samp = read_mit_annotation(Path(f"{base}.{lead}"))
    waves = []
    for i, s in enumerate(sym):
        if s in _PEAKS:
            on = int(samp[i - 1]) if i and sym[i - 1] == "(" else int(samp[i])
            off = int(samp[i + 1]) if i + 1 < len(sym) and sym[i + 1] == ")" else int(samp[i])
            waves.append(Wave(_PEAKS[s], on, off, int(samp[i])))
    ons = [int(t) for t, s in zip(samp, sym) if s == "("]
    offs = [int(t) for t, s in zip(samp, sym) if s == ")"]
    return waves, (min(ons), max(offs))


def selftest(model: str | Path, data_dir: str | Path, records: Iterable[int], *, lead: str = "ii",
             threads: int = 1) -> DelineationScore:
    """Accumulated score of ``model`` on ``records`` (ids) of a LUDB-layout folder, one lead."""
    fn, info = load_artifact_fn(model, threads=threads)
    folder = Path(data_dir)
    folder = folder / "data" if (folder / "data").is_dir() else folder
    total = DelineationScore()
    for rec in records:
        base = folder / str(rec)
        sig = read_wfdb_signal(base)
        waves, span = read_annotated_lead(base, lead)
        res = delineate(sig.signal[sig.leads.index(lead)], sig.fs, fn, model_fs=info.sample_rate,
                        window=info.window, hop=info.hop, post=info.post)
        total.add(score_waves(waves, res.waves, sig.fs, span=span))
    return total
