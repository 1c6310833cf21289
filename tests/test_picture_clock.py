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


def test_a_clock_behind_every_source_follows_them_once_two_are_refused_as_ahead() -> None:
    """A fusion restarted into a scenario at 2x: every source 28 s ahead, all refused as future."""
    wall = Wall()
    clock = PictureClock(max_lead_s=5.0, wall=wall)
    clock.refused("drone-1", wall() + timedelta(seconds=28))
    wall.advance(0.1)
    assert lead(clock, wall) == 0.0  # one source alone may be a liar
    clock.refused("radar-1", wall() + timedelta(seconds=28.4))
    wall.advance(0.1)
    assert lead(clock, wall) == pytest.approx(28.0)  # the lower middle of the two: a lead a source has
    clock.observe("drone-1", wall() + timedelta(seconds=28.5))  # inside the window now: accepted
    clock.observe("radar-1", wall() + timedelta(seconds=28.5))
    wall.advance(0.1)
    assert lead(clock, wall) == pytest.approx(28.5)  # and the accepted ones lead from now on
    assert clock.sources == 2


DAY_S = 86_400.0


@pytest.mark.parametrize(
    ("accepted", "behind", "ahead", "expected"),
    [
        (0, 0, [DAY_S], 0.0),  # one source alone
        (3, 0, [DAY_S] * 3, -0.2),  # as many as the accepted ones: not more
        (1, 2, [DAY_S] * 2, -0.2),  # sources refused as late count against them (a backlog after an outage)
        (1, 0, [DAY_S] * 2, DAY_S),  # two of three: followed
        (2, 0, [10.0, 20.0, 30.0], 10.0),  # the median of the accepted and the ahead ones, not of the ahead alone
        (0, 0, [28.0, DAY_S], 28.0),  # a liar beside a genuine source cannot take the clock past it
    ],
)
def test_sources_refused_as_ahead_move_the_clock_only_as_a_majority_of_two_or_more(
    accepted: int, behind: int, ahead: list[float], expected: float
) -> None:
    wall = Wall()
    clock = PictureClock(max_lead_s=5.0, wall=wall)
    for _ in range(20):
        for k in range(accepted):
            clock.observe(f"radar-{k}", wall() - timedelta(seconds=0.2))
        for k in range(behind):
            clock.refused(f"backlog-{k}", wall() - timedelta(seconds=60))
        for k, seconds in enumerate(ahead):
            clock.refused(f"ahead-{k}", wall() + timedelta(seconds=seconds))
        wall.advance(0.1)
    assert lead(clock, wall) == pytest.approx(expected)
    assert clock.sources == accepted + behind + len(ahead)


def test_a_source_followed_ahead_and_then_refused_as_late_stops_holding_the_clock_back() -> None:
    """A source accepted before the clock followed the others, and late since: its old lead would
    otherwise stay among the accepted ones for the whole memory, and hold the clock back."""
    wall = Wall()
    clock = PictureClock(max_lead_s=5.0, wall=wall)
    clock.observe("slow", wall())
    for source in ("drone-1", "radar-1", "gps-1"):
        clock.refused(source, wall() + timedelta(seconds=28))
    wall.advance(0.1)
    assert lead(clock, wall) == pytest.approx(28.0)
    clock.refused("slow", wall() - timedelta(seconds=0.1))  # now 28 s behind the clock: late
    clock.observe("drone-1", wall() + timedelta(seconds=28))
    wall.advance(0.1)
    assert lead(clock, wall) == pytest.approx(28.0)  # the accepted drone leads; the late source is apart
    wall.advance(29.9)  # the refused sources are forgotten with the memory; the accepted one was heard
    clock.observe("drone-1", wall() + timedelta(seconds=28))
    wall.advance(0.1)
    assert lead(clock, wall) == pytest.approx(28.0)
    assert clock.sources == 1
