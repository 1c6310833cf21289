"""The adapters' pure translations from native bytes: hand-computed unit conversions, exact error
messages for bad native input, fuzzed input (arbitrary bytes give envelopes or NativeFormatError,
never another exception), and a codec round trip of every translated message."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters import gps, radar, video
from adapters import klv as klv_decoder
from adapters.base import SourceTranslator
from adapters.common import class_probabilities, utc_from_us, wrap_180, wrap_360
from adapters.errors import NativeFormatError
from adapters.klv import MisbFrame
from bus import codec
from bus.schema import (
    BoundingBox,
    Disposition,
    Envelope,
    GeoPoint,
    ObjectClass,
    PositionReport,
    SensorReading,
    Source,
    SourceKind,
    VideoMetadata,
)
from simulators import klv
from tests import strategies

# The textbook NMEA example pair, checksums as published: 12:35:19 UTC on 23 March 1994,
# 48 07.038' N 11 31.000' E, 545.4 m MSL, geoid 46.9 m, HDOP 0.9, 22.4 kn on course 84.4.
GGA = "$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47"
RMC = "$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A"
GGA_FIELDS = GGA[1:-3].split(",")
RMC_FIELDS = RMC[1:-3].split(",")
V = 11.5236  # the pair's 22.4 kn in m/s: 22.4 * 1852 m / 3600 s

T0_US = 1_700_000_000_123_456
T0 = datetime(2023, 11, 14, 22, 13, 20, 123_456, tzinfo=UTC)


def sentence(fields: list[str]) -> str:
    """A sentence with a correct checksum, so the test reaches the field it is about."""
    body = ",".join(fields)
    return f"${body}*{gps.checksum(body):02X}"


def replaced(fields: list[str], **changes: str) -> list[str]:
    """`fields` with some replaced by index, e.g. replaced(GGA_FIELDS, f6="0")."""
    result = list(fields)
    for key, value in changes.items():
        result[int(key[1:])] = value
    return result


def gps_fix(gga: str = GGA, rmc: str = RMC) -> bytes:
    """One fix as a receiver writes it: the sentences, each ended by CR LF."""
    return f"{gga}\r\n{rmc}\r\n".encode()


def plot(**changes: object) -> dict[str, Any]:
    values: dict[str, object] = {"rng": 1234.5, "az": 90.0, "el": 2.5, "snr": 17.0, "cls": "vehicle", "cls_p": 0.8}
    return {**values, **changes}


def misb(**changes: object) -> dict[int, Any]:
    """ST 0601 tag -> engineering value, as the simulator's encoder takes them (None: tag not sent)."""
    values: dict[int, Any] = {
        2: T0_US,
        10: "MQ-9",
        5: 45.0,
        6: -3.0,
        7: 12.0,
        13: 52.1,
        14: 4.3,
        15: 1500.0,
        16: 20.0,
        17: 11.25,
        18: 270.0,
        19: -30.0,
        20: 0.0,
        21: 2900.0,
        23: 52.12,
        24: 4.28,
        25: 3.0,
        **{82 + 2 * k: lat for k, lat in enumerate((52.13, 52.13, 52.11, 52.11))},
        **{83 + 2 * k: lon for k, lon in enumerate((4.27, 4.29, 4.29, 4.27))},
        3: "OP-7",
    }
    return {**values, **{int(tag.removeprefix("t")): value for tag, value in changes.items()}}


DETECTION = klv.Target(
    box=(0.1, 0.2, 0.3, 0.4),
    label="person",
    confidence=0.7,
    latitude_deg=52.121,
    longitude_deg=4.281,
    hae_m=3.0,
    sigma_horizontal_m=5.0,
    sigma_vertical_m=10.0,
)


def video_frame(targets: tuple[klv.Target, ...] = (DETECTION,), **changes: object) -> bytes:
    """A KLV packet from the simulator's encoder; `changes` by tag, e.g. video_frame(t5=370.0)."""
    return klv.packet(misb(**changes), targets)


def translate_video(data: bytes) -> VideoMetadata:
    return video.translate(data, VIDEO, "drone-1", "drone-1.eo")


RADAR = Source(id="radar-1", kind=SourceKind.SENSOR, integration="acme-radar")
GPS = Source(id="gps-1", kind=SourceKind.POSITION, integration="nmea")
VIDEO = Source(id="drone-1", kind=SourceKind.VIDEO, integration="misb")


