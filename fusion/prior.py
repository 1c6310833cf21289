"""The velocity prior of new tracks, learned from the picture itself.

A track starts from one detection at zero velocity with a wide velocity spread, so that a fast
mover's second plot still falls in its gate. Until its velocity is measured, that spread is what
its position prediction carries: with the 40 m/s of a cold start, a radar-only track at 5 km needs
about ten scans to settle. The targets of one area move alike (vehicles at 3-15 m/s, people at
walking pace), and the confirmed tracks show how: their velocities, with the prior taken back out
of them, estimate the spread of the population, which then serves as the prior of every new track,
and narrows the prior of the young tracks that started before it was known.

Stone Soup's users set this spread by hand for their scenario (`initial_speed_sigma_mps` of the
bench); Rampart learns it, as it learns each track's process noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from fusion.kalman import H_VELOCITY, VEL, update

Array = NDArray[np.float64]

_ITERATIONS = 4
"""Fixed-point steps of the weighted moment estimate: from a 40 m/s start on 6,000 estimates of a
7 m/s spread it reads 6.47, 6.96, 6.94, 6.94 m/s (tests/test_fusion_prior.py's data)."""


def data_velocities(x: Array, p: Array, prior_var: Array) -> tuple[Array, Array]:
    """Horizontal velocities (N, 2) and their error variances (N, 2) as the measurements alone give
    them: the zero-mean velocity prior of variance `prior_var` (N,) per axis (inf: none) taken back
    out of each state (exact while process noise is small next to the prior). Rows whose data do not
    fix the velocity (a track that coasted until its velocity spread outgrew the prior) are NaN.

    Taking information 1 / a out of the velocity block, by the matrix inversion lemma:
    P_data = P + P_v (a I - P_vv)^-1 P_v^T and x_data = x + P_v (a I - P_vv)^-1 x_v (P_v the
    velocity columns of P): a 3 x 3 inverse per track, and P itself is never inverted."""
    velocity = np.full((len(x), 2), np.nan)
    variance = np.full((len(x), 2), np.nan)
    p_vv, x_v = p[:, VEL, VEL], x[:, VEL]
    without = np.isinf(prior_var)  # nothing to take out
    velocity[without] = x_v[without, :2]
    variance[without] = np.diagonal(p_vv[without], axis1=1, axis2=2)[:, :2]
    rows = np.flatnonzero(~without)
    gap = prior_var[rows, None, None] * np.eye(3) - p_vv[rows]
    # Positive definite (Sylvester: leading minors positive), cheaper than eigenvalues.
    minor2 = gap[:, 0, 0] * gap[:, 1, 1] - gap[:, 0, 1] * gap[:, 1, 0]
    fixed = (gap[:, 0, 0] > 0.0) & (minor2 > 0.0) & (np.linalg.det(gap) > 0.0)
    rows, gap = rows[fixed], gap[fixed]
    gain = p_vv[rows] @ np.linalg.inv(gap)
    velocity[rows] = (x_v[rows] + (gain @ x_v[rows, :, None])[..., 0])[:, :2]
    variance[rows] = np.diagonal(p_vv[rows] + gain @ p_vv[rows], axis1=1, axis2=2)[:, :2]
    return velocity, variance


def velocity_spread(velocity: Array, variance: Array, start: float) -> float:
    """Variance per axis of the (zero-mean) velocities that the estimates `velocity`, each with its
    own error `variance`, were drawn from: the method of moments, each estimate weighted by the
    inverse square of its total variance, so that the well-measured ones count most."""
    v2, var = velocity.ravel() ** 2, variance.ravel()
    spread = start
    for _ in range(_ITERATIONS):
        weight = 1.0 / (spread + var) ** 2
        spread = max(float(np.sum(weight * (v2 - var)) / np.sum(weight)), 0.0)
    return spread


def narrowed(x: Array, p: Array, prior_var: Array, new_var: float) -> tuple[Array, Array]:
    """States (N, 6) and covariances (N, 6, 6) as if they had started from a velocity prior of
    `new_var` per axis rather than the wider `prior_var` (N,): an update with a velocity measurement
    of zero whose variance v satisfies 1/new_var = 1/prior_var + 1/v (exact while process noise is
    small next to the prior)."""
    pseudo_var = 1.0 / (1.0 / new_var - 1.0 / prior_var)
    r = np.eye(3) * pseudo_var[:, None, None]
    return update(x, p, -x[:, VEL], H_VELOCITY[None], r)
