"""Per-window probabilities -> events with hysteresis (numpy only)."""
from __future__ import annotations

import numpy as np
import pytest

from edgewise.runtime.events import Event, HysteresisConfig, merge_events, window_times


def _times(n: int, window: float = 2.0, hop: float = 1.0) -> np.ndarray:
    return window_times(n, window, hop)


def test_hysteresis_keeps_event_open_between_on_and_off():
    p = np.array([0.1, 0.6, 0.4, 0.35, 0.2, 0.1])
    ev = merge_events(p, _times(6), HysteresisConfig(on=0.5, off=0.3))
    assert ev == [Event(1.0, 5.0, 0.6)]  # windows 1..3 (ends at 3 + 2 s)


def test_dip_below_off_splits_then_gap_merge_joins():
    p = np.array([0.9, 0.1, 0.1, 0.1, 0.8, 0.0])
    times = _times(6, window=1.0, hop=1.0)
    split = merge_events(p, times, HysteresisConfig(on=0.5, off=0.3))
    assert [(e.start_s, e.end_s) for e in split] == [(0.0, 1.0), (4.0, 5.0)]
    joined = merge_events(p, times, HysteresisConfig(on=0.5, off=0.3, min_gap_s=3.5))
    assert [(e.start_s, e.end_s, e.p) for e in joined] == [(0.0, 5.0, 0.9)]


def test_value_between_off_and_on_never_opens():
    assert merge_events(np.full(5, 0.45), _times(5), HysteresisConfig(on=0.5, off=0.3)) == []


def test_min_duration_drops_short_events():
    p = np.array([0.0, 0.9, 0.0, 0.9, 0.9, 0.9, 0.0])
    times = _times(7, window=1.0, hop=1.0)
    ev = merge_events(p, times, HysteresisConfig(on=0.5, off=0.5, min_duration_s=2.0))
    assert [(e.start_s, e.end_s) for e in ev] == [(3.0, 6.0)]


def test_window_times_clip_to_duration():
    t = window_times(3, 2.0, 1.0, duration_s=3.5)
    np.testing.assert_allclose(t, [[0, 2], [1, 3], [2, 3.5]])
    assert window_times(0, 2.0, 1.0).shape == (0, 2)


def test_event_dict_is_json_ready():
    assert Event(1.23456, 2.0, 0.987654).to_dict() == {"start_s": 1.2346, "end_s": 2.0, "p": 0.9877}


@pytest.mark.parametrize("kwargs", [{"on": 0.3, "off": 0.5}, {"on": 1.5}, {"min_gap_s": -1.0}], ids=["off>on", "on>1", "gap<0"])
def test_config_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        HysteresisConfig(**kwargs)


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match=r"\[n_windows, 2\]"):
        merge_events(np.zeros(3), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="sigmoid"):
        merge_events(np.array([1.5]), np.zeros((1, 2)))
