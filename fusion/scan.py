"""One scan (a SensorReading, or a VideoMetadata frame) turned into arrays, once, before association.

Everything downstream works on these arrays; the pydantic models are touched exactly once per
detection, here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from bus.schema import Coverage, Disposition, GeoMeasurement, GeoPoint, SensorReading, SourceKind, VideoMetadata
from fusion.frame import LocalFrame
from fusion.identity import DISPOSITIONS, NO_REPORT, class_log_likelihoods
from fusion.intake import to_us
from fusion.kalman import local_from_polar

Array = NDArray[np.float64]

_DISPOSITION_CODE: dict[Disposition | None, int] = {d: i for i, d in enumerate(DISPOSITIONS)}
_DISPOSITION_CODE[None] = NO_REPORT


_MIN_AREA_M2 = 1.0
"""A footprint smaller than this is a line or a point (collinear corners): no area to spread clutter over."""


@dataclass(frozen=True)
class Region:
    """Where a scan looked, in the frame: a sector around the sensor, or a ground polygon."""

    detection_probability: float | None
    false_alarms: float | None
    """Mean number of false detections per scan inside the region, if the message states it."""
    center: Array
    """Sensor position (3,) of a sector."""
    rot: Array
    """Rotation (3, 3) from the sensor's own ENU into the frame."""
    bearings: tuple[float, float]
    """First bearing and clockwise width of a sector, radians (width 2π: all round)."""
    ranges: tuple[float, float]
    polygon: Array | None
    """Vertices (K, 2), east and north in the frame, of a footprint; None for a sector."""

    def contains(self, pos: Array) -> NDArray[np.bool_]:
        """Which positions (N, 3) lie inside, judged on the ground (east, north)."""
        if self.polygon is not None:
            return _inside(pos[:, :2], self.polygon)
        rel = (pos - self.center) @ self.rot
        rng = np.hypot(rel[:, 0], rel[:, 1])
        off = (np.arctan2(rel[:, 0], rel[:, 1]) - self.bearings[0]) % (2.0 * np.pi)
        inside: NDArray[np.bool_] = (rng >= self.ranges[0]) & (rng <= self.ranges[1]) & (off <= self.bearings[1])
        return inside

    @property
    def clutter_density(self) -> float | None:
        """False detections per scan per square metre of ground, if the message states them and the
        region has an area to spread them over."""
        if self.polygon is not None:
            x, y = self.polygon[:, 0], self.polygon[:, 1]
            area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y)))
        else:
            area = 0.5 * self.bearings[1] * (self.ranges[1] ** 2 - self.ranges[0] ** 2)
        if self.false_alarms is None or not area >= _MIN_AREA_M2:
            return None
        return self.false_alarms / area