# --- shared conventions ---------------------------------------------------------------------------


def test_microseconds_become_an_exact_utc_datetime() -> None:
    assert utc_from_us(T0_US) == T0
    assert utc_from_us(-1) == datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)


def test_a_time_stamp_beyond_the_calendar_is_a_native_format_error() -> None:
    with pytest.raises(NativeFormatError, match=r"^time stamp 10{20} us is outside the representable range$"):
        utc_from_us(10**20)


@pytest.mark.parametrize(
    ("label", "confidence", "expected"),
    [
        ("vehicle", 0.8, {ObjectClass.VEHICLE: 0.8}),
        ("person", 0.6, {ObjectClass.PERSON: 0.6}),
        ("uav", 0.9, {ObjectClass.UAV: 0.9}),
        ("balloon", 0.9, {}),
        (None, 0.0, {}),
    ],
)
def test_maker_labels_map_to_classes_and_unknown_labels_to_no_evidence(
    label: str | None, confidence: float, expected: dict[ObjectClass, float]
) -> None:
    assert class_probabilities(label, confidence) == expected


@pytest.mark.parametrize(
    ("degrees", "in_360", "in_180"),
    [
        (0.0, 0.0, 0.0),
        (90.0, 90.0, 90.0),
        (360.0, 0.0, 0.0),
        (-90.0, 270.0, -90.0),
        (200.0, 200.0, -160.0),
        (-1e-20, 0.0, 0.0),
        (180.0, 180.0, -180.0),
    ],
)
def test_angles_wrap_into_the_schema_ranges(degrees: float, in_360: float, in_180: float) -> None:
    assert wrap_360(degrees) == in_360
    assert wrap_180(degrees) == in_180


# --- radar ------------------------------------------------------------------------------------------


def radar_scan(*plots: object, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "fmt": "polar-radar/1",
        "sensor": "radar-1",
        "scan": 42,
        "t_us": T0_US,
        "site": {"lat": 51.5, "lon": -0.1, "alt_msl": 35.0},
        "acc": {"rng": 15.0, "az": 0.5, "el": 1.0},
        "plots": list(plots),
    }
    return {**document, **changes}


def scan_bytes(*plots: object, **changes: Any) -> bytes:
    return json.dumps(radar_scan(*plots, **changes)).encode()


def test_radar_scan_becomes_one_reading_with_polar_detections() -> None:
    reading = radar.translate(scan_bytes(plot(), plot(cls=None, cls_p=0.0)), RADAR)

    assert reading.source == RADAR
    assert (reading.seq, reading.session) == (0, 0)
    assert reading.time == T0
    assert reading.scan_id == 42
    assert reading.sensor_position == GeoPoint(lat=51.5, lon=-0.1, hae_m=35.0)  # MSL = HAE in the simulation
    first, second = reading.detections
    assert first.geo is None and first.polar is not None
    assert first.polar.range_m == 1234.5
    assert first.polar.bearing_deg == 90.0  # still clockwise from north: east
    assert first.polar.elevation_deg == 2.5
    assert (first.polar.sigma_range_m, first.polar.sigma_bearing_deg, first.polar.sigma_elevation_deg) == (
        15.0,
        0.5,
        1.0,
    )
    assert first.class_probabilities == {ObjectClass.VEHICLE: 0.8}
    assert first.snr_db == 17.0
    assert second.class_probabilities == {}


def test_radar_accepts_text_integers_and_unknown_keys() -> None:
    document = radar_scan(plot(rng=1000, extra="ignored"), vendor_note="v2 field")
    reading = radar.translate(json.dumps(document), RADAR)
    assert reading.detections[0].polar is not None and reading.detections[0].polar.range_m == 1000.0


def test_radar_unknown_label_gives_no_probabilities() -> None:
    reading = radar.translate(scan_bytes(plot(cls="balloon", cls_p=0.9)), RADAR)
    assert reading.detections[0].class_probabilities == {}


