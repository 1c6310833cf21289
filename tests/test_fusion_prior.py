"""The learned velocity prior (`fusion.prior`): its maths against plain filtering, and the core
learning it from a picture without being told."""

from __future__ import annotations

import numpy as np
import pytest

from fusion import FusionCore
from fusion.kalman import H_POSITION, update
from fusion.prior import data_velocities, narrowed, velocity_spread
from tests.fusion_helpers import config, feed, geo_detection, geo_scan


def _filtered(prior_var: float, positions: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """A constant-velocity track without process noise, started from the first position at zero
    velocity with `prior_var` per axis, updated with the rest one second apart."""
    x = np.zeros((1, 6))
    x[0, :3] = positions[0]
    p = np.diag([sigma**2] * 3 + [prior_var] * 3)[None]
    transition = np.eye(6)
    transition[:3, 3:] = np.eye(3)
    for z in positions[1:]:
        x, p = x @ transition.T, transition @ p @ transition.T
        x, p = update(x, p, z[None] - x[:, :3], H_POSITION[None], (sigma**2 * np.eye(3))[None])
    return x, p


def _positions(velocity: tuple[float, float, float], scans: int, sigma: float, seed: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = np.arange(scans)[:, None] * np.array(velocity)
    return truth + rng.normal(scale=sigma, size=truth.shape)


def test_taking_the_prior_out_leaves_what_the_measurements_alone_say() -> None:
    positions = _positions((12.0, -7.0, 0.0), scans=3, sigma=30.0)
    x, p = _filtered(40.0**2, positions, 30.0)
    flat_x, flat_p = _filtered(1e12, positions, 30.0)  # no prior to speak of
    velocity, variance = data_velocities(x, p, np.array([40.0**2]))
    assert velocity == pytest.approx(flat_x[:, 3:5], abs=1e-4)
    assert variance == pytest.approx(np.diagonal(flat_p[0])[3:5][None], rel=1e-6)
    # The prior pulled the filtered velocity towards zero: the difference is what was taken out.
    assert np.abs(x[0, 3:5]).sum() < 0.9 * np.abs(velocity).sum()


def test_narrowing_a_prior_is_starting_with_the_narrow_one() -> None:
    positions = _positions((3.0, 5.0, 0.0), scans=4, sigma=20.0)
    wide_x, wide_p = _filtered(40.0**2, positions, 20.0)
    x, p = narrowed(wide_x, wide_p, np.array([40.0**2]), 7.0**2)
    narrow_x, narrow_p = _filtered(7.0**2, positions, 20.0)
    assert x == pytest.approx(narrow_x, abs=1e-6)
    assert p == pytest.approx(narrow_p, rel=1e-6, abs=1e-6)


def test_the_spread_is_found_under_estimates_of_very_different_quality() -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(scale=7.0, size=(3000, 2))
    variance = rng.uniform(0.5, 900.0, size=truth.shape)  # from settled tracks to three-scan ones
    estimates = truth + rng.normal(size=truth.shape) * np.sqrt(variance)
    assert np.sqrt(np.mean(estimates**2)) > 14.0  # what a plain RMS of the estimates would say
    assert np.sqrt(velocity_spread(estimates, variance, start=40.0**2)) == pytest.approx(7.0, rel=0.05)


def _crowd(core: FusionCore, velocities: np.ndarray, seconds: int, seed: int = 1) -> None:
    """Targets spread on a grid moving at `velocities` (N, 2), seen by one sensor every second."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.arange(5), np.arange(len(velocities) // 5 + 1)), -1).reshape(-1, 2)
    starts = grid[: len(velocities)] * 1000.0
    feed(
        core,
        (
            geo_scan(
                "sensor-1",
                float(t),
                [geo_detection((*(s + t * v), 0.0), rng, sigma=10.0) for s, v in zip(starts, velocities, strict=True)],
                looked_m=20_000.0,
            )
            for t in range(seconds)
        ),
    )


def _velocity_sigma_of_a_new_track(core: FusionCore, seconds: int) -> float:
    before = {track.track_id for track in core.tracks()}
    feed(core, [geo_scan("sensor-2", float(seconds), [geo_detection((-9000.0, -9000.0, 0.0))])])
    (new,) = [track for track in core.tracks() if track.track_id not in before]
    return float(np.sqrt(new.velocity_cov_enu_m2s2[0][0]))


def test_new_tracks_start_with_the_spread_the_picture_has_shown() -> None:
    velocities = np.random.default_rng(3).normal(scale=12.0, size=(30, 2))
    core = FusionCore(config())
    _crowd(core, velocities, seconds=8)
    sigma = _velocity_sigma_of_a_new_track(core, 8)
    assert 8.0 < sigma < 18.0, sigma  # 12 m/s per axis, from 30 tracks, instead of the cold 40
    # The tracks that started at 40 m/s before anything was known were narrowed too: none of the
    # 30 was lost or doubled on the way.
    assert sum(track.status != "tentative" for track in core.tracks()) == 30


def test_too_few_tracks_teach_nothing_and_the_spread_stays_within_its_bounds() -> None:
    few = FusionCore(config())
    _crowd(few, np.full((5, 2), 1.0), seconds=8)
    assert _velocity_sigma_of_a_new_track(few, 8) == pytest.approx(40.0)
    still = FusionCore(config())
    _crowd(still, np.zeros((20, 2)), seconds=8)
    assert _velocity_sigma_of_a_new_track(still, 8) == pytest.approx(5.0)  # min_initial_speed_sigma_mps


def test_a_track_whose_velocity_the_data_do_not_fix_is_left_out() -> None:
    positions = _positions((3.0, 5.0, 0.0), scans=3, sigma=20.0)
    x, p = _filtered(40.0**2, positions, 20.0)
    coasted = p.copy()
    coasted[0, 3:, 3:] += np.eye(3) * 5_000.0  # process noise grown past the prior while coasting
    velocity, variance = data_velocities(np.vstack([x, x]), np.vstack([p, coasted]), np.array([40.0**2] * 2))
    assert np.isfinite(velocity[0]).all() and np.isfinite(variance[0]).all()
    assert np.isnan(velocity[1]).all() and np.isnan(variance[1]).all()
    # An adopted track carries no prior (inf): its state is taken as it is.
    velocity, variance = data_velocities(x, p, np.array([np.inf]))
    assert velocity == pytest.approx(x[:, 3:5]) and variance == pytest.approx(np.diagonal(p[0])[None, 3:5])