def _inside(points: Array, polygon: Array) -> NDArray[np.bool_]:
    """Even-odd rule, vectorised over points (N, 2) for one polygon (K, 2)."""
    x, y = points[:, 0, None], points[:, 1, None]
    x0, y0 = polygon[:, 0], polygon[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    inside: NDArray[np.bool_] = (np.count_nonzero(crosses & (x < at), axis=1) % 2) == 1
    return inside


def region(coverage: Coverage | None, frame: LocalFrame, sensor: GeoPoint | None) -> Region | None:
    """A message's coverage in the frame; None for contacts only (or a sector with no sensor position)."""
    if coverage is None:
        return None
    pd, false_alarms = coverage.detection_probability, coverage.false_alarms
    if coverage.footprint is not None:
        pts = coverage.footprint
        enu = frame.to_enu(np.array([p.lat for p in pts]), np.array([p.lon for p in pts]), np.zeros(len(pts)))
        return Region(pd, false_alarms, np.zeros(3), np.eye(3), (0.0, 0.0), (0.0, 0.0), enu[:, :2])
    sector = coverage.sector
    if sector is None or sensor is None:
        return None
    start = np.radians(sector.bearing_from_deg)
    width = (np.radians(sector.bearing_to_deg) - start) % (2.0 * np.pi) or 2.0 * np.pi
    rot = frame.from_local(np.array([sensor.lat]), np.array([sensor.lon]))[0]
    return Region(
        pd,
        false_alarms,
        frame.point(sensor),
        rot,
        (float(start), float(width)),
        (sector.min_range_m, sector.max_range_m),
        None,
    )


@dataclass(frozen=True)
class Scan:
    """Detections of one scan, M rows. Polar rows are measured in (range, bearing, elevation), radians."""

    source_id: str
    kind: SourceKind
    time_us: int
    sensor_pos: Array
    """Sensor position (3,) in the frame (zeros when the scan has no polar rows)."""
    sensor_rot: Array
    """Rotation (3, 3) from the sensor's local ENU into the frame."""
    polar: NDArray[np.bool_]
    z: Array
    """Measurements (M, 3): polar rows (range, bearing, elevation), geo rows ENU position in the frame."""
    r: Array
    """Measurement noise (M, 3, 3) in the measurement's own space."""
    pos: Array
    """Position (M, 3) in the frame (converted for polar rows), for pre-filtering and track starts."""
    cov: Array
    """Covariance (M, 3, 3) of `pos`."""
    class_log_like: Array
    """Per-row class log likelihoods (M, C); rows without class evidence are all zero."""
    has_class: NDArray[np.bool_]
    disposition: NDArray[np.int8]
    no_height: NDArray[np.bool_]
    """Rows whose third coordinate (height, or a polar elevation) was not measured: the filter ignores it."""
    looked: Region | None
    """Where the scan looked; None: contacts only."""
    unlocated: int = 0
    """Detections of the message that could not be placed (video detections without geolocation)."""

    @property
    def size(self) -> int:
        return int(self.polar.size)


UNMEASURED_HEIGHT_SIGMA_M = 100.0
"""Height spread of a track started from a detection that measured no height (it starts on the
ground); later detections that measure height settle it."""
_MIN_GEO_VARIANCE_M2 = 1e-2
"""Added to every geolocated covariance: the schema allows a singular one, the filter cannot use it."""


def _geo_arrays(frame: LocalFrame, geos: Sequence[GeoMeasurement], ground_hae_m: float) -> tuple[Array, Array]:
    """Positions (M, 3) in the frame and their covariances rotated from each point's own ENU; a
    detection without a measured height is put on the ground with an `UNMEASURED_HEIGHT_SIGMA_M` spread."""
    lat = np.array([g.position.lat for g in geos])
    lon = np.array([g.position.lon for g in geos])
    flat = np.array([not g.height_measured for g in geos], dtype=bool)
    hae = np.where(flat, ground_hae_m, np.array([g.position.hae_m for g in geos]))
    rot = frame.from_local(lat, lon)
    cov = np.array([g.covariance_enu_m2 for g in geos], dtype=float).reshape(-1, 3, 3)
    cov[flat, 2, :] = cov[flat, :, 2] = 0.0
    cov[flat, 2, 2] = UNMEASURED_HEIGHT_SIGMA_M**2
    cov += np.eye(3) * _MIN_GEO_VARIANCE_M2
    return frame.to_enu(lat, lon, hae), rot @ cov @ np.swapaxes(rot, -1, -2)


def from_sensor(reading: SensorReading, frame: LocalFrame, floor: float, ground_hae_m: float) -> Scan:
    """A SensorReading as a Scan; polar rows are converted through the sensor's own ENU frame."""
    dets = reading.detections
    m = len(dets)
    sp = reading.sensor_position
    sensor_pos = frame.point(sp)
    sensor_rot = frame.from_local(np.array([sp.lat]), np.array([sp.lon]))[0]
    polar = np.array([d.polar is not None for d in dets], dtype=bool)
    z = np.zeros((m, 3))
    r = np.zeros((m, 3, 3))
    pos = np.zeros((m, 3))
    cov = np.zeros((m, 3, 3))
    no_height = np.zeros(m, dtype=bool)
    if polar.any():
        rows = [d.polar for d in dets if d.polar is not None]
        raw = np.array(
            [
                (p.range_m, p.bearing_deg, p.elevation_deg, p.sigma_range_m, p.sigma_bearing_deg, p.sigma_elevation_deg)
                for p in rows
            ]
        )
        zp = np.column_stack([raw[:, 0], np.radians(raw[:, 1]), np.radians(raw[:, 2])])
        sig = np.column_stack([raw[:, 3], np.radians(raw[:, 4]), np.radians(raw[:, 5])])
        flat = np.array([not p.elevation_measured for p in rows], dtype=bool)
        no_height[polar] = flat
        # No elevation: the start is put on the ground, its elevation as uncertain as UNMEASURED_HEIGHT_SIGMA_M.
        rng = np.maximum(zp[flat, 0], 1.0)
        zp[flat, 2] = np.arcsin(np.clip((ground_hae_m - sp.hae_m) / rng, -1.0, 1.0))
        sig[flat, 2] = np.arctan(UNMEASURED_HEIGHT_SIGMA_M / rng)
        rp = np.zeros((len(rows), 3, 3))
        rp[:, [0, 1, 2], [0, 1, 2]] = sig**2
        rel, rel_cov = local_from_polar(zp, rp)
        z[polar], r[polar] = zp, rp
        pos[polar] = sensor_pos + rel @ sensor_rot.T
        cov[polar] = sensor_rot @ rel_cov @ sensor_rot.T
    if not polar.all():
        geos = [d.geo for d in dets if d.geo is not None]
        geo_pos, geo_cov = _geo_arrays(frame, geos, ground_hae_m)
        z[~polar], r[~polar], pos[~polar], cov[~polar] = geo_pos, geo_cov, geo_pos, geo_cov
        no_height[~polar] = [not g.height_measured for g in geos]
    like, has = class_log_likelihoods([d.class_probabilities for d in dets], floor)
    disposition = np.array([_DISPOSITION_CODE[d.disposition] for d in dets], dtype=np.int8)
    return Scan(
        source_id=reading.source.id,
        kind=reading.source.kind,
        time_us=to_us(reading.time),
        sensor_pos=sensor_pos,
        sensor_rot=sensor_rot,
        polar=polar,
        z=z,
        r=r,
        pos=pos,
        cov=cov,
        class_log_like=like,
        has_class=has,
        disposition=disposition,
        no_height=no_height,
        looked=region(reading.coverage, frame, sp),
    )


def from_video(meta: VideoMetadata, frame: LocalFrame, floor: float, ground_hae_m: float) -> Scan:
    """A video frame's geolocated detections as a Scan, counting those without geolocation."""
    dets = [d for d in meta.detections if d.geo is not None]
    m = len(dets)
    z = np.zeros((m, 3))
    r = np.zeros((m, 3, 3))
    geos = [d.geo for d in dets if d.geo is not None]
    if m:
        z, r = _geo_arrays(frame, geos, ground_hae_m)
    like, has = class_log_likelihoods([d.class_probabilities for d in dets], floor)
    disposition = np.array([_DISPOSITION_CODE[d.disposition] for d in dets], dtype=np.int8)
    return Scan(
        source_id=meta.source.id,
        kind=meta.source.kind,
        time_us=to_us(meta.time),
        sensor_pos=np.zeros(3),
        sensor_rot=np.eye(3),
        polar=np.zeros(m, dtype=bool),
        z=z,
        r=r,
        pos=z,
        cov=r,
        class_log_like=like,
        has_class=has,
        disposition=disposition,
        no_height=np.array([not g.height_measured for g in geos], dtype=bool),
        looked=region(meta.coverage, frame, meta.sensor_position),
        unlocated=len(meta.detections) - m,
    )
