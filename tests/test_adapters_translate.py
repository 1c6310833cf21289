"""The adapters' pure translations: hand-computed unit conversions, exact error messages, fuzzed
NMEA input, and a codec round trip of every translated message."""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters import gps, radar, video
from adapters.common import class_probabilities, utc_from_us, wrap_180, wrap_360
from adapters.errors import NativeFormatError
from bus import codec
from bus.schema import (
    BoundingBox,
    Envelope,
    GeoPoint,
    ObjectClass,
    PositionReport,
    SensorReading,
    Source,
    SourceKind,
    VideoMetadata,
)
from simulators.native import (
    DroneVideoFrame,
    GpsFix,
    MisbFrame,
    RadarPlot,
    RadarScan,
    VideoDetection,
)

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


def gps_fix(gga: str = GGA, rmc: str = RMC) -> GpsFix:
    return GpsFix(platform_id="blue-1", gga=gga, rmc=rmc)


def plot(**changes: Any) -> RadarPlot:
    values: dict[str, Any] = {
        "range_m": 1234.5,
        "bearing_deg": 90.0,
        "elevation_deg": 2.5,
        "sigma_range_m": 15.0,
        "sigma_bearing_deg": 0.5,
        "sigma_elevation_deg": 1.0,
        "label": "vehicle",
        "label_confidence": 0.8,
        "snr_db": 17.0,
    }
    return RadarPlot(**{**values, **changes})


def misb(**changes: Any) -> MisbFrame:
    values: dict[str, Any] = {
        "precision_time_stamp_us": T0_US,
        "platform_designation": "MQ-9",
        "platform_heading_deg": 45.0,
        "platform_pitch_deg": -3.0,
        "platform_roll_deg": 12.0,
        "sensor_latitude_deg": 52.1,
        "sensor_longitude_deg": 4.3,
        "sensor_true_altitude_m": 1500.0,
        "sensor_hfov_deg": 20.0,
        "sensor_vfov_deg": 11.25,
        "sensor_relative_azimuth_deg": 270.0,
        "sensor_relative_elevation_deg": -30.0,
        "sensor_relative_roll_deg": 0.0,
        "slant_range_m": 2900.0,
        "frame_center_latitude_deg": 52.12,
        "frame_center_longitude_deg": 4.28,
        "frame_center_elevation_m": 3.0,
        "corner_latitudes_deg": (52.13, 52.13, 52.11, 52.11),
        "corner_longitudes_deg": (4.27, 4.29, 4.29, 4.27),
        "mission_id": "OP-7",
    }
    return MisbFrame(**{**values, **changes})


def video_frame(**changes: object) -> DroneVideoFrame:
    detection = VideoDetection(
        box=(0.1, 0.2, 0.3, 0.4),
        label="person",
        confidence=0.7,
        latitude_deg=52.121,
        longitude_deg=4.281,
        altitude_m=3.0,
        sigma_m=5.0,
    )
    return DroneVideoFrame(drone_id="drone-1", stream_id="drone-1.eo", misb=misb(**changes), detections=(detection,))


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


def radar_scan(*plots: RadarPlot) -> RadarScan:
    return RadarScan(
        sensor_id="radar-1",
        scan_index=42,
        time_us=T0_US,
        sensor_latitude_deg=51.5,
        sensor_longitude_deg=-0.1,
        sensor_altitude_m=35.0,
        plots=plots,
    )


def test_radar_scan_becomes_one_reading_with_polar_detections() -> None:
    reading = radar.translate(radar_scan(plot(), plot(label=None, label_confidence=0.0)), RADAR)

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


def test_radar_unknown_label_gives_no_probabilities() -> None:
    reading = radar.translate(radar_scan(plot(label="balloon", label_confidence=0.9)), RADAR)
    assert reading.detections[0].class_probabilities == {}


def test_radar_bearing_of_360_wraps_to_north() -> None:
    reading = radar.translate(radar_scan(plot(bearing_deg=360.0)), RADAR)
    assert reading.detections[0].polar is not None
    assert reading.detections[0].polar.bearing_deg == 0.0


def test_radar_value_outside_the_schema_is_a_native_format_error() -> None:
    with pytest.raises(NativeFormatError) as raised:
        radar.translate(radar_scan(plot(range_m=-1.0)), RADAR)
    assert str(raised.value) == (
        "radar scan does not fit the schema: PolarMeasurement.range_m: -1.0 is not in [0, inf]"
    )


