"""Time and trust at the door: reorder window, late, future, duplicate and absurd observations."""

from __future__ import annotations

import numpy as np
import pytest

from bus.schema import Detection, GeoMeasurement
from fusion import FusionCore, VerdictKind
from tests.fusion_helpers import at, config, enu, feed, geo, geo_detection, geo_scan, position_report


def test_observations_within_the_window_are_applied_in_time_order() -> None:
    scans = [geo_scan("eo", k * 0.1, [geo_detection((10.0 * k, 0.0, 0.0), sigma=2.0)]) for k in range(5)]
    in_order, shuffled = FusionCore(config()), FusionCore(config())
    for scan in scans:
        in_order.ingest(scan)
    for i in (3, 0, 4, 2, 1):
        shuffled.ingest(scans[i])
    for core in (in_order, shuffled):
        change = core.advance(at(0.4 + 0.5))
        assert change.applied == 5
    assert [t.model_dump_json() for t in in_order.tracks()] == [t.model_dump_json() for t in shuffled.tracks()]


def test_nothing_is_applied_before_the_window_passes() -> None:
    core = FusionCore(config(reorder_window_s=0.5))
    core.ingest(geo_scan("eo", 1.0, [geo_detection((0.0, 0.0, 0.0))]))
    assert core.advance(at(1.4)).applied == 0
    assert core.figures.pending == 1
    assert core.advance(at(1.5)).created == ("T000001",)


def test_late_observation_is_counted_and_not_applied() -> None:
    core = FusionCore(config())
    feed(core, [geo_scan("eo", k, [geo_detection((0.0, 0.0, 0.0))]) for k in range(3)])
    before = [t.model_dump_json() for t in core.tracks()]
    verdict = core.ingest(geo_scan("eo", 1.5, [geo_detection((30.0, 0.0, 0.0))]))
    assert verdict.kind is VerdictKind.LATE and "before the applied picture" in verdict.reason
    assert core.advance(at(3)).applied == 0
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
