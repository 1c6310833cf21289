"""Geometry of the local frame: ENU -> geodetic, polar angles and camera projection.

The world is flat: the ground is the plane up = 0 of the ENU frame around the scenario origin, and an
object's altitude is the origin's altitude plus its simulated height (so ground objects are at altitude
0 when the origin is), not the tangent plane's rise above the ellipsoid (under 8 m at 10 km). Latitude
and longitude come from pymap3d's enu2geodetic. Heights serve both as MSL and as height above the
ellipsoid, i.e. the geoid separation is taken as 0 (which is why GGA's geoid separation field is 0.0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pymap3d  # type: ignore[import-untyped]

from simulators.scenario import Origin

FloatArray = npt.NDArray[np.float64]


class LocalFrame:
    """The scenario's ENU frame; converts positions (n, 3) to geodetic lists ready for dataclass fields."""

    def __init__(self, origin: Origin) -> None:
        self.origin = origin

    def to_geodetic(self, enu: FloatArray) -> tuple[list[float], list[float], list[float]]:
        lat, lon, _ = pymap3d.enu2geodetic(
            enu[:, 0], enu[:, 1], enu[:, 2], self.origin.lat, self.origin.lon, self.origin.alt
        )
        alt = self.origin.alt + enu[:, 2]
        return np.atleast_1d(lat).tolist(), np.atleast_1d(lon).tolist(), alt.tolist()


@dataclass(frozen=True, slots=True)
class Polar:
    """Range (m), bearing (deg clockwise from true north, [0, 360)) and elevation (deg) of offsets."""

    range_m: FloatArray
    bearing_deg: FloatArray
    elevation_deg: FloatArray

    @staticmethod
    def of(offsets: FloatArray) -> Polar:
        """bearing = atan2(dE, dN); elevation = atan2(dU, horizontal distance)."""
        horizontal = np.hypot(offsets[:, 0], offsets[:, 1])
        return Polar(
            np.hypot(horizontal, offsets[:, 2]),
            np.mod(np.degrees(np.arctan2(offsets[:, 0], offsets[:, 1])), 360.0),
            np.degrees(np.arctan2(offsets[:, 2], horizontal)),
        )


def angle_diff_deg(a: FloatArray | float, b: FloatArray | float) -> FloatArray:
    """Signed difference a - b wrapped into [-180, 180)."""
    return np.mod(np.asarray(a) - b + 180.0, 360.0) - 180.0


@dataclass(frozen=True, slots=True)
class CameraAxes:
    """A pinhole camera at `position` looking along `forward`, image x to `right`, image y to `up`."""

    position: FloatArray
    forward: FloatArray
    right: FloatArray
    up: FloatArray
    tan_half_h: float
    tan_half_v: float

    @staticmethod
    def looking_at(
        position: FloatArray, aim: FloatArray | None, heading_deg: float, hfov_deg: float, vfov_deg: float
    ) -> CameraAxes:
        """Point at `aim` (None = nadir); the image stays upright, with the platform's heading breaking
        the tie when looking straight down."""
        forward = np.array([0.0, 0.0, -1.0]) if aim is None else aim - position
        forward = forward / max(float(np.linalg.norm(forward)), 1e-9)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        if np.linalg.norm(right) < 1e-9:
            h = np.radians(heading_deg)
            right = np.array([np.cos(h), -np.sin(h), 0.0])
        right = right / np.linalg.norm(right)
        return CameraAxes(
            position,
            forward,
            right,
            np.cross(right, forward),
            float(np.tan(np.radians(hfov_deg) / 2.0)),
            float(np.tan(np.radians(vfov_deg) / 2.0)),
        )

    def project(self, points: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Normalised image coordinates (column, row in [0, 1] inside the frame; row 0 at the top) and
        depth along the boresight (<= 0 means behind the camera)."""
        d = points - self.position
        depth = d @ self.forward
        safe = np.where(depth > 0.0, depth, 1.0)
        column = 0.5 + (d @ self.right) / safe / (2.0 * self.tan_half_h)
        row = 0.5 - (d @ self.up) / safe / (2.0 * self.tan_half_v)
        return column, row, depth

    def rays(self, column: FloatArray, row: FloatArray) -> FloatArray:
        """Direction vectors (n, 3) through normalised image coordinates."""
        x = (2.0 * column - 1.0) * self.tan_half_h
        y = (1.0 - 2.0 * row) * self.tan_half_v
        return self.forward + x[:, None] * self.right + y[:, None] * self.up

    def ground_hits(self, rays: FloatArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Where rays meet the ground (up = 0), and which rays do (pointing downwards)."""
        hits = rays[:, 2] < -1e-9
        scale = np.where(hits, -self.position[2] / np.where(hits, rays[:, 2], -1.0), 0.0)
        return self.position + scale[:, None] * rays, hits