# --- GPS ----------------------------------------------------------------------------------------------


def test_the_textbook_nmea_pair() -> None:
    report = gps.translate(gps_fix(), GPS)

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
    report = gps.translate(gps_fix(rmc=sentence(replaced(RMC_FIELDS, f8=course))), GPS)
    assert report.velocity_enu_mps == pytest.approx(expected, abs=1e-4)
    assert report.heading_deg == float(course) % 360


def test_southern_and_western_hemispheres_are_negative_and_fractions_of_a_second_kept() -> None:
    gga = sentence(replaced(GGA_FIELDS, f1="235959.25", f3="S", f5="W", f9="-12.5", f11="-30.0"))
    rmc = sentence(replaced(RMC_FIELDS, f1="235959.25", f9="010180"))
    report = gps.translate(gps_fix(gga, rmc), GPS)
    assert (report.position.lat, report.position.lon) == pytest.approx((-48.1173, -11.516666), abs=1e-6)
    assert report.position.hae_m == pytest.approx(-42.5)
    assert report.time == datetime(1980, 1, 1, 23, 59, 59, 250_000, tzinfo=UTC)


def test_empty_optional_fields_leave_their_values_out() -> None:
    gga = sentence(replaced(GGA_FIELDS, f8=""))
    rmc = sentence(replaced(RMC_FIELDS, f8=""))
    report = gps.translate(gps_fix(gga, rmc), GPS)
    assert (report.ce_m, report.velocity_enu_mps, report.heading_deg) == (None, None, None)


def test_sentences_may_end_with_cr_lf_and_use_lower_case_checksums() -> None:
    report = gps.translate(gps_fix(GGA + "\r\n", RMC[:-2] + "6a\r\n"), GPS)
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
        (RMC, RMC, "expected a GGA sentence, got 'GPRMC'"),
        (GGA[1:], RMC, "GGA does not start with '$'"),
        (GGA[:-3], RMC, "GGA does not end with a '*hh' checksum"),
        ("$GPGGA,é*00", RMC, "GGA is not ASCII"),
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
        gps.translate(gps_fix(gga, rmc), GPS)
    assert str(raised.value) == message


@given(gga=st.text(), rmc=st.text())
def test_arbitrary_strings_raise_only_native_format_errors(gga: str, rmc: str) -> None:
    with pytest.raises(NativeFormatError):
        gps.translate(gps_fix(gga, rmc), GPS)


NMEA_ISH = st.text(alphabet="0123456789.-+ENSWVAM", max_size=12)


@given(
    gga=st.lists(NMEA_ISH, min_size=13, max_size=15).map(lambda fields: sentence(["GPGGA", *fields])),
    rmc=st.lists(NMEA_ISH, min_size=10, max_size=14).map(lambda fields: sentence(["GPRMC", *fields])),
)
def test_well_framed_sentences_with_arbitrary_fields_never_raise_anything_else(gga: str, rmc: str) -> None:
    """Correct checksums and plausible characters get past the framing to every field parser."""
    with suppress(NativeFormatError):
        gps.translate(gps_fix(gga, rmc), GPS)


@given(
    fields=st.lists(st.sampled_from(["", "0", "1", "A", "N", "E", "M", "123519", "230394"]), min_size=14, max_size=14)
)
def test_mixing_good_field_values_never_raises_anything_else(fields: list[str]) -> None:
    gga = sentence(["GPGGA", *fields])
    with suppress(NativeFormatError):
        gps.translate(gps_fix(gga, RMC), GPS)


# --- video --------------------------------------------------------------------------------------------


