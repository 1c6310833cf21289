"""Time and trust at the door: arrival order, late, future, duplicate and absurd observations."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from bus import codec, topics
from bus.recording import open_recording
from bus.schema import Detection, GeoMeasurement, Observation
from fusion import FusionConfig, FusionCore, VerdictKind
from fusion.intake import from_us, to_us
from tests.fusion_helpers import at, config, enu, feed, geo, geo_detection, geo_scan, position_report
from tests.recordings import DATA


def _smoke_observations() -> list[tuple[int, Observation]]:
    """The smoke recording's observations with their receive times (µs)."""
    out = []
    for record in open_recording(DATA / "smoke.rec"):
        if topics.parse(record.topic).kind is topics.Kind.OBSERVATION:
            message = codec.decode_on_topic(record.topic, record.payload, record.content_type)
            assert isinstance(message, Observation)
            out.append((record.time_us, message))
    return out


def _picture(arrivals: list[tuple[int, Observation]], end_us: int) -> list[str]:
    """Feed arrivals in the given order, advancing after each one (the live shell's rhythm); the picture at the end."""
    core = FusionCore(FusionConfig())
    for time_us, obs in arrivals:
        assert core.ingest(obs, now=from_us(time_us)).accepted
        core.advance(from_us(time_us))
    core.advance(from_us(end_us))
    assert core.figures.late == 0
    return [t.model_dump_json() for t in core.tracks()]


def test_the_picture_does_not_depend_on_arrival_order_within_the_horizon() -> None:
    rng = np.random.default_rng(3)
    in_time_order = sorted(((to_us(o.time), o) for _, o in _smoke_observations()), key=lambda a: a[0])
    # Each observation delayed by up to 2 s: arrivals far out of time order, across sources and within one.
    shuffled = sorted(((t + int(rng.uniform(0, 2e6)), o) for t, o in in_time_order), key=lambda a: a[0])
    assert [o.msg_id for _, o in shuffled] != [o.msg_id for _, o in in_time_order]
    end = shuffled[-1][0]
    expected = _picture(in_time_order, end)
    assert len(expected) >= 3
    assert _picture(shuffled, end) == expected


def test_kept_track_models_match_a_fresh_build_through_rewinds() -> None:
    """`tracks()` keeps each model until its track changes; late arrivals rewind and reprocess, and
    a stale model would show a track as it was before. Compared with models built afresh."""
    rng = np.random.default_rng(5)
    delayed = ((to_us(o.time) + int(rng.uniform(0, 2e6)), o) for _, o in _smoke_observations())
    arrivals = sorted(delayed, key=lambda a: a[0])
    core = FusionCore(FusionConfig())
    compared = 0
    for k, (time_us, obs) in enumerate(arrivals):
        core.ingest(obs, now=from_us(time_us))
        core.advance(from_us(time_us))
        kept = core.tracks()
        if k % 25 == 0:
            fresh = copy.deepcopy(core)
            fresh._models.clear()  # white box: the cache under test
            assert [t.model_dump_json() for t in kept] == [t.model_dump_json() for t in fresh.tracks()]
            compared += bool(kept)
    assert core.figures.rewinds > 0 and compared >= 10


def test_an_observation_is_applied_as_soon_as_it_arrives() -> None:
    core = FusionCore(config())
    core.ingest(geo_scan("eo", 1.0, [geo_detection((0.0, 0.0, 0.0))]))
    change = core.advance(at(1.0))
    assert change.applied == 1 and change.created == ("T000001",)


def test_a_late_arrival_inside_the_horizon_is_reprocessed_in_time_order() -> None:
    scans = [geo_scan("eo", k * 0.5, [geo_detection((5.0 * k, 0.0, 0.0), sigma=2.0)]) for k in range(8)]
    in_order, late = FusionCore(config()), FusionCore(config())
    feed(in_order, scans)
    feed(late, [s for k, s in enumerate(scans) if k != 2])
    assert late.ingest(scans[2], now=at(3.5)).accepted
    assert late.advance(at(3.5)).applied == 1
    assert late.figures.rewinds == 1 and late.figures.late == 0
    in_order.advance(at(3.5))
    assert [t.model_dump_json() for t in in_order.tracks()] == [t.model_dump_json() for t in late.tracks()]


def test_an_observation_beyond_the_horizon_is_late_and_not_applied() -> None:
    core = FusionCore(config(horizon_s=5.0))
    feed(core, [geo_scan("eo", k, [geo_detection((0.0, 0.0, 0.0))]) for k in range(8)])
    before = [t.model_dump_json() for t in core.tracks()]
    verdict = core.ingest(geo_scan("eo", 1.5, [geo_detection((30.0, 0.0, 0.0))]), now=at(7))
    assert verdict.kind is VerdictKind.LATE and "before the horizon" in verdict.reason
    assert core.advance(at(7)).applied == 0
    assert [t.model_dump_json() for t in core.tracks()] == before
    assert core.figures.late == 1


