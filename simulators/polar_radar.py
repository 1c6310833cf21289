"""The radar maker's own scan format ("polar-radar/1"): one UTF-8 JSON document per scan.

There is no open standard the project's radars speak (ASTERIX CAT 048 would be the real one, but it
carries no classifier label nor per-sensor measurement sigmas); the format is specified where it is
parsed, in `adapters/radar.py`. Numbers are written at full double precision (JSON round-trips them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

FORMAT = "polar-radar/1"


@dataclass(frozen=True, slots=True)
class Plot:
    range_m: float
    azimuth_deg: float  # clockwise from true north
    elevation_deg: float
    snr_db: float
    label: str | None
    label_confidence: float
    identity: str | None = None  # the identification call ("hostile", "neutral", "friendly"), None: no call


def scan(
    sensor_id: str,
    scan_index: int,
    time_us: int,
    site: tuple[float, float, float],
    accuracy: tuple[float, float, float],
    plots: list[Plot],
    coverage: tuple[float, float, float, float, float],
) -> bytes:
    """One scan document: `site` is (lat, lon, altitude MSL), `accuracy` the 1-sigma (range m,
    azimuth deg, elevation deg) of every plot, `coverage` the sector scanned (first azimuth and
    last, clockwise, degrees; range m), the detection probability inside it and the mean number of
    false plots per scan inside it."""
    document = {
        "fmt": FORMAT,
        "sensor": sensor_id,
        "scan": scan_index,
        "t_us": time_us,
        "site": {"lat": site[0], "lon": site[1], "alt_msl": site[2]},
        "acc": {"rng": accuracy[0], "az": accuracy[1], "el": accuracy[2]},
        "cov": {"az_from": coverage[0], "az_to": coverage[1], "rng": coverage[2], "pd": coverage[3], "fa": coverage[4]},
        "plots": [_plot(plot) for plot in plots],
    }
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


def _plot(plot: Plot) -> dict[str, object]:
    """One plot; `idn` only when the radar made an identification call."""
    fields: dict[str, object] = {
        "rng": plot.range_m,
        "az": plot.azimuth_deg,
        "el": plot.elevation_deg,
        "snr": plot.snr_db,
        "cls": plot.label,
        "cls_p": plot.label_confidence,
    }
    if plot.identity is not None:
        fields["idn"] = plot.identity
    return fields
