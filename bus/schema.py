"""The common schema: one pydantic v2 model per message on the Rampart bus.

Every message carries the envelope (`schema`, `msg_id`, `source`, `seq`, `session`, `time`,
`sent_at`). The wire name of a message is `"<Name>/<major>"`, e.g. `"PositionReport/1"`.

Versioning and unknown fields
-----------------------------
* A *major* version changes only when a field is removed, renamed or changes meaning; readers reject
  majors they do not know (`unsupported major version`).
* Within a major, new fields are only ever *added*, and optional. Readers therefore **ignore unknown
  fields** (tolerant reader), so an adapter built against a newer minor still talks to an older
  fusion service. Unknown fields are dropped, not forwarded.

Conventions: WGS84 latitude/longitude in degrees, heights above the ellipsoid (HAE) in metres,
velocities in the local East-North-Up frame in m/s, covariances in the ENU frame in m² (or m²/s²),
angles in degrees, bearings clockwise from true north. Times are timezone-aware UTC.
"""

from __future__ import annotations

import math
import typing
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

SCHEMA_MAJOR = 1

MAX_ID_LEN = 64
MAX_TEXT_LEN = 256
MAX_DETECTIONS = 4096
MAX_TRACKS = 20_000
MAX_SOURCES_PER_TRACK = 64
MAX_TRACK_NUMBER = 10**15
"""Bound of a snapshot's `next_track_number`: `T` and 16 digits stay a valid track id, and at a
thousand new tracks a second the numbers last 30,000 years."""


@dataclass(frozen=True)
class Range:
    """`Annotated[float, Range(low, high)]`: a finite float in [low, high]. A value outside is refused
    with a message that names the value and the bounds, and the finite bounds go into the JSON Schema
    (`minimum`, `maximum`) so that integrators in other languages see them too."""

    low: float
    high: float

    def check(self, value: float) -> float:
        if not self.low <= value <= self.high:
            raise ValueError(f"{value} is not in [{self.low:g}, {self.high:g}]")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        # NaN and infinity are already refused by `allow_inf_nan=False` in the model configuration.
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema.update(
            (key, bound) for key, bound in (("minimum", self.low), ("maximum", self.high)) if math.isfinite(bound)
        )
        return json_schema


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{value.isoformat()} has no time zone; times must be timezone-aware UTC")
    return value.astimezone(UTC)


Finite = float  # finite: every model refuses NaN and infinity (`allow_inf_nan=False`)
Latitude = Annotated[float, Range(-90.0, 90.0)]
Longitude = Annotated[float, Range(-180.0, 180.0)]
Degrees360 = Annotated[float, Range(0.0, 360.0)]
SignedDegrees = Annotated[float, Range(-180.0, 180.0)]
Elevation = Annotated[float, Range(-90.0, 90.0)]
Probability = Annotated[float, Range(0.0, 1.0)]
NonNegative = Annotated[float, Range(0.0, math.inf)]
UtcTime = Annotated[datetime, AfterValidator(_utc)]
Identifier = Annotated[str, Field(min_length=1, max_length=MAX_ID_LEN, pattern=r"^[A-Za-z0-9_.:-]+$")]
Text = Annotated[str, Field(max_length=MAX_TEXT_LEN)]
Vector3 = tuple[Finite, Finite, Finite]


def _covariance(value: tuple[Vector3, Vector3, Vector3]) -> tuple[Vector3, Vector3, Vector3]:
    """Symmetric and positive semi-definite. Plain arithmetic decides the common case (all principal
    minors >= 0; ~1 us), numpy's eigenvalues the borderline ones and the wording of the error."""
    (a, b, c), (d, e, f), (g, h, i) = value
    symmetric = all(abs(x - y) <= 1e-9 + 1e-6 * abs(y) for x, y in ((b, d), (c, g), (f, h)))
    determinant = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if symmetric and min(a, e, i, a * e - b * d, a * i - c * g, e * i - f * h, determinant) >= 0:
        return value
    matrix = np.asarray(value, dtype=float)
    if not symmetric:
        row, col = np.argwhere(~np.isclose(matrix, matrix.T, rtol=1e-6, atol=1e-9))[0]
        raise ValueError(f"not symmetric: [{row}][{col}]={matrix[row, col]:g} but [{col}][{row}]={matrix[col, row]:g}")
    smallest = float(np.linalg.eigvalsh(matrix).min())
    if smallest < -1e-9 * max(1.0, float(np.abs(matrix).max())):
        raise ValueError(f"not positive semi-definite: smallest eigenvalue {smallest:g}")
    return value


