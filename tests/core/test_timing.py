"""Deadlines and the per-stage stopwatch."""

from __future__ import annotations

import time

import pytest

from langarith.core import timing


def test_no_deadline_never_stops():
    assert timing.left() is None
    timing.check("anything")


def test_a_passed_deadline_stops_and_names_the_work():
    with timing.until(0.0), pytest.raises(timing.DeadlineReached, match="during step 3; rerun the same command"):
        timing.check("step 3")
    timing.check("after the block")  # the deadline ends with its block


def test_an_inner_deadline_cannot_extend_an_outer_one():
    with timing.until(0.05):
        with timing.until(100.0):
            assert timing.left() <= 0.05
        with timing.until(0.01):
            assert timing.left() <= 0.01
        time.sleep(0.06)
        with pytest.raises(timing.DeadlineReached):
            timing.check("late work")


def test_stopwatch_stages_are_exclusive_and_add_up():
    clock = timing.Stopwatch()
    started = time.perf_counter()
    with clock.stage("tune"):
        time.sleep(0.02)
        with clock.stage("compose"):
            time.sleep(0.03)
    with clock.stage("tune"):
        time.sleep(0.01)
    total = time.perf_counter() - started
    assert clock.seconds["compose"] == pytest.approx(0.03, abs=0.02)
    assert clock.seconds["tune"] == pytest.approx(0.03, abs=0.02)
    assert sum(clock.seconds.values()) == pytest.approx(total, abs=0.01)
