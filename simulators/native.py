"""The makers' native output formats, as the simulators emit them and the adapters read them.

These are deliberately *not* the common schema: each maker speaks its own dialect (MISB ST 0601
fields for drone video, polar radar plots, NMEA sentences for GPS). The adapters in `adapters/`
translate them into `bus.schema` observations. Plain frozen dataclasses, no behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class MisbFrame:
    """One MISB ST 0601 local set in engineering units (None = absent or "out of range").

    Field names follow the ST 0601 tag names; the tag number is in each comment. Angles in degrees,
    distances in metres, altitudes above mean sea level (as ST 0601 defines them).
    """

    precision_time_stamp_us: int  # tag 2: microseconds since 1970-01-01 UTC
    platform_designation: str | None = None  # tag 10
    platform_heading_deg: float | None = None  # tag 5, [0, 360)
    platform_pitch_deg: float | None = None  # tag 6, [-20, 20]
    platform_roll_deg: float | None = None  # tag 7, [-50, 50]
    sensor_latitude_deg: float | None = None  # tag 13
    sensor_longitude_deg: float | None = None  # tag 14
    sensor_true_altitude_m: float | None = None  # tag 15, MSL
    sensor_hfov_deg: float | None = None  # tag 16
    sensor_vfov_deg: float | None = None  # tag 17
    sensor_relative_azimuth_deg: float | None = None  # tag 18, clockwise from platform nose
    sensor_relative_elevation_deg: float | None = None  # tag 19, negative = looking down
    sensor_relative_roll_deg: float | None = None  # tag 20
    slant_range_m: float | None = None  # tag 21
    frame_center_latitude_deg: float | None = None  # tag 23
    frame_center_longitude_deg: float | None = None  # tag 24
    frame_center_elevation_m: float | None = None  # tag 25, MSL
    # tags 82-89: full-precision corner points, in order upper-left, upper-right, lower-right, lower-left
    corner_latitudes_deg: tuple[float, float, float, float] | None = None
    corner_longitudes_deg: tuple[float, float, float, float] | None = None
    mission_id: str | None = None  # tag 3


@dataclass(frozen=True, slots=True)
class VideoDetection:
    """A detection the drone's onboard video tracker made in one frame, geolocated on the ground."""

    box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max, normalised to [0, 1] of the frame
    label: str  # the maker's class label: "vehicle", "person", "uav"
    confidence: float  # [0, 1]
    latitude_deg: float
    longitude_deg: float
    altitude_m: float  # MSL
    sigma_m: float  # 1-sigma horizontal geolocation error the tracker claims


@dataclass(frozen=True, slots=True)
class DroneVideoFrame:
    """What a drone's video metadata stream carries for one frame: ST 0601 plus in-frame detections."""

    drone_id: str
    stream_id: str
    misb: MisbFrame
    detections: tuple[VideoDetection, ...] = ()


@dataclass(frozen=True, slots=True)
class RadarPlot:
    """One plot in polar form, relative to the sensor's position."""

    range_m: float
    bearing_deg: float  # clockwise from true north, [0, 360)
    elevation_deg: float  # above the local horizontal
    sigma_range_m: float
    sigma_bearing_deg: float
    sigma_elevation_deg: float
    label: str | None  # the sensor's classifier output ("vehicle", "person", "uav") or None
    label_confidence: float  # [0, 1]; 0 when label is None
    snr_db: float


@dataclass(frozen=True, slots=True)
class RadarScan:
    """One scan of a ground radar or a vehicle's onboard sensor: its pose and all plots of the scan."""

    sensor_id: str
    scan_index: int
    time_us: int  # the sensor's own clock (may be offset), microseconds since 1970-01-01 UTC
    sensor_latitude_deg: float
    sensor_longitude_deg: float
    sensor_altitude_m: float  # MSL
    plots: tuple[RadarPlot, ...] = ()


@dataclass(frozen=True, slots=True)
class GpsFix:
    """A GPS receiver's output for one fix: an NMEA 0183 GGA and RMC sentence pair (with checksums)."""

    platform_id: str
    gga: str  # "$GPGGA,hhmmss.ss,llll.llll,a,yyyyy.yyyy,a,q,nn,h.h,a.a,M,g.g,M,,*hh"
    rmc: str  # "$GPRMC,hhmmss.ss,A,llll.llll,a,yyyyy.yyyy,a,s.s,c.c,ddmmyy,,,A*hh" (speed in knots)


@dataclass(frozen=True, slots=True)
class TruthObject:
    """The true state of one object (target or friendly platform) at one instant."""

    object_id: str
    latitude_deg: float
    longitude_deg: float
    altitude_m: float  # MSL
    velocity_enu_mps: tuple[float, float, float]
    object_class: str  # "vehicle", "person", "uav"
    disposition: str  # "hostile", "neutral", "unknown", "friendly"
    environment: str  # "land", "air"
    platform_id: str | None = None  # set for friendly platforms: the id their own position reports carry


@dataclass(frozen=True, slots=True)
class TruthFrame:
    """Ground truth for every object alive at one instant (simulation clock, no offset)."""

    time_us: int
    objects: tuple[TruthObject, ...] = field(default_factory=tuple)


NativeOutput = DroneVideoFrame | RadarScan | GpsFix | TruthFrame
