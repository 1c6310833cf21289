"""GPS adapter: one fix of a receiver's NMEA 0183 output (bytes or text) -> `PositionReport`.

The input is what the receiver writes for one fix: sentences separated by line ends (CR LF, or LF),
among which exactly one GGA and one RMC (any talker: GP, GN, ...); other sentences (GSA, GSV, VTG...)
are ignored. GGA gives position, altitude, geoid separation, fix quality and HDOP; RMC gives
validity, date, speed and course. Every sentence's checksum is verified, and every defect raises
NativeFormatError naming the sentence and the field, so a dead letter says what the receiver got
wrong. NMEA carries no platform id: it is the adapter's configuration.

Resolution: positions as the receiver prints them (the simulator prints 1e-4 minute, ~0.2 m).
"""

from __future__ import annotations

import math
import re
import string
from datetime import UTC, date, datetime, time
from functools import reduce
from operator import xor
from typing import Any

from adapters.base import Adapter
from adapters.common import schema_checked, wrap_360
from adapters.errors import NativeFormatError
from bus.client import BrokerConfig
from bus.schema import GeoPoint, PositionReport, Source

UERE_M = 5.0
"""User equivalent range error (1-sigma, metres) assumed for a single-frequency civil receiver: NMEA
reports only HDOP, so the circular error is ce = HDOP * UERE."""
KNOT_MPS = 1852.0 / 3600.0
"""One knot (one nautical mile, exactly 1852 m, per hour) in m/s."""

GGA_FIELD_COUNTS = (14,)
RMC_FIELD_COUNTS = (11, 12, 13)
"""NMEA 2.0 RMC has 11 fields, 2.3 adds the mode indicator, 4.1 the navigational status."""

_UNSIGNED = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")
_SIGNED = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_TIME_OF_DAY = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})(?:\.([0-9]*))?")
_DATE = re.compile(r"([0-9]{2})([0-9]{2})([0-9]{2})")


def translate(data: bytes | str, source: Source, platform_id: str) -> PositionReport:
    """Translate one fix: position and HAE (MSL + geoid separation) from GGA, time from RMC's date and
    time of day (UTC), velocity and heading from RMC's speed and course over ground.

    Raises NativeFormatError for input that is not ASCII, a missing or repeated GGA or RMC, a bad
    checksum, a missing or malformed field, no fix (GGA quality 0), a void fix (RMC status V), or a
    GGA and RMC that describe different instants.
    """
    sentences = split(data)
    gga = _fields(_one(sentences, "GGA"), "GGA", GGA_FIELD_COUNTS)
    rmc = _fields(_one(sentences, "RMC"), "RMC", RMC_FIELD_COUNTS)
    if not gga[6].isdigit():
        raise NativeFormatError(f"GGA fix quality {gga[6]!r} is not a number")
    if int(gga[6]) == 0:
        raise NativeFormatError("GGA has no fix (quality 0)")
    if rmc[2] == "V":
        raise NativeFormatError("RMC status V (void)")
    if rmc[2] != "A":
        raise NativeFormatError(f"RMC status {rmc[2]!r} is neither A (valid) nor V (void)")
    time_of_day = _time_of_day(rmc[1], "RMC time")
    if _time_of_day(gga[1], "GGA time") != time_of_day:
        raise NativeFormatError(f"GGA time {gga[1]} and RMC time {rmc[1]} are different fixes")
    altitude_msl_m = _metres(gga[9], gga[10], "GGA altitude")
    geoid_separation_m = _metres(gga[11], gga[12], "GGA geoid separation")
    hdop = _optional_number(gga[8], "GGA HDOP")
    speed_knots = _optional_number(rmc[7], "RMC speed")
    course_deg = _optional_number(rmc[8], "RMC course")
    heading_deg = None if course_deg is None else wrap_360(course_deg)
    with schema_checked("GPS fix"):
        return PositionReport(
            source=source,
            time=datetime.combine(_date(rmc[9]), time_of_day, tzinfo=UTC),
            platform_id=platform_id,
            position=GeoPoint(
                lat=_angle(gga[2], gga[3], "GGA latitude", 2, ("N", "S")),
                lon=_angle(gga[4], gga[5], "GGA longitude", 3, ("E", "W")),
                hae_m=altitude_msl_m + geoid_separation_m,
            ),
            velocity_enu_mps=_velocity(speed_knots, heading_deg),
            heading_deg=heading_deg,
            ce_m=None if hdop is None else hdop * UERE_M,
        )


def checksum(body: str) -> int:
    """The NMEA checksum: XOR of every character between `$` and `*`."""
    return reduce(xor, body.encode("ascii"), 0)


MAX_FIX_BYTES = 4096
"""A fix is a few sentences of at most 82 characters each; anything much longer is not NMEA."""


