"""Tuning of the fusion core: one frozen record, so a run is reproducible from its config alone.

`FusionConfig` is the only place a tracker setting has a default. The fusion service, `rampart up`,
compose, offline replay and `rampart eval` all take their settings from it, and all read the same
TOML file (`--config PATH`, see docs/examples/fusion.toml):

    [fusion]
    tick_s = 0.05
    origin = { lat = 54.43, lon = 10.21 }

`settings(config)` and `from_settings(data)` turn a config into a plain dict and back, so a picture
can carry the settings it was made with (snapshots, recording headers) without `bus` knowing fusion.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from scipy.stats import chi2

from bus.schema import GeoPoint, validation_failure

_POSITIVE = (
    "tick_s",
    "accel_sigma_mps2",
    "max_accel_sigma_mps2",
    "checkpoint_s",
    "dedup_capacity",
    "confirm_m",
    "disposition_confirm_k",
    "disposition_within_s",
    "max_claimed_sigma_m",
    "takeover_fixes",
)
_NON_NEGATIVE = ("horizon_s", "max_future_s", "coast_after_s", "confirm_within_s")


@dataclass(frozen=True)
class FusionConfig:
    """Every knob of the fusion core. Times in seconds, distances in metres."""

    origin: GeoPoint | None = None
    """Origin of the local ENU frame; None takes the first applied observation's position."""
    tick_s: float = 0.05
    """Longest time between two steps of the picture (coasting, staleness): offline replay steps at
    this interval; the live service also steps as soon as observations arrive, so it bounds only how
    late a quiet picture ages, not how late an observation is published."""
    horizon_s: float = 5.0
    """An observation stamped up to this long before the receiver's clock is applied in its time
    order, by reprocessing from the last checkpoint before it; an older one is late and refused."""
    checkpoint_s: float = 0.05
    """Observation time between two recent checkpoints of the track table, from which a late
    observation is reprocessed: shorter reprocesses less per late arrival and copies the table more
    often. Older checkpoints are thinned to one in ten (see `FusionCore`): most late arrivals are
    late by milliseconds (two sources' streams interleaving), a few by seconds."""
    max_future_s: float = 5.0
    """An observation stamped further than this after `now` is rejected (a broken clock)."""
    max_platform_speed_mps: float = 400.0
    """A position report implying a faster move since the platform's previous report is absurd."""
    max_claimed_sigma_m: float = 100.0
    """The jump check believes a report's own `ce_m`/`le_m` only up to this: a source claiming to be
    vague (ce = 100 km) must not open the door to an arbitrary jump."""
    takeover_fixes: int = 3
    """This many consecutive, mutually consistent fixes of a platform that the jump check refused,
    with no consistent fix of the current position in between, take the platform over: a genuine
    receiver regains its track after an impostor stops, or after its own first fix was bad."""
    dedup_capacity: int = 65_536
    """How many recent (source id, msg id) pairs are remembered to spot duplicates."""

    accel_sigma_mps2: float = 0.2
    """Process noise (white acceleration) of a track moving steadily: where each track's own noise
    starts, and the least it adapts down to."""
    max_accel_sigma_mps2: float = 5.0
    """The most a track's process noise adapts up to while its innovations say it manoeuvres."""
    initial_speed_sigma_mps: float = 40.0
    """Velocity spread per axis of a track started from one detection (at zero velocity) until the
    confirmed tracks have taught a narrower one (`fusion.prior`); the widest it learns."""
    min_initial_speed_sigma_mps: float = 5.0
    """The narrowest velocity spread it learns: a new track's gate must still take a car's second
    plot in a picture of people on foot."""
    report_velocity_sigma_mps: float = 1.0
    """Velocity error assumed for a position report's own velocity (the schema carries none)."""
    default_ce_m: float = 10.0
    """Horizontal 1-sigma of a position report that gives no `ce_m`."""
    default_le_m: float = 15.0
    """Vertical 1-sigma of a position report that gives no `le_m`."""

    gate_probability: float = 0.999
    """Probability that a true detection falls inside its track's gate (chi-square, 3 dof)."""
    confirm_m: int = 3
    confirm_n: int = 5
    """A tentative track is confirmed after M hits in its first N opportunities, deleted on N-M+1
    misses; or confirmed sooner, once its odds of being real reach 1000:1, which only detections
    weighed against a clutter density their sensor states can give it before M hits."""
    detection_probability: float = 0.9
    """Chance that a sensor reports an object inside the coverage its message states, when the
    message does not say (`Coverage.detection_probability`)."""
    delete_existence: float = 0.01
    """A track whose probability of being real falls below this is dropped: each detection raises its
    odds tenfold, or by its likelihood ratio against the clutter its scan states (up to 1000:1);
    each miss where a sensor looked multiplies them by 1 - Pd."""
    confirm_within_s: float = 5.0
    """A tentative track not confirmed this long after it started is dropped: a feed that states no
    coverage never counts its misses, and a wide young gate would otherwise gather clutter."""
    coast_after_s: float = 2.0
    """A confirmed track not updated for this long is shown as coasting."""
    delete_after_s: float = 10.0
    """A track not updated for this long is dropped (its `stale_at` = updated + this)."""
    platform_delete_after_s: float = 30.0
    """Stale time of friendly platform tracks, which report less often than sensors scan."""
    max_position_sigma_m: float = 1_000.0
    """A track whose horizontal 1-sigma grows beyond this is dropped: it no longer says where."""

    class_likelihood_floor: float = 0.05
    """Smallest likelihood one report gives any class, so a single wrong report cannot veto one."""
    disposition_confirm_k: int = 3
    """Consecutive reports needed to change a track's disposition (hysteresis)."""
    disposition_within_s: float = 5.0
    """The `disposition_confirm_k` reports that change a disposition must all come within this long
    of the first of them: sensors call a real identity again and again, while their sporadic wrong
    calls over a long track life would otherwise line up into a streak sooner or later."""
    air_height_m: float = 50.0
    """A track surely this far above the ground is an air track."""
    ground_hae_m: float = 0.0
    """Height of the ground in the area of operations above the ellipsoid, for the air test."""

    def __post_init__(self) -> None:
        for name in _FINITE:
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name}: {getattr(self, name)} is not a finite number")
        for name in _POSITIVE:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name}: {getattr(self, name)} is not positive")
        for name in _NON_NEGATIVE:
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: {getattr(self, name)} is negative")
        if not 0 < self.min_initial_speed_sigma_mps <= self.initial_speed_sigma_mps:
            raise ValueError(
                f"min_initial_speed_sigma_mps: {self.min_initial_speed_sigma_mps} is not in "
                f"(0, initial_speed_sigma_mps = {self.initial_speed_sigma_mps}]"
            )
        if not self.confirm_m <= self.confirm_n:
            raise ValueError(f"confirm_m: {self.confirm_m} is more than confirm_n ({self.confirm_n})")
        for name in ("detection_probability", "delete_existence"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ValueError(f"{name}: {getattr(self, name)} is not in (0, 1)")
        if not 0.0 < self.gate_probability < 1.0:
            raise ValueError(f"gate_probability: {self.gate_probability} is not in (0, 1)")

    @property
    def gate_threshold(self) -> float:
        """Squared Mahalanobis distance bounding a 3-D gate."""
        return float(chi2.ppf(self.gate_probability, 3))

    @property
    def merge_threshold(self) -> float:
        """Squared Mahalanobis distance under which two 6-D track states are the same object."""
        return float(chi2.ppf(self.gate_probability, 6))


class ConfigError(ValueError):
    """Settings the fusion cannot run with; str() is one line naming the file (or dict) and the key."""


_FIELDS = {field.name: field for field in dataclasses.fields(FusionConfig)}
_TYPES = typing.get_type_hints(FusionConfig)
_FINITE = tuple(name for name, kind in _TYPES.items() if kind is float)


def settings(config: FusionConfig) -> dict[str, Any]:
    """The config as a plain dict of TOML and msgpack types (`origin` a table, absent when None)."""
    values = {name: getattr(config, name) for name in _FIELDS}
    origin = values.pop("origin")
    return values if origin is None else {**values, "origin": origin.model_dump()}


def from_settings(data: Mapping[str, Any], where: str = "settings", prefix: str = "") -> FusionConfig:
    """A config from a plain dict such as `settings()` makes or a TOML `[fusion]` table; a key it
    lacks keeps its default. ConfigError says `where: {prefix}key: reason`."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _FIELDS:
            raise ConfigError(f"{where}: {prefix}{key}: unknown key (known: {', '.join(_FIELDS)})")
        values[key] = _checked(key, value, f"{where}: {prefix}")
    try:
        return FusionConfig(**values)
    except ValueError as error:
        raise ConfigError(f"{where}: {prefix}{error}") from None


def _checked(key: str, value: Any, where: str) -> Any:
    """`value` as the type of field `key`; ConfigError if it is not one (TOML ints are floats too)."""
    if key == "origin":
        try:
            return GeoPoint.model_validate(value)
        except ValidationError as error:
            field, reason = validation_failure(error)
            raise ConfigError(f"{where}origin{'.' if field else ''}{field}: {reason}") from None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if _TYPES[key] is float and is_number:
        return float(value)
    if _TYPES[key] is int and is_number and isinstance(value, int):
        return value
    wanted = "a number" if _TYPES[key] is float else "an integer"
    raise ConfigError(f"{where}{key}: expected {wanted}, got {value!r}")


def load_config(path: str | Path) -> FusionConfig:
    """The settings in a TOML file's `[fusion]` table; any other key is refused (ConfigError)."""
    try:
        with open(path, "rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from None
    for key, value in document.items():
        if key != "fusion":
            raise ConfigError(f"{path}: {key}: unknown key (the file holds one table, [fusion])")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: fusion: expected a table, got {value!r}")
    return from_settings(document.get("fusion", {}), str(path), "fusion.")
