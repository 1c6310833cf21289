"""MISB ST 0601 KLV decoding (adapters/klv.py) against real and standard sample packets.

Samples live in tests/data/klv/ (origin and license in SOURCES.md there). Packets built by hand here
get their checksum from `_checksum`, written straight from ST 0601 and not from the decoder's library.
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.klv import UAS_LS_KEY, KlvError, MisbFrame, decode_packet, decode_stream

DATA = Path(__file__).parent / "data" / "klv"
TIME_STAMP = (1_231_798_102_000_000).to_bytes(8, "big")  # tag 2 value: 2009-01-12 22:08:22 UTC


def _read(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _checksum(data: bytes) -> int:
    """ST 0601 tag 1: bytes summed as big-endian 16-bit words (bcc += b[i] << 8 * ((i + 1) % 2))."""
    return sum(byte << (8 * ((i + 1) % 2)) for i, byte in enumerate(data)) & 0xFFFF


def _ber(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    size = (length.bit_length() + 7) // 8
    return bytes([0x80 | size]) + length.to_bytes(size, "big")


def _packet(*items: tuple[int, bytes]) -> bytes:
    """A UAS LS packet with the given (tag < 128, value) items and a valid checksum."""
    body = b"".join(bytes([tag]) + _ber(len(value)) + value for tag, value in items) + b"\x01\x02"
    head = UAS_LS_KEY + _ber(len(body) + 2) + body
    return head + _checksum(head).to_bytes(2, "big")


def _i32(value: int) -> bytes:
    return value.to_bytes(4, "big", signed=True)


def _i16(value: int) -> bytes:
    return value.to_bytes(2, "big", signed=True)


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance on a 6371 km sphere (good to ~0.5 %, plenty for plausibility bounds)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dlon = math.radians(lon2 - lon1)
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlon / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def _frames(name: str) -> list[MisbFrame]:
    items = list(decode_stream(_read(name)))
    frames = [item for item in items if isinstance(item, MisbFrame)]
    assert len(frames) == len(items), [i for i in items if isinstance(i, KlvError)]
    return frames


def _sensor(frame: MisbFrame) -> tuple[float, float]:
    lat, lon = frame.sensor_latitude_deg, frame.sensor_longitude_deg
    assert lat is not None and lon is not None
    return lat, lon


# --- Cheyenne.bin: 407 packets of a real flight near Cheyenne, WY -------------------------------


def test_cheyenne_every_packet_decodes() -> None:
    assert len(_frames("Cheyenne.bin")) == 407


def test_cheyenne_platform_path_is_plausible() -> None:
    frames = _frames("Cheyenne.bin")
    start = datetime(2012, 9, 19, 20, 40, 44, tzinfo=UTC).timestamp() * 1e6
    end = datetime(2012, 9, 19, 20, 42, 10, tzinfo=UTC).timestamp() * 1e6
    for frame in frames:
        assert start <= frame.precision_time_stamp_us < end
        assert frame.sensor_latitude_deg == pytest.approx(41.1, abs=0.2)
        assert frame.sensor_longitude_deg == pytest.approx(-104.8, abs=0.2)
        assert frame.platform_designation == "C208B"  # a Cessna 208B Caravan
    for a, b in itertools.pairwise(frames):
        seconds = (b.precision_time_stamp_us - a.precision_time_stamp_us) / 1e6
        assert seconds > 0
        metres = _distance_m(*_sensor(a), *_sensor(b))
        assert 20 < metres / seconds < 120  # a Caravan flies at roughly 50-90 m/s


def test_cheyenne_frame_centre_and_corners_near_the_sensor() -> None:
    for frame in _frames("Cheyenne.bin"):
        lat, lon = frame.frame_center_latitude_deg, frame.frame_center_longitude_deg
        assert lat is not None and lon is not None
        assert _distance_m(*_sensor(frame), lat, lon) < 20_000
        # Cheyenne sends only offset corners (tags 26-33): the full corners are centre + offset,
        # and the footprint they span contains its centre
        lats, lons = frame.corner_latitudes_deg, frame.corner_longitudes_deg
        assert lats is not None and lons is not None
        assert min(lats) < lat < max(lats) and min(lons) < lon < max(lons)
        for corner_lat, corner_lon in zip(lats, lons, strict=True):
            assert _distance_m(*_sensor(frame), corner_lat, corner_lon) < 20_000


# --- the two MISB ST 0902.5 Annex C vectors ---------------------------------------------------


def test_bad_checksum_packet_is_rejected() -> None:
    data = _read("DynamicConstantMISMMSPacketData.bin")
    assert _checksum(data[:-2]) == 0x3E1E  # the sum really is not the 0xAA43 the packet carries
    message = "ST 0601 checksum mismatch: expected 0xAA43, computed 0x3E1E"
    with pytest.raises(KlvError) as raised:
        decode_packet(data)
    assert str(raised.value) == message
    [item] = decode_stream(data)
    assert isinstance(item, KlvError) and str(item) == message


def test_dynamic_only_packet_matches_hand_decoded_values() -> None:
    """Each expected value is computed by hand from the packet's raw bytes with the ST 0601 mapping
    (signed: value * range / (2**(8n) - 2), unsigned: value * range / (2**(8n) - 1) + offset); the
    trailing comment gives the value MISB ST 0601 prints in its worked example for the same bytes."""
    frame = decode_packet(_read("DynamicOnlyMISMMSPacketData.bin"))
    # tag 2 = 00 04 60 50 58 4E 01 80 = 1231798102000000 us = 2009-01-12 22:08:22 UTC
    assert frame.precision_time_stamp_us == 1_231_798_102_000_000
    assert frame.platform_heading_deg == pytest.approx(0x71C2 * 360 / 0xFFFF, abs=1e-9)  # 159.9744
    assert frame.platform_heading_deg == pytest.approx(159.9744, abs=1e-4)
    assert frame.platform_pitch_deg == pytest.approx(-0x02C3 * 40 / 0xFFFE, abs=1e-9)  # FD3D = -707
    assert frame.platform_roll_deg == pytest.approx(0x08B8 * 100 / 0xFFFE, abs=1e-9)  # 3.405814
    assert frame.platform_roll_deg == pytest.approx(3.405814, abs=1e-4)
    assert frame.sensor_latitude_deg == pytest.approx(0x5595B66D * 180 / 0xFFFFFFFE, abs=1e-9)
    assert frame.sensor_latitude_deg == pytest.approx(60.1768229669783, abs=1e-9)
    assert frame.sensor_longitude_deg == pytest.approx(0x5B5360C4 * 360 / 0xFFFFFFFE, abs=1e-9)
    assert frame.sensor_longitude_deg == pytest.approx(128.426759042045, abs=1e-9)
    assert frame.sensor_true_altitude_m == pytest.approx(0xC221 * 19900 / 0xFFFF - 900, abs=1e-6)
    assert frame.sensor_true_altitude_m == pytest.approx(14190.72, abs=1e-2)
    assert frame.sensor_hfov_deg == pytest.approx(0xCD9C * 180 / 0xFFFF, abs=1e-9)  # 144.5713
    assert frame.sensor_hfov_deg == pytest.approx(144.5713, abs=1e-4)
    assert frame.sensor_vfov_deg == pytest.approx(0xD917 * 180 / 0xFFFF, abs=1e-9)  # 152.6436
    assert frame.sensor_relative_azimuth_deg == pytest.approx(0x724A0A20 * 360 / 0xFFFFFFFF, abs=1e-9)
    # 87 F8 4B 86 is negative: -(0x100000000 - 0x87F84B86) = -0x7807B47A
    assert frame.sensor_relative_elevation_deg == pytest.approx(-0x7807B47A * 360 / 0xFFFFFFFE, abs=1e-9)
    assert frame.sensor_relative_roll_deg == 0.0  # 00 00 00 00 in this vector
    assert frame.slant_range_m == pytest.approx(0x03830926 * 5e6 / 0xFFFFFFFF, abs=1e-6)
    assert frame.slant_range_m == pytest.approx(68590.98, abs=1e-2)
    # F1 01 A2 29 is negative: -(0x100000000 - 0xF101A229) = -0x0EFE5DD7
    assert frame.frame_center_latitude_deg == pytest.approx(-0x0EFE5DD7 * 180 / 0xFFFFFFFE, abs=1e-9)
    assert frame.frame_center_latitude_deg == pytest.approx(-10.5423886331461, abs=1e-9)
    assert frame.frame_center_longitude_deg == pytest.approx(0x14BC082B * 360 / 0xFFFFFFFE, abs=1e-9)
    assert frame.frame_center_longitude_deg == pytest.approx(29.157890122923, abs=1e-9)
    assert frame.frame_center_elevation_m == pytest.approx(0x34F3 * 19900 / 0xFFFF - 900, abs=1e-6)
    assert frame.platform_designation is None and frame.mission_id is None  # "dynamic only"
    assert frame.corner_latitudes_deg is None and frame.corner_longitudes_deg is None


# --- realflight.bin: 0x80000000 "out of range" markers ----------------------------------------

OUT_OF_RANGE_TAGS = (19, 23, 24, 82, 83, 84, 85)


def test_realflight_out_of_range_values_become_none() -> None:
    data = _read("realflight.bin")
    for tag in OUT_OF_RANGE_TAGS:  # the markers really are in every packet
        assert data.count(bytes([tag, 4, 0x80, 0, 0, 0])) == 19
    frames = _frames("realflight.bin")
    assert len(frames) == 19
    start = datetime(2019, 9, 12, 14, 7, 1, tzinfo=UTC).timestamp() * 1e6
    for frame in frames:
        assert frame.sensor_relative_elevation_deg is None  # tag 19
        assert frame.frame_center_latitude_deg is None and frame.frame_center_longitude_deg is None
        # tags 82-85 are out of range (86-89 are not), and there is no frame centre for offsets
        assert frame.corner_latitudes_deg is None and frame.corner_longitudes_deg is None
        assert start <= frame.precision_time_stamp_us < start + 10e6
        assert frame.sensor_latitude_deg == pytest.approx(39.35, abs=0.05)  # near Torres Vedras, PT
        assert frame.sensor_longitude_deg == pytest.approx(-9.32, abs=0.05)
        for value in (
            frame.platform_heading_deg,
            frame.platform_pitch_deg,
            frame.platform_roll_deg,
            frame.sensor_hfov_deg,
            frame.sensor_vfov_deg,
            frame.sensor_relative_azimuth_deg,
            frame.slant_range_m,
        ):
            assert value is not None
        # tag 20 is unsigned 0..360 with no out-of-range marker: 80 00 00 00 is 180 degrees
        assert frame.sensor_relative_roll_deg == pytest.approx(0x80000000 * 360 / 0xFFFFFFFF, abs=1e-9)
    assert frames[0].platform_designation == "AR5"
    assert frames[0].mission_id == "mission12/09/2019 14:07:01"


# --- hand-built packets -------------------------------------------------------------------------


def test_offset_corners_are_added_to_the_frame_centre() -> None:
    offsets = [(26 + i, _i16(v)) for i, v in enumerate((100, -200, 300, -400, 500, -600, 700, -800))]
    packet = _packet((2, TIME_STAMP), (23, _i32(0x10000000)), (24, _i32(-0x7FFFFFF0)), *offsets)
    frame = decode_packet(packet)
    lat0, lon0 = 0x10000000 * 180 / 0xFFFFFFFE, -0x7FFFFFF0 * 360 / 0xFFFFFFFE  # ~22.5 N, ~-180 E
    step = 0.15 / 0xFFFE
    assert frame.corner_latitudes_deg == pytest.approx([lat0 + v * step for v in (100, 300, 500, 700)])
    # centre + offset west of -180 wraps to the eastern hemisphere
    lons = [lon0 + v * step + 360 for v in (-200, -400, -600, -800)]
    assert frame.corner_longitudes_deg == pytest.approx(lons)


def test_full_corners_win_over_offsets_and_any_missing_corner_drops_all() -> None:
    full = [(82 + i, _i32((i + 1) * 0x01000000)) for i in range(8)]
    offsets = [(26 + i, _i16(1)) for i in range(8)]
    centre = [(23, _i32(0)), (24, _i32(0))]
    frame = decode_packet(_packet((2, TIME_STAMP), *centre, *offsets, *full))
    lats = [k * 0x01000000 * 180 / 0xFFFFFFFE for k in (1, 3, 5, 7)]
    assert frame.corner_latitudes_deg == pytest.approx(lats)
    offsets[7] = (33, _i16(-0x8000))  # "N/A (off earth)": one unknown corner
    frame = decode_packet(_packet((2, TIME_STAMP), *centre, *offsets))
    assert frame.corner_latitudes_deg is None and frame.corner_longitudes_deg is None


def test_packet_without_time_stamp_is_rejected() -> None:
    with pytest.raises(KlvError, match=r"Precision Time Stamp \(tag 2\) is required"):
        decode_packet(_packet((13, _i32(0))))


def test_malformed_used_tag_is_rejected_not_guessed() -> None:
    with pytest.raises(KlvError, match=r"malformed tag 13 \(Sensor Latitude\)"):
        decode_packet(_packet((2, TIME_STAMP), (13, b"\x55\x95")))


def test_time_stamp_beyond_year_9999_is_a_klv_error() -> None:
    with pytest.raises(KlvError, match=r"^time stamp out of range"):
        decode_packet(_packet((2, b"\xff" * 8)))


def test_foreign_key_and_truncation_are_reported() -> None:
    good = _read("DynamicOnlyMISMMSPacketData.bin")
    with pytest.raises(KlvError, match=r"^not a UAS Datalink Local Set: key 06 0e 2b 34 02 01"):
        decode_packet(good[:5] + b"\x01" + good[6:])
    with pytest.raises(KlvError, match=r"^truncated packet"):
        decode_packet(good[:-1])
    # garbage, a packet, a packet cut short by the next one, a packet, a cut-off key
    items = list(decode_stream(b"junk" + good + good[:50] + good + UAS_LS_KEY[:7]))
    kinds = [type(item) for item in items]
    assert kinds == [KlvError, MisbFrame, KlvError, MisbFrame, KlvError]
    assert str(items[0]) == (
        "not a UAS Datalink Local Set: key 6a 75 6e 6b 06 0e 2b 34 02 0b 01 01 0e 01 03 01 at offset 0"
    )
    assert str(items[2]).startswith("truncated packet: ")  # its last item runs into the next packet
    assert str(items[4]) == "truncated packet at offset 282: stream ends inside the key or length"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_give_frames_or_klv_errors(data: bytes) -> None:
    for item in decode_stream(data):
        assert isinstance(item, MisbFrame | KlvError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120), st.booleans())
def test_arbitrary_packet_bodies_give_frames_or_klv_errors(body: bytes, with_checksum: bool) -> None:
    """Reach past the key and checksum so the Local Set and value decoding see garbage too."""
    packet = UAS_LS_KEY + _ber(len(body)) + body
    if with_checksum:
        head = UAS_LS_KEY + _ber(len(body) + 4) + body + b"\x01\x02"
        packet = head + _checksum(head).to_bytes(2, "big")
    for item in decode_stream(packet):
        assert isinstance(item, MisbFrame | KlvError)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_real_packets_give_frames_or_klv_errors(data: st.DataObject) -> None:
    """Corrupt a real packet, then fix its checksum, so every tag's value decoding is exercised."""
    stream = _read("realflight.bin")
    packet = bytearray(stream[: stream.find(UAS_LS_KEY, 1)])  # the first packet
    for _ in range(data.draw(st.integers(1, 8))):  # anywhere after key and length, before tag 1
        packet[data.draw(st.integers(19, len(packet) - 5))] = data.draw(st.integers(0, 255))
    packet[-2:] = _checksum(bytes(packet[:-2])).to_bytes(2, "big")
    for item in decode_stream(bytes(packet)):
        assert isinstance(item, MisbFrame | KlvError)
