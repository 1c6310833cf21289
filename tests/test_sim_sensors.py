"""Sensor models measured, not trusted: many scans of a purpose-built scene against the configured values."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import reduce

import numpy as np
import pymap3d
import pytest

from adapters import gps, radar
from adapters.radar import RadarScan
from bus.schema import Source, SourceKind
from simulators.engine import Emission, simulate
from simulators.native import GpsOutput, RadarOutput, TruthFrame
from simulators.scenario import Scenario, parse_scenario

SCANS = 600
N_NEAR, N_MID = 20, 10
R0, R_MAX = 4000.0, 8000.0


def _ring(count: int, radius: float, cls: str, prefix: str, offset_deg: float) -> str:
    """Stationary targets evenly spread in bearing at one range (18 deg apart: unambiguous to match)."""
    blocks = []
    for k in range(count):
        b = np.radians(offset_deg + 360.0 * k / count)
        blocks.append(
            f'[[targets]]\nid = "{prefix}{k}"\nclass = "{cls}"\n'
            f"start = [{radius * np.sin(b):.3f}, {radius * np.cos(b):.3f}]\nspeed_mps = 0\n"
        )
    return "\n".join(blocks)


SCENE = f"""
name = "sensor-test"
duration_s = {SCANS}
truth_rate_hz = 1
[origin]
lat = 54.0
lon = 10.0

{_ring(N_NEAR, 2000.0, "vehicle", "near", 0.0)}
{_ring(N_MID, (R0 + R_MAX) / 2, "vehicle", "mid", 9.0)}

[[radars]]
id = "noise"
position = [0, 0]
height_m = 0
max_range_m = {R_MAX}
r0_m = {R0}
pd0 = 0.8
sigma_range_m = 10
sigma_bearing_deg = 0.5
sigma_elevation_deg = 0.3
clutter_per_scan = 3
latency_s = 0.25
confusion = {{ vehicle = {{ vehicle = 1.0 }}, person = {{ person = 1.0 }}, uav = {{ uav = 1.0 }} }}

[[radars]]
id = "labels"
position = [0, 0]
max_range_m = {R_MAX}
r0_m = {R_MAX - 1}
pd0 = 1.0
dropout_prob = 0.2
clock_offset_s = -0.5
[radars.confusion]
vehicle = {{ vehicle = 0.6, person = 0.15, none = 0.25 }}
person = {{ person = 1.0 }}
uav = {{ uav = 1.0 }}