def test_radar_identification_calls_become_dispositions() -> None:
    plots = (plot(idn="hostile"), plot(idn="neutral"), plot(idn="friendly"), plot(idn=None), plot(), plot(idn="pal"))
    reading = radar.translate(scan_bytes(*plots), RADAR)
    assert [d.disposition for d in reading.detections] == [
        Disposition.HOSTILE,
        Disposition.NEUTRAL,
        Disposition.FRIENDLY,
        None,  # no call, or a call outside the vocabulary, is no evidence (never "unknown")
        None,
        None,
    ]


def test_radar_coverage_carries_its_detection_probability_and_stated_clutter() -> None:
    sector = {"az_from": 300.0, "az_to": 60.0, "rng": 7000.0, "pd": 0.8}
    stated = radar.translate(scan_bytes(cov={**sector, "fa": 2.5}), RADAR).coverage
    assert stated is not None and (stated.detection_probability, stated.false_alarms) == (0.8, 2.5)
    unstated = radar.translate(scan_bytes(cov=sector), RADAR).coverage
    assert unstated is not None and unstated.false_alarms is None


def test_radar_bearing_of_360_wraps_to_north() -> None:
    reading = radar.translate(scan_bytes(plot(az=360.0)), RADAR)
    assert reading.detections[0].polar is not None
    assert reading.detections[0].polar.bearing_deg == 0.0


def test_radar_value_outside_the_schema_is_a_native_format_error() -> None:
    with pytest.raises(NativeFormatError) as raised:
        radar.translate(scan_bytes(plot(rng=-1.0)), RADAR)
    assert str(raised.value) == (
        "radar scan does not fit the schema: PolarMeasurement.range_m: -1.0 is not in [0, inf]"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "radar scan is not valid JSON: Expecting value: line 1 column 1 (char 0)"),
        (scan_bytes()[:-1], "radar scan is not valid JSON: Expecting ',' delimiter: line 1 column 193 (char 192)"),
        (b"\xff{}", "radar scan is not UTF-8: invalid start byte at byte 0"),
        (b"[1, 2]", "radar scan: expected an object, got [1, 2]"),
        (b'{"t_us": NaN}', "radar scan is not valid JSON: NaN is not a JSON number"),
        (b"[" * 100_000, "radar scan is not valid JSON: nested too deeply"),
        (scan_bytes(fmt="polar-radar/2"), "radar scan field fmt: expected 'polar-radar/1', got \"polar-radar/2\""),
        (scan_bytes(fmt=None), "radar scan field fmt: expected 'polar-radar/1', got nothing"),
        (scan_bytes(sensor=7), "radar scan field sensor: expected a string, got 7"),
        (scan_bytes(scan=-1), "radar scan field scan: -1 is less than 0"),
        (scan_bytes(scan=True), "radar scan field scan: expected an integer, got true"),
        (scan_bytes(t_us=1.5e15), "radar scan field t_us: expected an integer, got 1500000000000000.0"),
        (scan_bytes(site=None), "radar scan field site: expected an object, got nothing"),
        (scan_bytes(site={"lat": 51.5, "lon": "W"}), 'radar scan field site.lon: expected a number, got "W"'),
        (scan_bytes(acc={"rng": 15.0, "az": 0.5}), "radar scan field acc.el: expected a number, got nothing"),
        (scan_bytes(plots={}), "radar scan field plots: expected a list, got {}"),
        (scan_bytes(plot(), 3), "radar scan field plots[1]: expected an object, got 3"),
        (scan_bytes(plot(), plot(az="east")), 'radar scan field plots[1].az: expected a number, got "east"'),
        (scan_bytes(plot(cls=1)), "radar scan field plots[0].cls: expected a string or null, got 1"),
        (
            scan_bytes(plot(idn=["hostile"])),
            'radar scan field plots[0].idn: expected a string or null, got ["hostile"]',
        ),
        (scan_bytes(plot(snr=10**400)), "radar scan field plots[0].snr: " + "1" + "0" * 400 + " is too large"),
        (
            scan_bytes(cov={"az_from": 0.0, "az_to": 0.0, "rng": 7000.0, "pd": 0.9, "fa": "few"}),
            'radar scan field cov.fa: expected a number, got "few"',
        ),
        (
            scan_bytes(cov={"az_from": 0.0, "az_to": 0.0, "rng": 7000.0, "pd": 0.9, "fa": -2.0}),
            "radar scan does not fit the schema: Coverage.false_alarms: -2.0 is not in [0, inf]",
        ),
        (
            scan_bytes(site={"lat": 91.0, "lon": 0.0, "alt_msl": 0.0}),
            "radar scan does not fit the schema: GeoPoint.lat: 91.0 is not in [-90, 90]",
        ),
        (scan_bytes(t_us=10**20), "time stamp 100000000000000000000 us is outside the representable range"),
    ],
)
def test_malformed_radar_scans_are_rejected_naming_the_field(data: bytes, message: str) -> None:
    with pytest.raises(NativeFormatError) as raised:
        radar.translate(data, RADAR)
    assert str(raised.value) == message


