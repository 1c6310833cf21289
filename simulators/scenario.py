"""Scenario files: TOML validated by pydantic v2 models.

A scenario describes the world (targets), the friendly platforms (drones, combat vehicles, fixed ground
radars) and their sensors. Positions are [east_m, north_m] in the local ENU frame around `origin`;
the ground is the flat plane up = 0. Every model forbids unknown keys so that a typo fails loudly
instead of silently falling back to a default.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    PositiveFloat,
    ValidationError,
    model_validator,
)

ObjectClass = Literal["vehicle", "person", "uav"]
Disposition = Literal["hostile", "neutral", "friendly", "unknown"]
"""A target's true identity; the scenario's own platforms (drones, combat vehicles) are friendly."""
Label = Literal["vehicle", "person", "uav", "none"]
Call = Literal["hostile", "neutral", "friendly", "none"]
"""A sensor's identification of one detection: a declared disposition, or none (no call made)."""
OBJECT_CLASSES: tuple[ObjectClass, ...] = ("vehicle", "person", "uav")
LABELS: tuple[Label, ...] = ("vehicle", "person", "uav", "none")
DISPOSITIONS: tuple[Disposition, ...] = ("hostile", "neutral", "friendly", "unknown")
CALLS: tuple[Call, ...] = ("hostile", "neutral", "friendly", "none")
ENVIRONMENT: dict[str, str] = {"vehicle": "land", "person": "land", "uav": "air"}

Point2 = tuple[float, float]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
BUILTIN_DIR = Path(__file__).parent / "scenarios"
DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULT_UAV_ALTITUDE_M = 120.0


class ScenarioError(ValueError):
    """A scenario file is missing, unreadable or invalid; the message names file, field path and reason."""


def _check_route(points: list[Point2]) -> list[Point2]:
    if len(points) < 2:
        raise ValueError(f"a route needs at least 2 points, got {len(points)}")
    return points


Route = Annotated[list[Point2], AfterValidator(_check_route)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


ConfusionRows = dict[ObjectClass, dict[Label, Probability]]
IdentificationRows = dict[Disposition, dict[Call, Probability]]


Rows = TypeVar("Rows", ConfusionRows, IdentificationRows)


def _check_rows(truths: tuple[str, ...]) -> Callable[[Rows], Rows]:
    """A validator of a confusion matrix: a row for each of `truths`, each row summing to 1."""

    def check(rows: Rows) -> Rows:
        missing = [c for c in truths if c not in rows]
        if missing:
            raise ValueError(f"missing rows for {', '.join(missing)}")
        for truth, row in rows.items():
            total = sum(row.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"row {truth!r} sums to {total:g}, expected 1")
        return rows

    return check


Confusion = Annotated[ConfusionRows, AfterValidator(_check_rows(OBJECT_CLASSES))]
Identification = Annotated[IdentificationRows, AfterValidator(_check_rows(DISPOSITIONS))]
"""Rows: the true disposition; columns: the call made (`CALLS`, "none" = no call); each row sums to 1."""


def _default_confusion() -> ConfusionRows:
    return {
        "vehicle": {"vehicle": 0.8, "person": 0.05, "uav": 0.0, "none": 0.15},
        "person": {"vehicle": 0.05, "person": 0.75, "uav": 0.0, "none": 0.2},
        "uav": {"vehicle": 0.0, "person": 0.05, "uav": 0.8, "none": 0.15},
    }


class Origin(_Model):
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)
    alt: float = 0.0


class SourceTiming(_Model):
    """What every source shares: output latency, whole-output dropouts and its own clock's offset."""

    latency_s: NonNegativeFloat = 0.0
    latency_jitter_s: NonNegativeFloat = 0.0  # extra latency drawn uniformly from [0, jitter]
    dropout_prob: Probability = 0.0  # probability that a whole scan / frame / fix is lost
    clock_offset_s: float = 0.0  # the time stamp the source writes = true time + offset


class DetectionRange(_Model):
    """pd(r) = pd0 for r <= r0_m, falling linearly to 0 at max_range_m: pd0 * (max - r) / (max - r0)."""

    pd0: Probability = 0.9
    r0_m: NonNegativeFloat = 0.0
    max_range_m: PositiveFloat = 10_000.0

    @model_validator(mode="after")
    def _r0_inside(self) -> DetectionRange:
        if self.r0_m >= self.max_range_m:
            raise ValueError(f"r0_m ({self.r0_m:g}) must be below max_range_m ({self.max_range_m:g})")
        return self


