"""Video adapter: a drone's MISB ST 0601 KLV packet (one per frame) -> `VideoMetadata`.

One path from the bytes on the wire to the schema: `adapters.klv.decode_packet` checks and decodes the
packet (ST 0601 fields, and the ST 0903 VMTI Local Set of tag 74 for the in-frame detections), and
`translate` maps the decoded frame onto the schema, which mirrors the ST 0601 field set: angles are
normalised into the schema's ranges, MSL altitudes become HAE (see `GEOID_SEPARATION_M`), and a field
the packet lacks stays None rather than being guessed.

What ST 0903 carries of a detection, and what is lost on the way through it:

- box: pixel numbers of a frame of the VMTI frame size (tags 2/3 with 8/9): quantised to a pixel;
- confidence: tag 5, whole percent;
- class: the first VObject of tag 107, naming an ontology entry (tag 103) whose label (else the
  entity IRI's fragment) is the maker's class label, with the VObject's own confidence (percent);
- geolocation: tag 17 (absolute, HAE; ~1-2 cm in latitude/longitude, whole metres in height,
  truncated) with its ENU standard deviations (1/32 m steps) and correlations, else offsets from the
  frame centre (tags 10-12, no uncertainty).

The stream and platform ids are the adapter's configuration: ST 0601 carries neither reliably.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapters.base import Adapter
from adapters.common import (
    class_probabilities,
    point_from_msl,
    schema_checked,
    utc_from_us,
    wrap_180,
    wrap_360,
)
from adapters.klv import MisbFrame, VmtiTarget, decode_packet
from bus.client import BrokerConfig
from bus.schema import BoundingBox, Coverage, GeoMeasurement, GeoPoint, Source, VideoDetection, VideoMetadata

UNSTATED_SIGMA_M = (25.0, 25.0, 50.0)
"""ENU standard deviations (m) assumed for a target location sent without any (tag 17 without its
sigma group, or frame-centre offsets): a coarse geolocation, so that fusion does not over-trust it."""
WHOLE_FRAME = (0.0, 0.0, 1.0, 1.0)
"""The box of a target sent with neither box nor centroid: somewhere in the frame."""


def translate(data: bytes, source: Source, platform_id: str, stream_id: str) -> VideoMetadata:
    """Decode one KLV packet and translate it; `time` is the ST 0601 precision time stamp (tag 2).

    Raises NativeFormatError (a `KlvError` for the bytes) when the packet cannot be decoded or a
    value does not fit the schema.
    """
    return from_frame(decode_packet(bytes(data)), source, platform_id, stream_id)


def from_frame(misb: MisbFrame, source: Source, platform_id: str, stream_id: str) -> VideoMetadata:
    """Translate a decoded frame (for callers that split a stream with `klv.decode_stream`)."""
    corners = _corners(misb)
    with schema_checked("video frame"):
        return VideoMetadata(
            source=source,
            time=utc_from_us(misb.precision_time_stamp_us),
            stream_id=stream_id,
            platform_id=platform_id,
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
            footprint_corners=corners,
            coverage=None if corners is None else Coverage(footprint=list(corners)),
            detections=[_detection(target, misb.frame_center_elevation_m) for target in misb.targets],
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


def _detection(target: VmtiTarget, ground_msl_m: float | None) -> VideoDetection:
    x_min, y_min, x_max, y_max = target.box or WHOLE_FRAME
    confidence = target.confidence if target.confidence is not None else (target.label_confidence or 0.0)
    geo = None
    if target.latitude_deg is not None and target.longitude_deg is not None:
        # VMTI heights are HAE; a target without one sits on the ground the frame centre gives
        hae_m = target.hae_m if target.hae_m is not None else point_from_msl(0.0, 0.0, ground_msl_m or 0.0).hae_m
        geo = GeoMeasurement(
            position=GeoPoint(lat=target.latitude_deg, lon=target.longitude_deg, hae_m=hae_m),
            covariance_enu_m2=_covariance(target.sigmas_enu_m or UNSTATED_SIGMA_M, target.correlations_enu),
        )
    return VideoDetection(
        box=BoundingBox(x_min=x_min, y_min=y_min, x_max=x_max, y_max=y_max),
        confidence=confidence,
        class_probabilities=class_probabilities(target.label, target.label_confidence or 0.0),
        geo=geo,
    )


def _covariance(
    sigmas: tuple[float, float, float], correlations: tuple[float, float, float] | None
) -> tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]:
    """ENU covariance from ST 0903 sigmas and correlations (rho east-north, east-up, north-up)."""
    east, north, up = sigmas
    en, eu, nu = correlations or (0.0, 0.0, 0.0)
    return (
        (east * east, en * east * north, eu * east * up),
        (en * east * north, north * north, nu * north * up),
        (eu * east * up, nu * north * up, up * up),
    )


class VideoAdapter(Adapter[bytes]):
    """Publishes a drone's MISB ST 0601 KLV metadata stream (one packet per `submit`) as VideoMetadata."""

    kind = "video"
    integration = "misb-st0601-klv"

    def __init__(
        self,
        source_id: str,
        broker: BrokerConfig | None = None,
        *,
        platform_id: str | None = None,
        stream_id: str | None = None,
        **options: Any,
    ) -> None:
        self.platform_id = platform_id or source_id
        self.stream_id = stream_id or source_id
        super().__init__(source_id, broker, **options)

    def translate(self, native: bytes) -> VideoMetadata:
        return translate(native, self.source, self.platform_id, self.stream_id)
