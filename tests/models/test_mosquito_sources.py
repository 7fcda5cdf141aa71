"""By-source evaluation: fold assignment (never split a source, each held out once), the fixed split."""
from __future__ import annotations

import random
from pathlib import Path

import pytest

from edgewise.data.mosquito import ClipLabel, Recording, read_recordings
from edgewise.models.mosquito.sources import (
    Fold, assignment_fingerprint, assignment_markdown, fixed_split, loso_folds, source_groups, source_table,
)
from edgewise.runtime.errors import InputError


def _rec(name: str, source: str, label: ClipLabel, seconds: float = 10.0) -> Recording:
    return Recording(path=Path(name), rel=name, label=label, set_name=source, species="", duration_s=seconds, licence="")


def _dataset() -> list[Recording]:
    """4 positive sources (one also holds a negative and an unknown), 9 negative-only sources, one unknown-only."""
    recs = []
    for src, n in (("lab", 3), ("field", 2), ("phone", 5)):
        recs += [_rec(f"{src}/{i}.wav", src, ClipLabel.POSITIVE if i % 2 else ClipLabel.WEAK) for i in range(n)]
    recs += [_rec("app/p.wav", "app", ClipLabel.POSITIVE), _rec("app/n.wav", "app", ClipLabel.NEGATIVE, 4.0),
             _rec("app/u.wav", "app", ClipLabel.UNKNOWN)]
    for j, secs in enumerate((300, 250, 200, 120, 90, 60, 30, 20, 5)):
        recs += [_rec(f"neg{j}/{i}.wav", f"neg{j}", ClipLabel.NEGATIVE, secs / 3) for i in range(3)]
    recs.append(_rec("mystery/x.wav", "mystery", ClipLabel.UNKNOWN))
    return recs


def _check_folds(recs: list[Recording], folds: list[Fold]) -> None:
    table = source_table(recs)
    usable = {s for s, i in table.items() if i.n_pos or i.n_neg}
    positive = {s for s, i in table.items() if i.positive}
    assert sorted(f.name for f in folds) == sorted(positive)  # one fold per positive source
    for f in folds:
        assert set(f.test) | set(f.val) | set(f.train) == usable  # every usable source has a part
        assert f.name in f.test
        assert sum(table[s].n_pos for s in f.train) > 0 and sum(table[s].n_pos for s in f.val) > 0
        split = f.split(recs)
        for part, members in split.items():  # a source's recordings all land in its one part
            assert all(f.part(r.set_name) == part for r in members)
            assert not any(r.label is ClipLabel.UNKNOWN for r in members)
        n_usable = sum(r.label is not ClipLabel.UNKNOWN and r.set_name in usable for r in recs)
        assert sum(len(v) for v in split.values()) == n_usable
    for s in usable:  # every source (positive or negative) is tested exactly once and validates exactly once
        assert sum(s in f.test for f in folds) == 1, s
        assert sum(s in f.val for f in folds) == 1, s
    for s in positive:  # ...and each test group holds exactly one positive source
        assert [f.name for f in folds if s in f.test] == [s]


def test_folds_never_split_a_source_and_hold_every_source_out_once():
    recs = _dataset()
    folds = loso_folds(recs)
    _check_folds(recs, folds)
    shuffled = recs[:]
    random.Random(1).shuffle(shuffled)
    assert loso_folds(shuffled) == folds  # depends on the labels only, not on their order
    assert assignment_fingerprint(loso_folds(shuffled)) == assignment_fingerprint(folds)
    assert "mystery" not in {s for f in folds for s in f.test + f.val + f.train}  # unknown-only source: no part
    by_name = {f.name: f for f in folds}
    app_test = [r for r in by_name["app"].split(recs)["test"] if r.set_name == "app"]
    assert app_test == recs[10:12]  # the mixed source keeps its negative with its positive; its 'unknown' is dropped


def test_negative_sources_are_dealt_largest_first_to_the_lightest_group():
    # groups by positive-source name: app (4 s of negatives already), field, lab, phone
    groups = source_groups(_dataset())
    # by hand (loads in seconds; app starts with its own 4-s negative; ties go to the lower group):
    # 300->field(0), 250->lab(0), 200->phone(0), 120->app(4), 90->app(124), 60->phone(200), 30->app(214),
    # 20->app(244 < lab 250), 5->lab(250 < phone 260 < app 264)
    assert groups == [("app", "neg3", "neg4", "neg6", "neg7"), ("field", "neg0"), ("lab", "neg1", "neg8"),
                      ("phone", "neg2", "neg5")]


def test_rotation_validates_on_the_next_group():
    folds = loso_folds(_dataset())
    groups = source_groups(_dataset())
    for i, f in enumerate(folds):
        assert f.test == groups[i] and f.val == groups[(i + 1) % len(groups)]


def test_too_few_positive_sources_and_bad_fixed_split_are_refused():
    recs = [_rec("a/1.wav", "a", ClipLabel.POSITIVE), _rec("b/1.wav", "b", ClipLabel.POSITIVE),
            _rec("n/1.wav", "n", ClipLabel.NEGATIVE)]
    with pytest.raises(InputError, match="at least 3 positive sources.*found 2"):
        loso_folds(recs)
    with pytest.raises(InputError, match="test sources \\['n'\\] hold 0 positive"):
        fixed_split(_dataset() + recs, test=("n",), val=("lab", "neg0"))
    with pytest.raises(ValueError, match="overlap"):
        Fold(name="x", test=("a",), val=("a",), train=())


def test_real_folds_and_fixed_split(mosquito_dir):
    recs = read_recordings(mosquito_dir)
    folds = loso_folds(recs)
    _check_folds(recs, folds)
    assert [f.name for f in folds] == ["abuzz_phone_species", "humbug_mfcc_features_culex", "humbug_mozzbnn_r4",
                                       "humbug_platform", "nsc2021_wingbeats_thai"]
    table = source_table(recs)
    neg_minutes = [sum(table[s].neg_s for s in f.test) / 60 for f in folds]
    assert max(neg_minutes) - min(neg_minutes) < 3.0, neg_minutes  # balanced: ~16 min of negatives each
    fixed = fixed_split(recs)
    split = fixed.split(recs)
    assert {r.set_name for r in split["test"] if r.mosquito} == {"humbug_platform", "nsc2021_wingbeats_thai"}
    assert "humbug_platform/record.wav" not in [r.rel for part in split.values() for r in part]  # 'unknown'
    md = assignment_markdown(recs, folds + [fixed])
    assert md.splitlines()[0].endswith("| fixed |")
    assert md.count("**T**") == len(table) + len(fixed.test)  # each source tested once by LOSO, plus the fixed test
