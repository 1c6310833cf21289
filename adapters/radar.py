"""Radar adapter: one scan in the maker's "polar-radar/1" JSON format -> one `SensorReading`.

There is no open standard these radars speak. ASTERIX CAT 048 (monoradar target reports) would be
the real one; it was not used: CAT 048 carries neither a classifier label nor per-plot measurement
sigmas, and no ASTERIX codec from a registry was evaluated for this project. The format, as the
maker specifies it: one UTF-8 JSON object per scan,

    {"fmt": "polar-radar/1",              format and version: exactly this string
     "sensor": "radar-1",                 the radar's own name (informational)
     "scan": 42,                          scan counter, integer >= 0
     "t_us": 1700000000123456,            the radar's clock at the scan, integer us since 1970 UTC
     "site": {"lat": 51.5, "lon": -0.1, "alt_msl": 35.0},         degrees, degrees, metres MSL
     "acc": {"rng": 15.0, "az": 0.5, "el": 1.0},                  1-sigma: metres, degrees, degrees
     "cov": {"az_from": 300.0, "az_to": 60.0, "rng": 7000.0,       optional: the sector scanned,
             "pd": 0.9, "fa": 2.0},                                clockwise; metres; detection prob.;
                                                                   optional: mean false plots per
                                                                   scan inside the sector
     "plots": [{"rng": 1234.5, "az": 90.0, "el": 2.5,             metres; degrees clockwise from
                "snr": 17.0, "cls": "vehicle", "cls_p": 0.8,        true north; degrees up; dB;
                "idn": "hostile"}]}                                classifier label or null, [0, 1];
                                                                   optional: identification call
                                                                   (hostile, neutral, friendly), absent
                                                                   or null when the radar made none

Numbers are JSON numbers (no NaN or infinities); other keys are ignored (a maker's later version
may add some). Every defect raises NativeFormatError naming the field, e.g.
`radar scan field plots[3].az: expected a number, got "east"`.

Plots stay polar (bearing clockwise from true north, as the native gives it): the fusion core owns
the conversion to Cartesian, where the sensor's pose and the plot's uncertainty meet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from adapters.base import Adapter
from adapters.common import class_probabilities, declared, point_from_msl, schema_checked, utc_from_us, wrap_360
from adapters.errors import NativeFormatError
from bus.schema import Coverage, Detection, PolarMeasurement, Sector, SensorReading, Source

FORMAT = "polar-radar/1"
MAX_SCAN_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RadarPlot:
    range_m: float
    azimuth_deg: float  # clockwise from true north
    elevation_deg: float
    snr_db: float
    label: str | None
    label_confidence: float
    identity: str | None = None


@dataclass(frozen=True, slots=True)
class RadarScan:
    """One scan as parsed from the maker's format (this adapter's own type)."""

    sensor: str
    scan: int
    time_us: int
    latitude_deg: float
    longitude_deg: float
    altitude_msl_m: float
    sigma_range_m: float
    sigma_azimuth_deg: float
    sigma_elevation_deg: float
    plots: tuple[RadarPlot, ...]
    coverage: tuple[float, float, float, float, float | None] | None = None
    """The sector scanned (first and last azimuth clockwise, range), the Pd in it and the mean number
    of false plots per scan in it (None: not stated), if given."""


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse(data: bytes | str) -> RadarScan:
    """Parse one scan document; raises NativeFormatError naming the field at fault."""
    if len(data) > MAX_SCAN_BYTES:
        raise NativeFormatError(f"radar scan is {len(data)} bytes, more than {MAX_SCAN_BYTES}")
    try:
        document = json.loads(data, parse_constant=_reject_constant)
    except UnicodeDecodeError as error:
        raise NativeFormatError(f"radar scan is not UTF-8: {error.reason} at byte {error.start}") from error
    except RecursionError as error:
        raise NativeFormatError("radar scan is not valid JSON: nested too deeply") from error
    except ValueError as error:  # json.JSONDecodeError
        raise NativeFormatError(f"radar scan is not valid JSON: {error}") from error
    top = _object(document, "")
    if top.get("fmt") != FORMAT:
        raise NativeFormatError(f"radar scan field fmt: expected {FORMAT!r}, got {_shown(top.get('fmt'))}")
    site, accuracy = _object(top.get("site"), "site"), _object(top.get("acc"), "acc")
    plots = top.get("plots")
    if not isinstance(plots, list):
        raise NativeFormatError(f"radar scan field plots: expected a list, got {_shown(plots)}")
    return RadarScan(
        sensor=_text(top.get("sensor"), "sensor"),
        scan=_integer(top.get("scan"), "scan", minimum=0),
        time_us=_integer(top.get("t_us"), "t_us"),
        latitude_deg=_number(site, "lat", "site."),
        longitude_deg=_number(site, "lon", "site."),
        altitude_msl_m=_number(site, "alt_msl", "site."),
        sigma_range_m=_number(accuracy, "rng", "acc."),
        sigma_azimuth_deg=_number(accuracy, "az", "acc."),
        sigma_elevation_deg=_number(accuracy, "el", "acc."),
        plots=tuple(_plot(_object(plot, f"plots[{i}]"), f"plots[{i}].") for i, plot in enumerate(plots)),
        coverage=None if top.get("cov") is None else _coverage(_object(top.get("cov"), "cov")),
    )


def _coverage(cov: Mapping[str, Any]) -> tuple[float, float, float, float, float | None]:
    return (
        _number(cov, "az_from", "cov."),
        _number(cov, "az_to", "cov."),
        _number(cov, "rng", "cov."),
        _number(cov, "pd", "cov."),
        None if cov.get("fa") is None else _number(cov, "fa", "cov."),
    )


def _plot(plot: Mapping[str, Any], path: str) -> RadarPlot:
    label = plot.get("cls")
    if label is not None and not isinstance(label, str):
        raise NativeFormatError(f"radar scan field {path}cls: expected a string or null, got {_shown(label)}")
    identity = plot.get("idn")
    if identity is not None and not isinstance(identity, str):
        raise NativeFormatError(f"radar scan field {path}idn: expected a string or null, got {_shown(identity)}")
    return RadarPlot(
        range_m=_number(plot, "rng", path),
        azimuth_deg=_number(plot, "az", path),
        elevation_deg=_number(plot, "el", path),
        snr_db=_number(plot, "snr", path),
        label=label,
        label_confidence=_number(plot, "cls_p", path),
        identity=identity,
    )


def _shown(value: object) -> str:
    return "nothing" if value is None else json.dumps(value)[:40]


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        where = f"radar scan field {path}" if path else "radar scan"
        raise NativeFormatError(f"{where}: expected an object, got {_shown(value)}")
    return value


def _text(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise NativeFormatError(f"radar scan field {path}: expected a string, got {_shown(value)}")
    return value


def _integer(value: object, path: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NativeFormatError(f"radar scan field {path}: expected an integer, got {_shown(value)}")
    if minimum is not None and value < minimum:
        raise NativeFormatError(f"radar scan field {path}: {value} is less than {minimum}")
    return value


def _number(container: Mapping[str, Any], key: str, path: str) -> float:
    value = container.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise NativeFormatError(f"radar scan field {path}{key}: expected a number, got {_shown(value)}")
    number = float(value) if isinstance(value, float) or abs(value) < 2**53 else math.inf
    if not math.isfinite(number):
        raise NativeFormatError(f"radar scan field {path}{key}: {value} is too large")
    return number


def translate(data: bytes | str, source: Source) -> SensorReading:
    """Parse and translate one scan. `time` is the sensor's own clock as reported (any offset is left
    for fusion to estimate); the site altitude is MSL, taken as HAE (see `GEOID_SEPARATION_M`).

    Raises NativeFormatError when the document is malformed or a value does not fit the schema.
    """
    scan = parse(data)
    with schema_checked("radar scan"):
        return SensorReading(
            source=source,
            time=utc_from_us(scan.time_us),
            sensor_position=point_from_msl(scan.latitude_deg, scan.longitude_deg, scan.altitude_msl_m),
            scan_id=scan.scan,
            coverage=_sector(scan.coverage),
            detections=[_detection(plot, scan) for plot in scan.plots],
        )


def _sector(coverage: tuple[float, float, float, float, float | None] | None) -> Coverage | None:
    """The scan's coverage; a scan that does not say where it looked reports contacts only."""
    if coverage is None:
        return None
    first, last, reach, pd, false_alarms = coverage
    sector = Sector(bearing_from_deg=wrap_360(first), bearing_to_deg=wrap_360(last), max_range_m=reach)
    return Coverage(sector=sector, detection_probability=pd, false_alarms=false_alarms)


def _detection(plot: RadarPlot, scan: RadarScan) -> Detection:
    return Detection(
        polar=PolarMeasurement(
            range_m=plot.range_m,
            bearing_deg=wrap_360(plot.azimuth_deg),
            elevation_deg=plot.elevation_deg,
            sigma_range_m=scan.sigma_range_m,
            sigma_bearing_deg=scan.sigma_azimuth_deg,
            sigma_elevation_deg=scan.sigma_elevation_deg,
        ),
        class_probabilities=class_probabilities(plot.label, plot.label_confidence),
        disposition=declared(plot.identity),
        snr_db=plot.snr_db,
    )


class RadarAdapter(Adapter[bytes]):
    """Publishes a polar radar's scans ("polar-radar/1" documents), one SensorReading per scan."""

    kind = "sensor"
    integration = "polar-radar"

    def translate(self, native: bytes) -> SensorReading:
        return translate(native, self.source)