Covariance3 = Annotated[tuple[Vector3, Vector3, Vector3], AfterValidator(_covariance)]


ObservationKind = Literal["video", "sensor", "position"]
"""The three kinds of observation, one per topic family `rampart/v1/obs/{kind}/...`, one message
type each (`OBSERVATION_MODELS`); also the first three `SourceKind`s, the kinds of adapter."""
OBSERVATION_KINDS: tuple[ObservationKind, ...] = typing.get_args(ObservationKind)


class SourceKind(StrEnum):
    """What kind of node produced a message (an adapter's kind is its `ObservationKind`)."""

    VIDEO = "video"
    SENSOR = "sensor"
    POSITION = "position"
    FUSION = "fusion"
    VEHICLE = "vehicle"
    SIMULATOR = "simulator"
    RECORDER = "recorder"
    TOOL = "tool"


class Disposition(StrEnum):
    """Standard identity (MIL-STD-2525 / CoT affiliation)."""

    UNKNOWN = "unknown"
    PENDING = "pending"
    ASSUMED_FRIEND = "assumed_friend"
    FRIENDLY = "friendly"
    NEUTRAL = "neutral"
    SUSPECT = "suspect"
    HOSTILE = "hostile"


class Environment(StrEnum):
    """Battle dimension the object moves in."""

    UNKNOWN = "unknown"
    AIR = "air"
    LAND = "land"
    SURFACE = "surface"
    SUBSURFACE = "subsurface"
    SPACE = "space"


class ObjectClass(StrEnum):
    """What an object is; class probabilities are keyed by these."""

    VEHICLE = "vehicle"
    PERSON = "person"
    UAV = "uav"
    AIRCRAFT = "aircraft"
    VESSEL = "vessel"


