"""Tests for fusion.eval: GOSPA/OSPA by hand and by property, continuity on hand-built runs, latency."""

from __future__ import annotations

import itertools
import json
import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pymap3d
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.schema import (
    Disposition,
    Environment,
    GeoPoint,
    GroundTruth,
    ObjectClass,
    Source,
    SourceKind,
    Track,
    TrackStatus,
    TruthObject,
)
from fusion.eval import (
    EvalConfig,
    PlatformMode,
    enu_positions,
    evaluate,
    gospa,
    latency_stats,
    ospa,
    track_positions,
)

ORIGIN = GeoPoint(lat=51.0, lon=-1.0, hae_m=100.0)
T0 = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
ZERO3 = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), (0.0, 0.0, 0.0))


def pts(*xy: tuple[float, float]) -> np.ndarray:
    return np.array(xy, dtype=float).reshape(len(xy), 2)


# --- GOSPA / OSPA by hand ----------------------------------------------------------------------------


def test_gospa_both_empty_is_zero() -> None:
    result = gospa(pts(), pts())
    assert (result.total, result.localisation, result.missed, result.false) == (0, 0, 0, 0)
    assert result.pairs == ()


def test_gospa_one_missed_costs_half_c() -> None:
    result = gospa(pts((0, 0)), pts())
    assert result.total == pytest.approx(50.0)
    assert (result.missed, result.false) == (50.0, 0.0)


def test_gospa_one_false_costs_half_c() -> None:
    result = gospa(pts(), pts((5, 5)))
    assert result.total == pytest.approx(50.0)
    assert (result.missed, result.false) == (0.0, 50.0)


def test_gospa_assigned_pair_is_its_distance() -> None:
    result = gospa(pts((0, 0)), pts((18, 24)))
    assert result.total == pytest.approx(30.0)
    assert result.localisation == pytest.approx(30.0)
    assert result.pairs == ((0, 0),)


def test_gospa_pair_beyond_cutoff_is_missed_plus_false() -> None:
    result = gospa(pts((0, 0)), pts((150, 0)))
    assert result.total == pytest.approx(100.0)
    assert (result.localisation, result.missed, result.false) == (0.0, 50.0, 50.0)
    assert result.pairs == ()


def test_gospa_two_truths_one_estimate() -> None:
    result = gospa(pts((0, 0), (60, 0)), pts((50, 0)))
    assert result.total == pytest.approx(10.0 + 50.0)
    assert result.pairs == ((1, 0),)
    assert (result.missed, result.false) == (50.0, 0.0)


def test_gospa_order_two_takes_root_of_the_sum() -> None:
    result = gospa(pts((0, 0), (1000, 0)), pts((30, 0)), c=100, p=2)
    assert result.localisation == pytest.approx(900.0)
    assert result.missed == pytest.approx(100.0**2 / 2)
    assert result.total == pytest.approx(math.sqrt(900 + 5000))


def test_gospa_swap_keeps_localisation_and_swaps_missed_and_false() -> None:
    a, b = pts((0, 0), (40, 0), (500, 500)), pts((3, 4), (41, 0))
    forward, backward = gospa(a, b), gospa(b, a)
    assert forward.total == pytest.approx(backward.total)
    assert forward.localisation == pytest.approx(backward.localisation)
    assert (forward.missed, forward.false) == (backward.false, backward.missed)
    assert sorted(forward.pairs) == sorted((j, i) for i, j in backward.pairs)


def test_gospa_alpha_one_keeps_far_pairs_assigned_at_cutoff() -> None:
    result = gospa(pts((0, 0)), pts((150, 0)), alpha=1)
    assert result.total == pytest.approx(100.0)
    assert (result.localisation, result.missed, result.false) == (100.0, 0.0, 0.0)
    assert gospa(pts((0, 0)), pts(), alpha=1).missed == pytest.approx(100.0)


