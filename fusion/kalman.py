"""Constant-velocity Kalman filter maths, batched over tracks: x (N, 6), P (N, 6, 6).

State [e, n, u, ve, vn, vu] in the local ENU frame. A full 3-D state (rather than a horizontal
filter plus a height) because air tracks climb and dive and radar elevation couples height into
every polar update; the extra dimension costs nothing measurable once batched.

Process noise is continuous white acceleration (Q = q [[dt³/3, dt²/2], [dt²/2, dt]] per axis,
q = sigma² per second): tracks are predicted lazily, only when something updates them, and this
model gives the same covariance whether a gap is bridged in one step or in many.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]

DIM = 6
POS = slice(0, 3)
VEL = slice(3, 6)
H_POSITION: Array = np.hstack([np.eye(3), np.zeros((3, 3))])
"""Measurement matrix of a position measurement."""
H_VELOCITY: Array = np.hstack([np.zeros((3, 3)), np.eye(3)])
"""Measurement matrix of a velocity (pseudo-)measurement."""
H_STATE: Array = np.eye(DIM)
"""Measurement matrix of a position + velocity measurement."""


def predict(x: Array, p: Array, dt: Array, q: Array) -> tuple[Array, Array]:
    """Predict states (N, 6) and covariances (N, 6, 6) by dt (N,) seconds with noise densities q (N,)."""
    dt1 = dt[:, None]
    dt2 = dt[:, None, None]
    x_new = x.copy()
    x_new[:, POS] += dt1 * x[:, VEL]
    pp, pv, vp, vv = p[:, POS, POS], p[:, POS, VEL], p[:, VEL, POS], p[:, VEL, VEL]
    eye = np.eye(3)
    qq = q[:, None, None]
    p_new = np.empty_like(p)
    p_new[:, POS, POS] = pp + dt2 * (pv + vp) + dt2**2 * vv + qq * dt2**3 / 3.0 * eye
    p_new[:, POS, VEL] = pv + dt2 * vv + qq * dt2**2 / 2.0 * eye
    p_new[:, VEL, POS] = vp + dt2 * vv + qq * dt2**2 / 2.0 * eye
    p_new[:, VEL, VEL] = vv + qq * dt2 * eye
    return x_new, p_new


def position_variance_trace(p: Array, dt: Array, q: Array) -> Array:
    """Trace of the predicted position covariance (N,), without predicting the whole matrix."""
    diag = np.diagonal(p, axis1=1, axis2=2)
    pv = np.trace(p[:, POS, VEL], axis1=1, axis2=2)
    trace: Array = diag[:, POS].sum(1) + 2.0 * dt * pv + dt**2 * diag[:, VEL].sum(1) + q * dt**3
    return trace


def innovation_covariance(p: Array, h: Array, r: Array) -> Array:
    """S = H P Hᵀ + R, batched."""
    return h @ p @ np.swapaxes(h, -1, -2) + r


def update(x: Array, p: Array, y: Array, h: Array, r: Array) -> tuple[Array, Array]:
    """Kalman update of states (N, 6) with innovations y (N, m), Jacobians h (N|1, m, 6), noise r (N, m, m)."""
    ht = np.swapaxes(h, -1, -2)
    s = h @ p @ ht + r
    gain = np.swapaxes(np.linalg.solve(s, h @ p), -1, -2)  # P Hᵀ S⁻¹ (P and S symmetric)
    x_new = x + (gain @ y[..., None])[..., 0]
    p_new = p - gain @ h @ p
    return x_new, 0.5 * (p_new + np.swapaxes(p_new, -1, -2))


def mahalanobis2(y: Array, s: Array) -> Array:
    """Squared Mahalanobis distances yᵀ S⁻¹ y for innovations (K, m) and covariances (K, m, m)."""
    d2: Array = np.einsum("ki,ki->k", y, np.linalg.solve(s, y[..., None])[..., 0])
    return d2


def wrap_angle(a: Array) -> Array:
    """Angles into [-π, π)."""
    return (a + np.pi) % (2.0 * np.pi) - np.pi


def polar_from_local(rel: Array) -> tuple[Array, Array]:
    """Range, bearing (clockwise from north), elevation (N, 3) in radians, and their Jacobian (N, 3, 3).

    `rel` holds target-minus-sensor vectors (N, 3) in the sensor's own ENU frame.
    """
    e, n, u = rel[:, 0], rel[:, 1], rel[:, 2]
    horiz2 = np.maximum(e * e + n * n, 1.0)
    horiz = np.sqrt(horiz2)
    rng2 = horiz2 + u * u
    rng = np.sqrt(rng2)
    z = np.stack([rng, np.arctan2(e, n) % (2.0 * np.pi), np.arctan2(u, horiz)], axis=-1)
    jac = np.empty((rel.shape[0], 3, 3))
    jac[:, 0] = rel / rng[:, None]
    jac[:, 1, 0] = n / horiz2
    jac[:, 1, 1] = -e / horiz2
    jac[:, 1, 2] = 0.0
    jac[:, 2, 0] = -u * e / (rng2 * horiz)
    jac[:, 2, 1] = -u * n / (rng2 * horiz)
    jac[:, 2, 2] = horiz / rng2
    return z, jac


def local_from_polar(z: Array, r: Array) -> tuple[Array, Array]:
    """Converted measurement: polar (N, 3) with noise r (N, 3, 3) -> sensor-ENU vectors and covariances."""
    rng, brg, elv = z[:, 0], z[:, 1], z[:, 2]
    ce, se, cb, sb = np.cos(elv), np.sin(elv), np.cos(brg), np.sin(brg)
    rel = np.stack([rng * ce * sb, rng * ce * cb, rng * se], axis=-1)
    jac = np.empty((z.shape[0], 3, 3))
    jac[:, :, 0] = np.stack([ce * sb, ce * cb, se], axis=-1)
    jac[:, :, 1] = np.stack([rng * ce * cb, -rng * ce * sb, np.zeros_like(rng)], axis=-1)
    jac[:, :, 2] = np.stack([-rng * se * sb, -rng * se * cb, rng * ce], axis=-1)
    return rel, jac @ r @ np.swapaxes(jac, -1, -2)
