"""Evaluation by recording source: leave-one-source-out folds and a fixed by-source split.

A *source* is one value of the ``set`` column of ``labels.csv`` (one lab, one crowd project, one sound
library): its recordings share microphones, rates, codecs and rooms, so a model scored on recordings of
a source it trained on is scored on what it memorised (issue 21: per-clip ROC-AUC 0.957 on the split by
recording, 0.55 on a source it never saw). Here a source is never split: all its recordings, positive
and negative, are in one part.

Leave-one-source-out (``loso_folds``), deterministic from the labels alone:

1. Every *positive source* (a source with at least one mosquito clip, weak or not) starts its own group;
   groups are numbered by source name. A source that also holds negatives (``humbug_platform``) keeps
   them in its group.
2. Negative-only sources are dealt to the groups largest first (by negative seconds, ties by name),
   each to the group holding the fewest negative seconds so far (ties: the lowest group), so every
   group holds about the same amount of negative audio (greedy longest-first balancing).
3. Fold ``i`` tests on group ``i``, validates (early stopping, temperature, operating threshold) on group
   ``i + 1`` (cyclically) and trains on the others. So every source is tested exactly once and used for
   validation exactly once, and a fold's training set holds none of its test or validation sources.

Adding or removing a source can move negative sources between groups; ``assignment_fingerprint``
names an assignment so that two results can be checked to come from the same folds.

The fixed split (``fixed_split``) names its test and validation sources (``FIXED_TEST``, ``FIXED_VAL``)
so that it does not move when the data grows: every source not named trains. ``unknown`` recordings are
left out everywhere; sources holding only those belong to no fold.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

from edgewise.data.mosquito import ClipLabel, Recording
from edgewise.runtime.errors import InputError

__all__ = ["SourceInfo", "Fold", "source_table", "source_groups", "loso_folds", "fixed_split", "FIXED_TEST",
           "FIXED_VAL", "assignment_fingerprint", "assignment_markdown"]

# The fixed split (../shared/data/mosquito, issue 21). Test: the HumBug app's files and the Thai lab clips
# (15 positive clips: 5 lab species at 16-96 kHz, HumBug app recordings at 8 and 44.1 kHz) against katydids,
# crickets and cicadas, crying babies, household background noise and read speech (~23 % of the negative
# audio). Validation: the long MozzBNN field recording (its ~550 s of segment-labelled windows steady early
# stopping) against field insects, birds, music samples and small speech/noise sets (~8 %). Training keeps
# the two largest positive sources (phone recordings of 17 species, Culex field recordings).
FIXED_TEST = ("humbug_platform", "nsc2021_wingbeats_thai", "songsofinsects_scraped_insects", "esc10_crying_baby",
              "speech_commands_background_noise", "pyroomacoustics_samples", "speechrecognition_examples")
FIXED_VAL = ("humbug_mozzbnn_r4", "xenocanto_insects_learn_game", "pykanto_examples", "sonicpi_recorded_samples",
             "vocalpy_examples", "alsa_utils_speech", "noisereduce_assets")


@dataclass(frozen=True)
class SourceInfo:
    """What one source holds (durations from ``labels.csv``; ``unknown`` clips counted apart)."""

    name: str
    n_pos: int
    n_neg: int
    n_unknown: int
    pos_s: float
    neg_s: float

    @property
    def positive(self) -> bool:
        return self.n_pos > 0


@dataclass(frozen=True)
class Fold:
    """Which sources train, validate and test one model.

    Attributes:
        name: the held-out positive source (leave-one-source-out) or ``"fixed"``.
        test, val, train: source names (a LOSO group lists its positive source first), pairwise disjoint.
    """

    name: str
    test: tuple[str, ...]
    val: tuple[str, ...]
    train: tuple[str, ...]

    def __post_init__(self) -> None:
        parts = (set(self.test), set(self.val), set(self.train))
        if parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]:
            raise ValueError(f"fold {self.name!r}: test, val and train sources overlap: "
                             f"{sorted((parts[0] & parts[1]) | (parts[0] & parts[2]) | (parts[1] & parts[2]))}")

    def part(self, source: str) -> str | None:
        """``"test"``, ``"val"``, ``"train"`` or None (a source of no part)."""
        for name in ("test", "val", "train"):
            if source in getattr(self, name):
                return name
        return None

    def split(self, recs: list[Recording]) -> dict[str, list[Recording]]:
        """The fold's recordings by part (``unknown`` ones left out), in the order given."""
        out: dict[str, list[Recording]] = {"train": [], "val": [], "test": []}
        for r in recs:
            p = self.part(r.set_name)
            if p is not None and r.label is not ClipLabel.UNKNOWN:
                out[p].append(r)
        return out