# --- GPS ----------------------------------------------------------------------------------------------


def test_the_textbook_nmea_pair() -> None:
    report = gps.translate(gps_fix(), GPS, "blue-1")

    assert report.source == GPS
    assert report.platform_id == "blue-1"
    assert report.time == datetime(1994, 3, 23, 12, 35, 19, tzinfo=UTC)
    assert report.position.lat == pytest.approx(48.1173, abs=1e-9)  # 48 + 7.038 / 60
    assert report.position.lon == pytest.approx(11.516666, abs=1e-6)  # 11 + 31 / 60
    assert report.position.hae_m == pytest.approx(545.4 + 46.9)  # HAE = MSL + geoid separation
    assert report.ce_m == pytest.approx(0.9 * gps.UERE_M)
    assert report.heading_deg == 84.4
    assert report.velocity_enu_mps is not None
    east, north, up = report.velocity_enu_mps
    assert (east**2 + north**2) ** 0.5 == pytest.approx(V, abs=1e-4)
    assert north == pytest.approx(V * 0.0976, abs=1e-3)  # cos(84.4 deg) = 0.0976
    assert up == 0.0


@pytest.mark.parametrize(
    ("course", "expected"),
    [
        ("090.0", (V, 0.0, 0.0)),
        ("000.0", (0.0, V, 0.0)),
        ("180.0", (0.0, -V, 0.0)),
        ("270.0", (-V, 0.0, 0.0)),
    ],
)
def test_course_over_ground_becomes_an_enu_velocity(course: str, expected: tuple[float, float, float]) -> None:
    report = gps.translate(gps_fix(rmc=sentence(replaced(RMC_FIELDS, f8=course))), GPS, "blue-1")
    assert report.velocity_enu_mps == pytest.approx(expected, abs=1e-4)
    assert report.heading_deg == float(course) % 360


def test_southern_and_western_hemispheres_are_negative_and_fractions_of_a_second_kept() -> None:
    gga = sentence(replaced(GGA_FIELDS, f1="235959.25", f3="S", f5="W", f9="-12.5", f11="-30.0"))
    rmc = sentence(replaced(RMC_FIELDS, f1="235959.25", f9="010180"))
    report = gps.translate(gps_fix(gga, rmc), GPS, "blue-1")
    assert (report.position.lat, report.position.lon) == pytest.approx((-48.1173, -11.516666), abs=1e-6)
    assert report.position.hae_m == pytest.approx(-42.5)
    assert report.time == datetime(1980, 1, 1, 23, 59, 59, 250_000, tzinfo=UTC)


def test_empty_optional_fields_leave_their_values_out() -> None:
    gga = sentence(replaced(GGA_FIELDS, f8=""))
    rmc = sentence(replaced(RMC_FIELDS, f8=""))
    report = gps.translate(gps_fix(gga, rmc), GPS, "blue-1")
    assert (report.ce_m, report.velocity_enu_mps, report.heading_deg) == (None, None, None)


def test_sentences_may_end_with_cr_lf_and_use_lower_case_checksums() -> None:
    report = gps.translate(gps_fix(GGA + "\r\n", RMC[:-2] + "6a\r\n"), GPS, "blue-1")
    assert report.time == datetime(1994, 3, 23, 12, 35, 19, tzinfo=UTC)