class PolarSensor(SourceTiming, DetectionRange):
    """A scanning sensor reporting polar plots (ground radar or a vehicle's onboard radar)."""

    scan_period_s: PositiveFloat = 1.0
    height_m: NonNegativeFloat = 3.0  # antenna height above the ground (or the vehicle's position)
    fov_center_deg: float = 0.0  # true bearing for a ground radar, relative to the hull for a vehicle
    fov_width_deg: float = Field(default=360.0, gt=0.0, le=360.0)
    sigma_range_m: NonNegativeFloat = 10.0
    sigma_bearing_deg: NonNegativeFloat = 0.5
    sigma_elevation_deg: NonNegativeFloat = 1.0
    clutter_per_scan: NonNegativeFloat = 0.0  # Poisson mean of false plots, uniform over the covered area
    snr_1km_db: float = 20.0  # snr = snr_1km_db - 40 log10(range / 1 km)
    confusion: Confusion = Field(default_factory=_default_confusion)
    identification: Identification | None = None
    """How the sensor identifies what it detects (an interrogator or classifier making identity
    calls); None: it makes no identity calls at all."""


def _video_labels_only(rows: ConfusionRows) -> ConfusionRows:
    if any(row.get("none", 0.0) > 0.0 for row in rows.values()):
        raise ValueError("a video tracker always labels its detections: 'none' must be 0")
    return rows


def _default_video_confusion() -> ConfusionRows:
    return {
        "vehicle": {"vehicle": 0.9, "person": 0.05, "uav": 0.05},
        "person": {"vehicle": 0.1, "person": 0.85, "uav": 0.05},
        "uav": {"vehicle": 0.05, "person": 0.05, "uav": 0.9},
    }


class Camera(SourceTiming, DetectionRange):
    """A gimballed video camera; pointing defaults to the behaviour's natural aim (orbit centre, followed
    target, nadir on patrol)."""

    max_range_m: PositiveFloat = 3_000.0  # slant range
    frame_rate_hz: PositiveFloat = 4.0
    hfov_deg: float = Field(default=30.0, gt=0.0, lt=180.0)
    vfov_deg: float = Field(default=20.0, gt=0.0, lt=180.0)
    look_at: Point2 | None = None
    look_at_target: str | None = None
    sigma_m: NonNegativeFloat = 8.0  # horizontal geolocation error per axis
    clutter_per_frame: NonNegativeFloat = 0.0
    confusion: Annotated[Confusion, AfterValidator(_video_labels_only)] = Field(
        default_factory=_default_video_confusion
    )

    @model_validator(mode="after")
    def _one_aim(self) -> Camera:
        if self.look_at is not None and self.look_at_target is not None:
            raise ValueError("give look_at or look_at_target, not both")
        return self


class Gps(SourceTiming):
    rate_hz: PositiveFloat = 1.0
    sigma_m: NonNegativeFloat = 2.5  # horizontal, per axis
    sigma_vertical_m: NonNegativeFloat = 4.0


class Orbit(_Model):
    kind: Literal["orbit"]
    center: Point2
    radius_m: PositiveFloat


class Patrol(_Model):
    kind: Literal["patrol"]
    route: Route
    loop: bool = True


class Follow(_Model):
    kind: Literal["follow"]
    target: str
    offset_m: Point2 = (0.0, 0.0)


class Drone(_Model):
    id: str
    altitude_m: PositiveFloat = 300.0  # above the ground
    speed_mps: PositiveFloat = 20.0  # along an orbit or patrol; a follower matches its target
    behaviour: Orbit | Patrol | Follow = Field(discriminator="kind")
    camera: Camera = Camera()
    gps: Gps = Gps()


class CombatVehicle(_Model):
    id: str
    route: Route
    speed_mps: PositiveFloat
    loop: bool = False  # True: the route closes back to its first point and repeats; False: stop at the end
    gps: Gps = Gps()
    sensor: PolarSensor | None = None


class GroundRadar(PolarSensor):
    id: str
    position: Point2


class Target(_Model):
    """One target: either follows `route` at `speed_mps`, or starts at `start` and moves with
    near-constant velocity (white-noise acceleration of spectral density `process_noise`, m²/s³)."""

    id: str
    object_class: ObjectClass = Field(alias="class")
    disposition: Disposition = "unknown"
    route: Route | None = None
    loop: bool = False
    start: Point2 | None = None
    heading_deg: float = 0.0  # initial course of a random-motion target
    speed_mps: NonNegativeFloat
    process_noise: NonNegativeFloat = 0.0
    altitude_m: NonNegativeFloat | None = None  # above the ground; default 0 on land, 120 m for a uav
    appear_s: NonNegativeFloat = 0.0
    leave_s: PositiveFloat | None = None

    @model_validator(mode="after")
    def _motion_and_interval(self) -> Target:
        if (self.route is None) == (self.start is None):
            raise ValueError("give either route or start (random motion), exactly one")
        if self.leave_s is not None and self.leave_s <= self.appear_s:
            raise ValueError(f"leave_s ({self.leave_s:g}) must be after appear_s ({self.appear_s:g})")
        return self

    @property
    def height_m(self) -> float:
        if self.altitude_m is not None:
            return self.altitude_m
        return DEFAULT_UAV_ALTITUDE_M if self.object_class == "uav" else 0.0


Range2 = tuple[NonNegativeFloat, NonNegativeFloat]


