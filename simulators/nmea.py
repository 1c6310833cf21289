"""NMEA 0183 GGA and RMC sentences, as a GPS receiver writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce

KNOT_MPS = 1852.0 / 3600.0


def checksum(body: str) -> str:
    """XOR of every character between '$' and '*', as two upper-case hex digits."""
    return f"{reduce(lambda acc, ch: acc ^ ord(ch), body, 0):02X}"


def _sentence(body: str) -> str:
    return f"${body}*{checksum(body)}"


def _angle(value_deg: float, degree_digits: int, hemispheres: str) -> tuple[str, str]:
    """ddmm.mmmm / dddmm.mmmm, rounded in whole units of 1e-4 minute so 59.99995' never prints as 60'."""
    units = round(abs(value_deg) * 60.0 * 10_000)
    degrees, rest = divmod(units, 60 * 10_000)
    minutes, fraction = divmod(rest, 10_000)
    hemisphere = hemispheres[0] if value_deg >= 0.0 else hemispheres[1]
    return f"{degrees:0{degree_digits}d}{minutes:02d}.{fraction:04d}", hemisphere


def _clock(time_us: int) -> tuple[str, str]:
    """UTC time hhmmss.ss and date ddmmyy of a microsecond time stamp."""
    centis = (time_us + 5_000) // 10_000
    seconds, hundredths = divmod(centis, 100)
    moment = datetime.fromtimestamp(seconds, UTC)
    return f"{moment:%H%M%S}.{hundredths:02d}", f"{moment:%d%m%y}"


def gga(time_us: int, lat_deg: float, lon_deg: float, altitude_msl_m: float) -> str:
    """GPS fix data: quality 1 (GPS fix), 10 satellites, HDOP 0.9, geoid separation 0.0."""
    hhmmss, _ = _clock(time_us)
    lat, ns = _angle(lat_deg, 2, "NS")
    lon, ew = _angle(lon_deg, 3, "EW")
    return _sentence(f"GPGGA,{hhmmss},{lat},{ns},{lon},{ew},1,10,0.9,{altitude_msl_m:.1f},M,0.0,M,,")


def rmc(time_us: int, lat_deg: float, lon_deg: float, speed_mps: float, course_deg: float) -> str:
    """Recommended minimum data: status A, speed over ground in knots, course over ground in degrees
    true, no magnetic variation, mode A (autonomous)."""
    hhmmss, ddmmyy = _clock(time_us)
    lat, ns = _angle(lat_deg, 2, "NS")
    lon, ew = _angle(lon_deg, 3, "EW")
    knots = speed_mps / KNOT_MPS
    course = round(course_deg, 1) % 360.0
    return _sentence(f"GPRMC,{hhmmss},A,{lat},{ns},{lon},{ew},{knots:.2f},{course:.1f},{ddmmyy},,,A")