@pytest.mark.parametrize(
    ("gga", "rmc", "message"),
    [
        (GGA[:-2] + "4A", RMC, "GGA checksum mismatch: sentence says 4A, computed 47"),
        (GGA, RMC[:-2] + "00", "RMC checksum mismatch: sentence says 00, computed 6A"),
        (sentence(replaced(GGA_FIELDS, f6="0")), RMC, "GGA has no fix (quality 0)"),
        (GGA, sentence(replaced(RMC_FIELDS, f2="V")), "RMC status V (void)"),
        (GGA, sentence(replaced(RMC_FIELDS, f2="X")), "RMC status 'X' is neither A (valid) nor V (void)"),
        (sentence(GGA_FIELDS[:10]), RMC, "GGA has 9 fields, expected 14"),
        (GGA, sentence(RMC_FIELDS[:8]), "RMC has 7 fields, expected 11 or 12 or 13"),
        (RMC, RMC, "no GGA sentence in the fix"),
        (GGA, GGA, "2 GGA sentences in one fix"),
        (GGA[1:], RMC, "GGA does not start with '$'"),
        (GGA[:-3], RMC, "GGA does not end with a '*hh' checksum"),
        ("$GPGGA,é*00", RMC, "NMEA fix is not ASCII: byte 0xC3 at offset 7"),
        ("$GPGGA,123519*" + "\r\n" * 3000, RMC, "NMEA fix is 6086 bytes, more than 4096"),
        (sentence(replaced(GGA_FIELDS, f2="")), RMC, "GGA latitude '' is not ddmm.mmmm"),
        (
            sentence(replaced(GGA_FIELDS, f2="4867.000")),
            RMC,
            "GGA latitude '4867.000' has 67 minutes, not under 60",
        ),
        (sentence(replaced(GGA_FIELDS, f5="N")), RMC, "GGA longitude hemisphere 'N' is neither E nor W"),
        (sentence(replaced(GGA_FIELDS, f6="x")), RMC, "GGA fix quality 'x' is not a number"),
        (sentence(replaced(GGA_FIELDS, f9="")), RMC, "GGA altitude is empty"),
        (sentence(replaced(GGA_FIELDS, f10="F")), RMC, "GGA altitude unit 'F' is not M (metres)"),
        (
            sentence(replaced(GGA_FIELDS, f11="nan")),
            RMC,
            "GGA geoid separation 'nan' is not a decimal number",
        ),
        (
            sentence(replaced(GGA_FIELDS, f8="1e3")),
            RMC,
            "GGA HDOP '1e3' is not a non-negative decimal number",
        ),
        (
            GGA,
            sentence(replaced(RMC_FIELDS, f7="-3.0")),
            "RMC speed '-3.0' is not a non-negative decimal number",
        ),
        (
            sentence(replaced(GGA_FIELDS, f1="123520")),
            RMC,
            "GGA time 123520 and RMC time 123519 are different fixes",
        ),
        (GGA, sentence(replaced(RMC_FIELDS, f1="12:35")), "RMC time '12:35' is not hhmmss.ss"),
        (
            GGA,
            sentence(replaced(RMC_FIELDS, f1="246000")),
            "RMC time '246000' is not a time of day (hour must be in 0..23)",
        ),
        (
            GGA,
            sentence(replaced(RMC_FIELDS, f9="310294")),
            "RMC date '310294' is not a date (day is out of range for month)",
        ),
        (
            sentence(replaced(GGA_FIELDS, f2="9530.000")),
            RMC,
            "GPS fix does not fit the schema: GeoPoint.lat: 95.5 is not in [-90, 90]",
        ),
    ],
)
def test_bad_sentences_are_rejected_with_a_clear_message(gga: str, rmc: str, message: str) -> None:
    with pytest.raises(NativeFormatError) as raised:
        gps.translate(gps_fix(gga, rmc), GPS, "blue-1")
    assert str(raised.value) == message


@given(gga=st.text(), rmc=st.text())
def test_arbitrary_strings_raise_only_native_format_errors(gga: str, rmc: str) -> None:
    with pytest.raises(NativeFormatError):
        gps.translate(gps_fix(gga, rmc), GPS, "blue-1")


NMEA_ISH = st.text(alphabet="0123456789.-+ENSWVAM", max_size=12)


@given(
    gga=st.lists(NMEA_ISH, min_size=13, max_size=15).map(lambda fields: sentence(["GPGGA", *fields])),
    rmc=st.lists(NMEA_ISH, min_size=10, max_size=14).map(lambda fields: sentence(["GPRMC", *fields])),
)
def test_well_framed_sentences_with_arbitrary_fields_never_raise_anything_else(gga: str, rmc: str) -> None:
    """Correct checksums and plausible characters get past the framing to every field parser."""
    with suppress(NativeFormatError):
        gps.translate(gps_fix(gga, rmc), GPS, "blue-1")


