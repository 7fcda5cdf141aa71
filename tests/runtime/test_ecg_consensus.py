"""Multi-lead consensus (edgewise.runtime.ecg.consensus) on hand-made per-lead wave lists."""
from __future__ import annotations

import pytest

from edgewise.runtime.ecg.consensus import REFERENCE, ConsensusConfig, consensus_waves, group_waves
from edgewise.runtime.ecg.waves import Wave

FS = 500.0  # 2 ms per sample


def twelve(kind: str, onsets: list[int], offsets: list[int]) -> list[list[Wave]]:
    return [[Wave(kind, a, b)] for a, b in zip(onsets, offsets)]


def test_global_boundaries_are_the_extremes_of_the_agreeing_leads():
    # QRS onsets spread over 10 samples (20 ms) except lead 0, 40 samples (80 ms) early: an outlier
    on = [460] + [500, 502, 503, 504, 505, 505, 506, 507, 508, 509, 510]
    off = [550, 552, 553, 555, 556, 556, 557, 558, 559, 560, 561, 600]  # lead 11 ends 80 ms late
    per_lead = twelve("QRS", on, off)
    waves, support = consensus_waves(per_lead, FS)
    assert waves == [Wave("QRS", 500, 561)] and support == [12]
    # the CSE definition taken literally (the annotation reference) keeps the outliers
    assert consensus_waves(per_lead, FS, config=REFERENCE)[0] == [Wave("QRS", 460, 600)]
    # agree_ms is in ms: at 250 Hz the same indices are twice as far apart, and 40 ms is 10 samples
    assert consensus_waves(per_lead, 250.0)[0] == [Wave("QRS", 500, 561)]
    wide = ConsensusConfig(agree_ms=(("QRS on", 100.0), ("QRS off", 100.0)))
    assert consensus_waves(per_lead, FS, config=wide)[0] == [Wave("QRS", 460, 600)]


def test_a_wave_needs_half_the_leads():
    per_lead = [[Wave("QRS", 500, 550)] for _ in range(12)]
    for i in range(5):  # a P wave that only 5 of 12 leads report is rejected; 6 of 12 is kept
        per_lead[i].append(Wave("P", 420, 470))
    waves, support = consensus_waves(per_lead, FS)
    assert [w.kind for w in waves] == ["QRS"] and support == [12]
    per_lead[5].append(Wave("P", 421, 468))
    waves, support = consensus_waves(per_lead, FS)
    assert waves == [Wave("P", 420, 470), Wave("QRS", 500, 550)] and support == [6, 12]
    # with 3 leads 2 suffice; a single lead is its own consensus
    three = {"i": [Wave("T", 600, 700)], "ii": [Wave("T", 610, 720)], "iii": []}
    assert consensus_waves(three, FS)[0] == [Wave("T", 600, 720)]
    one = [[Wave("P", 10, 40), Wave("QRS", 60, 100), Wave("T", 150, 260)]]
    assert consensus_waves(one, FS) == (one[0], [1, 1, 1])
    assert consensus_waves([], FS) == ([], [])


def test_beats_are_kept_apart_and_a_bridging_wave_is_split_off():
    beat_t = [(600, 700), (1100, 1200)]
    per_lead = [[Wave("T", a + i, b + i) for a, b in beat_t] for i in range(11)]
    per_lead.append([Wave("T", 690, 1110)])  # one lead missed a QRS: its "T" overlaps both T waves
    groups = group_waves(per_lead, "T")
    # one chain of 23 overlapping waves, split at its widest midpoint gap (bridge 900 -> second T 1150)
    assert [len(g) for g in groups] == [12, 11]
    assert all(len({lead for lead, _ in g}) == len(g) for g in groups)  # no lead twice in a group
    waves, support = consensus_waves(per_lead, FS)
    # the bridging lead's boundaries lie > 150 ms from the T group's medians: outliers, not the extremes
    assert waves == [Wave("T", 600, 710), Wave("T", 1100, 1210)] and support == [12, 11]


def test_kinds_are_independent_and_output_is_time_ordered():
    per_lead = [[Wave("P", 400, 450), Wave("QRS", 480 - i, 530), Wave("T", 600, 700)] for i in range(4)]
    waves, support = consensus_waves({f"l{i}": w for i, w in enumerate(per_lead)}, FS)
    assert [w.kind for w in waves] == ["P", "QRS", "T"] and support == [4, 4, 4]
    assert waves[1].onset == 477


@pytest.mark.parametrize("kwargs, match", [
    ({"min_share": 1.5}, "min_share must be in"),
    ({"agree_ms": (("QRS start", 10.0),)}, "unknown boundaries"),
    ({"agree_ms": (("T off", -1.0),)}, "must be >= 0"),
], ids=["share", "boundary name", "negative"])
def test_config_is_validated(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ConsensusConfig(**kwargs)


def test_bad_rate():
    with pytest.raises(ValueError, match="sampling rate must be positive"):
        consensus_waves([[Wave("QRS", 1, 2)]], 0.0)
