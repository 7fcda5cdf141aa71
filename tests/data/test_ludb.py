"""LUDB reader: annotation parsing and masks against hand-checked record 1, and the device reader vs wfdb."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.data.ludb import list_records, parse_annotation, read_record
from edgewise.runtime.ecg.io import read_mit_annotation, read_wfdb_signal
from edgewise.runtime.ecg.waves import Wave


def test_record_1_lead_ii_hand_checked(ludb_dir):
    r = read_record(ludb_dir, 1)
    assert r.signal.shape == (12, 5000) and r.fs == 500
    assert r.leads[1] == "ii"
    # read off data/1.ii with rdann by hand: ( N ) at 644/662/682, ( t ) at 776/843/878, ( p ) at 1250/1278/1302
    assert r.waves["ii"][:3] == [Wave("QRS", 644, 682, 662), Wave("T", 776, 878, 843), Wave("P", 1250, 1302, 1278)]
    assert r.spans["ii"] == (644, 3996)
    mask = r.mask("ii")
    assert mask[643] == 0 and mask[644] == 2 and mask[682] == 2 and mask[683] == 0
    assert mask[776] == 3 and mask[1250] == 1
    span = r.span_mask("ii")
    assert span.sum() == 3996 - 644 + 1 and not span[643] and span[3996] and not span[3997]


def test_list_records_counts_shared_copy(ludb_dir):
    ids = list_records(ludb_dir)
    assert len(ids) == 160 and ids == sorted(ids)


def test_parse_annotation_missing_brackets():
    # a peak without '(' takes the peak as onset; without ')' as offset
    waves = parse_annotation(["N", ")", "(", "t"], np.array([10, 20, 30, 40]))
    assert waves == [Wave("QRS", 10, 20, 10), Wave("T", 30, 40, 40)]


@pytest.mark.parametrize("rec", [1, 50, 200], ids=["rec1", "rec50", "rec200"])
def test_device_wfdb_reader_matches_wfdb(ludb_dir, rec):
    import wfdb

    base = ludb_dir / "data" / str(rec)
    if not base.with_suffix(".hea").exists():
        pytest.skip(f"record {rec} is not in this copy")
    ours = read_wfdb_signal(base)
    ref = wfdb.rdrecord(str(base))
    np.testing.assert_allclose(ours.signal, ref.p_signal.T, atol=1e-6)
    assert ours.fs == ref.fs and list(ours.leads) == ref.sig_name
    for lead in ("ii", "v6"):
        sym, samp = read_mit_annotation(f"{base}.{lead}")
        ann = wfdb.rdann(str(base), lead)
        assert sym == list(ann.symbol)
        np.testing.assert_array_equal(samp, ann.sample)