def test_future_observation_is_rejected() -> None:
    core = FusionCore(config(max_future_s=5.0))
    far = geo_scan("eo", 100, [geo_detection((0.0, 0.0, 0.0))])
    assert core.ingest(far, now=at(10)).kind is VerdictKind.FUTURE
    core.advance(at(10))
    assert core.ingest(geo_scan("eo", 15.1, [geo_detection((0.0, 0.0, 0.0))])).kind is VerdictKind.FUTURE
    assert core.ingest(geo_scan("eo", 14.9, [geo_detection((0.0, 0.0, 0.0))])).accepted
    assert core.figures.future == 2 and core.figures.accepted == 1


def test_duplicate_msg_ids_are_counted_and_ignored() -> None:
    core = FusionCore(config(dedup_capacity=2))
    first = position_report("drone-7", 0, (0.0, 0.0, 100.0), msg_id="abc")
    again = position_report("drone-7", 0.2, (3.0, 0.0, 100.0), msg_id="abc")
    assert core.ingest(first).accepted
    verdict = core.ingest(again)
    assert verdict.kind is VerdictKind.DUPLICATE and "abc" in verdict.reason
    # The same msg_id from another source is a different message.
    assert core.ingest(position_report("drone-8", 0.1, (50.0, 0.0, 100.0), msg_id="abc")).accepted
    assert core.figures.duplicates == 1
    # Memory is bounded: once two newer ids are remembered, "abc" from drone-7 is forgotten.
    core.ingest(position_report("drone-8", 0.3, (50.0, 0.0, 100.0), msg_id="x1"))
    core.ingest(position_report("drone-8", 0.4, (50.0, 0.0, 100.0), msg_id="x2"))
    assert core.ingest(position_report("drone-7", 0.4, (6.0, 0.0, 100.0), msg_id="abc")).accepted


def test_absurd_jump_is_rejected_and_the_track_unharmed() -> None:
    core = FusionCore(config())
    feed(core, [position_report("drone-7", k, (10.0 * k, 0.0, 100.0), velocity=(10.0, 0.0, 0.0)) for k in range(5)])
    before = core.track("P-drone-7")
    assert before is not None
    verdict = core.ingest(position_report("drone-7", 5, (1_000_000.0, 0.0, 100.0)))
    assert verdict.kind is VerdictKind.ABSURD and "drone-7" in verdict.reason
    core.advance(at(5.5))
    assert core.track("P-drone-7") == before
    assert core.figures.absurd == 1
    # The next sane report is accepted as usual.
    feed(core, [position_report("drone-7", 6, (60.0, 0.0, 100.0), velocity=(10.0, 0.0, 0.0))])
    after = core.track("P-drone-7")
    assert after is not None and np.linalg.norm(enu(after.position) - (60.0, 0.0, 100.0)) < 3.0


def test_a_zero_covariance_geolocation_is_usable() -> None:
    zero = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))
    exact = Detection(geo=GeoMeasurement(position=geo((10.0, 0.0, 0.0)), covariance_enu_m2=zero))
    core = FusionCore(config())
    feed(core, [geo_scan("eo", 0, [exact]), geo_scan("eo2", 0, [exact]), geo_scan("eo", 1, [exact])])
    [track] = core.tracks()
    assert enu(track.position) == pytest.approx([10.0, 0.0, 0.0], abs=1e-3)


def test_a_late_arrival_republishes_only_the_tracks_it_changes() -> None:
    """Two sources' streams interleave out of time order all the time: each late arrival rewinds to a
    checkpoint, and republishing every track reprocessed since made 12 updates per observation."""
    core = FusionCore(config())
    platforms = [f"ifv-{n}" for n in range(5)]
    for step in range(10):
        for n, platform in enumerate(platforms):
            seconds = 0.1 * step + 0.01 * n
            assert core.ingest(position_report(platform, seconds, (10.0 * n + seconds, 0.0, 0.0))).accepted
        core.advance(at(0.1 * step + 0.05))
    late = position_report("ifv-2", 0.925, (21.0, 0.0, 0.0))  # before ifv-3's and ifv-4's last reports
    assert core.ingest(late, now=at(1.0)).accepted
    change = core.advance(at(1.0))
    assert core.figures.rewinds == 1 and core.figures.reprocessed >= 2
    assert (change.created, change.updated, change.dropped) == ((), ("P-ifv-2",), ())