def test_gospa_accepts_three_dimensions_and_rejects_mismatch() -> None:
    assert gospa(np.array([[0.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 20.0]])).total == pytest.approx(20.0)
    with pytest.raises(ValueError, match="coordinates"):
        gospa(np.zeros((1, 2)), np.zeros((1, 3)))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"c": 0.0}, "c must"),
        ({"p": 0.5}, "p must"),
        ({"alpha": 3.0}, "alpha must"),
        ({"c": math.inf}, "c must"),
    ],
)
def test_gospa_rejects_bad_parameters(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gospa(pts((0, 0)), pts((1, 1)), **kwargs)


def test_gospa_rejects_bad_points() -> None:
    with pytest.raises(ValueError, match="shape"):
        gospa(np.zeros(3), pts())
    with pytest.raises(ValueError, match="non-finite"):
        gospa(pts((0, math.nan)), pts())


def test_ospa_cases() -> None:
    assert ospa(pts(), pts()) == 0.0
    assert ospa(pts((0, 0)), pts()) == pytest.approx(100.0)
    assert ospa(pts((0, 0)), pts((30, 0))) == pytest.approx(30.0)
    assert ospa(pts((0, 0)), pts((300, 0))) == pytest.approx(100.0)
    assert ospa(pts((0, 0), (500, 0)), pts((10, 0))) == pytest.approx((10 + 100) / 2)
    assert ospa(pts((0, 0), (500, 0)), pts((10, 0)), p=2) == pytest.approx(math.sqrt((100 + 100**2) / 2))


# --- GOSPA properties --------------------------------------------------------------------------------

# Integer quarter-metre coordinates: equality of sets is then exact, and distances are well above
# float noise.
point_sets = st.lists(st.tuples(st.integers(-600, 600), st.integers(-600, 600)), max_size=5).map(
    lambda xy: np.array(xy, dtype=float).reshape(len(xy), 2) / 4
)
orders = st.sampled_from([1.0, 2.0, 3.0])
cutoffs = st.sampled_from([20.0, 100.0])


def brute_force_gospa(x: np.ndarray, y: np.ndarray, c: float, p: float) -> float:
    """The alpha = 2 definition, minimised over every partial assignment: slow but obviously right."""
    best = math.inf
    for k in range(min(len(x), len(y)) + 1):
        for rows in itertools.combinations(range(len(x)), k):
            for cols in itertools.permutations(range(len(y)), k):
                cost = sum(min(float(np.linalg.norm(x[i] - y[j])), c) ** p for i, j in zip(rows, cols, strict=True))
                best = min(best, cost + c**p / 2 * (len(x) + len(y) - 2 * k))
    return best ** (1 / p)


def brute_force_ospa(x: np.ndarray, y: np.ndarray, c: float, p: float) -> float:
    """The OSPA definition: every point of the smaller set assigned, minimised over permutations."""
    small, large = (x, y) if len(x) <= len(y) else (y, x)
    if not len(large):
        return 0.0
    best = min(
        sum(min(float(np.linalg.norm(small[i] - large[j])), c) ** p for i, j in enumerate(perm))
        for perm in itertools.permutations(range(len(large)), len(small))
    )
    return ((best + c**p * (len(large) - len(small))) / len(large)) ** (1 / p)


@settings(max_examples=150, deadline=None)
@given(point_sets, point_sets, cutoffs, orders)
def test_gospa_and_ospa_are_the_optima_of_their_definitions(x: np.ndarray, y: np.ndarray, c: float, p: float) -> None:
    x, y = x[:4], y[:4]
    result = gospa(x, y, c=c, p=p)
    assert result.total == pytest.approx(brute_force_gospa(x, y, c, p), rel=1e-9, abs=1e-9)
    assert result.total**p == pytest.approx(result.localisation + result.missed + result.false, rel=1e-9, abs=1e-9)
    assert ospa(x, y, c=c, p=p) == pytest.approx(brute_force_ospa(x, y, c, p), rel=1e-9, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(point_sets, point_sets, cutoffs, orders)
def test_gospa_is_non_negative_and_zero_only_on_equal_sets(x: np.ndarray, y: np.ndarray, c: float, p: float) -> None:
    assert gospa(x, y, c, p).total >= 0
    assert gospa(x, x, c, p).total == pytest.approx(0.0, abs=1e-9)
    equal = sorted(map(tuple, x.tolist())) == sorted(map(tuple, y.tolist()))
    assert (gospa(x, y, c, p).total == 0) == equal


@settings(max_examples=200, deadline=None)
@given(point_sets, point_sets, point_sets, cutoffs, orders, st.sampled_from([1.0, 2.0]))
def test_gospa_triangle_inequality(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, c: float, p: float, alpha: float
) -> None:
    assert gospa(x, z, c, p, alpha).total <= gospa(x, y, c, p, alpha).total + gospa(y, z, c, p, alpha).total + 1e-9


@settings(max_examples=200, deadline=None)
@given(point_sets, point_sets, point_sets, cutoffs, orders)
def test_ospa_triangle_inequality(x: np.ndarray, y: np.ndarray, z: np.ndarray, c: float, p: float) -> None:
    assert ospa(x, z, c, p) <= ospa(x, y, c, p) + ospa(y, z, c, p) + 1e-9


@settings(max_examples=200, deadline=None)
@given(point_sets, point_sets, cutoffs, orders, st.randoms(use_true_random=False))
def test_gospa_is_symmetric_and_permutation_invariant(
    x: np.ndarray, y: np.ndarray, c: float, p: float, rnd: random.Random
) -> None:
    result = gospa(x, y, c, p)
    assert gospa(y, x, c, p).total == pytest.approx(result.total, rel=1e-12, abs=1e-9)
    px = x[rnd.sample(range(len(x)), len(x))]
    py = y[rnd.sample(range(len(y)), len(y))]
    shuffled = gospa(px, py, c, p)
    assert shuffled.total == pytest.approx(result.total, rel=1e-12, abs=1e-9)
    assert (shuffled.missed, shuffled.false) == (result.missed, result.false)
    assert ospa(px, py, c, p) == pytest.approx(ospa(x, y, c, p), rel=1e-12, abs=1e-9)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_gospa_and_ospa_match_stone_soup(seed: int) -> None:
    pytest.importorskip("stonesoup")
    from stonesoup.metricgenerator.ospametric import GOSPAMetric, OSPAMetric
    from stonesoup.types.state import State

    rng = np.random.default_rng(seed)
    truth, est = (
        rng.uniform(0, 300, (int(rng.integers(0, 7)), 2)),
        rng.uniform(0, 300, (int(rng.integers(1, 7)), 2)),
    )
    c, p = [(100.0, 1.0), (50.0, 2.0), (80.0, 1.0), (120.0, 3.0)][seed - 1]

    def states(xy: np.ndarray) -> list[State]:
        return [State(row.reshape(2, 1), timestamp=T0) for row in xy]

    metric, _ = GOSPAMetric(c=c, p=p).compute_gospa_metric(states(est), states(truth))
    ours = gospa(truth, est, c=c, p=p)
    assert ours.total == pytest.approx(metric.value["distance"])
    assert ours.localisation == pytest.approx(metric.value["localisation"])
    assert ours.missed == pytest.approx(metric.value["missed"])
    assert ours.false == pytest.approx(metric.value["false"])
    # Stone Soup 1.x's OSPA assigns on min(d, c) rather than min(d, c)**p, which is optimal only for
    # p = 1 (with p = 3 and seed 4 it reports 100.87 where the optimum is 100.53, see the brute-force
    # test above), so OSPA is compared at p = 1 only.
    reference = OSPAMetric(c=c, p=1).compute_OSPA_distance(states(est), states(truth)).value
    assert ospa(truth, est, c=c, p=1) == pytest.approx(reference)


# --- Positions ---------------------------------------------------------------------------------------


def geo(east: float, north: float, up: float = 0.0) -> GeoPoint:
    lat, lon, hae = pymap3d.enu2geodetic(east, north, up, ORIGIN.lat, ORIGIN.lon, ORIGIN.hae_m)
    return GeoPoint(lat=float(lat), lon=float(lon), hae_m=float(hae))


def test_enu_positions_round_trip() -> None:
    xyz = enu_positions([ORIGIN, geo(100, -200, 30)], ORIGIN)
    assert xyz == pytest.approx(np.array([[0, 0, 0], [100, -200, 30]]), abs=1e-6)
    assert enu_positions([], ORIGIN).shape == (0, 3)


def track(
    track_id: str,
    position: GeoPoint,
    status: TrackStatus = TrackStatus.CONFIRMED,
    updated: datetime = T0,
    velocity: tuple[float, float, float] = (0.0, 0.0, 0.0),
    platform_id: str | None = None,
    disposition: Disposition = Disposition.UNKNOWN,
) -> Track:
    return Track(
        track_id=track_id,
        status=status,
        disposition=disposition,
        position=position,
        velocity_enu_mps=velocity,
        position_cov_enu_m2=ZERO3,
        velocity_cov_enu_m2s2=ZERO3,
        platform_id=platform_id,
        first_seen=updated,
        updated=updated,
        stale_at=updated + timedelta(seconds=10),
    )


def test_track_positions_dead_reckon_and_rotate_velocity() -> None:
    # 1 degree of longitude away the local north is rotated in the origin's frame; speed is kept.
    far = GeoPoint(lat=ORIGIN.lat, lon=ORIGIN.lon + 1.0, hae_m=ORIGIN.hae_m)
    moving = track("t", far, updated=T0, velocity=(0.0, 10.0, 0.0))
    start = track_positions([moving], ORIGIN)
    later = track_positions([moving], ORIGIN, at=T0 + timedelta(seconds=3))
    step = (later - start)[0]
    assert np.linalg.norm(step) == pytest.approx(30.0)
    assert step[1] == pytest.approx(30.0, abs=0.1)
    assert abs(step[0]) > 0.1


# --- Evaluation over a run ---------------------------------------------------------------------------

SIM = Source(id="sim", kind=SourceKind.SIMULATOR)


def obj(object_id: str, position: GeoPoint, platform_id: str | None = None) -> TruthObject:
    return TruthObject(
        object_id=object_id,
        position=position,
        velocity_enu_mps=(0.0, 0.0, 0.0),
        object_class=ObjectClass.VEHICLE,
        disposition=Disposition.FRIENDLY if platform_id else Disposition.HOSTILE,
        environment=Environment.LAND,
        platform_id=platform_id,
    )


def truth(second: float, *objects: TruthObject) -> GroundTruth:
    return GroundTruth(source=SIM, time=T0 + timedelta(seconds=second), scenario_id="s", objects=list(objects))


A = obj("A", geo(0, 0))


def held_by(*track_ids: str | None) -> list[tuple[GroundTruth, list[Track]]]:
    """Frames one second apart in which object A is held by the given track (None: no track)."""
    return [
        (truth(k, A), [] if tid is None else [track(tid, geo(3, 4), updated=T0 + timedelta(seconds=k))])
        for k, tid in enumerate(track_ids)
    ]


@pytest.mark.parametrize(
    ("sequence", "switches", "fragmentations"),
    [
        (["T1", "T1", "T1"], 0, 0),
        (["T1", "T1", "T2", "T2", "T1"], 2, 0),
        (["T1", None, "T1", None, None, "T1"], 0, 2),
        (["T1", None, "T2"], 1, 1),
        (["T1", None, None], 0, 0),
        ([None, None, "T1", "T1"], 0, 0),
    ],
)
def test_id_switches_and_fragmentations(sequence: list[str | None], switches: int, fragmentations: int) -> None:
    report = evaluate(held_by(*sequence))
    assert (report.id_switches, report.fragmentations) == (switches, fragmentations)
    stats = report.objects["A"]
    assert (stats.frames, stats.frames_assigned) == (len(sequence), sum(tid is not None for tid in sequence))


def test_an_object_absent_from_truth_is_not_a_tracking_gap() -> None:
    frames = held_by("T1")
    frames.append((truth(1), [track("T1", geo(500, 500), updated=T0 + timedelta(seconds=1))]))
    frames.extend(held_by(None, None, "T1")[2:])
    report = evaluate(frames)
    assert report.fragmentations == 0
    assert report.objects["A"].frames == 2


def test_a_close_track_scores_its_offset() -> None:
    report = evaluate(held_by("T1", "T1"), EvalConfig(c=100))
    assert report.gospa.tolist() == pytest.approx([5.0, 5.0])  # the track sits 5 m off
    assert report.mean_position_error_m == pytest.approx(5.0)
    assert report.objects["A"].time_to_confirm_s == 0.0


def test_time_to_confirm_ignores_tentative_tracks_and_counts_from_detectability() -> None:
    statuses = [TrackStatus.TENTATIVE, TrackStatus.TENTATIVE, TrackStatus.CONFIRMED, TrackStatus.COASTING]
    frames = [
        (truth(k, A), [track("T1", geo(0, 1), status=status, updated=T0 + timedelta(seconds=k))])
        for k, status in enumerate(statuses)
    ]
    report = evaluate(frames)
    assert report.objects["A"].time_to_confirm_s == pytest.approx(2.0)
    assert report.gospa.tolist() == pytest.approx([50.0, 50.0, 1.0, 1.0])
    assert report.n_tracks.tolist() == [0, 0, 1, 1]
    early = evaluate(frames, first_detectable={"A": T0 - timedelta(seconds=3)})
    assert early.objects["A"].time_to_confirm_s == pytest.approx(5.0)
    assert early.times_to_confirm_s == {"A": pytest.approx(5.0)}


def test_counting_tentative_tracks_is_a_choice() -> None:
    frames = [(truth(0, A), [track("T1", geo(0, 1), status=TrackStatus.TENTATIVE)])]
    report = evaluate(frames, EvalConfig(statuses=frozenset(TrackStatus)))
    assert report.gospa.tolist() == pytest.approx([1.0])
    assert report.objects["A"].first_confirmed is None


def test_a_track_beyond_cutoff_holds_nothing() -> None:
    report = evaluate([(truth(0, A), [track("T1", geo(150, 0))])])
    assert report.gospa.tolist() == pytest.approx([100.0])
    assert report.gospa_missed.tolist() == [50.0]
    assert report.gospa_false.tolist() == [50.0]
    assert report.objects["A"].frames_assigned == 0
    assert report.mean_position_error_m is None


def platform_frames() -> list[tuple[GroundTruth, list[Track]]]:
    blue = obj("B", geo(1000, 0), platform_id="blue1")
    return [
        (truth(0, A, blue), [track("P1", geo(1000, 2), platform_id="blue1"), track("X", geo(0, 400))]),
        (truth(1, A, blue), [track("P1", geo(1000, 2), platform_id="blue1")]),
    ]


def test_platforms_separate_exclude_include() -> None:
    separate = evaluate(platform_frames())
    assert separate.n_truth.tolist() == [1, 1]
    assert separate.n_tracks.tolist() == [1, 0]
    assert separate.gospa.tolist() == pytest.approx([100.0, 50.0])
    assert separate.platforms is not None
    assert separate.platforms.gospa.tolist() == pytest.approx([2.0, 2.0], abs=1e-6)
    assert list(separate.platforms.objects) == ["B"]

    excluded = evaluate(platform_frames(), EvalConfig(platforms=PlatformMode.EXCLUDE))
    assert excluded.platforms is None
    assert excluded.gospa.tolist() == pytest.approx(separate.gospa.tolist())

    included = evaluate(platform_frames(), EvalConfig(platforms=PlatformMode.INCLUDE))
    assert included.n_truth.tolist() == [2, 2]
    assert included.gospa.tolist() == pytest.approx([102.0, 52.0], abs=1e-6)


H, N, F, U = Disposition.HOSTILE, Disposition.NEUTRAL, Disposition.FRIENDLY, Disposition.UNKNOWN


def shown(*calls: tuple[str, Disposition] | None) -> list[tuple[GroundTruth, list[Track]]]:
    """Frames one second apart in which the hostile object A is held by (track, disposition), or not."""
    return [
        (truth(k, A), [] if call is None else [track(call[0], geo(3, 4), disposition=call[1])])
        for k, call in enumerate(calls)
    ]


def test_time_to_hostile_and_wrong_declarations() -> None:
    frames = shown(None, ("T1", U), ("T1", N), ("T1", N), ("T1", H), ("T2", H), ("T2", N), None, ("T2", N), ("T3", N))
    identity = evaluate(frames).identity
    assert identity is not None
    # Held from 1 s, first shown hostile at 4 s.
    assert identity.time_to_hostile_s == {"A": 3.0}
    assert (identity.hostile_declared, identity.median_time_to_hostile_s) == (1, 3.0)
    # T1 turning neutral, T2 turning neutral, T3 taking A over as neutral; a gap is no new declaration.
    assert [(e.track_id, e.shown, e.time.second) for e in identity.wrong_declarations] == [
        ("T1", N, 2),
        ("T2", N, 6),
        ("T3", N, 9),
    ]
    assert identity.duration_s == 9.0
    assert identity.wrong_declarations_per_hour == pytest.approx(3 * 3600 / 9)
    assert (identity.blue_on_blue, identity.blue_on_blue_frames) == ((), 0)


def test_a_hostile_never_declared_is_held_without_a_time() -> None:
    b = obj("B", geo(500, 0))
    frames = [(truth(k, A, b), [track("T1", geo(0, 1), disposition=H), track("T2", geo(500, 1))]) for k in range(3)]
    identity = evaluate(frames).identity
    assert identity is not None
    assert identity.time_to_hostile_s == {"A": 0.0, "B": None}
    assert (identity.hostile_declared, identity.median_time_to_hostile_s) == (1, 0.0)


def test_blue_on_blue_counts_a_friendly_platform_shown_as_anything_but_friendly() -> None:
    blue = obj("B", geo(1000, 0), platform_id="blue1")
    own = track("P1", geo(1000, 2), platform_id="blue1", disposition=F)
    frames = [
        (truth(0, blue), [own]),
        # A sensor-made track sitting further off than the platform's own track does not hold it.
        (truth(1, blue), [own, track("X", geo(1000, 30))]),
        # Without its own track the platform is held by the sensor-made one, shown unknown, then hostile.
        (truth(2, blue), [track("X", geo(1000, 30))]),
        (truth(3, blue), [track("X", geo(1000, 30))]),
        (truth(4, blue), [track("X", geo(1000, 30), disposition=H)]),
        (truth(5, blue), [own]),
    ]
    for mode in PlatformMode:
        identity = evaluate(frames, EvalConfig(platforms=mode)).identity
        assert identity is not None
        assert [(e.track_id, e.shown, e.time.second) for e in identity.blue_on_blue] == [("X", U, 2), ("X", H, 4)]
        assert identity.blue_on_blue_frames == 3
        assert [(e.object_id, e.truth, e.shown) for e in identity.wrong_declarations] == [("B", F, H)]


def test_extrapolation_and_height() -> None:
    # The track was updated 2 s before the truth time, 20 m behind, moving east at 10 m/s, 50 m up.
    frames = [(truth(2, A), [track("T1", geo(-20, 0, 50), updated=T0, velocity=(10.0, 0.0, 0.0))])]
    assert evaluate(frames).mean_position_error_m == pytest.approx(0.0, abs=1e-3)
    assert evaluate(frames, EvalConfig(extrapolate=False)).mean_position_error_m == pytest.approx(20.0, abs=1e-3)
    assert evaluate(frames, EvalConfig(horizontal=False)).mean_position_error_m == pytest.approx(50.0, abs=1e-3)


def test_counts_means_and_maxima() -> None:
    b = obj("B", geo(300, 0))
    frames = [
        (truth(0, A), []),
        (truth(1, A, b), [track("T1", geo(0, 0)), track("T2", geo(300, 0)), track("T3", geo(900, 0))]),
    ]
    data = evaluate(frames).to_dict()
    assert (data["mean_truth"], data["max_truth"]) == (1.5, 2)
    assert (data["mean_tracks"], data["max_tracks"]) == (1.5, 3)
    assert data["gospa"] == pytest.approx([50.0, 50.0], abs=1e-6)
    assert data["ospa"] == pytest.approx([100.0, 100 / 3], abs=1e-6)


def test_report_serialises_and_summarises() -> None:
    report = evaluate(platform_frames())
    data = json.loads(json.dumps(report.to_dict()))
    assert data["frames"] == 2
    assert data["platforms"]["frames"] == 2
    assert data["objects"]["A"]["time_to_confirm_s"] is None
    assert data["identity"] == {
        "duration_s": 1.0,
        "hostile_held": 0,
        "hostile_declared": 0,
        "median_time_to_hostile_s": None,
        "time_to_hostile_s": {},
        "wrong_declarations": 0,
        "wrong_declarations_per_hour": 0.0,
        "wrong_declaration_events": [],
        "blue_on_blue": 1,
        "blue_on_blue_frames": 2,
        "blue_on_blue_events": [
            {"time": T0.isoformat(), "object_id": "B", "track_id": "P1", "truth": "friendly", "shown": "unknown"}
        ],
    }
    assert data["platforms"]["identity"] is None
    text = report.summary()
    for needle in (
        "Targets",
        "Friendly platforms",
        "GOSPA mean / max",
        "track-id switches",
        "objects confirmed",
        "Identity (all objects, platforms included):",
        "time to hostile median (s)      -",
        "hostiles declared               0 of 0 held",
        "wrong declarations (per hour)   0 (0.00)",
        "blue on blue (platform frames)  1 (2)",
    ):
        assert needle in text


def test_empty_run() -> None:
    report = evaluate([])
    assert report.mean_gospa is None
    assert report.mean_ospa is None
    assert "no frames" in report.summary()
    json.dumps(report.to_dict())


def test_truth_without_objects_scores_every_track_false() -> None:
    report = evaluate([(truth(0), [track("T1", geo(5, 5)), track("T2", geo(50, 5))])])
    assert report.gospa.tolist() == [100.0]


def test_rejects_out_of_order_frames_and_repeated_ids() -> None:
    with pytest.raises(ValueError, match="out of order"):
        evaluate([(truth(1, A), []), (truth(0, A), [])])
    with pytest.raises(ValueError, match="repeats"):
        evaluate([(truth(0, A, A), [])])


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="alpha"):
        EvalConfig(alpha=0)


# --- Latency -----------------------------------------------------------------------------------------


def test_latency_stats() -> None:
    pairs = [(T0, T0 + timedelta(milliseconds=10 * k)) for k in range(1, 11)]
    stats = latency_stats(pairs)
    assert stats.count == 10
    assert stats.mean_ms == pytest.approx(55.0)
    assert stats.p50_ms == pytest.approx(55.0)
    assert stats.p95_ms == pytest.approx(95.5)
    assert stats.p99_ms == pytest.approx(99.1)
    assert stats.max_ms == pytest.approx(100.0)
    assert latency_stats(iter(pairs)).to_dict()["count"] == 10


def test_latency_stats_empty_and_negative() -> None:
    assert latency_stats([]).mean_ms is None
    assert latency_stats([(T0, T0 - timedelta(milliseconds=3))]).max_ms == pytest.approx(-3.0)
