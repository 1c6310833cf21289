"""What the simulator emits: each source's wire bytes, as its real device would send them, and truth.

The simulator owns nothing the adapters need: every record below is plain bytes in a native encoding
that the adapter of that source parses (as it would parse the same bytes from hardware), plus the
id of the device that sent them (what the port or stream the bytes arrived on tells a receiver).

- GPS receivers: NMEA 0183 sentences (one GGA and one RMC per fix, each ended by CR LF).
- Drone video: one MISB ST 0601 UAS Datalink Local Set packet per frame (KLV, with checksum), with
  the frame's detections as an embedded ST 0903 VMTI Local Set (tag 74).
- Radars: the maker's own "polar-radar" JSON dialect, one UTF-8 document per scan (see
  `adapters/radar.py` for the format).
- Truth: `TruthFrame`, the simulation's ground truth, for evaluation only (no device sends it).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class GpsOutput:
    """A GPS receiver's serial output for one fix: NMEA 0183 sentences (ASCII, CR LF line ends)."""

    platform_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class VideoOutput:
    """One frame's metadata from a drone's video stream: one ST 0601 KLV packet (VMTI in tag 74)."""

    drone_id: str
    stream_id: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RadarOutput:
    """One scan of a ground radar or a vehicle's onboard sensor, in the maker's JSON dialect."""

    sensor_id: str
    data: bytes


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


NativeOutput = VideoOutput | RadarOutput | GpsOutput | TruthFrame
