"""Filter maths against hand-computed values, and the local frame."""

from __future__ import annotations

import numpy as np
import pytest

from fusion.frame import LocalFrame
from fusion.kalman import H_POSITION, H_STATE, polar_from_local, predict, update, wrap_angle
from tests.fusion_helpers import ORIGIN, enu, geo


def test_predict_then_position_update_matches_hand_computation() -> None:
    # East axis only matters: x_e = 0, v_e = 10, P = diag(100, 25) per axis, q = 1, dt = 1.
    x = np.array([[0.0, 0.0, 0.0, 10.0, 0.0, 0.0]])
    p = np.diag([100.0, 100.0, 100.0, 25.0, 25.0, 25.0])[None]
    xp, pp = predict(x, p, np.array([1.0]), np.array([1.0]))
    assert xp[0, 0] == pytest.approx(10.0)
    assert pp[0, 0, 0] == pytest.approx(100 + 25 + 1 / 3)  # P + dt² Pvv + q dt³/3
    assert pp[0, 0, 3] == pytest.approx(25 + 1 / 2)  # dt Pvv + q dt²/2
    assert pp[0, 3, 3] == pytest.approx(26.0)  # Pvv + q dt

    # Position measurement e = 20 with R = 100: S = 376/3 + 100 = 676/3.
    z = np.array([20.0, 0.0, 0.0])
    y = z - xp[0, :3]
    xu, pu = update(xp, pp, y[None], H_POSITION[None], (100.0 * np.eye(3))[None])
    s = 676 / 3
    assert xu[0, 0] == pytest.approx(10 + 10 * (376 / 3) / s)
    assert xu[0, 3] == pytest.approx(10 + 10 * 25.5 / s)
    assert pu[0, 0, 0] == pytest.approx((376 / 3) * 100 / s)
    assert pu[0, 3, 3] == pytest.approx(26 - 25.5**2 / s)
    assert pu[0, 0, 3] == pytest.approx(25.5 * 100 / s)
    # Axes are separable: north and up only saw zero innovations and keep their means.
    assert xu[0, 1] == 0.0 and xu[0, 2] == 0.0


def test_unmeasured_velocity_rows_update_as_a_position_only_measurement() -> None:
    """The core updates a run of reports, some without velocity, in one 6-D update: zero H rows
    with a zero innovation and unit noise must equal the 3-D position update."""
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 6))
    p = (a @ a.T + 6 * np.eye(6))[None]
    x = rng.normal(size=(1, 6))
    y3 = rng.normal(size=(1, 3))
    r3 = np.diag([4.0, 9.0, 16.0])
    x3, p3 = update(x, p, y3, H_POSITION[None], r3[None])
    h6 = H_STATE.copy()
    h6[3:] = 0.0
    r6 = np.eye(6)
    r6[:3, :3] = r3
    x6, p6 = update(x, p, np.hstack([y3, np.zeros((1, 3))]), h6[None], r6[None])
    np.testing.assert_allclose(x6, x3, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(p6, p3, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("rel", "bearing", "expected"),
    [
        # due north at 1 km: +10 m range moves north by 5; +0.01 rad bearing (clockwise) moves east by 5
        ((0.0, 1000.0, 0.0), 0.0, (5.0, 1005.0)),
        # due east at 1 km: +10 m range moves east by 5; +0.01 rad bearing (clockwise) moves south by 5
        ((1000.0, 0.0, 0.0), np.pi / 2, (1005.0, -5.0)),
    ],
)
def test_ekf_polar_update_matches_hand_computation(
    rel: tuple[float, float, float], bearing: float, expected: tuple[float, float]
) -> None:
    x = np.array([[*rel, 0.0, 0.0, 0.0]])
    p = np.diag([100.0, 100.0, 100.0, 1.0, 1.0, 1.0])[None]
    z_pred, jac = polar_from_local(x[:, :3])
    assert z_pred[0] == pytest.approx([1000.0, bearing, 0.0])
    h = np.zeros((1, 3, 6))
    h[:, :, :3] = jac
    r = np.diag([100.0, 1e-4, 1e-4])[None]  # sigma 10 m, 0.01 rad, 0.01 rad
    z = np.array([1010.0, bearing + 0.01, 0.0])
    y = z - z_pred
    y[:, 1] = wrap_angle(y[:, 1])
    # S = diag(200, 2e-4, 2e-4): a gain of 1/2 on range and 500 m/rad on bearing.
    xu, pu = update(x, p, y, h, r)
    assert xu[0, :2] == pytest.approx(expected, abs=1e-9)
    assert xu[0, 2] == pytest.approx(0.0)
    # Each of range, bearing and elevation halves the variance along its own direction.
    assert np.diag(pu[0])[:3] == pytest.approx([50.0, 50.0, 50.0])


def test_bearing_innovation_wraps_across_north() -> None:
    assert wrap_angle(np.array([2 * np.pi - 0.01]))[0] == pytest.approx(-0.01)


def test_frame_round_trip_and_rotation() -> None:
    frame = LocalFrame(ORIGIN)
    points = np.array([[0.0, 0.0, 0.0], [12_000.0, -5_000.0, 300.0], [-40_000.0, 30_000.0, 10.0]])
    lat, lon, hae = frame.to_geodetic(points)
    assert frame.to_enu(lat, lon, hae) == pytest.approx(points, abs=1e-6)
    assert frame.point(geo((100.0, 200.0, 3.0))) == pytest.approx(enu(geo((100.0, 200.0, 3.0))))
    rot = frame.from_local(lat, lon)
    assert rot[0] == pytest.approx(np.eye(3))
    # 40 km west the local "up" leans west in the origin's frame by ~0.36°.
    assert rot[2][0, 2] == pytest.approx(np.sin(np.radians(-40_000 / 6_371_000 * 180 / np.pi)), abs=1e-3)
