"""Gating and global-nearest-neighbour association, alone and inside the core."""

from __future__ import annotations

import numpy as np
import pytest

from fusion import FusionCore
from fusion.association import assign, candidate_pairs
from tests.fusion_helpers import config, enu, feed, geo_detection, geo_scan, polar_detection, radar_scan


def test_assign_is_global_where_greedy_is_not() -> None:
    # cost[track][det]: greedy takes (0, 0) = 1 and is left with (1, 1) = 10, total 11;
    # the global optimum (0, 1) + (1, 0) costs 4.
    tracks = np.array([0, 1, 0, 1])
    dets = np.array([0, 0, 1, 1])
    cost = np.array([1.0, 2.0, 2.0, 10.0])
    got_t, got_d = assign(2, 2, tracks, dets, cost)
    assert sorted(zip(got_t.tolist(), got_d.tolist(), strict=True)) == [(0, 1), (1, 0)]


def test_assign_keeps_independent_clusters_apart() -> None:
    # Two clusters: {track 0, det 0} alone, and {tracks 1, 2; dets 1, 2} needing the solver.
    tracks = np.array([0, 1, 2, 1])
    dets = np.array([0, 1, 1, 2])
    cost = np.array([3.0, 1.0, 2.0, 5.0])
    got_t, got_d = assign(3, 3, tracks, dets, cost)
    assert sorted(zip(got_t.tolist(), got_d.tolist(), strict=True)) == [(0, 0), (1, 2), (2, 1)]


def test_candidate_pairs_keeps_only_reachable_pairs() -> None:
    track_pos = np.array([[0.0, 0.0, 0.0], [1000.0, 0.0, 0.0]])
    det_pos = np.array([[5.0, 0.0, 0.0], [500.0, 0.0, 0.0], [1003.0, 0.0, 0.0]])
    tracks, dets = candidate_pairs(track_pos, np.array([10.0, 10.0]), det_pos, np.array([1.0, 1.0, 1.0]))
    assert list(zip(tracks.tolist(), dets.tolist(), strict=True)) == [(0, 0), (1, 2)]


def _established(core: FusionCore, targets: list[tuple[float, float, float]], scans: int = 8) -> None:
    """Stationary targets seen by a precise geolocating sensor until their tracks are tight."""
    feed(core, [geo_scan("eo", k, [geo_detection(t, sigma=1.0) for t in targets]) for k in range(scans)])


def test_detection_outside_the_gate_starts_a_new_track() -> None:
    core = FusionCore(config())
    _established(core, [(0.0, 0.0, 0.0)])
    assert [t.track_id for t in core.tracks()] == ["T000001"]
    feed(core, [geo_scan("eo", 8, [geo_detection((2.0, 1.0, 0.0), sigma=1.0), geo_detection((300.0, 0.0, 0.0))])])
    tracks = {t.track_id: t for t in core.tracks()}
    assert set(tracks) == {"T000001", "T000002"}
    assert enu(tracks["T000002"].position) == pytest.approx([300.0, 0.0, 0.0], abs=1e-6)
    assert tracks["T000002"].status.value == "tentative"
    assert np.linalg.norm(enu(tracks["T000001"].position)) < 3.0


def test_core_pairs_globally_where_greedy_would_swap() -> None:
    # Tracks at e=0 (T000001) and e=10 (T000002); detections at 6 and 15. Greedy would give 6 to
    # the track at 10 (distance 4) and leave 15 to the track at 0; GNN pairs 6->0 and 15->10.
    core = FusionCore(config())
    _established(core, [(0.0, 0.0, 0.0), (10.0, 0.0, 0.0)])
    feed(
        core,
        [geo_scan("eo", 8, [geo_detection((6.0, 0.0, 0.0), sigma=4.0), geo_detection((15.0, 0.0, 0.0), sigma=4.0)])],
    )
    east = {t.track_id: enu(t.position)[0] for t in core.tracks()}
    assert set(east) == {"T000001", "T000002"}
    assert 0.0 < east["T000001"] <= 6.0
    assert 10.0 < east["T000002"] <= 15.0


def test_crossing_targets_keep_their_ids() -> None:
    rng = np.random.default_rng(42)
    radar = (0.0, -6000.0, 20.0)
    start = {"a": np.array([-1500.0, -600.0, 0.0]), "b": np.array([-1500.0, 600.0, 0.0])}
    velocity = {"a": np.array([15.0, 6.0, 0.0]), "b": np.array([15.0, -6.0, 0.0])}  # they cross at t = 100 s
    scans = []
    for k in range(200):
        dets = [polar_detection(radar, tuple(start[n] + velocity[n] * k), rng, sigmas=(5.0, 0.05, 0.2)) for n in "ab"]
        scans.append(radar_scan("radar", float(k), radar, dets))
    core = FusionCore(config())
    feed(core, scans[:10])

    def nearest_track(name: str, k: float) -> str:
        truth = start[name] + velocity[name] * k
        tracks = [t for t in core.tracks() if t.status.value != "tentative"]
        return min(tracks, key=lambda t: np.linalg.norm(enu(t.position)[:2] - truth[:2])).track_id

    ids = {n: nearest_track(n, 9) for n in "ab"}
    assert ids["a"] != ids["b"]
    feed(core, scans[10:])
    assert {n: nearest_track(n, 199) for n in "ab"} == ids
    assert core.figures.tracks_live == 2
