"""Conventions the translators share: the makers' labels, clocks, heights and angles.

Kept in one place so the adapters agree, and a change (a new label, a geoid model) is made once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from adapters.errors import NativeFormatError
from bus.schema import Disposition, GeoPoint, ObjectClass, validation_failure

UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

GEOID_SEPARATION_M = 0.0
"""Geoid height above the ellipsoid. The simulated world has none, so MSL equals HAE; real sources
need a geoid model (EGM2008) here."""

LABEL_CLASSES: dict[str, ObjectClass] = {
    "vehicle": ObjectClass.VEHICLE,
    "person": ObjectClass.PERSON,
    "uav": ObjectClass.UAV,
}
"""The makers' classifier vocabulary (shared by the radar and the video tracker) -> schema classes."""


def class_probabilities(label: str | None, confidence: float) -> dict[ObjectClass, float]:
    """A maker's label as evidence for one class. An unknown label is no evidence rather than an
    error, so a maker adding a class to its classifier never stops its stream."""
    if label not in LABEL_CLASSES:
        return {}
    return {LABEL_CLASSES[label]: confidence}


IDENTITY_CALLS: dict[str, Disposition] = {
    "hostile": Disposition.HOSTILE,
    "neutral": Disposition.NEUTRAL,
    "friendly": Disposition.FRIENDLY,
}
"""The makers' identification calls -> schema dispositions."""


def declared(call: str | None) -> Disposition | None:
    """A maker's identification call as a disposition; no call, or one not in the vocabulary, is no
    evidence (never "unknown", which would argue against a declared identity)."""
    return IDENTITY_CALLS.get(call) if call is not None else None


def utc_from_us(time_us: int) -> datetime:
    """Microseconds since 1970-01-01 UTC as an exact UTC datetime (integer arithmetic, no float rounding)."""
    try:
        return UNIX_EPOCH + timedelta(microseconds=time_us)
    except OverflowError as error:
        raise NativeFormatError(f"time stamp {time_us} us is outside the representable range") from error


def point_from_msl(lat: float, lon: float, altitude_msl_m: float) -> GeoPoint:
    """A point from a maker that gives altitude above mean sea level; the schema wants HAE."""
    return GeoPoint(lat=lat, lon=lon, hae_m=altitude_msl_m + GEOID_SEPARATION_M)


def wrap_360(degrees: float) -> float:
    """An angle in [0, 360): makers differ on whether a heading of -10 or 360 is allowed."""
    wrapped = degrees % 360.0
    return 0.0 if wrapped == 360.0 else wrapped  # a tiny negative angle rounds up to 360.0


def wrap_180(degrees: float) -> float:
    """A signed angle in [-180, 180)."""
    return wrap_360(degrees + 180.0) - 180.0


@contextmanager
def schema_checked(what: str) -> Iterator[None]:
    """Report native values the schema refuses (out of range, NaN, bad ids) as NativeFormatError,
    so callers handle one exception type for every bad input."""
    try:
        yield
    except ValidationError as error:
        field, reason = validation_failure(error)
        where = ".".join(part for part in (error.title, field) if part)
        raise NativeFormatError(f"{what} does not fit the schema: {where}: {reason}") from error