def test_misb_fields_carry_over_with_the_same_values() -> None:
    metadata = video.translate(video_frame(), VIDEO)

    assert metadata.source == VIDEO
    assert metadata.time == T0
    assert metadata.stream_id == "drone-1.eo"
    assert (metadata.platform_designation, metadata.mission_id) == ("MQ-9", "OP-7")
    assert (metadata.platform_heading_deg, metadata.platform_pitch_deg, metadata.platform_roll_deg) == (
        45.0,
        -3.0,
        12.0,
    )
    assert metadata.sensor_position == GeoPoint(lat=52.1, lon=4.3, hae_m=1500.0)
    assert (metadata.sensor_hfov_deg, metadata.sensor_vfov_deg) == (20.0, 11.25)
    assert metadata.sensor_relative_azimuth_deg == 270.0
    assert metadata.sensor_relative_elevation_deg == -30.0
    assert metadata.sensor_relative_roll_deg == 0.0
    assert metadata.slant_range_m == 2900.0
    assert metadata.frame_center == GeoPoint(lat=52.12, lon=4.28, hae_m=3.0)
    assert metadata.footprint_corners == (
        GeoPoint(lat=52.13, lon=4.27, hae_m=3.0),
        GeoPoint(lat=52.13, lon=4.29, hae_m=3.0),
        GeoPoint(lat=52.11, lon=4.29, hae_m=3.0),
        GeoPoint(lat=52.11, lon=4.27, hae_m=3.0),
    )


def test_video_detections_keep_box_confidence_class_and_geolocation() -> None:
    (detection,) = video.translate(video_frame(), VIDEO).detections
    assert detection.box == BoundingBox(x_min=0.1, y_min=0.2, x_max=0.3, y_max=0.4)
    assert detection.confidence == 0.7
    assert detection.class_probabilities == {ObjectClass.PERSON: 0.7}
    assert detection.geo is not None
    assert detection.geo.position == GeoPoint(lat=52.121, lon=4.281, hae_m=3.0)
    assert detection.geo.covariance_enu_m2 == ((25.0, 0.0, 0.0), (0.0, 25.0, 0.0), (0.0, 0.0, 100.0))


def test_video_angles_are_normalised_into_the_schema_ranges() -> None:
    metadata = video.translate(
        video_frame(
            platform_heading_deg=370.0,
            platform_roll_deg=190.0,
            sensor_relative_azimuth_deg=-90.0,
            sensor_relative_elevation_deg=200.0,
            sensor_relative_roll_deg=-10.0,
        ),
        VIDEO,
    )
    assert metadata.platform_heading_deg == pytest.approx(10.0)
    assert metadata.platform_roll_deg == pytest.approx(-170.0)
    assert metadata.sensor_relative_azimuth_deg == 270.0
    assert metadata.sensor_relative_elevation_deg == -160.0
    assert metadata.sensor_relative_roll_deg == 350.0


def test_missing_misb_fields_stay_missing() -> None:
    bare = DroneVideoFrame(drone_id="drone-1", stream_id="s1", misb=MisbFrame(precision_time_stamp_us=T0_US))
    metadata = video.translate(bare, VIDEO)
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
    metadata = video.translate(
        video_frame(sensor_true_altitude_m=None, frame_center_elevation_m=None, corner_longitudes_deg=None),
        VIDEO,
    )
    assert (metadata.sensor_position, metadata.frame_center, metadata.footprint_corners) == (None, None, None)
    corners = video.translate(video_frame(frame_center_elevation_m=None), VIDEO).footprint_corners
    assert corners is not None
    assert [corner.hae_m for corner in corners] == [0.0] * 4


def test_video_unknown_label_gives_no_probabilities() -> None:
    frame = video_frame()
    unknown = DroneVideoFrame(
        drone_id=frame.drone_id,
        stream_id=frame.stream_id,
        misb=frame.misb,
        detections=(VideoDetection((0.0, 0.0, 1.0, 1.0), "balloon", 0.9, 52.0, 4.0, 3.0, 5.0),),
    )
    assert video.translate(unknown, VIDEO).detections[0].class_probabilities == {}


def test_video_value_outside_the_schema_is_a_native_format_error() -> None:
    with pytest.raises(NativeFormatError) as raised:
        video.translate(video_frame(platform_pitch_deg=95.0), VIDEO)
    assert str(raised.value) == (
        "video frame does not fit the schema: VideoMetadata.platform_pitch_deg: 95.0 is not in [-90, 90]"
    )


# --- round trip -------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", codec.CONTENT_TYPES)
def test_translated_messages_survive_the_codec(content_type: str) -> None:
    messages = [
        radar.translate(radar_scan(plot(), plot(label=None, label_confidence=0.0)), RADAR),
        gps.translate(gps_fix(), GPS),
        video.translate(video_frame(), VIDEO),
    ]
    models: tuple[type[Envelope], ...] = (SensorReading, PositionReport, VideoMetadata)
    for message, model in zip(messages, models, strict=True):
        assert codec.decode(codec.encode(message, content_type), content_type, expect=model) == message