class TrackStatus(StrEnum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    COASTING = "coasting"


def _class_probabilities(value: dict[ObjectClass, Probability]) -> dict[ObjectClass, Probability]:
    total = sum(value.values())
    if total > 1.0 + 1e-6:
        raise ValueError(f"probabilities sum to {total:g}, more than 1")
    return value


ClassProbabilities = Annotated[dict[ObjectClass, Probability], AfterValidator(_class_probabilities)]


class _Model(BaseModel):
    """Shared configuration: finite floats only, frozen, unknown fields ignored (tolerant reader),
    bytes as base64 in JSON (raw binary in msgpack)."""

    model_config = ConfigDict(
        extra="ignore",
        frozen=True,
        allow_inf_nan=False,
        populate_by_name=True,
        ser_json_bytes="base64",
        val_json_bytes="base64",
    )


class Source(_Model):
    """Who sent a message: `id` is unique on the bus, `integration` names the maker's adapter."""

    id: Identifier
    kind: SourceKind
    integration: Identifier = "rampart"


class GeoPoint(_Model):
    """A WGS84 position: latitude/longitude in degrees, height above the ellipsoid in metres."""

    lat: Latitude
    lon: Longitude
    hae_m: Annotated[float, Range(-12_000.0, 1_000_000.0)] = 0.0


def _new_msg_id() -> str:
    return uuid.uuid4().hex


def _schema_is_required(document: dict[str, Any]) -> None:
    """`schema` has a default in Python, for convenience, but the reader rejects a message without
    it: the published contract says so."""
    document["required"] = ["schema", *document.get("required", [])]


class Envelope(_Model):
    """Fields every message carries. `time` is when it was observed, `sent_at` when it was sent."""

    model_config = ConfigDict(json_schema_extra=_schema_is_required)
    NAME: ClassVar[str] = ""

    schema_id: str = Field(alias="schema")
    msg_id: Annotated[str, Field(min_length=1, max_length=MAX_ID_LEN)] = Field(default_factory=_new_msg_id)
    source: Source
    seq: Annotated[int, Field(ge=0, lt=2**63)] = 0
    """Per-source message counter; consecutive within a session, so gaps are visible."""
    session: Annotated[int, Field(ge=0, lt=2**63)] = 0
    """Increments every time the source (re)connects, like Sparkplug's bdSeq."""
    time: UtcTime
    sent_at: UtcTime | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.NAME = cls.__name__

    @classmethod
    def wire_name(cls) -> str:
        return f"{cls.NAME}/{SCHEMA_MAJOR}"


# --- Observations ---------------------------------------------------------------------------------


class PositionReport(Envelope):
    """A platform reports its own position (blue force tracking): friendly by definition."""

    schema_id: Literal["PositionReport/1"] = Field(default="PositionReport/1", alias="schema")
    platform_id: Identifier
    position: GeoPoint
    velocity_enu_mps: Vector3 | None = None
    heading_deg: Degrees360 | None = None
    ce_m: NonNegative | None = None
    """Circular error (CoT `ce`): 1-sigma horizontal position error in metres."""
    le_m: NonNegative | None = None
    """Linear error (CoT `le`): 1-sigma vertical position error in metres."""
    environment: Environment = Environment.UNKNOWN
    """UNKNOWN lets the fusion judge by height (a bare GPS receiver does not know)."""
    platform_type: Text = ""
    callsign: Text = ""


class PolarMeasurement(_Model):
    """A detection relative to the sensor: range, bearing clockwise from true north, elevation."""

    range_m: NonNegative
    bearing_deg: Degrees360
    elevation_deg: Elevation = 0.0
    sigma_range_m: Annotated[float, Range(1e-6, math.inf)]
    sigma_bearing_deg: Annotated[float, Range(1e-9, 180.0)]
    sigma_elevation_deg: Annotated[float, Range(1e-9, 180.0)] = 1.0
    elevation_measured: bool = True
    """False for a sensor that measures no elevation (a 2-D radar): `elevation_deg` and its sigma
    are then ignored, and the detection says nothing about height."""


class GeoMeasurement(_Model):
    """A geolocated detection: a position with its ENU covariance (m²)."""

    position: GeoPoint
    covariance_enu_m2: Covariance3
    height_measured: bool = True
    """False when the height is not measured (`hae_m` is a placeholder and the covariance's up row
    and column are ignored): the detection says where on the map, not how high."""


class Sector(_Model):
    """Ground a sensor looked at from `sensor_position`: bearings clockwise from true north, from
    `bearing_from_deg` clockwise to `bearing_to_deg` (equal: all round), within a range interval."""

    bearing_from_deg: Degrees360
    bearing_to_deg: Degrees360
    min_range_m: NonNegative = 0.0
    max_range_m: Annotated[float, Range(1e-3, math.inf)]


class Coverage(_Model):
    """What one message covered: where its sensor looked, so that an object predicted there and not
    reported counts as missed, and nowhere else. A message without coverage reports contacts only
    (an AIS or TAK position, a cue): it says nothing about where nothing was seen."""

    sector: Sector | None = None
    """For a SensorReading: the sector scanned around its `sensor_position`."""
    footprint: Annotated[list[GeoPoint], Field(min_length=3, max_length=64)] | None = None
    """The ground polygon seen (a camera frame's footprint), in order around its edge."""
    detection_probability: Probability | None = None
    """The chance that an object inside the coverage is reported; None: the fusion's default."""
    false_alarms: NonNegative | None = None
    """Mean number of false detections (clutter) per message inside the coverage, spread evenly over
    it; None: not known. With it, fusion weighs each detection against that clutter and confirms a
    track as soon as its odds of being real say so, rather than after a fixed number of hits."""

    @model_validator(mode="after")
    def _one_region(self) -> Coverage:
        if (self.sector is None) == (self.footprint is None):
            raise ValueError("give exactly one of sector and footprint")
        return self


class Detection(_Model):
    """One detection in a sensor scan: polar or geolocated (exactly one), with identity evidence."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["polar"], "properties": {"polar": {"type": "object"}}},
                {"required": ["geo"], "properties": {"geo": {"type": "object"}}},
            ]
        }
    )

    polar: PolarMeasurement | None = None
    geo: GeoMeasurement | None = None
    class_probabilities: ClassProbabilities = Field(default_factory=dict)
    disposition: Disposition | None = None
    """The sensor's own identity call (IFF, an operator's mark), if it makes one."""
    snr_db: Finite | None = None

    @model_validator(mode="after")
    def _one_measurement(self) -> Detection:
        if (self.polar is None) == (self.geo is None):
            raise ValueError("a detection needs exactly one of polar or geo")
        return self


class SensorReading(Envelope):
    """One scan of a sensor at a known pose, with all its detections (one message per scan)."""

    schema_id: Literal["SensorReading/1"] = Field(default="SensorReading/1", alias="schema")
    sensor_position: GeoPoint
    scan_id: Annotated[int, Field(ge=0)] = 0
    coverage: Coverage | None = None
    """Where this scan looked; None: contacts only (misses are never counted against it)."""
    detections: Annotated[list[Detection], Field(max_length=MAX_DETECTIONS)] = Field(default_factory=list)


class BoundingBox(_Model):
    """A box in the video frame, normalised to [0, 1] of width and height."""

    x_min: Probability
    y_min: Probability
    x_max: Probability
    y_max: Probability

    @model_validator(mode="after")
    def _ordered(self) -> BoundingBox:
        if self.x_min > self.x_max or self.y_min > self.y_max:
            raise ValueError("box corners must satisfy x_min <= x_max and y_min <= y_max")
        return self


class VideoDetection(_Model):
    """An object the drone's video tracker found in the frame, optionally geolocated."""

    box: BoundingBox
    confidence: Probability
    class_probabilities: ClassProbabilities = Field(default_factory=dict)
    disposition: Disposition | None = None
    """The tracker's or operator's identity call, if it makes one."""
    geo: GeoMeasurement | None = None


