"""The timing protocol: warm-up, repeats, median with min and max, busy-machine warnings."""

from __future__ import annotations

import itertools

import pytest

from inverselab import timing
from inverselab.errors import InputError
from inverselab.timing import Timing, busy_warning, time_batches


def test_time_batches_warms_up_then_takes_the_median(monkeypatch):
    calls = []
    clock = itertools.count()
    durations = iter([0.0, 3.0, 0.0, 1.0, 0.0, 2.0, 0.0, 9.0, 0.0, 4.0])  # start/stop pairs of 5 calls
    stamps = []

    def fake_clock() -> float:
        next(clock)
        value = (stamps[-1] if stamps else 0.0) + next(durations)
        stamps.append(value)
        return value

    monkeypatch.setattr(timing.time, "perf_counter", fake_clock)
    t = time_batches(lambda: calls.append(1), batch_size=4, repeats=5, warmup=2)
    assert len(calls) == 7  # two untimed warm-up calls, five timed
    assert (t.minimum, t.median, t.maximum) == (1.0, 3.0, 9.0)
    assert t.per_item == 0.75 and t.spread == 9.0 and t.batch_size == 4
    assert t.as_dict()["per_item"] == 0.75
    assert Timing.from_dict(t.as_dict()) == t


def test_busy_warning_names_only_the_spread_timings():
    quiet = Timing(1.0, 0.9, 1.2, 5, 8, 2, "cpu")
    busy = Timing(1.0, 0.5, 2.0, 5, 8, 2, "cpu")
    assert busy_warning({"tv": quiet}) is None
    warning = busy_warning({"tv": quiet, "unet": busy})
    assert "unet (4.0x)" in warning and "tv" not in warning.split("for")[1]


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"batch_size": 1, "repeats": 0},
                                    {"batch_size": 1, "warmup": -1}])
def test_bad_protocol_settings_are_refused(kwargs):
    with pytest.raises(InputError):
        time_batches(lambda: None, **kwargs)
