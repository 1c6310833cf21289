"""Defence in depth: what a source claims about its own accuracy cannot move a friendly's track.

The attack (tried on the shipped stack): two PositionReports under a friendly's platform id, the
first claiming ce = 100 km so the jump check lets it in, the second precise and 25 km away. The track
moved 25 km and the genuine GPS was then rejected as "absurd" for a minute.
"""

from __future__ import annotations

import numpy as np

from bus.schema import Environment, PositionReport
from fusion import FusionCore
from tests.fusion_helpers import at, config, enu, position_report

SPEED = 5.0
FAR = 25_000.0


def genuine(seconds: float) -> PositionReport:
    return position_report(
        "ifv-1", seconds, (SPEED * seconds, 0.0, 0.0), velocity=(SPEED, 0.0, 0.0), environment=Environment.LAND
    )


def impostor(seconds: float, ce_m: float) -> PositionReport:
    return position_report("ifv-1", seconds, (FAR, FAR, 0.0), ce_m=ce_m, environment=Environment.LAND)


def run(core: FusionCore, reports: list[PositionReport]) -> list[tuple[float, float]]:
    """Feed in time order; after each, (time, distance of the platform track from the genuine truth)."""
    errors = []
    for report in sorted(reports, key=lambda r: r.time):
        core.ingest(report)
        core.advance(report.time)
        seconds = (report.time - at(0)).total_seconds()
        track = core.track("P-ifv-1")
        assert track is not None
        errors.append((seconds, float(np.linalg.norm(enu(track.position)[:2] - (SPEED * seconds, 0.0)))))
    return errors


def test_a_claimed_huge_uncertainty_does_not_open_the_door_to_a_jump() -> None:
    core = FusionCore(config())
    reports = [genuine(float(k)) for k in range(30)] + [impostor(10.3, ce_m=100_000.0), impostor(10.6, ce_m=3.0)]
    errors = run(core, reports)
    assert max(error for _, error in errors) < 100.0
    assert core.figures.absurd == 2  # both forgeries, and not one genuine report
    assert core.figures.position_reports == 30


def test_the_genuine_source_wins_back_a_track_an_impostor_started() -> None:
    """The impostor's fixes came first: the genuine GPS, consistent with itself, owns the track
    again within 5 s of the impostor stopping."""
    core = FusionCore(config())
    reports = [impostor(0.0, ce_m=3.0), impostor(0.5, ce_m=3.0)] + [genuine(float(k)) for k in range(1, 20)]
    errors = run(core, reports)
    assert all(error < 10.0 for seconds, error in errors if seconds >= 0.5 + 5.0), errors
