"""Geodesy: the local East-North-Up frame the filters work in, vectorised over arrays.

The frame is a rigid transform of ECEF, so a vector known in the ENU frame of some other point (a
sensor, a detection) is brought into it by one rotation; we do that rather than pretend that the
frame's axes agree with every sensor's local horizontal.
"""

from __future__ import annotations

import numpy as np
import pymap3d
from numpy.typing import NDArray

from bus.schema import GeoPoint

Array = NDArray[np.float64]


def ecef_to_enu_rotation(lat_deg: Array, lon_deg: Array) -> Array:
    """Rotations (N, 3, 3) taking ECEF vectors into the local ENU frame at each point."""
    lat = np.radians(np.asarray(lat_deg, dtype=float))
    lon = np.radians(np.asarray(lon_deg, dtype=float))
    slat, clat, slon, clon = np.sin(lat), np.cos(lat), np.sin(lon), np.cos(lon)
    zero = np.zeros_like(lat)
    return np.stack(
        [
            np.stack([-slon, clon, zero], axis=-1),
            np.stack([-slat * clon, -slat * slon, clat], axis=-1),
            np.stack([clat * clon, clat * slon, slat], axis=-1),
        ],
        axis=-2,
    )


class LocalFrame:
    """An ENU tangent-plane frame anchored at `origin`."""

    def __init__(self, origin: GeoPoint) -> None:
        self.origin = origin
        self._rotation = ecef_to_enu_rotation(np.array(origin.lat), np.array(origin.lon))

    def to_enu(self, lat: Array, lon: Array, hae: Array) -> Array:
        """Geodetic arrays (N,) -> ENU positions (N, 3) in this frame."""
        o = self.origin
        e, n, u = pymap3d.geodetic2enu(lat, lon, hae, o.lat, o.lon, o.hae_m)
        enu: Array = np.stack([e, n, u], axis=-1).astype(float, copy=False)
        return enu

    def point(self, p: GeoPoint) -> Array:
        """One geodetic point -> its ENU position (3,)."""
        enu: Array = self.to_enu(np.array([p.lat]), np.array([p.lon]), np.array([p.hae_m]))[0]
        return enu

    def to_geodetic(self, enu: Array) -> tuple[Array, Array, Array]:
        """ENU positions (N, 3) -> latitude, longitude, height arrays (N,)."""
        o = self.origin
        lat, lon, hae = pymap3d.enu2geodetic(enu[:, 0], enu[:, 1], enu[:, 2], o.lat, o.lon, o.hae_m)
        return np.asarray(lat, dtype=float), np.asarray(lon, dtype=float), np.asarray(hae, dtype=float)

    def from_local(self, lat: Array, lon: Array) -> Array:
        """Rotations (N, 3, 3) taking vectors in the local ENU frame at each point into this frame."""
        local = ecef_to_enu_rotation(lat, lon)
        rotations: Array = np.einsum("ij,nkj->nik", self._rotation, local)
        return rotations