class VideoMetadata(Envelope):
    """Drone video metadata for one frame: the MISB ST 0601 field set plus in-frame detections.

    Every ST 0601 field is optional: a source may omit it, and "out of range" markers become None.
    """

    schema_id: Literal["VideoMetadata/1"] = Field(default="VideoMetadata/1", alias="schema")
    stream_id: Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LEN)]
    platform_id: Identifier | None = None
    """The platform carrying the camera, as its own PositionReports name it."""
    stream_url: Text = ""
    platform_designation: Text = ""
    mission_id: Text = ""
    platform_heading_deg: Degrees360 | None = None
    platform_pitch_deg: Elevation | None = None
    platform_roll_deg: SignedDegrees | None = None
    sensor_position: GeoPoint | None = None
    """ST 0601 tags 13-15."""
    sensor_hfov_deg: Annotated[float, Range(0.0, 180.0)] | None = None
    sensor_vfov_deg: Annotated[float, Range(0.0, 180.0)] | None = None
    sensor_relative_azimuth_deg: Degrees360 | None = None
    sensor_relative_elevation_deg: SignedDegrees | None = None
    sensor_relative_roll_deg: Degrees360 | None = None
    slant_range_m: NonNegative | None = None
    frame_center: GeoPoint | None = None
    footprint_corners: tuple[GeoPoint, GeoPoint, GeoPoint, GeoPoint] | None = None
    """Upper-left, upper-right, lower-right, lower-left."""
    coverage: Coverage | None = None
    """Where this frame's detector looked (usually the footprint); None: contacts only."""
    detections: Annotated[list[VideoDetection], Field(max_length=MAX_DETECTIONS)] = Field(default_factory=list)


# --- The picture ----------------------------------------------------------------------------------


class SourceContribution(_Model):
    """A source that updated a track, and when it last did."""

    source_id: Identifier
    kind: SourceKind
    last_time: UtcTime


class Track(_Model):
    """One object in the shared picture. Not an envelope: it travels inside TrackUpdate / snapshots."""

    track_id: Identifier
    status: TrackStatus
    position: GeoPoint
    velocity_enu_mps: Vector3
    position_cov_enu_m2: Covariance3
    velocity_cov_enu_m2s2: Covariance3
    disposition: Disposition = Disposition.UNKNOWN
    environment: Environment = Environment.UNKNOWN
    class_probabilities: ClassProbabilities = Field(default_factory=dict)
    classification: ObjectClass | None = None
    classification_confidence: Probability = 0.0
    cot_type: Annotated[str, Field(max_length=32)] = "a-u-G"
    """CoT / MIL-STD-2525 type, e.g. `a-h-G` (hostile ground)."""
    platform_id: Identifier | None = None
    """Set when the track is a friendly platform that reports its own position."""
    sources: Annotated[list[SourceContribution], Field(max_length=MAX_SOURCES_PER_TRACK)] = Field(default_factory=list)
    first_seen: UtcTime
    updated: UtcTime
    stale_at: UtcTime


PictureEpoch = Annotated[int, Field(ge=0, lt=2**63)]
"""Which start of the fusion a picture message belongs to (its start time in milliseconds): picture
sequence numbers count within an epoch, and a later epoch supersedes every message of an earlier one."""


class TrackUpdate(Envelope):
    """The latest state of one track, retained on its own topic."""

    schema_id: Literal["TrackUpdate/1"] = Field(default="TrackUpdate/1", alias="schema")
    epoch: PictureEpoch = 0
    picture_seq: Annotated[int, Field(ge=0)]
    track: Track


FusionSettings = Annotated[dict[Identifier, int | float | dict[Identifier, float]], Field(max_length=64)]
"""A fusion's settings as a plain table: the bus carries them without knowing what they mean."""