@given(
    fields=st.lists(st.sampled_from(["", "0", "1", "A", "N", "E", "M", "123519", "230394"]), min_size=14, max_size=14)
)
def test_mixing_good_field_values_never_raises_anything_else(fields: list[str]) -> None:
    gga = sentence(["GPGGA", *fields])
    with suppress(NativeFormatError):
        gps.translate(gps_fix(gga, RMC), GPS, "blue-1")


# --- video (MISB ST 0601 KLV with ST 0903 VMTI) --------------------------------------------------


def test_misb_fields_carry_over_at_the_tags_resolutions() -> None:
    metadata = translate_video(video_frame())

    assert metadata.source == VIDEO
    assert metadata.time == T0  # tag 2 is exact to the microsecond
    assert (metadata.stream_id, metadata.platform_id) == ("drone-1.eo", "drone-1")  # configuration
    assert (metadata.platform_designation, metadata.mission_id) == ("MQ-9", "OP-7")
    # tag 5: 2 bytes over 360 deg; tags 6/7: 2 bytes over 40 and 100 deg
    assert metadata.platform_heading_deg == pytest.approx(45.0, abs=360 / 2**16)
    assert metadata.platform_pitch_deg == pytest.approx(-3.0, abs=40 / 2**16)
    assert metadata.platform_roll_deg == pytest.approx(12.0, abs=100 / 2**16)
    assert metadata.sensor_position is not None
    assert (metadata.sensor_position.lat, metadata.sensor_position.lon) == pytest.approx((52.1, 4.3), abs=1e-7)
    assert metadata.sensor_position.hae_m == pytest.approx(1500.0, abs=19_900 / 2**16)
    assert (metadata.sensor_hfov_deg, metadata.sensor_vfov_deg) == pytest.approx((20.0, 11.25), abs=180 / 2**16)
    assert metadata.sensor_relative_azimuth_deg == pytest.approx(270.0, abs=1e-6)
    assert metadata.sensor_relative_elevation_deg == pytest.approx(-30.0, abs=1e-6)
    assert metadata.sensor_relative_roll_deg == pytest.approx(0.0, abs=1e-6)
    assert metadata.slant_range_m == pytest.approx(2900.0, abs=0.01)
    assert metadata.frame_center is not None
    assert (metadata.frame_center.lat, metadata.frame_center.lon) == pytest.approx((52.12, 4.28), abs=1e-7)
    assert metadata.frame_center.hae_m == pytest.approx(3.0, abs=19_900 / 2**16)
    assert metadata.footprint_corners is not None
    assert [x for c in metadata.footprint_corners for x in (c.lat, c.lon)] == pytest.approx(
        [52.13, 4.27, 52.13, 4.29, 52.11, 4.29, 52.11, 4.27], abs=1e-7
    )
    assert {c.hae_m for c in metadata.footprint_corners} == {metadata.frame_center.hae_m}


def test_vmti_targets_keep_box_confidence_class_geolocation_and_sigmas() -> None:
    (detection,) = translate_video(video_frame()).detections
    # the box to the pixel of the nominal 1280 x 720 frame: the bottom-right pixel is included
    assert detection.box == BoundingBox(x_min=128 / 1280, y_min=144 / 720, x_max=385 / 1280, y_max=289 / 720)
    assert detection.confidence == 0.7  # tag 5: whole percent
    assert detection.class_probabilities == {ObjectClass.PERSON: pytest.approx(0.7, abs=1e-4)}  # VObject
    assert detection.geo is not None
    position = detection.geo.position
    assert (position.lat, position.lon) == pytest.approx((52.121, 4.281), abs=2e-7)  # 4-byte IMAP
    assert position.hae_m == pytest.approx(3.0, abs=1.0)  # ST 0903 HAE: whole metres
    assert [x for row in detection.geo.covariance_enu_m2 for x in row] == pytest.approx(
        [25.0, 0.0, 0.0, 0.0, 25.0, 0.0, 0.0, 0.0, 100.0], abs=0.5
    )