class SpeedRanges(_Model):
    vehicle: Range2 = (3.0, 15.0)
    person: Range2 = (0.5, 2.0)
    uav: Range2 = (10.0, 30.0)


def _all_vehicles() -> dict[ObjectClass, float]:
    return {"vehicle": 1.0}


def _all_unknown() -> dict[Disposition, float]:
    return {"unknown": 1.0}


class RandomTargets(_Model):
    """`count` random-motion targets, uniform in a square, bouncing off its edges so they stay there."""

    count: int = Field(ge=0)
    id_prefix: str = "r"
    center: Point2 = (0.0, 0.0)
    half_size_m: PositiveFloat
    classes: dict[ObjectClass, NonNegativeFloat] = Field(default_factory=_all_vehicles)
    dispositions: dict[Disposition, NonNegativeFloat] = Field(default_factory=_all_unknown)
    speeds_mps: SpeedRanges = SpeedRanges()
    process_noise: NonNegativeFloat = 0.01
    uav_altitude_m: NonNegativeFloat = DEFAULT_UAV_ALTITUDE_M

    @model_validator(mode="after")
    def _weights_positive(self) -> RandomTargets:
        for name, weights in (("classes", self.classes), ("dispositions", self.dispositions)):
            if sum(weights.values()) <= 0.0:
                raise ValueError(f"{name}: weights must have a positive sum")
        return self

    def ids(self) -> list[str]:
        return [f"{self.id_prefix}{i:04d}" for i in range(self.count)]


class Scenario(_Model):
    name: str
    description: str = ""
    origin: Origin
    start_time: AwareDatetime = DEFAULT_START
    duration_s: PositiveFloat
    seed: int = Field(default=0, ge=0)
    truth_rate_hz: PositiveFloat = 1.0
    motion_step_s: PositiveFloat = 0.1  # grid of the random-motion integrator, independent of the sensors
    targets: list[Target] = []
    random_targets: list[RandomTargets] = []
    drones: list[Drone] = []
    vehicles: list[CombatVehicle] = []
    radars: list[GroundRadar] = []

    def target_ids(self) -> list[str]:
        """All target ids in engine order: the listed targets, then each random block."""
        return [t.id for t in self.targets] + [i for block in self.random_targets for i in block.ids()]

    @property
    def start_time_us(self) -> int:
        return round(self.start_time.timestamp() * 1_000_000)


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _reason(error: dict[str, object]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown key"
    ctx = error.get("ctx")
    if error["type"] == "value_error" and isinstance(ctx, dict):
        return str(ctx["error"])
    msg = str(error["msg"])
    return msg[:1].lower() + msg[1:]


def _reference_errors(scenario: Scenario) -> list[str]:
    """Cross-field checks pydantic cannot place on one field: unique ids and references to targets."""
    problems: list[str] = []
    seen: set[str] = set()
    ids = (
        scenario.target_ids()
        + [d.id for d in scenario.drones]
        + [v.id for v in scenario.vehicles]
        + [r.id for r in scenario.radars]
    )
    for object_id in ids:
        if object_id in seen:
            problems.append(f"(ids): duplicate id {object_id!r}")
        seen.add(object_id)
    named = {t.id for t in scenario.targets}
    for i, drone in enumerate(scenario.drones):
        if isinstance(drone.behaviour, Follow) and drone.behaviour.target not in named:
            problems.append(f"drones[{i}].behaviour.target: no target named {drone.behaviour.target!r}")
        aim = drone.camera.look_at_target
        if aim is not None and aim not in named:
            problems.append(f"drones[{i}].camera.look_at_target: no target named {aim!r}")
    return problems


def parse_scenario(text: str, source: str = "<string>") -> Scenario:
    """Parse and validate TOML text; `source` names the file in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: invalid TOML: {exc}") from exc
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"{source}: {_format_loc(e['loc'])}: {_reason(dict(e))}" for e in exc.errors()]
        raise ScenarioError("\n".join(lines)) from exc
    problems = _reference_errors(scenario)
    if problems:
        raise ScenarioError("\n".join(f"{source}: {p}" for p in problems))
    return scenario


def builtin_names() -> list[str]:
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.toml"))


def load_scenario(name_or_path: str) -> Scenario:
    """Load a built-in scenario by name (e.g. "smoke"), a benchmark family member by name
    (`family-100-2`, see `simulators.family`) or a scenario file by path (ending in .toml)."""
    from simulators import family

    if family.is_family(name_or_path):
        return family.family_scenario(name_or_path)
    if name_or_path.endswith(".toml") or "/" in name_or_path:
        path, shown = Path(name_or_path), name_or_path
    else:
        path, shown = BUILTIN_DIR / f"{name_or_path}.toml", f"scenarios/{name_or_path}.toml"
        if not path.is_file():
            raise ScenarioError(f"{name_or_path}: no such built-in scenario (have: {', '.join(builtin_names())})")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{shown}: cannot read: {exc.strerror}") from exc
    return parse_scenario(text, shown)
