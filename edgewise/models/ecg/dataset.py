"""LUDB (or synthetic) examples for training and evaluation, and the record split we state in model cards."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgewise.data.ludb import LEADS, EcgRecord, list_records, read_record

# The shipped model's split of the 160 shared LUDB records: by record (= subject), never by lead or window.
SPLIT_SEED = 20201


@dataclass(frozen=True)
class Split:
    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]


def split_records(ids: list[int], *, seed: int = SPLIT_SEED, val: float = 0.1, test: float = 0.2) -> Split:
    """Shuffle record ids with a fixed seed; returns train/val/test (sorted)."""
    ids = sorted(ids)
    rng = np.random.default_rng(seed)
    perm = list(rng.permutation(ids))
    n_test, n_val = int(round(test * len(ids))), int(round(val * len(ids)))
    return Split(tuple(sorted(perm[n_test + n_val:])), tuple(sorted(perm[n_test:n_test + n_val])),
                 tuple(sorted(perm[:n_test])))


def load_records(root: str | Path, ids: list[int] | tuple[int, ...] | None = None, progress: bool = False
                 ) -> list[EcgRecord]:
    ids = list(ids) if ids is not None else list_records(root)
    it = ids
    if progress:
        from tqdm import tqdm

        it = tqdm(ids, desc="reading LUDB", unit="rec", leave=False)
    return [read_record(root, i) for i in it]


@dataclass
class LeadExample:
    """One lead of one record: signal float32 [n] in mV, mask int64 [n], weight float32 [n] (1 inside span)."""

    record_id: int
    lead: str
    signal: np.ndarray
    mask: np.ndarray
    weight: np.ndarray
    other: np.ndarray  # float32 [11, n]: the record's other leads (for lead mixing)


def lead_examples(records: list[EcgRecord], leads: tuple[str, ...] = LEADS) -> list[LeadExample]:
    out = []
    for r in records:
        for name in leads:
            if name not in r.waves or not r.waves[name]:
                continue
            idx = r.leads.index(name)
            others = np.delete(r.signal, idx, axis=0)
            out.append(LeadExample(r.record_id, name, r.signal[idx], r.mask(name),
                                   r.span_mask(name).astype(np.float32), others))
    return out