def test_a_target_without_a_class_call_gives_no_probabilities() -> None:
    unlabelled = klv.Target((0.0, 0.0, 1.0, 1.0), None, 0.0, 52.0, 4.0, 3.0, 5.0, 10.0)
    (detection,) = translate_video(video_frame((unlabelled,))).detections
    assert detection.class_probabilities == {}
    assert detection.box == BoundingBox(x_min=0.0, y_min=0.0, x_max=1.0, y_max=1.0)


def test_video_angles_are_normalised_into_the_schema_ranges() -> None:
    metadata = translate_video(video_frame(t7=-50.0, t18=359.9999, t19=-180.0, t20=350.0))
    assert metadata.platform_roll_deg == pytest.approx(-50.0)
    assert metadata.sensor_relative_azimuth_deg == pytest.approx(359.9999, abs=1e-6)
    assert metadata.sensor_relative_elevation_deg == pytest.approx(-180.0)
    assert metadata.sensor_relative_roll_deg == pytest.approx(350.0, abs=1e-6)


def test_missing_misb_fields_stay_missing() -> None:
    metadata = translate_video(klv.packet({2: T0_US}, ()))
    assert metadata.time == T0
    assert (metadata.platform_designation, metadata.mission_id) == ("", "")
    assert metadata.model_dump(exclude_none=True).keys() == {
        "schema_id",
        "msg_id",
        "source",
        "seq",
        "session",
        "time",
        "stream_id",
        "platform_id",
        "stream_url",
        "platform_designation",
        "mission_id",
        "detections",
    }


def test_partial_points_are_dropped_and_corners_without_a_centre_height_sit_at_sea_level() -> None:
    metadata = translate_video(video_frame(t15=None, t25=None, t83=None))
    assert (metadata.sensor_position, metadata.frame_center, metadata.footprint_corners) == (None, None, None)
    corners = translate_video(video_frame(t25=None)).footprint_corners
    assert corners is not None
    assert [corner.hae_m for corner in corners] == [0.0] * 4


def test_a_packet_with_a_bad_checksum_is_rejected_with_its_reason() -> None:
    packet = bytearray(video_frame())
    packet[-1] ^= 0xFF
    with pytest.raises(NativeFormatError, match=r"^ST 0601 checksum mismatch: expected 0x[0-9A-F]{4}, computed 0x"):
        translate_video(bytes(packet))


def test_a_truncated_packet_is_rejected() -> None:
    packet = video_frame()
    with pytest.raises(NativeFormatError) as raised:
        translate_video(packet[:-10])
    assert str(raised.value).startswith("truncated packet: ")


def test_a_vobject_naming_no_ontology_is_rejected() -> None:
    from stanag4609.st0601 import encode_uas_local_set
    from stanag4609.st0903 import Location, VTargetData, encode_vmti_local_set
    from stanag4609.st0903_vocab import OntologyLocalSet, VObjectLocalSet

    ontology = OntologyLocalSet(1, "https://example.org/o", "https://example.org/o#vehicle", label="vehicle")
    vmti = encode_vmti_local_set(
        {4: 6},
        targets=[VTargetData(1, {17: Location(52.0, 4.0, 0.0), 107: (VObjectLocalSet(1, confidence=50.0),)})],
        ontologies=[ontology],
    )
    # the library checks references when it encodes, so the dangling one is made by editing the bytes
    dangling = vmti.replace(b"k\x07\x06\x03\x01\x01", b"k\x07\x06\x03\x01\x02")  # VObject ontologyId 1 -> 2
    assert dangling != vmti
    # the ST 0601 encoder checks the VMTI too: the packet is put together by hand, checksum and all
    good = encode_uas_local_set({2: T0_US, 65: 19, 74: vmti})
    body = good[len(klv_decoder.UAS_LS_KEY) + 1 : -4].replace(vmti, dangling) + b"\x01\x02"
    head = klv_decoder.UAS_LS_KEY + bytes([len(body) + 2]) + body
    total = sum(byte << (8 * ((i + 1) % 2)) for i, byte in enumerate(head)) & 0xFFFF
    with pytest.raises(NativeFormatError) as raised:
        translate_video(head + total.to_bytes(2, "big"))
    assert (
        str(raised.value)
        == "malformed tag 74 (VMTI Local Set): ST 0903 VObject ontologyId 2 is not in the Ontology Series"
    )