class PictureSnapshot(Envelope):
    """The whole picture at one instant, retained, with the picture sequence number covered.

    A picture too large for one message travels as `pages` messages of the same `epoch` and
    `picture_seq`, page `page` on `picture/snapshot/{page}`; a reader applies them once all arrived."""

    schema_id: Literal["PictureSnapshot/1"] = Field(default="PictureSnapshot/1", alias="schema")
    epoch: PictureEpoch = 0
    picture_seq: Annotated[int, Field(ge=0)]
    page: Annotated[int, Field(ge=0, lt=MAX_TRACKS)] = 0
    pages: Annotated[int, Field(ge=1, le=MAX_TRACKS)] = 1
    tracks: Annotated[list[Track], Field(max_length=MAX_TRACKS)] = Field(default_factory=list)
    fusion_settings: FusionSettings | None = None
    """The settings the fusion made this picture with (every knob by name, e.g. `tick_s`), so a
    picture, and a recording of it, says how it was made. Absent from older fusion services."""
    next_track_number: Annotated[int, Field(ge=1, le=MAX_TRACK_NUMBER)] | None = None
    """Every `T` track id this fusion or an earlier one gave is numbered below this: a restarted
    fusion numbers its new tracks from here, so that no id is given to another object even once
    every track that showed one was dropped. Absent from older fusion services."""

    @model_validator(mode="after")
    def _page_in_range(self) -> PictureSnapshot:
        if self.page >= self.pages:
            raise ValueError(f"page {self.page} of {self.pages} (pages count from 0)")
        return self


# --- Node state, dead letters, truth ----------------------------------------------------------------


class NodeState(Envelope):
    """A node's retained birth (online) or last will (offline), with its own figures."""

    schema_id: Literal["NodeState/1"] = Field(default="NodeState/1", alias="schema")
    online: bool
    role: Text = ""
    version: Text = ""
    figures: Annotated[dict[Identifier, Finite], Field(max_length=64)] = Field(default_factory=dict)


class DeadLetter(Envelope):
    """A message someone rejected: where it came from, why, and its bytes (or their digest)."""

    schema_id: Literal["DeadLetter/1"] = Field(default="DeadLetter/1", alias="schema")
    original_topic: Annotated[str, Field(max_length=1024)]
    reason: Annotated[str, Field(max_length=1024)]
    content_type: Text | None = None
    payload: Annotated[bytes, Field(max_length=64 * 1024)] | None = None
    """The original bytes when they are small enough; otherwise only the digest is kept."""
    payload_size: Annotated[int, Field(ge=0)]
    payload_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class TruthObject(_Model):
    """The true state of one object, for evaluation only."""

    object_id: Identifier
    position: GeoPoint
    velocity_enu_mps: Vector3
    object_class: ObjectClass
    disposition: Disposition
    environment: Environment
    platform_id: Identifier | None = None


class GroundTruth(Envelope):
    """Every object alive at `time`, published by simulators on the truth topic."""

    schema_id: Literal["GroundTruth/1"] = Field(default="GroundTruth/1", alias="schema")
    scenario_id: Identifier
    objects: Annotated[list[TruthObject], Field(max_length=MAX_TRACKS)] = Field(default_factory=list)


Observation = PositionReport | SensorReading | VideoMetadata
"""The one union of observation messages (the fusion core's input)."""
OBSERVATION_MODELS: dict[ObservationKind, type[Observation]] = {
    "video": VideoMetadata,
    "sensor": SensorReading,
    "position": PositionReport,
}
Message = (
    PositionReport
    | SensorReading
    | VideoMetadata
    | TrackUpdate
    | PictureSnapshot
    | NodeState
    | DeadLetter
    | GroundTruth
)
MESSAGE_TYPES: tuple[type[Envelope], ...] = (
    PositionReport,
    SensorReading,
    VideoMetadata,
    TrackUpdate,
    PictureSnapshot,
    NodeState,
    DeadLetter,
    GroundTruth,
)
MODELS_BY_NAME: dict[str, type[Envelope]] = {model.NAME: model for model in MESSAGE_TYPES}


def validation_failure(error: ValidationError) -> tuple[str, str]:
    """The one wording of a schema failure: the first pydantic error as (dotted field path, reason),
    "missing" for an absent field and pydantic's "Value error, " prefix dropped; the path is empty
    when the model as a whole is refused. The codec's DecodeError, the adapters' NativeFormatError
    and the fusion settings files all word it this way."""
    detail = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in detail["loc"])
    reason = "missing" if detail["type"] == "missing" else detail["msg"].removeprefix("Value error, ")
    return field, reason


def utc_now() -> datetime:
    """The current UTC time; only shells call this, the pure core gets time with its data."""
    return datetime.now(UTC)
