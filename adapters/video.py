"""Video adapter: a drone's MISB ST 0601 frame metadata + in-frame detections -> `VideoMetadata`.

The schema mirrors the ST 0601 field set, so this is mostly a copy: angles are normalised into the
schema's ranges, MSL altitudes become HAE (see `GEOID_SEPARATION_M`), and a field the frame lacks
stays None rather than being guessed.
"""

from __future__ import annotations

from collections.abc import Callable

from adapters.base import Adapter
from adapters.common import (
    class_probabilities,
    point_from_msl,
    schema_checked,
    utc_from_us,
    wrap_180,
    wrap_360,
)
from bus.schema import BoundingBox, GeoMeasurement, GeoPoint, Source, VideoDetection, VideoMetadata
from simulators.native import DroneVideoFrame, MisbFrame
from simulators.native import VideoDetection as NativeDetection

VERTICAL_SIGMA_FACTOR = 2.0
"""The tracker claims only a horizontal sigma; the height of a ground geolocation comes from a
terrain model and is taken as this many times less certain."""


def translate(frame: DroneVideoFrame, source: Source) -> VideoMetadata:
    """Translate one frame; `time` is the ST 0601 precision time stamp (tag 2).

    Raises NativeFormatError when a value does not fit the schema.
    """
    misb = frame.misb
    with schema_checked("video frame"):
        return VideoMetadata(
            source=source,
            time=utc_from_us(misb.precision_time_stamp_us),
            stream_id=frame.stream_id,
            platform_id=frame.drone_id,
            platform_designation=misb.platform_designation or "",
            mission_id=misb.mission_id or "",
            platform_heading_deg=_optional(wrap_360, misb.platform_heading_deg),
            platform_pitch_deg=misb.platform_pitch_deg,
            platform_roll_deg=_optional(wrap_180, misb.platform_roll_deg),
            sensor_position=_point(misb.sensor_latitude_deg, misb.sensor_longitude_deg, misb.sensor_true_altitude_m),
            sensor_hfov_deg=misb.sensor_hfov_deg,
            sensor_vfov_deg=misb.sensor_vfov_deg,
            sensor_relative_azimuth_deg=_optional(wrap_360, misb.sensor_relative_azimuth_deg),
            sensor_relative_elevation_deg=_optional(wrap_180, misb.sensor_relative_elevation_deg),
            sensor_relative_roll_deg=_optional(wrap_360, misb.sensor_relative_roll_deg),
            slant_range_m=misb.slant_range_m,
            frame_center=_point(
                misb.frame_center_latitude_deg,
                misb.frame_center_longitude_deg,
                misb.frame_center_elevation_m,
            ),
            footprint_corners=_corners(misb),
            detections=[_detection(detection) for detection in frame.detections],
        )


def _optional(normalise: Callable[[float], float], degrees: float | None) -> float | None:
    return None if degrees is None else normalise(degrees)


def _point(lat: float | None, lon: float | None, altitude_msl_m: float | None) -> GeoPoint | None:
    """A point needs all three of its tags; a partial one is dropped rather than completed by a guess."""
    if lat is None or lon is None or altitude_msl_m is None:
        return None
    return point_from_msl(lat, lon, altitude_msl_m)


def _corners(misb: MisbFrame) -> tuple[GeoPoint, GeoPoint, GeoPoint, GeoPoint] | None:
    """Tags 82-89 carry no height, but the schema's corners do: they take the frame centre's
    elevation (the ground the sensor looks at), or sea level when that is missing too."""
    if misb.corner_latitudes_deg is None or misb.corner_longitudes_deg is None:
        return None
    ground_msl_m = misb.frame_center_elevation_m or 0.0
    upper_left, upper_right, lower_right, lower_left = (
        point_from_msl(lat, lon, ground_msl_m)
        for lat, lon in zip(misb.corner_latitudes_deg, misb.corner_longitudes_deg, strict=True)
    )
    return upper_left, upper_right, lower_right, lower_left


def _detection(detection: NativeDetection) -> VideoDetection:
    x_min, y_min, x_max, y_max = detection.box
    horizontal = detection.sigma_m**2
    vertical = (VERTICAL_SIGMA_FACTOR * detection.sigma_m) ** 2
    return VideoDetection(
        box=BoundingBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max),
        confidence=detection.confidence,
        class_probabilities=class_probabilities(detection.label, detection.confidence),
        geo=GeoMeasurement(
            position=point_from_msl(detection.latitude_deg, detection.longitude_deg, detection.altitude_m),
            covariance_enu_m2=((horizontal, 0.0, 0.0), (0.0, horizontal, 0.0), (0.0, 0.0, vertical)),
        ),
    )


class VideoAdapter(Adapter[DroneVideoFrame]):
    """Publishes a drone's video metadata stream, one VideoMetadata per frame."""

    kind = "video"
    integration = "misb-video"

    def translate(self, native: DroneVideoFrame) -> VideoMetadata:
        return translate(native, self.source)
