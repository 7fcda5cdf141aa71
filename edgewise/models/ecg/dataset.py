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


def split_records(ids: list[int], *, seed: int = SPLIT_SEED, val: float = 0.1, test: float = 0.2,
                  strata: dict[int, str] | None = None) -> Split:
    """Shuffle record ids with a fixed seed; returns train/val/test (sorted).

    With ``strata`` (record -> group, e.g. the rhythm), each group is split in the same proportions, so
    rare rhythms (atrial flutter: 3 of LUDB's 200 records) reach the training set too.
    """
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i in sorted(ids):
        groups.setdefault((strata or {}).get(i, "all"), []).append(i)
    train, val_ids, test_ids = [], [], []
    for _, members in sorted(groups.items()):
        perm = list(rng.permutation(members))
        n_test, n_val = int(round(test * len(perm))), int(round(val * len(perm)))
        if len(perm) >= 2 and n_test + n_val >= len(perm):  # keep at least one for training
            n_val = max(0, len(perm) - 1 - n_test)
        test_ids += perm[:n_test]
        val_ids += perm[n_test : n_test + n_val]
        train += perm[n_test + n_val :]
    return Split(tuple(sorted(train)), tuple(sorted(val_ids)), tuple(sorted(test_ids)))


def kfold_records(ids: list[int], k: int, *, seed: int = SPLIT_SEED, strata: dict[int, str] | None = None,
                  val_every: int = 8) -> list[Split]:
    """``k`` splits whose test folds are disjoint and cover ``ids``; each stratum is dealt round the folds.

    Of the records outside a test fold, every ``val_every``-th (in stratum order) is validation, so each
    split has about the shipped split's proportions (k = 5: 70 % train, 10 % validation, 20 % test).
    """
    if k < 2 or k > len(ids):
        raise ValueError(f"k must be in [2, {len(ids)}], got {k}")
    rng = np.random.default_rng(seed)
    groups: dict[str, list[int]] = {}
    for i in sorted(ids):
        groups.setdefault((strata or {}).get(i, "all"), []).append(i)
    fold_of, offset = {}, 0
    for _, members in sorted(groups.items()):
        for j, rec in enumerate(rng.permutation(members)):
            fold_of[int(rec)] = (offset + j) % k
        offset += len(members)
    order = sorted(fold_of, key=lambda r: ((strata or {}).get(r, "all"), r))
    out = []
    for f in range(k):
        rest = [r for r in order if fold_of[r] != f]
        val = {r for j, r in enumerate(rest) if j % val_every == f % val_every}
        out.append(Split(tuple(sorted(set(rest) - val)), tuple(sorted(val)),
                         tuple(sorted(r for r in order if fold_of[r] == f))))
    return out


def rhythm_strata(root: str | Path) -> dict[int, str]:
    """LUDB record -> coarse rhythm group (sinus / atrial fibrillation / atrial flutter / other) from ludb.csv."""
    import csv

    path = Path(root) / "ludb.csv"
    if not path.is_file():
        return {}
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rh = (row.get("Rhythms") or "").lower()
            group = ("atrial flutter" if "flutter" in rh else "atrial fibrillation" if "fibrillation" in rh
                     else "sinus" if "sinus" in rh else "other")
            try:
                out[int(row["ID"])] = group
            except (KeyError, ValueError):
                continue
    return out


def has_p_wave(record: EcgRecord) -> bool:
    """Whether any lead of ``record`` has an annotated P wave (LUDB annotates none in atrial fibrillation or
    flutter, nor in its ventricular-paced records, whatever their atrial rhythm)."""
    return any(w.kind == "P" for waves in record.waves.values() for w in waves)


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
    """One lead of one record: signal float32 [n] in mV (or [12, n] for 12-lead input), mask int64 [n] and
    weight float32 [n] (1 inside the span) of the target lead."""

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


def multilead_examples(records: list[EcgRecord], target: str = "ii") -> list[LeadExample]:
    """12-lead examples: all leads as input, the ``target`` lead's annotation as the target."""
    return [LeadExample(r.record_id, target, r.signal, r.mask(target), r.span_mask(target).astype(np.float32),
                        np.zeros((0, r.signal.shape[1]), np.float32))
            for r in records if r.waves.get(target)]
