"""Builders of observations for the fusion tests: targets are placed in a local ENU frame around ORIGIN."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pymap3d
from numpy.typing import NDArray

from bus.schema import (
    BoundingBox,
    Coverage,
    Detection,
    Disposition,
    Environment,
    GeoMeasurement,
    GeoPoint,
    ObjectClass,
    PolarMeasurement,
    PositionReport,
    Sector,
    SensorReading,
    Source,
    SourceKind,
    VideoDetection,
    VideoMetadata,
)
from fusion import FusionConfig, FusionCore

ORIGIN = GeoPoint(lat=50.0, lon=8.0, hae_m=0.0)
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
ENU = tuple[float, float, float]
_ids = itertools.count()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def geo(enu: Sequence[float] | NDArray[np.float64]) -> GeoPoint:
    """A point given in ENU metres around ORIGIN."""
    lat, lon, hae = pymap3d.enu2geodetic(*enu, ORIGIN.lat, ORIGIN.lon, ORIGIN.hae_m)
    return GeoPoint(lat=float(lat), lon=float(lon), hae_m=float(hae))


def enu(point: GeoPoint) -> np.ndarray:
    return np.array(pymap3d.geodetic2enu(point.lat, point.lon, point.hae_m, ORIGIN.lat, ORIGIN.lon, ORIGIN.hae_m))


def config(**overrides: Any) -> FusionConfig:
    return FusionConfig(origin=ORIGIN, **overrides)


def _msg_id() -> str:
    return f"m{next(_ids)}"


def polar_detection(
    sensor: ENU,
    target: ENU,
    rng: np.random.Generator | None = None,
    sigmas: tuple[float, float, float] = (10.0, 0.2, 0.2),
    classes: dict[ObjectClass, float] | None = None,
    disposition: Disposition | None = None,
) -> Detection:
    """A radar plot of `target` seen from `sensor`, with Gaussian noise of the given (m, deg, deg) sigmas."""
    s = geo(sensor)
    t = geo(target)
    az, el, srange = pymap3d.geodetic2aer(t.lat, t.lon, t.hae_m, s.lat, s.lon, s.hae_m)
    noise = rng.normal(size=3) * sigmas if rng is not None else np.zeros(3)
    return Detection(
        polar=PolarMeasurement(
            range_m=float(srange + noise[0]),
            bearing_deg=float((az + noise[1]) % 360.0),
            elevation_deg=float(np.clip(el + noise[2], -90, 90)),
            sigma_range_m=sigmas[0],
            sigma_bearing_deg=sigmas[1],
            sigma_elevation_deg=sigmas[2],
        ),
        class_probabilities=classes or {},
        disposition=disposition,
    )


def geo_measurement(target: ENU, rng: np.random.Generator | None = None, sigma: float = 5.0) -> GeoMeasurement:
    noise = rng.normal(size=3) * sigma if rng is not None else np.zeros(3)
    return GeoMeasurement(
        position=geo(np.asarray(target) + noise),
        covariance_enu_m2=((sigma**2, 0.0, 0.0), (0.0, sigma**2, 0.0), (0.0, 0.0, sigma**2)),
    )


def radar_scan(
    source_id: str,
    seconds: float,
    sensor: ENU,
    detections: Iterable[Detection],
    looked_m: float | None = None,
    sector_deg: tuple[float, float] = (0.0, 0.0),
) -> SensorReading:
    """A radar scan; with `looked_m` it covered the sector (clockwise, equal: all round) to that range."""
    coverage = None
    if looked_m is not None:
        first, last = sector_deg
        coverage = Coverage(sector=Sector(bearing_from_deg=first, bearing_to_deg=last, max_range_m=looked_m))
    return SensorReading(
        msg_id=_msg_id(),
        source=Source(id=source_id, kind=SourceKind.SENSOR),
        time=at(seconds),
        sensor_position=geo(sensor),
        coverage=coverage,
        detections=list(detections),
    )


def geo_scan(
    source_id: str,
    seconds: float,
    detections: Iterable[Detection],
    looked_m: float | None = None,
    false_alarms: float | None = None,
) -> SensorReading:
    """A sensor scan of geolocated detections from ORIGIN; with `looked_m` it covered all round to that
    range (misses count there), stating `false_alarms` there, else it reports contacts only."""
    coverage = None
    if looked_m is not None:
        sector = Sector(bearing_from_deg=0.0, bearing_to_deg=0.0, max_range_m=looked_m)
        coverage = Coverage(sector=sector, false_alarms=false_alarms)
    return SensorReading(
        msg_id=_msg_id(),
        source=Source(id=source_id, kind=SourceKind.SENSOR),
        time=at(seconds),
        sensor_position=ORIGIN,
        coverage=coverage,
        detections=list(detections),
    )


def geo_detection(
    target: ENU,
    rng: np.random.Generator | None = None,
    sigma: float = 5.0,
    classes: dict[ObjectClass, float] | None = None,
    disposition: Disposition | None = None,
) -> Detection:
    return Detection(
        geo=geo_measurement(target, rng, sigma), class_probabilities=classes or {}, disposition=disposition
    )


def video_frame(
    source_id: str, seconds: float, targets: Iterable[ENU], rng: np.random.Generator | None = None, sigma: float = 5.0
) -> VideoMetadata:
    return VideoMetadata(
        msg_id=_msg_id(),
        source=Source(id=source_id, kind=SourceKind.VIDEO),
        time=at(seconds),
        stream_id=f"{source_id}-stream",
        sensor_position=geo((0.0, 0.0, 500.0)),
        detections=[
            VideoDetection(
                box=BoundingBox(x_min=0.4, y_min=0.4, x_max=0.6, y_max=0.6),
                confidence=0.9,
                geo=geo_measurement(t, rng, sigma),
            )
            for t in targets
        ],
    )


def position_report(
    platform_id: str,
    seconds: float,
    position: ENU,
    velocity: ENU | None = None,
    ce_m: float = 3.0,
    le_m: float = 5.0,
    environment: Environment = Environment.AIR,
    msg_id: str | None = None,
) -> PositionReport:
    return PositionReport(
        msg_id=msg_id or _msg_id(),
        source=Source(id=f"gps-{platform_id}", kind=SourceKind.POSITION),
        time=at(seconds),
        platform_id=platform_id,
        position=geo(position),
        velocity_enu_mps=velocity,
        ce_m=ce_m,
        le_m=le_m,
        environment=environment,
    )


def feed(core: FusionCore, observations: Iterable[PositionReport | SensorReading | VideoMetadata]) -> None:
    """Ingest each observation and advance to its time (the live shell's rhythm)."""
    for obs in observations:
        assert core.ingest(obs).accepted
        core.advance(obs.time)
