"""By-source metrics on hand-made clips: false alarms per hour, recall at threshold, threshold choice, per source."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("torch")

from edgewise.models.mosquito.evaluate import (  # noqa: E402
    ClipResult, choose_threshold, false_alarm_offenders, metrics_by_source, metrics_from_clips, rethreshold,
)
from edgewise.models.mosquito.protocol import FoldResult, load_results, pooled_sweep, save_results, summarise  # noqa: E402
from edgewise.models.mosquito.sources import Fold  # noqa: E402


def _clip(name: str, source: str, mosquito: bool, p, duration_s: float | None = None) -> ClipResult:
    """A clip with 2-s windows every 1 s (the detector's layout); events come from the real merger."""
    p = np.asarray(p, float)
    starts = np.arange(p.size, dtype=float)
    dur = p.size + 1.0 if duration_s is None else duration_s
    return ClipResult(name=name, mosquito=mosquito, duration_s=dur, p=p, times=np.stack([starts, starts + 2], 1),
                      labels=np.full(p.size, float(mosquito)), events=[], source=source)


# Negative "n1": at threshold 0.7 (closes below 0.5) windows 1-2 make one event ([1, 4) s), window 5 a
# second one ([5, 7) s; 1 s after the first, not < 1 s, so not merged); window 8 (0.65) never opens one.
N1 = [0.1, 0.9, 0.95, 0.2, 0.1, 0.8, 0.1, 0.1, 0.65, 0.1]


def _fold_clips() -> list[ClipResult]:
    return [
        _clip("a1", "A", True, [0.2, 0.9, 0.3]), _clip("a2", "A", True, [0.6, 0.4]), _clip("a3", "A", True, [0.75]),
        _clip("n1", "B", False, N1, duration_s=1800.0), _clip("n2", "B", False, [0.3] * 5, duration_s=1800.0),
        _clip("c1", "C", False, [0.05, 0.72], duration_s=900.0),
    ]


def test_false_alarms_per_hour_and_recall_at_threshold():
    clips = rethreshold(_fold_clips(), 0.7)
    assert [len(c.events) for c in clips] == [1, 0, 1, 2, 0, 1]
    assert (clips[3].events[0].start_s, clips[3].events[0].end_s) == (1.0, 4.0)
    m = metrics_from_clips(clips, threshold=0.7)
    np.testing.assert_allclose(m["false_alarms_per_hour"], 3 / 1.25)  # 2 + 0 + 1 events over 0.5 + 0.5 + 0.25 h
    assert m["false_alarms"] == 3 and m["negative_hours"] == 1.25
    np.testing.assert_allclose(m["clip_recall_at_threshold"], 2 / 3)  # 0.9 and 0.75 reach 0.7, 0.6 does not
    # pooled over folds with their own thresholds: recall uses each clip's threshold
    mixed = rethreshold(clips[:2], 0.5) + clips[2:]
    np.testing.assert_allclose(metrics_from_clips(mixed, threshold=None)["clip_recall_at_threshold"], 1.0)


def test_pooled_sweep_gives_recall_and_false_alarms_at_each_common_threshold():
    clips = rethreshold(_fold_clips(), 0.5)  # each clip carries another threshold: the sweep must not use it
    rows = {r["threshold"]: r for r in pooled_sweep(clips, thresholds=(0.7, 0.96))}
    np.testing.assert_allclose(rows[0.7]["clip_recall"], 2 / 3)  # as at 0.7 above: 0.9 and 0.75 reach it
    np.testing.assert_allclose(rows[0.7]["false_alarms_per_hour"], 3 / 1.25)
    assert rows[0.96]["clip_recall"] == 0.0 and rows[0.96]["false_alarms_per_hour"] == 0.0


def test_threshold_is_the_lowest_from_which_up_the_budget_holds():
    val = _fold_clips()  # negatives: 1.25 h; window peaks 0.95, 0.8, 0.65 (n1), 0.72 (c1), 0.3 (n2)
    t = choose_threshold(val, max_false_alarms_per_hour=0.0)
    assert t["threshold"] == 0.96 and t["val_false_alarms_per_hour"] == 0.0 and t["target_met"]
    # <= 1 event (0.8 / h): from 0.81 up only the 0.9/0.95 windows of n1 open one
    assert choose_threshold(val, max_false_alarms_per_hour=0.8)["threshold"] == 0.81
    # <= 3 events (2.4 / h): down to 0.66 n1 raises 2 and c1 1; at 0.65 n1's window 8 adds a 4th
    t = choose_threshold(val, max_false_alarms_per_hour=2.4)
    assert t["threshold"] == 0.66 and t["val_false_alarms_per_hour"] == pytest.approx(2.4) and t["target_met"]
    np.testing.assert_allclose(t["val_clip_recall"], 2 / 3)  # a1 (0.9) and a3 (0.75); a2 (0.6) misses
    # ... although at 0.31 the budget holds again (hysteresis merges n1's first two events): the scan stops at 0.65
    assert sum(len(c.events) for c in rethreshold(val, 0.31) if not c.mosquito) == 3
    t = choose_threshold([c for c in val if not c.mosquito or c.name == "a1"], max_false_alarms_per_hour=-1.0)
    assert t["threshold"] == 0.999999 and not t["target_met"]  # an impossible budget: the top, flagged
    with pytest.raises(ValueError, match="without mosquitoes"):
        choose_threshold([c for c in val if c.mosquito])


def test_metrics_by_source_rank_against_the_other_class_of_the_fold():
    clips = rethreshold(_fold_clips(), 0.7)
    rows = metrics_by_source(clips)
    assert set(rows) == {"A", "B", "C"}
    # clip scores, the mean of the top-3 windows: A (0.467, 0.5, 0.75) against all fold negatives (n1 0.883,
    # n2 0.3, c1 0.385): pairs won 2 + 2 + 2 of 9 (by the highest window, a2's 0.6 would lose to c1's 0.72)
    np.testing.assert_allclose([c.score for c in clips], [1.4 / 3, 0.5, 0.75, 2.65 / 3, 0.3, 0.385])
    np.testing.assert_allclose(rows["A"]["clip_roc_auc"], 6 / 9)
    np.testing.assert_allclose(rows["A"]["clip_recall_at_threshold"], 2 / 3)
    assert rows["A"]["false_alarms"] == 0 and np.isnan(rows["A"]["false_alarms_per_hour"])  # no negatives of its own
    # B (0.883, 0.3) against the fold's positives: positives beat 0.3 only
    np.testing.assert_allclose(rows["B"]["clip_roc_auc"], 3 / 6)
    np.testing.assert_allclose(rows["B"]["false_alarms_per_hour"], 2.0)  # 2 events in 1 h of its own audio
    assert np.isnan(rows["B"]["clip_recall_at_threshold"]) and rows["B"]["n_ranked_against"] == 3
    np.testing.assert_allclose(rows["C"]["false_alarms_per_hour"], 4.0)  # 1 event in 0.25 h
    off = false_alarm_offenders(clips)
    assert [r["source"] for r in off["by_source"]] == ["B", "C"] and off["by_clip"][0]["name"] == "n1"


def test_too_short_clips_are_left_out_and_counted():
    clips = _fold_clips()
    clips.append(ClipResult(name="tiny", mosquito=True, duration_s=0.03, p=np.zeros(0), times=np.zeros((0, 2)),
                            labels=np.zeros(0), events=[], source="A", flags=("too-short",)))
    m = metrics_from_clips(clips, threshold=0.7)
    assert m["n_clips_too_short"] == 1 and m["n_clips"] == {"mosquito": 3, "other": 3}
    assert metrics_by_source(clips)["A"]["n_clips"]["mosquito"] == 3


def test_summary_pools_folds_and_round_trips(tmp_path):
    fold = Fold(name="A", test=("A", "B", "C"), val=("D",), train=("E",))
    short = [{"name": f"s{i}", "source": "A" if i < 2 else "B", "mosquito": i < 2, "score": s, "seconds": 0.2}
             for i, s in enumerate([0.9, 0.4, 0.5, 0.1])]
    r = FoldResult(fold=fold, arch="dscnn", threshold={"threshold": 0.7, "val_false_alarms_per_hour": 0.0,
                                                        "target_met": True}, training={"best_step": 3},
                   clips=rethreshold(_fold_clips(), 0.7), short=short, seconds={"train": 1.0, "score": 0.1})
    back = load_results(save_results(tmp_path / "r.json", [r]))
    for a, b in zip(back[0].clips, r.clips):
        np.testing.assert_array_equal(a.p, b.p)
        assert (a.name, a.events, a.threshold, a.source) == (b.name, b.events, b.threshold, b.source)
    s = summarise(back)
    assert s["loso"]["per_source"] == {"A": pytest.approx(6 / 9)} and s["loso"]["worst_source"] == "A"
    np.testing.assert_allclose(s["pooled"]["false_alarms_per_hour"], 3 / 1.25)
    np.testing.assert_allclose(s["short"]["roc_auc"], 3 / 4)  # 0.9 beats both, 0.4 beats 0.1 only
    assert s["short"]["per_fold"]["A"]["recall_at_threshold"] == 0.5