def split(data: bytes | str) -> list[str]:
    """The sentences of one fix, each checked for framing and checksum (blank lines are skipped)."""
    if len(data) > MAX_FIX_BYTES:
        raise NativeFormatError(f"NMEA fix is {len(data)} bytes, more than {MAX_FIX_BYTES}")
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("ascii")
        except UnicodeDecodeError as error:
            raise NativeFormatError(
                f"NMEA fix is not ASCII: byte 0x{data[error.start]:02X} at offset {error.start}"
            ) from error
    else:
        text = data
        if not text.isascii():
            raise NativeFormatError("NMEA fix is not ASCII")
    return [_checked(line.strip(), number) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _checked(text: str, number: int) -> str:
    """Check framing and checksum; the body between `$` and `*`."""
    address = text.removeprefix("$").partition(",")[0]
    name = address[2:] if len(address) == 5 and address.isalnum() else f"sentence {number}"
    if not text.startswith("$"):
        raise NativeFormatError(f"{name} does not start with '$'")
    body, star, given = text[1:].rpartition("*")
    if not star or len(given) != 2 or not set(given) <= set(string.hexdigits):
        raise NativeFormatError(f"{name} does not end with a '*hh' checksum")
    computed = checksum(body)
    if computed != int(given, 16):
        raise NativeFormatError(f"{name} checksum mismatch: sentence says {given.upper()}, computed {computed:02X}")
    return body


def _one(sentences: list[str], kind: str) -> str:
    found = [body for body in sentences if len(address := body.partition(",")[0]) == 5 and address.endswith(kind)]
    if not found:
        raise NativeFormatError(f"no {kind} sentence in the fix")
    if len(found) > 1:
        raise NativeFormatError(f"{len(found)} {kind} sentences in one fix")
    return found[0]


def _fields(body: str, kind: str, counts: tuple[int, ...]) -> list[str]:
    """Check the field count; the fields, index 0 being the address."""
    fields = body.split(",")
    if len(fields) - 1 not in counts:
        expected = " or ".join(str(count) for count in counts)
        raise NativeFormatError(f"{kind} has {len(fields) - 1} fields, expected {expected}")
    return fields


def _number(text: str, what: str, signed: bool = False) -> float:
    """A plain NMEA decimal (no exponent, no nan/inf, which `float` would accept)."""
    if not text:
        raise NativeFormatError(f"{what} is empty")
    if not (_SIGNED if signed else _UNSIGNED).fullmatch(text):
        raise NativeFormatError(f"{what} {text!r} is not {'a' if signed else 'a non-negative'} decimal number")
    return float(text)


def _optional_number(text: str, what: str) -> float | None:
    """Receivers leave a field empty when they do not know it (HDOP, course when standing still)."""
    return _number(text, what) if text else None


def _metres(text: str, unit: str, what: str) -> float:
    if unit != "M":
        raise NativeFormatError(f"{what} unit {unit!r} is not M (metres)")
    return _number(text, what, signed=True)


def _angle(text: str, hemisphere: str, what: str, degree_digits: int, signs: tuple[str, str]) -> float:
    """`ddmm.mmmm` (latitude) or `dddmm.mmmm` (longitude) with its hemisphere letter; `signs` names
    the positive then the negative hemisphere."""
    match = re.fullmatch(rf"([0-9]{{{degree_digits}}})([0-9]{{2}}(?:\.[0-9]*)?)", text)
    if match is None:
        raise NativeFormatError(f"{what} {text!r} is not {'d' * degree_digits}mm.mmmm")
    minutes = float(match[2])
    if minutes >= 60.0:
        raise NativeFormatError(f"{what} {text!r} has {minutes:g} minutes, not under 60")
    if hemisphere not in signs:
        raise NativeFormatError(f"{what} hemisphere {hemisphere!r} is neither {signs[0]} nor {signs[1]}")
    degrees = int(match[1]) + minutes / 60.0
    return degrees if hemisphere == signs[0] else -degrees


def _time_of_day(text: str, what: str) -> time:
    """`hhmmss.ss`, to the microsecond (further digits are dropped)."""
    match = _TIME_OF_DAY.fullmatch(text)
    if match is None:
        raise NativeFormatError(f"{what} {text!r} is not hhmmss.ss")
    microseconds = int(((match[4] or "") + "000000")[:6])
    try:
        return time(int(match[1]), int(match[2]), int(match[3]), microseconds)
    except ValueError as error:
        raise NativeFormatError(f"{what} {text!r} is not a time of day ({error})") from error


def _date(text: str) -> date:
    """RMC `ddmmyy`. GPS began in 1980, so years 80-99 are 1980-1999 and 00-79 are 2000-2079."""
    match = _DATE.fullmatch(text)
    if match is None:
        raise NativeFormatError(f"RMC date {text!r} is not ddmmyy")
    year = int(match[3])
    try:
        return date(year + (1900 if year >= 80 else 2000), int(match[2]), int(match[1]))
    except ValueError as error:
        raise NativeFormatError(f"RMC date {text!r} is not a date ({error})") from error


def _velocity(speed_knots: float | None, course_deg: float | None) -> tuple[float, float, float] | None:
    """Speed over ground along the course, in ENU. RMC has no vertical speed: up is taken as 0."""
    if speed_knots is None or course_deg is None:
        return None
    speed_mps = speed_knots * KNOT_MPS
    course_rad = math.radians(course_deg)
    return speed_mps * math.sin(course_rad), speed_mps * math.cos(course_rad), 0.0


class GpsAdapter(Adapter[bytes | str]):
    """Publishes a platform's NMEA fixes (one fix's sentences per `submit`) as PositionReports (blue
    force tracking). `platform_id` defaults to the source id without a `.gps` suffix."""

    kind = "position"
    integration = "nmea-gps"

    def __init__(
        self, source_id: str, broker: BrokerConfig | None = None, *, platform_id: str | None = None, **options: Any
    ) -> None:
        self.platform_id = platform_id or source_id.removesuffix(".gps")
        super().__init__(source_id, broker, **options)

    def translate(self, native: bytes | str) -> PositionReport:
        return translate(native, self.source, self.platform_id)