def test_video_value_outside_the_schema_is_a_native_format_error() -> None:
    frame = MisbFrame(precision_time_stamp_us=T0_US, platform_pitch_deg=95.0)  # a decoder that let it through
    with pytest.raises(NativeFormatError) as raised:
        video.from_frame(frame, VIDEO, "drone-1", "drone-1.eo")
    assert str(raised.value) == (
        "video frame does not fit the schema: VideoMetadata.platform_pitch_deg: 95.0 is not in [-90, 90]"
    )


# --- any bytes: envelopes or NativeFormatError, never another exception ---------------------------------

SOURCES = {
    "radar": lambda data: radar.translate(data, RADAR),
    "gps": lambda data: gps.translate(data, GPS, "blue-1"),
    "video": translate_video,
}


@settings(max_examples=300, deadline=None)
@given(adapter=st.sampled_from(sorted(SOURCES)), data=st.binary(max_size=400))
def test_arbitrary_bytes_give_envelopes_or_native_format_errors(adapter: str, data: bytes) -> None:
    with suppress(NativeFormatError):
        SOURCES[adapter](data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_records_give_envelopes_or_native_format_errors(data: st.DataObject) -> None:
    """Valid records with a few bytes changed, cut or inserted: past the framing into every parser."""
    adapter = data.draw(st.sampled_from(sorted(SOURCES)))
    original = {"radar": scan_bytes(plot(), plot(cls=None)), "gps": gps_fix(), "video": video_frame()}[adapter]
    record = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(record) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            record[position] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del record[position:]
            if not record:
                break
        else:
            record.insert(position, data.draw(st.integers(0, 255)))
    with suppress(NativeFormatError):
        SOURCES[adapter](bytes(record))


def test_the_source_translator_gives_every_envelope_or_the_rejection() -> None:
    shift = timedelta(days=3)
    translator: SourceTranslator[bytes] = SourceTranslator(lambda data: radar.translate(data, RADAR), shift)
    good = translator(scan_bytes(plot()))
    assert good.rejection is None
    assert [m.time for m in good.envelopes] == [radar.translate(scan_bytes(plot()), RADAR).time + shift]
    bad = translator(b"{}")
    assert (bad.envelopes, bad.rejection) == ((), "radar scan field fmt: expected 'polar-radar/1', got nothing")
    triple: SourceTranslator[bytes] = SourceTranslator(lambda data: [radar.translate(data, RADAR)] * 3)
    assert len(triple(scan_bytes()).envelopes) == 3


# --- round trip -------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", codec.CONTENT_TYPES)
def test_translated_messages_survive_the_codec(content_type: str) -> None:
    messages = [
        radar.translate(scan_bytes(plot(), plot(cls=None, cls_p=0.0)), RADAR),
        gps.translate(gps_fix(), GPS, "blue-1"),
        translate_video(video_frame()),
    ]
    models: tuple[type[Envelope], ...] = (SensorReading, PositionReport, VideoMetadata)
    for message, model in zip(messages, models, strict=True):
        assert codec.decode(codec.encode(message, content_type), content_type, expect=model) == message


# --- every record the devices' encoders write is accepted ---------------------------------------------


@settings(max_examples=100, deadline=None)
@given(fix=strategies.nmea_fixes())
def test_every_fix_the_nmea_writer_makes_is_accepted_to_its_resolution(fix: tuple[bytes, float, float]) -> None:
    data, lat, lon = fix
    report = gps.translate(data, GPS, "blue-1")
    degree = 1e-4 / 60  # NMEA positions are printed to 1e-4 minute
    assert (report.position.lat, report.position.lon) == pytest.approx((lat, lon), abs=degree / 2 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(scan=strategies.radar_documents())
def test_every_scan_the_radar_writer_makes_is_accepted(scan: tuple[bytes, int]) -> None:
    data, plots = scan
    assert len(radar.translate(data, RADAR).detections) == plots


@settings(max_examples=50, deadline=None)
@given(packet=strategies.klv_packets())
def test_every_packet_the_klv_encoder_makes_is_accepted(packet: tuple[bytes, int]) -> None:
    data, targets = packet
    assert len(translate_video(data).detections) == targets
