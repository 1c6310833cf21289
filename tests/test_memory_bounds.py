"""Bounded memory: every table that grows with traffic has a bound or a time window.

Why (issue 10): under the `stress` scenario (500 targets, a constant picture) the fusion's RSS rose
from 132 to 146 MB and each vehicle's from 71 to 89 MB in 8 minutes, about 2 MB a minute.
"""

from __future__ import annotations

import pytest

from fusion import intake as intake_module
from fusion.intake import Intake, VerdictKind, to_us
from tests.fusion_helpers import at, config, position_report


def test_duplicate_memory_is_a_time_window_not_only_a_count() -> None:
    """It held the last 65,536 (source, msg id) pairs whatever their age: 47 minutes of `stress`."""
    intake = Intake(config())
    for n in range(6000):  # 10 minutes at 10 a second
        report = position_report("gps-1", n / 10, (float(n), 0.0, 0.0), msg_id=f"m{n}")
        assert intake.admit(report, to_us(at(n / 10))).accepted
    assert intake.remembered <= (60 + config().horizon_s + 1) * 10  # 60 s behind the late floor
    again = position_report("gps-1", 599.0, (5990.0, 0.0, 0.0), msg_id="m5990")
    assert intake.admit(again, None).reason.startswith("msg_id m5990")  # recent ones are still known


def test_the_jump_check_remembers_at_most_its_capacity_of_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    """It kept every platform's last fix (and pending challenge) for ever: one entry per platform id
    any source ever reported, made-up ones included. (A capacity of 100 here, for speed.)"""
    monkeypatch.setattr(intake_module, "_PLATFORM_CAPACITY", 100)
    intake = Intake(config())
    for n in range(1000):
        report = position_report(f"made-up-{n}", n / 100, (float(n % 10), 0.0, 0.0))
        assert intake.admit(report, to_us(at(n / 100))).accepted
    assert intake.platforms == 100
    # The most recently heard are still checked: an absurd jump of the newest is refused.
    jump = position_report("made-up-999", 10.0, (9e5, 0.0, 0.0))
    assert intake.admit(jump, to_us(at(10.0))).kind is VerdictKind.ABSURD
    assert intake.platforms == 100