def _dur(r: Recording) -> float:
    return r.duration_s if math.isfinite(r.duration_s) else 0.0


def source_table(recs: list[Recording]) -> dict[str, SourceInfo]:
    """Per source: positive/negative/unknown clip counts and seconds, by source name."""
    acc: dict[str, list[float]] = {}
    for r in recs:
        a = acc.setdefault(r.set_name, [0, 0, 0, 0.0, 0.0])
        if r.label is ClipLabel.UNKNOWN:
            a[2] += 1
        elif r.mosquito:
            a[0] += 1
            a[3] += _dur(r)
        else:
            a[1] += 1
            a[4] += _dur(r)
    return {s: SourceInfo(s, int(a[0]), int(a[1]), int(a[2]), round(a[3], 4), round(a[4], 4)) for s, a in sorted(acc.items())}


def source_groups(recs: list[Recording]) -> list[tuple[str, ...]]:
    """Groups of sources, one per positive source (numbered by its name), negatives balanced by seconds.

    Returns:
        One tuple per group: its positive source first, then its negative-only sources by name.
    """
    table = source_table(recs)
    pos = [s for s, i in table.items() if i.positive]
    if len(pos) < 3:
        raise InputError(f"leave-one-source-out needs at least 3 positive sources (test, validation, training), "
                         f"found {len(pos)}: {pos}; add recordings from more sources or use fixed_split")
    groups = [[s] for s in pos]
    load = [table[s].neg_s for s in pos]
    negs = sorted((s for s, i in table.items() if not i.positive and i.n_neg), key=lambda s: (-table[s].neg_s, s))
    for s in negs:
        g = min(range(len(groups)), key=lambda i: (load[i], i))
        groups[g].append(s)
        load[g] += table[s].neg_s
    return [(g[0], *sorted(g[1:])) for g in groups]


def loso_folds(recs: list[Recording]) -> list[Fold]:
    """Leave-one-source-out folds over the positive sources (see the module docstring for the rule)."""
    groups = source_groups(recs)
    table = source_table(recs)
    k = len(groups)
    folds = []
    for i, g in enumerate(groups):
        held = next(s for s in g if table[s].positive)
        val = groups[(i + 1) % k]
        train = tuple(sorted(s for j, h in enumerate(groups) if j not in (i, (i + 1) % k) for s in h))
        folds.append(Fold(name=held, test=g, val=val, train=train))
    return folds


def fixed_split(recs: list[Recording], *, test: tuple[str, ...] = FIXED_TEST,
                val: tuple[str, ...] = FIXED_VAL) -> Fold:
    """The fixed by-source split: named test and validation sources, every other source trains.

    Raises:
        InputError: test or validation would lack positives or negatives, or training would lack positives.
    """
    table = source_table(recs)
    usable = {s for s, i in table.items() if i.n_pos or i.n_neg}
    fold = Fold(name="fixed", test=tuple(sorted(usable & set(test))), val=tuple(sorted(usable & set(val))),
                train=tuple(sorted(usable - set(test) - set(val))))
    for part in ("test", "val", "train"):
        names = getattr(fold, part)
        n_pos = sum(table[s].n_pos for s in names)
        n_neg = sum(table[s].n_neg for s in names)
        if n_pos == 0 or (n_neg == 0 and part != "train"):
            raise InputError(f"fixed split: {part} sources {list(names)} hold {n_pos} positive and {n_neg} negative "
                             f"clips; name test/val sources of this dataset (sources: {sorted(usable)})")
    return fold


def assignment_fingerprint(folds: list[Fold]) -> str:
    """12 hex digits naming a fold assignment (same folds, same fingerprint)."""
    blob = json.dumps([[f.name, f.test, f.val, f.train] for f in folds])
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def assignment_markdown(recs: list[Recording], folds: list[Fold]) -> str:
    """A markdown table: each source, what it holds, and its part (T test, V val, . train) in each fold."""
    table = source_table(recs)
    head = ["source", "pos clips", "neg clips", "pos s", "neg s"] + [f.name for f in folds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    mark = {"test": "**T**", "val": "V", "train": ".", None: "-"}
    order = sorted(table, key=lambda s: (not table[s].positive, s))
    for s in order:
        i = table[s]
        lines.append(f"| {s} | {i.n_pos} | {i.n_neg} | {i.pos_s:.0f} | {i.neg_s:.0f} | "
                     + " | ".join(mark[f.part(s)] for f in folds) + " |")
    totals = []
    for f in folds:
        neg = sum(table[s].neg_s for s in f.test)
        totals.append(f"{neg / 60:.1f} min")
    lines.append("| negative audio tested | | | | | " + " | ".join(totals) + " |")
    return "\n".join(lines)
