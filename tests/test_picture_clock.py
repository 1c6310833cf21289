"""The picture's clock follows the sources' consensus, and no one source can drag it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fusion.clock import PictureClock

T0 = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


class Wall:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def lead(clock: PictureClock, wall: Wall) -> float:
    return (clock.now() - wall()).total_seconds()


def test_one_source_stamping_ahead_cannot_drag_the_picture() -> None:
    """The attack from the faults issue: 60 messages each stamped a little under 5 s ahead."""
    wall = Wall()
    clock = PictureClock(max_lead_s=5.0, wall=wall)
    for _ in range(60):
        for honest in ("radar-1", "radar-2", "drone-1"):
            clock.observe(honest, wall() - timedelta(seconds=0.2))  # 0.2 s of latency
        clock.observe("liar", clock.now() + timedelta(seconds=4.9))
        wall.advance(0.1)
    assert lead(clock, wall) == pytest.approx(-0.2)


def test_a_lone_liar_is_bounded_and_forgotten() -> None:
    wall = Wall()
    clock = PictureClock(max_lead_s=5.0, memory_s=10.0, wall=wall)
    clock.observe("radar-1", wall())
    for _ in range(60):
        clock.observe("liar", clock.now() + timedelta(seconds=4.9))
        wall.advance(0.1)
    assert lead(clock, wall) <= 5.0  # the median of two: never beyond one bound
    wall.advance(10.0)
    clock.observe("radar-1", wall())  # the liar fell silent: its lead is forgotten
    assert clock.sources == 1
    wall.advance(5.0)  # the clock never runs back, so it waits for the wall to catch up
    assert lead(clock, wall) == pytest.approx(0.0)


def test_a_replay_ten_times_faster_than_life_is_followed() -> None:
    wall = Wall()
    clock = PictureClock(max_lead_s=5.0, wall=wall)
    recorded = T0 - timedelta(days=400)  # an old recording: every source leads by -400 days
    for step in range(100):
        for source in ("radar-1", "gps-1"):
            clock.observe(source, recorded + timedelta(seconds=step))
        wall.advance(0.1)
    assert clock.now() == pytest.approx(recorded + timedelta(seconds=99.1), abs=timedelta(seconds=0.2))


def test_the_clock_never_runs_backwards() -> None:
    wall = Wall()
    clock = PictureClock(wall=wall)
    clock.observe("radar-1", wall() + timedelta(seconds=3))
    ahead = clock.now()
    clock.observe("radar-1", wall() - timedelta(seconds=3))
    assert clock.now() == ahead
