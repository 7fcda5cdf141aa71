"""Record splits: the shipped split and the k-fold splits of the cross-validation benchmark."""
from __future__ import annotations

import pytest

from edgewise.models.ecg.dataset import kfold_records, split_records


def _strata(n: int) -> dict[int, str]:
    # 80 % sinus, 15 % fibrillation, 5 % flutter, like LUDB's rhythm mix
    return {i: "sinus" if i % 20 < 16 else ("af" if i % 20 < 19 else "flutter") for i in range(1, n + 1)}


def test_kfold_test_folds_are_disjoint_cover_every_record_and_spread_each_rhythm():
    ids, strata = list(range(1, 161)), _strata(160)
    splits = kfold_records(ids, 5, strata=strata)
    tests = [set(s.test) for s in splits]
    assert sorted(r for t in tests for r in t) == ids
    for s in splits:
        parts = set(s.train), set(s.val), set(s.test)
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert parts[0] | parts[1] | parts[2] == set(ids)
        assert (len(s.train), len(s.val), len(s.test)) == (112, 16, 32)
        for rhythm in ("af", "flutter"):
            n = sum(strata[r] == rhythm for r in ids)
            in_test = sum(strata[r] == rhythm for r in s.test)
            assert abs(in_test - n / 5) <= 1, (rhythm, in_test)
    assert kfold_records(ids, 5, strata=strata) == splits  # deterministic


def test_kfold_rejects_a_bad_k_and_the_shipped_split_keeps_its_proportions():
    with pytest.raises(ValueError, match="k must be"):
        kfold_records([1, 2, 3], 1)
    s = split_records(list(range(1, 161)), strata=_strata(160))
    assert abs(len(s.test) - 32) <= 2 and abs(len(s.val) - 16) <= 2  # rounded per rhythm stratum
    assert sorted(s.train + s.val + s.test) == list(range(1, 161))
