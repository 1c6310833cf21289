"""Bounded memory: every table that grows with traffic has a bound or a time window.

Why (issue 10): under the `stress` scenario (500 targets, a constant picture) the fusion's RSS rose
from 132 to 146 MB and each vehicle's from 71 to 89 MB in 8 minutes, about 2 MB a minute.
"""

from __future__ import annotations

from fusion.intake import Intake, to_us
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
