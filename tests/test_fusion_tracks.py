"""Track life: multi-sensor fusion into one track, friendly platforms, M-of-N, coasting and deletion."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from bus.schema import (
    Coverage,
    Disposition,
    Environment,
    ObjectClass,
    Observation,
    PositionReport,
    Sector,
    SourceKind,
    TrackStatus,
)
from fusion import FusionCore
from fusion.frame import LocalFrame
from fusion.scan import region
from tests.fusion_helpers import (
    ORIGIN,
    at,
    config,
    enu,
    feed,
    geo,
    geo_detection,
    geo_scan,
    polar_detection,
    position_report,
    radar_scan,
    video_frame,
)


def test_three_sensors_make_one_confirmed_track() -> None:
    rng = np.random.default_rng(3)
    r1, r2 = (0.0, 0.0, 20.0), (8000.0, 0.0, 30.0)
    start, velocity = np.array([3000.0, 4000.0, 0.0]), np.array([5.0, -3.0, 0.0])

    def truth(t: float) -> tuple[float, float, float]:
        return tuple(start + velocity * t)

    observations: list[Observation] = []
    for k in range(10):
        observations.append(radar_scan("radar-1", k, r1, [polar_detection(r1, truth(k), rng)]))
        observations.append(radar_scan("radar-2", k + 0.3, r2, [polar_detection(r2, truth(k + 0.3), rng)]))
        observations.append(video_frame("drone-cam", k + 0.6, [truth(k + 0.6)], rng))
    core = FusionCore(config())
    feed(core, observations)
    [track] = core.tracks()
    assert track.status is TrackStatus.CONFIRMED
    assert [(s.source_id, s.kind) for s in track.sources] == [
        ("drone-cam", SourceKind.VIDEO),
        ("radar-1", SourceKind.SENSOR),
        ("radar-2", SourceKind.SENSOR),
    ]
    assert np.linalg.norm(enu(track.position)[:2] - (start + velocity * 9.6)[:2]) < 15.0
    assert track.first_seen == at(0) and track.updated == at(9.6)
    assert track.stale_at == at(19.6)
    assert core.figures.tracks_created == 1


def _drone(t: float) -> tuple[float, float, float]:
    return (1000.0 + 15.0 * t, 2000.0, 120.0)


def test_friendly_drone_seen_by_radar_stays_one_friendly_track() -> None:
    rng = np.random.default_rng(5)
    radar = (0.0, 0.0, 10.0)
    hostile_call = {ObjectClass.UAV: 0.8}
    core = FusionCore(config())
    for k in range(60):
        report = position_report("drone-7", k, _drone(k), velocity=(15.0, 0.0, 0.0))
        plot = polar_detection(radar, _drone(k + 0.5), rng, classes=hostile_call, disposition=Disposition.HOSTILE)
        feed(core, [report, radar_scan("radar", k + 0.5, radar, [plot])])
        tracks = core.tracks()
        assert [t.track_id for t in tracks] == ["P-drone-7"], f"scan {k}"
    [track] = tracks
    assert track.disposition is Disposition.FRIENDLY
    assert track.environment is Environment.AIR
    assert track.cot_type == "a-f-A"
    assert track.platform_id == "drone-7"
    assert {s.source_id for s in track.sources} == {"gps-drone-7", "radar"}
    assert core.figures.tracks_created == 1


def test_radar_track_started_before_the_first_report_is_absorbed() -> None:
    rng = np.random.default_rng(6)
    radar = (0.0, 0.0, 10.0)
    core = FusionCore(config())
    feed(core, [radar_scan("radar", k, radar, [polar_detection(radar, _drone(k), rng)]) for k in range(4)])
    assert [t.track_id for t in core.tracks()] == ["T000001"]
    core.ingest(position_report("drone-7", 4.2, _drone(4.2), velocity=(15.0, 0.0, 0.0)))
    change = core.advance(at(5))
    assert change.created == ("P-drone-7",) and change.dropped == ("T000001",)
    [track] = core.tracks()
    assert {s.source_id for s in track.sources} == {"gps-drone-7", "radar"}
    assert track.first_seen == at(0)


def test_a_run_of_position_reports_ends_where_applying_them_one_by_one_ends() -> None:
    """Consecutive reports of distinct platforms are applied in one vectorised step (200 platforms
    at 2k reports/s were too slow one by one); the picture must be exactly the one-by-one picture:
    with new platforms, fixes with and without velocity or environment, a radar track a platform
    absorbs, a false alarm that expires in the middle of a run, and a platform whose track went stale
    before its next report (one by one it is dropped, then started again)."""
    rng = np.random.default_rng(11)
    radar = (0.0, 0.0, 10.0)
    observations: list[Observation] = [
        radar_scan("radar", k, radar, [polar_detection(radar, _drone(k), rng)]) for k in range(3)
    ]
    observations.append(geo_scan("eo", 0.1, [geo_detection((3000.0, 3000.0, 0.0))]))  # never seen again

    def straggler(seconds: float) -> PositionReport:  # reports a velocity: its track stays precise while silent
        return position_report("straggler", seconds, (-500.0, 0.0, 0.0), (0.0, 0.0, 0.0), environment=Environment.LAND)

    observations.append(straggler(0.5))
    for step in range(120):
        seconds = 3.0 + 0.25 * step
        if seconds >= 30.5:  # silent for longer than platform_delete_after_s from the middle of a run on
            observations.append(straggler(seconds + 0.02))
        for n in range(12):
            moving = n % 2 == 0
            observations.append(
                position_report(
                    f"ifv-{n}",
                    seconds + 0.001 * n,
                    (100.0 * n + 5.0 * seconds + rng.normal(0.0, 2.0), 200.0 + rng.normal(0.0, 2.0), 0.0),
                    velocity=(5.0, 0.0, 0.0) if moving else None,
                    environment=Environment.LAND if n % 3 else Environment.UNKNOWN,
                )
            )
        observations.append(
            position_report("drone-7", seconds + 0.05, _drone(seconds + 0.05), velocity=(15.0, 0.0, 0.0))
        )
    one_by_one, at_once = FusionCore(config()), FusionCore(config())
    feed(one_by_one, observations)
    for obs in observations:
        assert at_once.ingest(obs).accepted
    end = observations[-1].time
    at_once.advance(end)
    assert one_by_one.figures.tracks_dropped == 2  # the alarm and the radar track; the straggler came back at once
    picture = [t.model_dump_json() for t in at_once.tracks()]
    assert len(picture) == 14
    straggler_track = at_once.track("P-straggler")
    assert straggler_track is not None and straggler_track.first_seen > at(30.5)
    assert picture == [t.model_dump_json() for t in one_by_one.tracks()]


def test_unassigned_detection_inside_a_friendly_gate_starts_no_track() -> None:
    core = FusionCore(config())
    feed(core, [position_report("drone-7", 0, (0.0, 0.0, 100.0), ce_m=20.0, le_m=20.0)])
    # Two plots in one scan near the drone: one updates its track, the other must not start a new one.
    two = [geo_detection((5.0, 0.0, 100.0)), geo_detection((-20.0, 10.0, 100.0))]
    feed(core, [geo_scan("eo", 0.5, two)])
    assert [t.track_id for t in core.tracks()] == ["P-drone-7"]


def test_m_of_n_confirmation_coasting_and_deletion() -> None:
    core = FusionCore(config(confirm_m=3, confirm_n=5, coast_after_s=2.0, delete_after_s=10.0))
    statuses = []
    for k in range(4):
        feed(core, [geo_scan("eo", k, [geo_detection((100.0, 100.0, 0.0))])])
        statuses.append(core.tracks()[0].status)
    assert statuses == [TrackStatus.TENTATIVE, TrackStatus.TENTATIVE, TrackStatus.CONFIRMED, TrackStatus.CONFIRMED]
    # No more detections: coasting after 2 s, dropped after 10 s without an update.
    assert core.advance(at(3 + 1.9)).updated == ()
    change = core.advance(at(3 + 2.1))
    assert change.updated == ("T000001",)
    assert core.tracks()[0].status is TrackStatus.COASTING
    assert core.advance(at(3 + 9.9)).dropped == ()
    assert core.advance(at(3 + 10.1)).dropped == ("T000001",)
    assert core.tracks() == []
    figures = core.figures
    assert (figures.tracks_created, figures.tracks_dropped, figures.tracks_live) == (1, 1, 0)


def _statuses_after_each_scan(false_alarms: float | None) -> list[TrackStatus]:
    core = FusionCore(config(confirm_m=3, confirm_n=5))
    statuses = []
    for k in range(3):
        # All round to 5 km: 7.9e7 m², and a 5-m detection's likelihood near its track is ~1e-3 per m².
        feed(
            core, [geo_scan("radar", k, [geo_detection((100.0, 100.0, 0.0))], looked_m=5000, false_alarms=false_alarms)]
        )
        statuses.append(core.tracks()[0].status)
    return statuses


def test_a_scan_that_states_sparse_clutter_confirms_on_the_second_hit() -> None:
    tentative, confirmed = TrackStatus.TENTATIVE, TrackStatus.CONFIRMED
    assert _statuses_after_each_scan(None) == [tentative, tentative, confirmed]  # confirm_m
    assert _statuses_after_each_scan(2.0) == [tentative, confirmed, confirmed]  # 2 false plots in 79 km²
    assert _statuses_after_each_scan(0.0) == [tentative, confirmed, confirmed]
    # Clutter so dense (one false plot per 40 m²) that a second hit proves little: M of N rules.
    assert _statuses_after_each_scan(2e6) == [tentative, tentative, confirmed]


def test_tentative_track_from_one_false_alarm_is_deleted() -> None:
    core = FusionCore(config(confirm_m=3, confirm_n=5))
    real = (0.0, 0.0, 0.0)
    feed(core, [geo_scan("eo", 0, [geo_detection(real), geo_detection((2000.0, 0.0, 0.0))], looked_m=5000)])
    assert [t.track_id for t in core.tracks()] == ["T000001", "T000002"]
    dropped = []
    for k in range(1, 6):
        core.ingest(geo_scan("eo", k, [geo_detection(real)], looked_m=5000))
        dropped.append(core.advance(at(k + 0.5)).dropped)
    # Misses at scans 1, 2, 3: the third (N - M + 1) makes confirmation impossible.
    assert dropped == [(), (), ("T000002",), (), ()]
    assert [(t.track_id, t.status) for t in core.tracks()] == [("T000001", TrackStatus.CONFIRMED)]


def test_misses_count_only_where_the_sensor_looked() -> None:
    core = FusionCore(config(confirm_m=3, confirm_n=5))
    far = (2000.0, 0.0, 0.0)
    feed(core, [geo_scan("eo", 0, [geo_detection((0.0, 0.0, 0.0)), geo_detection(far)], looked_m=5000)])
    # Later scans look 1 km around: the far tentative track is outside, so it misses nothing.
    feed(core, [geo_scan("eo", k, [geo_detection((0.0, 0.0, 0.0))], looked_m=1000) for k in range(1, 6)])
    assert [t.track_id for t in core.tracks()] == ["T000001", "T000002"]


def test_a_one_contact_per_message_source_confirms_within_three_reports() -> None:
    """An AIS- or TAK-like feed: each message carries one contact and no coverage, and several
    objects report in turn, so each message "misses" every other object."""
    core = FusionCore(config(confirm_m=3, confirm_n=5))
    objects = [(0.0, 0.0, 0.0), (3000.0, 0.0, 0.0), (0.0, 3000.0, 0.0)]
    reports = [geo_scan("ais", k * 1.0 + i * 0.3, [geo_detection(p)]) for k in range(3) for i, p in enumerate(objects)]
    feed(core, reports)
    assert [t.status for t in core.tracks()] == [TrackStatus.CONFIRMED] * 3


def test_a_confirmed_track_goes_after_a_few_misses_where_sensors_looked() -> None:
    core = FusionCore(config(delete_after_s=100.0, coast_after_s=100.0))
    feed(core, [geo_scan("eo", k, [geo_detection((0.0, 0.0, 0.0))], looked_m=5000) for k in range(10)])
    assert core.tracks()[0].status is TrackStatus.CONFIRMED
    # Existence odds capped at 1000:1, each miss x (1 - 0.9): below 1:99 after the fifth miss.
    for k in range(10, 16):
        core.ingest(geo_scan("eo", k, [], looked_m=5000))
        if core.advance(at(k)).dropped:
            break
    assert k == 14 and core.tracks() == []
    # Where nothing looks, the track stays until it is stale.
    quiet = FusionCore(config(delete_after_s=100.0, coast_after_s=100.0))
    feed(quiet, [geo_scan("eo", k, [geo_detection((0.0, 0.0, 0.0))], looked_m=5000) for k in range(10)])
    feed(quiet, [geo_scan("eo", k, [geo_detection((4000.0, 0.0, 0.0))]) for k in range(10, 16)])
    assert "T000001" in [t.track_id for t in quiet.tracks()]


def test_track_dropped_when_its_position_is_no_longer_known() -> None:
    core = FusionCore(config(max_position_sigma_m=30.0, delete_after_s=1000.0, coast_after_s=1000.0))
    feed(core, [geo_scan("eo", k, [geo_detection((0.0, 0.0, 0.0))]) for k in range(3)])
    assert core.advance(at(5)).dropped == ()
    # After three plots the velocity is known to a few m/s, so the position spread passes 30 m
    # within seconds, long before the 1000 s stale time.
    dropped_at = next(s for s in range(3, 60) if core.advance(at(2) + timedelta(seconds=s)).dropped)
    assert 4 <= dropped_at <= 20
    assert core.tracks() == []


def test_other_radars_covering_a_false_alarm_count_its_misses() -> None:
    # radar-a's false alarm at 3 km; radar-b, whose plots reach 5 km, scans past it three times.
    core = FusionCore(config(confirm_m=3, confirm_n=5))
    a, b = (0.0, 0.0, 10.0), (500.0, 0.0, 10.0)
    far_target = (0.0, 5000.0, 0.0)
    feed(core, [radar_scan("radar-a", 0, a, [polar_detection(a, (3000.0, 0.0, 0.0))])])
    dropped = []
    for k in range(3):
        core.ingest(radar_scan("radar-b", k + 0.5, b, [polar_detection(b, far_target)], looked_m=5000))
        dropped.append(core.advance(at(k + 1.0)).dropped)
    assert dropped == [(), (), ("T000001",)]


def test_a_radar_counts_no_misses_outside_its_sector() -> None:
    core = FusionCore(config(confirm_m=3, confirm_n=5))
    a, b = (0.0, 0.0, 10.0), (500.0, 0.0, 10.0)
    feed(core, [radar_scan("radar-a", 0, a, [polar_detection(a, (3000.0, 0.0, 0.0))])])
    # radar-b looks north only (315 to 45 degrees): the tentative track due east is not its business.
    for k in range(3):
        feed(core, [radar_scan("radar-b", k + 0.5, b, [], looked_m=5000, sector_deg=(315.0, 45.0))])
    assert [t.track_id for t in core.tracks()] == ["T000001"]


def test_tracks_can_be_built_for_chosen_ids_only() -> None:
    core = FusionCore(config())
    feed(core, [geo_scan("eo", 0, [geo_detection((0.0, 0.0, 0.0)), geo_detection((900.0, 0.0, 0.0))])])
    assert [t.track_id for t in core.tracks(["T000002", "nope", "T000002"])] == ["T000002"]
    assert core.track("nope") is None


def test_stated_clutter_is_spread_over_the_ground_the_coverage_covers() -> None:
    frame = LocalFrame(ORIGIN)
    ring = Coverage(
        sector=Sector(bearing_from_deg=0, bearing_to_deg=90, min_range_m=1000, max_range_m=2000), false_alarms=3
    )
    looked = region(ring, frame, ORIGIN)
    assert looked is not None and looked.clutter_density == pytest.approx(3 / (np.pi / 4 * (2000**2 - 1000**2)))
    square = [geo(corner) for corner in [(0.0, 0.0, 0.0), (100.0, 0.0, 0.0), (100.0, 100.0, 0.0), (0.0, 100.0, 0.0)]]
    looked = region(Coverage(footprint=square, false_alarms=2), frame, None)
    assert looked is not None and looked.clutter_density == pytest.approx(2 / 100**2, rel=1e-3)
    assert region(Coverage(footprint=square), frame, None).clutter_density is None  # type: ignore[union-attr]
    line = [geo((0.0, 0.0, 0.0)), geo((100.0, 0.0, 0.0)), geo((200.0, 0.0, 0.0))]
    assert region(Coverage(footprint=line, false_alarms=2), frame, None).clutter_density is None  # type: ignore[union-attr]
