"""The pure CoT mapping of the TAK gateway (nodes/cot.py), no broker: what it sends is read back with
parsers that are not ours (lxml for XML, takproto for TAK protocol v1), and what TAK clients send
becomes a PositionReport or a refusal with its exact reason."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest
import takproto
from lxml import etree

from bus.schema import (
    Disposition,
    Environment,
    GeoPoint,
    ObjectClass,
    Source,
    SourceContribution,
    SourceKind,
    Track,
    TrackStatus,
)
from nodes import cot

T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
GATEWAY = "tak-gw"
SOURCE = Source(id=GATEWAY, kind=SourceKind.POSITION, integration="rampart-tak")
POLICY = cot.StalePolicy(confirmed_s=30.0, coasting_s=15.0)


def track(
    track_id: str = "T-7",
    *,
    disposition: Disposition = Disposition.HOSTILE,
    environment: Environment = Environment.LAND,
    classification: ObjectClass | None = ObjectClass.VEHICLE,
    status: TrackStatus = TrackStatus.CONFIRMED,
    lat: float = 54.123456789,
    lon: float = 10.987654321,
    velocity: tuple[float, float, float] = (3.0, 4.0, 0.0),
    cov: tuple[float, float, float] = (100.0, 36.0, 9.0),
    platform_id: str | None = None,
) -> Track:
    ee, nn, uu = cov
    return Track(
        track_id=track_id,
        status=status,
        position=GeoPoint(lat=lat, lon=lon, hae_m=12.5),
        velocity_enu_mps=velocity,
        position_cov_enu_m2=((ee, 0.0, 0.0), (0.0, nn, 0.0), (0.0, 0.0, uu)),
        velocity_cov_enu_m2s2=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        disposition=disposition,
        environment=environment,
        classification=classification,
        classification_confidence=0.8 if classification else 0.0,
        platform_id=platform_id,
        sources=[
            SourceContribution(source_id="radar-west", kind=SourceKind.SENSOR, last_time=T0),
            SourceContribution(source_id="drone-1.video", kind=SourceKind.VIDEO, last_time=T0 - timedelta(seconds=2)),
        ],
        first_seen=T0 - timedelta(seconds=60),
        updated=T0,
        stale_at=T0 + timedelta(seconds=8),
    )


def xml_of(fields: cot.TrackFields) -> etree._Element:
    return etree.fromstring(cot.track_wire(fields, "xml"))


def cot_datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# --- types ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "environment", "classification", "expected"),
    [
        (Disposition.HOSTILE, Environment.LAND, ObjectClass.VEHICLE, "a-h-G-E-V"),
        (Disposition.HOSTILE, Environment.AIR, ObjectClass.UAV, "a-h-A-M-F-Q"),
        (Disposition.FRIENDLY, Environment.AIR, ObjectClass.AIRCRAFT, "a-f-A-M-F"),
        (Disposition.NEUTRAL, Environment.SURFACE, ObjectClass.VESSEL, "a-n-S-X"),
        (Disposition.UNKNOWN, Environment.LAND, ObjectClass.PERSON, "a-u-G-U-C-I"),
        (Disposition.SUSPECT, Environment.UNKNOWN, ObjectClass.UAV, "a-s-A-M-F-Q"),
        (Disposition.ASSUMED_FRIEND, Environment.SURFACE, None, "a-a-S"),
        (Disposition.PENDING, Environment.UNKNOWN, None, "a-p-G"),
        (Disposition.HOSTILE, Environment.AIR, ObjectClass.VEHICLE, "a-h-A"),
        (Disposition.UNKNOWN, Environment.SUBSURFACE, None, "a-u-U"),
    ],
)
def test_the_cot_type_comes_from_identity_environment_and_class(disposition, environment, classification, expected):
    assert cot.cot_type(disposition, environment, classification) == expected


# --- one track, one event ------------------------------------------------------------------------


def test_a_track_event_carries_every_field_as_documented() -> None:
    event = xml_of(cot.track_fields(track(), "main", GATEWAY, POLICY))
    assert event.tag == "event"
    assert event.get("version") == "2.0"
    assert event.get("uid") == "rampart.main.T-7"
    assert event.get("type") == "a-h-G-E-V"
    assert event.get("how") == "m-f"
    assert cot_datetime(event.get("time")) == T0
    assert cot_datetime(event.get("start")) == T0
    assert cot_datetime(event.get("stale")) == T0 + timedelta(seconds=30)
    point = event.find("point")
    assert abs(float(point.get("lat")) - 54.123456789) < 1e-6
    assert abs(float(point.get("lon")) - 10.987654321) < 1e-6
    assert float(point.get("hae")) == 12.5
    assert float(point.get("ce")) == 10.0  # sqrt of the larger horizontal variance, 100 m²
    assert float(point.get("le")) == 3.0
    course_speed = event.find("detail/track")
    assert float(course_speed.get("course")) == pytest.approx(math.degrees(math.atan2(3.0, 4.0)), abs=0.01)
    assert float(course_speed.get("speed")) == 5.0
    assert event.find("detail/contact") is None  # not a friendly platform: no callsign
    assert event.find("detail/__rampart").attrib == {"gateway": GATEWAY}
    assert event.find("detail/remarks").text == cot.remarks(track())


def test_the_remarks_name_the_contributing_sources() -> None:
    remarks = cot.remarks(track())
    assert remarks == (
        "Rampart track T-7 (confirmed, vehicle 80%); sources: radar-west (sensor, 0.0 s before), "
        "drone-1.video (video, 2.0 s before)"
    )


def test_ce_covers_the_major_axis_of_a_rotated_ellipse() -> None:
    # variances 400 and 100 m² rotated by 45 degrees: E/N variances 250 each, covariance 150
    cov = ((250.0, 150.0, 0.0), (150.0, 250.0, 0.0), (0.0, 0.0, 4.0))
    assert cot.circular_error_m(cov) == pytest.approx(20.0)


def test_a_friendly_platform_has_its_callsign_and_gps_how() -> None:
    platform = track("P-ifv-7", disposition=Disposition.FRIENDLY, platform_id="ifv-7")
    event = xml_of(cot.track_fields(platform, "main", GATEWAY, POLICY, callsign="IFV 7"))
    assert event.get("type") == "a-f-G-E-V"
    assert event.get("how") == "m-g"
    assert event.find("detail/contact").get("callsign") == "IFV 7"


def test_the_stale_time_follows_the_status() -> None:
    coasting = track(status=TrackStatus.COASTING)
    assert POLICY.stale(coasting) == T0 + timedelta(seconds=8)  # the fusion drops it then
    long_coast = coasting.model_copy(update={"stale_at": T0 + timedelta(seconds=60)})
    assert POLICY.stale(long_coast) == T0 + timedelta(seconds=15)
    assert POLICY.stale(track()) == T0 + timedelta(seconds=30)


def test_text_is_escaped() -> None:
    event = xml_of(cot.track_fields(track(), 'pic"<&>', GATEWAY, POLICY, callsign='A "&" <B>'))
    assert event.get("uid") == 'rampart.pic"<&>.T-7'


def test_a_delete_event_withdraws_the_track_at_once() -> None:
    event = etree.fromstring(cot.to_wire(cot.delete_event("rampart.main.T-7", GATEWAY, T0), "xml"))
    assert event.get("type") == "t-x-d-d"
    assert event.get("uid") == "rampart.main.T-7.delete"
    assert event.find("detail/link").get("uid") == "rampart.main.T-7"
    assert event.find("detail/link").get("relation") == "p-p"
    assert event.find("detail/__forcedelete") is not None
    assert cot_datetime(event.get("time")) == T0


@pytest.mark.parametrize(("fmt", "header"), [("mesh", b"\xbf\x01\xbf"), ("stream", b"\xbf")])
def test_the_protobuf_event_reads_back_with_takproto(fmt: str, header: bytes) -> None:
    fields = cot.track_fields(track(), "main", GATEWAY, POLICY, callsign="X")
    wire = cot.track_wire(fields, fmt)
    assert wire.startswith(header)
    message = takproto.parse_proto(bytearray(wire))
    event = message.cotEvent
    assert (event.uid, event.type, event.how) == ("rampart.main.T-7", "a-h-G-E-V", "m-f")
    assert abs(event.lat - 54.123456789) < 1e-6
    assert abs(event.lon - 10.987654321) < 1e-6
    assert (event.ce, event.le) == (10.0, 3.0)
    assert event.sendTime == int(T0.timestamp() * 1000)
    assert event.staleTime == int(T0.timestamp() * 1000) + 30_000
    assert event.detail.contact.callsign == "X"
    assert (event.detail.track.speed, round(event.detail.track.course, 2)) == (5.0, 36.87)
    assert "<remarks>Rampart track T-7" in event.detail.xmlDetail
    # the same as takproto's own conversion of the XML event
    converted = takproto.parse_proto(bytearray(cot.to_wire(cot.track_event(fields), fmt))).cotEvent
    for name in ("uid", "type", "how", "sendTime", "startTime", "staleTime", "hae", "ce", "le"):
        assert getattr(event, name) == getattr(converted, name), name
    assert (round(event.lat, 8), round(event.lon, 8)) == (converted.lat, converted.lon)
    assert event.detail.contact.callsign == converted.detail.contact.callsign
    assert event.detail.xmlDetail == converted.detail.xmlDetail.replace(" />", "/>")


def test_a_protobuf_delete_reads_back_with_takproto() -> None:
    event = takproto.parse_proto(bytearray(cot.to_wire(cot.delete_event("rampart.main.T-7", GATEWAY, T0), "mesh")))
    assert event.cotEvent.type == "t-x-d-d"
    assert '<link uid="rampart.main.T-7" relation="p-p"' in event.cotEvent.detail.xmlDetail
    assert "__forcedelete" in event.cotEvent.detail.xmlDetail


# --- inbound: PLI -> PositionReport --------------------------------------------------------------


TAKV = '<takv platform="ATAK-CIV" version="5.1"/>'


def pli(
    uid: str = "ANDROID-0123abcd",
    *,
    kind: str = "a-f-G-U-C",
    lat: str = "54.5",
    lon: str = "10.25",
    extra: str = "",
    takv: bool = True,
    point: str | None = None,
) -> bytes:
    point = point if point is not None else f'<point lat="{lat}" lon="{lon}" hae="31.0" ce="4.9" le="9999999.0"/>'
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<event version="2.0" uid="{uid}" type="{kind}" how="m-g" time="2026-03-01T12:00:00.000Z" '
        f'start="2026-03-01T12:00:00.000Z" stale="2026-03-01T12:01:00.000Z">{point}'
        f'<detail><contact callsign="WOLF 1" endpoint="*:-1:stcp"/>{extra}'
        f"{TAKV if takv else ''}"
        '<track course="90.0" speed="2.0"/></detail></event>'
    ).encode()


def report_of(data: bytes):
    return cot.position_report(cot.parse_event(data), SOURCE, GATEWAY, "main")


def test_a_pli_becomes_a_position_report_under_the_gateways_namespace() -> None:
    report = report_of(pli())
    assert report is not None
    assert report.source == SOURCE
    assert report.platform_id == "tak-gw.ANDROID-0123abcd"
    assert report.callsign == "WOLF 1"
    assert (report.position.lat, report.position.lon, report.position.hae_m) == (54.5, 10.25, 31.0)
    assert (report.ce_m, report.le_m) == (4.9, None)
    assert report.environment is Environment.LAND
    assert report.heading_deg == 90.0
    assert report.velocity_enu_mps == pytest.approx((2.0, 0.0, 0.0))
    assert report.time == datetime(2026, 3, 1, 12, tzinfo=UTC)


def test_a_protobuf_pli_becomes_the_same_report() -> None:
    xml = pli().decode().split("?>", 1)[1]
    mesh = bytes(takproto.xml2proto(xml, takproto.TAKProtoVer.MESH))
    from_mesh, from_xml = report_of(mesh), report_of(pli())
    assert from_mesh is not None and from_xml is not None
    assert from_mesh.model_dump(exclude={"msg_id"}) == from_xml.model_dump(exclude={"msg_id"})


def test_an_odd_or_long_uid_becomes_a_digest() -> None:
    assert re.fullmatch(r"tak-gw\.h[0-9a-f]{24}", cot.platform_id(GATEWAY, "S-1-5-21 é/x"))
    assert re.fullmatch(r"tak-gw\.h[0-9a-f]{24}", cot.platform_id(GATEWAY, "x" * 200))
    assert cot.platform_id(GATEWAY, "a b") != cot.platform_id(GATEWAY, "a c")


def test_events_that_are_not_a_pli_are_ignored() -> None:
    assert report_of(pli(takv=False)) is None  # a marker someone dropped
    assert report_of(pli(kind="a-h-G")) is None
    assert report_of(pli(kind="b-t-f")) is None  # chat
    assert report_of(pli(uid="rampart.main.T-3", extra='<__rampart gateway="tak-gw"/>')) is None  # our own echo


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not xml at all", "not XML: syntax error: line 1, column 0"),
        (b"<event", "not XML: unclosed token: line 1, column 0"),
        (b"<foo/>", "root element is <foo>, not <event>"),
        (pli(point=""), "event.point: missing"),
        (pli(lat="ninety"), "point.lat: 'ninety' is not a number"),
        (pli(lat="nan"), "point.lat: 'nan' is not finite"),
        (pli(lat="91.5"), "position.lat: 91.5 is not in [-90, 90]"),
        (pli(lon="-181"), "position.lon: -181.0 is not in [-180, 180]"),
        (
            pli().replace(b'time="2026-03-01T12:00:00.000Z"', b'time="yesterday"'),
            "event.time: 'yesterday' is not an ISO 8601 time",
        ),
        (pli().replace(b'uid="ANDROID-0123abcd" ', b""), "event.uid: missing"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><event/>', "XML with a DTD or entity declaration is refused"),
        (
            b"x" * (cot.MAX_EVENT_BYTES + 1),
            f"oversized: {cot.MAX_EVENT_BYTES + 1} bytes, at most {cot.MAX_EVENT_BYTES}",
        ),
        (b"\xbf\x01\xbf\xff\xff", "not TAK protocol v1: DecodeError"),
        (
            pli(uid="rampart.other.T-1", extra='<__rampart gateway="tak-2"/>'),
            "uid 'rampart.other.T-1' claims another Rampart gateway's namespace (tak-2)",
        ),
        (pli(uid="rampart.other.T-1"), "uid 'rampart.other.T-1' claims another Rampart gateway's namespace (other)"),
    ],
)
def test_unusable_input_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(cot.CotError) as refused:
        report_of(data)
    assert str(refused.value) == reason


# --- the stream splitter -------------------------------------------------------------------------


def test_the_splitter_cuts_xml_and_protobuf_frames_across_reads() -> None:
    xml_event = pli()
    frame = cot.track_wire(cot.track_fields(track(), "main", GATEWAY, POLICY), "stream")
    stream = xml_event + frame + xml_event
    splitter = cot.StreamSplitter()
    out = []
    for i in range(0, len(stream), 7):
        out += splitter.feed(stream[i : i + 7])
    assert out == [xml_event, frame, xml_event]


def test_the_splitter_refuses_oversized_events_and_resynchronises() -> None:
    splitter = cot.StreamSplitter(max_bytes=1000)
    out = splitter.feed(b"<event>" + b"x" * 5000)
    out += splitter.feed(b"y" * 3000 + b"</event>" + pli())
    assert [str(item) if isinstance(item, cot.CotError) else item for item in out] == [
        "oversized: more than 1000 bytes without </event>",
        pli(),
    ]
    big = bytes([0xBF]) + bytes([0xD0, 0x0F]) + b"z" * 2000  # varint 2000
    out = splitter.feed(big + pli())
    assert [str(item) if isinstance(item, cot.CotError) else item for item in out] == [
        "oversized: 2000 bytes, at most 1000",
        pli(),
    ]


# --- the link scheduler --------------------------------------------------------------------------


def encode(t: Track) -> bytes:
    return cot.track_wire(cot.track_fields(t, "main", GATEWAY, POLICY), "xml")


def encode_delete(track_id: str) -> bytes:
    return cot.to_wire(cot.delete_event(cot.event_uid("main", track_id), GATEWAY, T0), "xml")


def test_hostile_tracks_near_friendly_units_go_first_on_a_thin_link() -> None:
    size = len(encode(track()))
    scheduler = cot.LinkScheduler(rate_bps=9600, burst_bytes=size + 10)
    scheduler.offer(track("P-ifv-1", disposition=Disposition.FRIENDLY, lat=54.0, lon=10.0, platform_id="ifv-1"))
    scheduler.offer(track("T-unknown-near", disposition=Disposition.UNKNOWN, lat=54.001, lon=10.0))
    scheduler.offer(track("T-hostile-far", lat=54.5, lon=10.0))
    scheduler.offer(track("T-hostile-near", lat=54.01, lon=10.0))
    sent = []
    now = 0.0
    while scheduler.waiting:
        sent += [track_id for track_id, _ in scheduler.next_batch(now, encode, encode_delete)]
        now += 0.1
    # urgency = weight / (1 + distance / 5 km): hostile 8 at 1 km: 6.7; unknown 2 at 111 m: 1.96;
    # hostile 8 at 55 km: 0.67; the friendly platform itself 1.
    assert sent == ["T-hostile-near", "T-unknown-near", "P-ifv-1", "T-hostile-far"]
    # after the first (the bucket holds one event), each waits for its bytes at 9.6 kbit/s, to the next tick
    assert 3 * size * 8 / 9600 <= now <= 3 * (size * 8 / 9600 + 0.1) + 0.1


def test_a_withdrawal_goes_before_everything_and_only_for_tracks_sent() -> None:
    scheduler = cot.LinkScheduler()
    scheduler.offer(track("T-1"))
    assert [tid for tid, _ in scheduler.next_batch(0.0, encode, encode_delete)] == ["T-1"]
    scheduler.offer(track("T-2"))
    scheduler.withdraw("T-1")
    scheduler.withdraw("T-never-sent")
    batch = scheduler.next_batch(1.0, encode, encode_delete)
    assert [tid for tid, _ in batch] == ["T-1", "T-2"]
    assert etree.fromstring(batch[0][1]).get("type") == "t-x-d-d"
    assert scheduler.figures.deletes == 1


def test_one_track_goes_out_at_most_once_per_interval_and_only_its_newest_state() -> None:
    scheduler = cot.LinkScheduler(min_interval_s=1.0)
    scheduler.offer(track("T-1"))
    assert len(scheduler.next_batch(0.0, encode, encode_delete)) == 1
    scheduler.offer(track("T-1", lat=54.2))
    scheduler.offer(track("T-1", lat=54.3))
    assert scheduler.next_batch(0.5, encode, encode_delete) == []
    [(_, data)] = scheduler.next_batch(1.0, encode, encode_delete)
    assert float(etree.fromstring(data).find("point").get("lat")) == 54.3
    assert scheduler.figures.superseded == 1


def test_no_track_starves_waiting_raises_its_urgency() -> None:
    """One event per second fits; a hostile track next to a friendly unit and a neutral one 111 km away
    both change every second. The hostile one goes out most, the neutral one still goes out."""
    size = len(encode(track()))
    scheduler = cot.LinkScheduler(rate_bps=size * 8, burst_bytes=size, min_interval_s=1.0)
    scheduler.offer(track("P-1", disposition=Disposition.FRIENDLY, lat=54.0, lon=10.0, platform_id="p1"))
    sent: dict[str, int] = {}
    for second in range(600):
        scheduler.offer(track("T-h", lat=54.0, lon=10.001))
        scheduler.offer(track("T-n", disposition=Disposition.NEUTRAL, lat=55.0, lon=10.0))
        for track_id, _ in scheduler.next_batch(float(second), encode, encode_delete):
            sent[track_id] = sent.get(track_id, 0) + 1
    assert sent["T-h"] > 500
    assert 2 <= sent["T-n"] < 10