[[vehicles]]
id = "gps-car"
route = [[20000, 20000], [23000, 23000]]  # out of the radars' reach
speed_mps = 5
gps = {{ sigma_m = 3.0, sigma_vertical_m = 5.0 }}
"""


@pytest.fixture(scope="module")
def scene() -> tuple[Scenario, list[Emission]]:
    scenario = parse_scenario(SCENE, "sensor-test")
    return scenario, list(simulate(scenario))


def _scans(emissions: list[Emission], sensor_id: str) -> list[tuple[int, RadarScan]]:
    return [
        (e.emit_time_us, radar.parse(e.native.data))
        for e in emissions
        if isinstance(e.native, RadarOutput) and e.native.sensor_id == sensor_id
    ]


def _match(plots: np.ndarray, count: int, offset_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """Index of the target ring slot nearest in bearing, and the bearing error to it."""
    slot = np.round((plots - offset_deg) / (360.0 / count)) % count
    error = (plots - (offset_deg + slot * 360.0 / count) + 180.0) % 360.0 - 180.0
    return slot, error


def test_polar_noise_detection_rate_and_clutter(scene: tuple[Scenario, list[Emission]]) -> None:
    _, emissions = scene
    scans = _scans(emissions, "noise")
    assert len(scans) == SCANS
    near_range_err, near_bearing_err, near_hits, mid_hits, clutter = [], [], 0, 0, 0
    for _, scan in scans:
        for p in scan.plots:
            if p.label is None:
                clutter += 1
                continue
            if abs(p.range_m - 2000.0) < 200.0:
                near_hits += 1
                near_range_err.append(p.range_m - 2000.0)
                near_bearing_err.append(_match(np.array([p.azimuth_deg]), N_NEAR, 0.0)[1][0])
            else:
                mid_hits += 1
    assert np.std(near_range_err) == pytest.approx(10.0, rel=0.10)
    assert np.std(near_bearing_err) == pytest.approx(0.5, rel=0.10)
    assert abs(np.mean(near_range_err)) < 1.0
    # pd = pd0 inside r0, pd0 * (max - r) / (max - r0) beyond: half of pd0 midway.
    assert near_hits / (N_NEAR * SCANS) == pytest.approx(0.8, abs=0.03)
    assert mid_hits / (N_MID * SCANS) == pytest.approx(0.4, abs=0.03)
    assert clutter / SCANS == pytest.approx(3.0, rel=0.10)


def test_latency_is_emit_minus_observation(scene: tuple[Scenario, list[Emission]]) -> None:
    scenario, emissions = scene
    for k, (emit_us, scan) in enumerate(_scans(emissions, "noise")):
        assert scan.time_us == scenario.start_time_us + k * 1_000_000
        assert emit_us - scan.time_us == 250_000


def test_confusion_dropouts_and_clock_offset(scene: tuple[Scenario, list[Emission]]) -> None:
    scenario, emissions = scene
    scans = _scans(emissions, "labels")
    assert 1.0 - len(scans) / SCANS == pytest.approx(0.2, abs=0.03)
    for emit_us, scan in scans:
        true_us = scenario.start_time_us + scan.scan * 1_000_000
        assert scan.time_us == true_us - 500_000
        assert emit_us == true_us
    labels = [p.label for _, scan in scans for p in scan.plots]
    assert len(labels) == len(scans) * (N_NEAR + N_MID)
    for label, expected in (("vehicle", 0.6), ("person", 0.15), (None, 0.25)):
        assert labels.count(label) / len(labels) == pytest.approx(expected, abs=0.03)
    confidences = {p.label: p.label_confidence for _, scan in scans for p in scan.plots}
    assert confidences == {"vehicle": 1.0, "person": pytest.approx(1.0 / 1.15), None: 0.0}


def _nmea_fields(sentence: bytes) -> list[str]:
    body, checksum = sentence.decode("ascii")[1:].split("*")
    assert sentence[:1] == b"$"
    assert int(checksum, 16) == reduce(lambda acc, ch: acc ^ ord(ch), body, 0)
    return body.split(",")


def _angle(value: str, hemisphere: str, degree_digits: int) -> float:
    sign = -1.0 if hemisphere in "SW" else 1.0
    return sign * (int(value[:degree_digits]) + float(value[degree_digits:]) / 60.0)


def test_gps_nmea_checksums_and_accuracy(scene: tuple[Scenario, list[Emission]]) -> None:
    _, emissions = scene
    gps_source = Source(id="gps-car.gps", kind=SourceKind.POSITION)
    truth = {
        e.native.time_us: next(o for o in e.native.objects if o.platform_id == "gps-car")
        for e in emissions
        if isinstance(e.native, TruthFrame)
    }
    fixes = [e.native for e in emissions if isinstance(e.native, GpsOutput)]
    assert len(fixes) == SCANS
    errors = []
    for fix in fixes:
        gga_line, rmc_line, nothing = fix.data.split(b"\r\n")  # one GGA and one RMC, each ended by CR LF
        assert nothing == b""
        gga, rmc = _nmea_fields(gga_line), _nmea_fields(rmc_line)
        assert gga[0] == "GPGGA" and rmc[0] == "GPRMC" and gga[1] == rmc[1]
        stamp = datetime.strptime(rmc[9] + gga[1], "%d%m%y%H%M%S.%f").replace(tzinfo=UTC)
        true = truth[round(stamp.timestamp() * 1e6)]
        lat, lon = _angle(gga[2], gga[3], 2), _angle(gga[4], gga[5], 3)
        assert _angle(rmc[3], rmc[4], 2) == lat and _angle(rmc[5], rmc[6], 3) == lon
        e, n, _ = pymap3d.geodetic2enu(lat, lon, float(gga[9]), true.latitude_deg, true.longitude_deg, true.altitude_m)
        errors.append((e, n, float(gga[9]) - true.altitude_m))
        assert (gga[11], gga[12]) == ("0.0", "M")
        report = gps.translate(fix.data, gps_source, "gps-car")  # the adapter reads the same bytes
        assert (report.position.lat, report.position.lon) == pytest.approx((lat, lon), abs=1e-12)
        speed = np.hypot(*true.velocity_enu_mps[:2]) * 3600 / 1852
        if speed > 0:
            assert float(rmc[7]) == pytest.approx(speed, abs=0.01)
            assert float(rmc[8]) == pytest.approx(45.0, abs=0.05)
    err = np.array(errors)
    assert np.std(err[:, 0]) == pytest.approx(3.0, rel=0.10)
    assert np.std(err[:, 1]) == pytest.approx(3.0, rel=0.10)
    assert np.std(err[:, 2]) == pytest.approx(5.0, rel=0.10)
    assert np.abs(err[:, :2]).max() < 5 * 3.0


IDENTIFY_SCANS = 400
IDENTIFY = """
name = "identify-test"
duration_s = {scans}
[origin]
lat = 54.0
lon = 10.0
{targets}
[[radars]]
id = "idents"
position = [0, 0]
max_range_m = 5000
r0_m = 4999
pd0 = 1.0
[radars.identification]
hostile = {{ hostile = 0.7, neutral = 0.1, none = 0.2 }}
neutral = {{ neutral = 0.5, hostile = 0.05, none = 0.45 }}
friendly = {{ friendly = 0.9, hostile = 0.02, none = 0.08 }}
unknown = {{ none = 1.0 }}
"""


def test_identification_calls_follow_the_matrix_per_true_disposition() -> None:
    dispositions = ("hostile", "neutral", "friendly", "unknown")  # at bearings 0, 90, 180, 270
    targets = "\n".join(
        f'[[targets]]\nid = "{d}"\nclass = "vehicle"\ndisposition = "{d}"\n'
        f"start = [{1000 * np.sin(np.radians(90 * k)):.3f}, {1000 * np.cos(np.radians(90 * k)):.3f}]\nspeed_mps = 0\n"
        for k, d in enumerate(dispositions)
    )
    scenario = parse_scenario(IDENTIFY.format(scans=IDENTIFY_SCANS, targets=targets), "identify-test")
    calls: dict[str, list[str | None]] = {d: [] for d in dispositions}
    for _, scan in _scans(list(simulate(scenario)), "idents"):
        for p in scan.plots:
            calls[dispositions[round(p.azimuth_deg / 90.0) % 4]].append(p.identity)
    assert {d: len(c) for d, c in calls.items()} == dict.fromkeys(dispositions, IDENTIFY_SCANS)
    expected: dict[str, dict[str | None, float]] = {
        "hostile": {"hostile": 0.7, "neutral": 0.1, None: 0.2},
        "neutral": {"neutral": 0.5, "hostile": 0.05, None: 0.45},
        "friendly": {"friendly": 0.9, "hostile": 0.02, None: 0.08},
        "unknown": {None: 1.0},
    }
    for truth, row in expected.items():
        assert set(calls[truth]) == set(row)
        for call, share in row.items():
            assert calls[truth].count(call) / IDENTIFY_SCANS == pytest.approx(share, abs=0.05)
