"""Identity: class evidence across reports, disposition hysteresis, CoT types; and determinism."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.schema import Disposition, Environment, ObjectClass, Observation
from fusion import FusionCore
from fusion.identity import cot_type
from tests.fusion_helpers import (
    at,
    config,
    feed,
    geo_detection,
    geo_scan,
    polar_detection,
    position_report,
    radar_scan,
    video_frame,
)

TARGET = (500.0, 500.0, 0.0)


def _calls(*dispositions: Disposition | None, within_s: float | None = None) -> FusionCore:
    """A track fed one detection a second, each making the given identity call (None: no call)."""
    core = FusionCore(config() if within_s is None else config(disposition_within_s=within_s))
    feed(core, [geo_scan("eo", k, [geo_detection(TARGET, disposition=d)]) for k, d in enumerate(dispositions)])
    return core


def test_disposition_needs_consecutive_reports_and_never_flips_on_one() -> None:
    hostile, friendly = Disposition.HOSTILE, Disposition.FRIENDLY
    assert _calls(hostile).tracks()[0].disposition is Disposition.UNKNOWN
    assert _calls(hostile, hostile).tracks()[0].disposition is Disposition.UNKNOWN
    [track] = _calls(hostile, None, hostile, hostile).tracks()
    assert (track.disposition, track.cot_type) == (Disposition.HOSTILE, "a-h-G")
    assert _calls(hostile, hostile, hostile, friendly).tracks()[0].disposition is Disposition.HOSTILE
    # A contrary report interrupts the streak of challengers.
    assert _calls(hostile, hostile, hostile, friendly, friendly, hostile, friendly).tracks()[0].disposition is hostile
    assert _calls(hostile, hostile, hostile, friendly, friendly, friendly).tracks()[0].disposition is friendly


def test_a_streak_of_calls_must_fall_within_the_window() -> None:
    hostile = Disposition.HOSTILE
    assert _calls(hostile, None, hostile, hostile).tracks()[0].disposition is hostile
    # Within 2 s: the call at 3 s finds the streak begun at 0 s too old and begins a new one.
    assert _calls(hostile, None, hostile, hostile, within_s=2.0).tracks()[0].disposition is Disposition.UNKNOWN
    assert _calls(hostile, None, hostile, hostile, hostile, hostile, within_s=2.0).tracks()[0].disposition is hostile


def test_several_weak_reports_outweigh_one_confident_wrong_one() -> None:
    weak = {ObjectClass.VEHICLE: 0.6}
    wrong = {ObjectClass.PERSON: 0.95}
    core = FusionCore(config())
    reports = [weak, weak, wrong, weak]
    feed(core, [geo_scan("eo", k, [geo_detection(TARGET, classes=c)]) for k, c in enumerate(reports)])
    [track] = core.tracks()
    assert track.classification is ObjectClass.VEHICLE
    assert sum(track.class_probabilities.values()) == pytest.approx(1.0)


def test_class_probabilities_converge_with_consistent_reports() -> None:
    core = FusionCore(config())
    confidences = []
    for k in range(8):
        feed(
            core,
            [geo_scan("eo", k, [geo_detection(TARGET, classes={ObjectClass.UAV: 0.7, ObjectClass.AIRCRAFT: 0.1})])],
        )
        confidences.append(core.tracks()[0].classification_confidence)
    assert all(b > a for a, b in itertools.pairwise(confidences))
    [track] = core.tracks()
    assert track.classification is ObjectClass.UAV and track.classification_confidence > 0.99
    # A UAV is an air object even when its geolocation says ground level.
    assert (track.environment, track.cot_type) == (Environment.AIR, "a-u-A")


def test_cot_types() -> None:
    assert cot_type(Disposition.HOSTILE, Environment.LAND) == "a-h-G"
    assert cot_type(Disposition.FRIENDLY, Environment.AIR) == "a-f-A"
    assert cot_type(Disposition.UNKNOWN, Environment.LAND) == "a-u-G"
    assert cot_type(Disposition.NEUTRAL, Environment.SURFACE) == "a-n-S"


def _scenario(seed: int) -> list:
    rng = np.random.default_rng(seed)
    radar = (0.0, 0.0, 20.0)
    starts = rng.uniform(-3000, 3000, size=(12, 3)) * (1, 1, 0)
    velocities = rng.normal(size=(12, 3)) * (8, 8, 0)
    observations: list[Observation] = []
    for k in range(15):
        truths = [tuple(s + v * k) for s, v in zip(starts, velocities, strict=True)]
        plots = [
            polar_detection(radar, t, rng, classes={ObjectClass.VEHICLE: 0.6}) for t in truths if rng.uniform() < 0.9
        ]
        observations.append(radar_scan("radar", k, radar, plots))
        observations.append(video_frame("cam", k + 0.5, truths[:4], rng))
        observations.append(position_report("blue-1", k + 0.7, (100.0 * k, -2000.0, 0.0), environment=Environment.LAND))
    return observations


def _picture(observations: list[Observation]) -> str:
    core = FusionCore(config())
    feed(core, observations)
    return json.dumps([t.model_dump(mode="json") for t in core.tracks()])


def test_same_input_gives_the_same_picture_byte_for_byte() -> None:
    observations = _scenario(11)
    first = _picture(observations)
    assert first == _picture(observations)
    assert len(json.loads(first)) >= 13


@settings(max_examples=15, deadline=None)
@given(st.permutations(range(3)))
def test_arrival_order_within_the_window_does_not_matter(order: list[int]) -> None:
    radar = (0.0, 0.0, 20.0)
    batches: list[list[Observation]] = [
        [
            radar_scan("radar", k, radar, [polar_detection(radar, (1000.0 + 5 * k, 0.0, 0.0))]),
            geo_scan("eo", k + 0.1, [geo_detection((1000.0 + 5 * k, 0.0, 0.0))]),
            position_report("blue-1", k + 0.2, (0.0, 100.0 * k, 0.0)),
        ]
        for k in range(4)
    ]
    core, reference = FusionCore(config()), FusionCore(config())
    for k, batch in enumerate(batches):
        for i in order:
            core.ingest(batch[i])
        for obs in batch:
            reference.ingest(obs)
        core.advance(at(k + 0.7))
        reference.advance(at(k + 0.7))
    assert [t.model_dump_json() for t in core.tracks()] == [t.model_dump_json() for t in reference.tracks()]
