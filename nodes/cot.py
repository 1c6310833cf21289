"""Cursor on Target (CoT) for the TAK gateway, pure: no sockets, no bus, no clock reads.

* `track_fields`: what one picture track's CoT event carries; `track_wire` writes it as XML or as
  TAK protocol v1 (protobuf, mesh or stream framing); `delete_event` withdraws a track.
* `parse_event` + `position_report`: a TAK client's position report (PLI, XML or protobuf) as a
  Rampart `PositionReport` under the gateway's own namespace; `StreamSplitter` cuts a TCP stream
  into events and refuses oversized ones.
* `LinkScheduler`: which track goes out next on a link with a byte budget.

What the fields carry (docs/tak.md has the table):
* `uid` = `rampart.<picture>.<track id>`: stable for the life of the track, whichever gateway sends it.
* `type` = `a-<affiliation>-<dimension>[-<function>]` from the track's disposition, environment and
  class (`cot_type`).
* `point ce` = the 1-sigma radius of the horizontal covariance's major axis (the circle that holds
  the 1-sigma ellipse: conservative), `le` = the vertical 1-sigma; both in metres, 9999999 unknown.
* `time` = `start` = when the track was last updated; `stale` from the track's status.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import takproto
from pydantic import ValidationError

from bus.schema import (
    Disposition,
    Environment,
    ObjectClass,
    PositionReport,
    Source,
    Track,
    TrackStatus,
    validation_failure,
)

UNKNOWN_ERROR_M = 9_999_999.0
"""CoT's "not known" for `ce`, `le` and `hae`."""
UID_ROOT = "rampart"
MAX_EVENT_BYTES = 64 * 1024
"""Inbound events larger than this are refused (a PLI is a few hundred bytes)."""
STREAM_MAGIC = 0xBF

AFFILIATION = {
    Disposition.FRIENDLY: "f",
    Disposition.ASSUMED_FRIEND: "a",
    Disposition.NEUTRAL: "n",
    Disposition.UNKNOWN: "u",
    Disposition.PENDING: "p",
    Disposition.SUSPECT: "s",
    Disposition.HOSTILE: "h",
}
DIMENSION = {
    Environment.AIR: "A",
    Environment.LAND: "G",
    Environment.SURFACE: "S",
    Environment.SUBSURFACE: "U",
    Environment.SPACE: "P",
}
CLASS_DIMENSION = {
    ObjectClass.UAV: "A",
    ObjectClass.AIRCRAFT: "A",
    ObjectClass.VEHICLE: "G",
    ObjectClass.PERSON: "G",
    ObjectClass.VESSEL: "S",
}
FUNCTION = {
    ("A", ObjectClass.UAV): "M-F-Q",  # military fixed wing, drone (RPV/UAV)
    ("A", ObjectClass.AIRCRAFT): "M-F",  # military fixed wing
    ("G", ObjectClass.VEHICLE): "E-V",  # ground equipment, vehicle
    ("G", ObjectClass.PERSON): "U-C-I",  # ground unit, combat, infantry
    ("S", ObjectClass.VESSEL): "X",  # sea surface, non-military
}
ENVIRONMENT_OF_DIMENSION = {"A": Environment.AIR, "G": Environment.LAND, "S": Environment.SURFACE}


class CotError(ValueError):
    """An inbound CoT event that cannot be used; the message is the dead letter's reason."""


# --- outbound ------------------------------------------------------------------------------------


def cot_type(disposition: Disposition, environment: Environment, classification: ObjectClass | None) -> str:
    """MIL-STD-2525 as a CoT type: affiliation, battle dimension (the track's environment, else its
    class's, else ground), and the function code of its class where it fits that dimension."""
    dimension = DIMENSION.get(environment) or CLASS_DIMENSION.get(classification or ObjectClass.VEHICLE, "G")
    function = FUNCTION.get((dimension, classification)) if classification else None
    return f"a-{AFFILIATION[disposition]}-{dimension}" + (f"-{function}" if function else "")


def event_uid(picture: str, track_id: str) -> str:
    return f"{UID_ROOT}.{picture}.{track_id}"


def cot_time(t: datetime) -> str:
    """CoT's time format: UTC, milliseconds, `Z`."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def circular_error_m(cov: tuple[tuple[float, float, float], ...]) -> float:
    """The 1-sigma radius of the horizontal covariance's major axis (m)."""
    (ee, en, _), (ne, nn, _), _ = cov
    half_trace, det = (ee + nn) / 2.0, ee * nn - en * ne
    return math.sqrt(max(half_trace + math.sqrt(max(half_trace**2 - det, 0.0)), 0.0))


@dataclass(frozen=True)
class StalePolicy:
    """When an event goes stale, by track status: a confirmed track `confirmed_s` after its update
    (longer than the link's refresh of it, so a live track never greys out between refreshes); a
    coasting one when the fusion would drop it (`Track.stale_at`), at most `coasting_s` after its
    update. Tentative tracks are not sent."""

    confirmed_s: float = 30.0
    coasting_s: float = 15.0

    def stale(self, track: Track) -> datetime:
        if track.status is TrackStatus.CONFIRMED:
            return track.updated + timedelta(seconds=self.confirmed_s)
        return min(track.stale_at, track.updated + timedelta(seconds=self.coasting_s))


def remarks(track: Track) -> str:
    """Track id, status, class and the contributing sources, each with how long before the track's
    update it last contributed."""
    label = f", {track.classification} {track.classification_confidence:.0%}" if track.classification else ""
    sources = ", ".join(
        f"{s.source_id} ({s.kind}, {(track.updated - s.last_time).total_seconds():.1f} s before)" for s in track.sources
    )
    return f"Rampart track {track.track_id} ({track.status}{label}); sources: {sources or 'none'}"


@dataclass(frozen=True)
class TrackFields:
    """What one track's event carries, before it is written as XML or as protobuf."""

    uid: str
    type: str
    how: str
    time: datetime
    stale: datetime
    lat: float
    lon: float
    hae: float
    ce: float
    le: float
    course: float
    speed: float
    callsign: str | None
    detail_xml: str
    """The detail elements TAK protocol v1 has no field for: `__rampart` and `remarks`."""


def track_fields(
    track: Track, picture: str, gateway_id: str, policy: StalePolicy, callsign: str | None = None
) -> TrackFields:
    """One track's event. `callsign` labels a friendly platform."""
    ve, vn, _ = track.velocity_enu_mps
    return TrackFields(
        uid=event_uid(picture, track.track_id),
        type=cot_type(track.disposition, track.environment, track.classification),
        how="m-g" if track.platform_id else "m-f",
        time=track.updated,
        stale=policy.stale(track),
        lat=track.position.lat,
        lon=track.position.lon,
        hae=track.position.hae_m,
        ce=circular_error_m(track.position_cov_enu_m2),
        le=math.sqrt(max(track.position_cov_enu_m2[2][2], 0.0)),
        course=math.degrees(math.atan2(ve, vn)) % 360.0,
        speed=math.hypot(ve, vn),
        callsign=callsign,
        detail_xml=f"<__rampart gateway={quoteattr(gateway_id)}/><remarks>{escape(remarks(track))}</remarks>",
    )


def track_event(fields: TrackFields) -> str:
    """The event as CoT XML (no declaration)."""
    time = cot_time(fields.time)
    contact = f"<contact callsign={quoteattr(fields.callsign)}/>" if fields.callsign else ""
    return (
        f'<event version="2.0" uid={quoteattr(fields.uid)} type="{fields.type}" how="{fields.how}" '
        f'time="{time}" start="{time}" stale="{cot_time(fields.stale)}">'
        f'<point lat="{fields.lat:.8f}" lon="{fields.lon:.8f}" hae="{fields.hae:.2f}" ce="{fields.ce:.1f}" '
        f'le="{fields.le:.1f}"/><detail>{contact}<track course="{fields.course:.2f}" speed="{fields.speed:.2f}"/>'
        f"{fields.detail_xml}</detail></event>"
    )


def track_protobuf(fields: TrackFields, fmt: str) -> bytes:
    """The event as TAK protocol v1, `mesh` or `stream` framed, built field by field (ten times
    cheaper than converting the XML)."""
    message = takproto.proto.TakMessage()
    event = message.cotEvent
    event.type, event.uid, event.how = fields.type, fields.uid, fields.how
    event.sendTime = event.startTime = _ms(fields.time)
    event.staleTime = _ms(fields.stale)
    event.lat, event.lon, event.hae, event.ce, event.le = fields.lat, fields.lon, fields.hae, fields.ce, fields.le
    detail = event.detail
    if fields.callsign:
        detail.contact.callsign = fields.callsign
    detail.track.course, detail.track.speed = fields.course, fields.speed
    detail.xmlDetail = fields.detail_xml
    return bytes(takproto.functions.msg2proto(message, _PROTO_VERSION[fmt]))


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def delete_event(uid: str, gateway_id: str, now: datetime, stale_s: float = 60.0) -> str:
    """The event that withdraws `uid` from every TAK map at once (`t-x-d-d` with `__forcedelete`)."""
    time = cot_time(now)
    return (
        f'<event version="2.0" uid={quoteattr(uid + ".delete")} type="t-x-d-d" how="h-g-i-g-o" '
        f'time="{time}" start="{time}" stale="{cot_time(now + timedelta(seconds=stale_s))}">'
        f'<point lat="0" lon="0" hae="0" ce="{UNKNOWN_ERROR_M:.0f}" le="{UNKNOWN_ERROR_M:.0f}"/>'
        f'<detail><link uid={quoteattr(uid)} relation="p-p" type="a-u-G"/><__forcedelete/>'
        f"<__rampart gateway={quoteattr(gateway_id)}/></detail></event>"
    )


def presence_event(gateway_id: str, picture: str, now: datetime, stale_s: float) -> str:
    """The gateway's own presence on a TAK server: servers route only to clients that announced
    themselves with a position report (FreeTAKServer does). In the picture's namespace and marked
    `__rampart`, so that no Rampart gateway takes it for a TAK client."""
    time = cot_time(now)
    return (
        f'<event version="2.0" uid={quoteattr(event_uid(picture, gateway_id))} type="a-f-G-U-C" how="h-g-i-g-o" '
        f'time="{time}" start="{time}" stale="{cot_time(now + timedelta(seconds=stale_s))}">'
        f'<point lat="0" lon="0" hae="{UNKNOWN_ERROR_M:.0f}" ce="{UNKNOWN_ERROR_M:.0f}" le="{UNKNOWN_ERROR_M:.0f}"/>'
        f'<detail><contact callsign={quoteattr(gateway_id)} endpoint="*:-1:stcp"/><__group name="Cyan" role="HQ"/>'
        f'<takv device="rampart" platform="rampart-tak" os="linux" version="1"/>'
        f"<__rampart gateway={quoteattr(gateway_id)}/></detail></event>"
    )


XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


_PROTO_VERSION = {"mesh": takproto.TAKProtoVer.MESH, "stream": takproto.TAKProtoVer.STREAM}


def to_wire(event_xml: str, fmt: str) -> bytes:
    """An event in a destination's format: `xml` (declaration + event), `mesh` (TAK protocol v1,
    header bf 01 bf) or `stream` (TAK protocol v1, header bf + varint length)."""
    if fmt == "xml":
        return (XML_DECLARATION + event_xml).encode()
    return bytes(takproto.xml2proto(event_xml, _PROTO_VERSION[fmt]))


def track_wire(fields: TrackFields, fmt: str) -> bytes:
    """One track's event in a destination's format (as `to_wire`)."""
    return to_wire(track_event(fields), fmt) if fmt == "xml" else track_protobuf(fields, fmt)


# --- inbound -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CotEvent:
    """What the gateway reads from an inbound event."""

    uid: str
    type: str
    time: datetime
    lat: float
    lon: float
    hae: float
    ce: float
    le: float
    callsign: str = ""
    course: float | None = None
    speed: float | None = None
    has_takv: bool = False
    rampart_gateway: str | None = None
    """The `__rampart gateway` of an event a Rampart gateway sent."""


_DOCTYPE = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def parse_event(data: bytes) -> CotEvent:
    """An inbound event: TAK protocol v1 (mesh or stream header) or XML. Raises CotError."""
    if len(data) > MAX_EVENT_BYTES:
        raise CotError(f"oversized: {len(data)} bytes, at most {MAX_EVENT_BYTES}")
    if data[:1] == bytes([STREAM_MAGIC]):
        return _from_protobuf(data)
    return _from_xml(data)


def _number(attrs: dict[str, str], name: str, where: str, default: float | None = None) -> float:
    raw = attrs.get(name)
    if raw is None:
        if default is None:
            raise CotError(f"{where}.{name}: missing")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise CotError(f"{where}.{name}: {raw[:32]!r} is not a number") from None
    if not math.isfinite(value):
        raise CotError(f"{where}.{name}: {raw[:32]!r} is not finite")
    return value


def _time(raw: str | None, where: str) -> datetime:
    if raw is None:
        raise CotError(f"{where}: missing")
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise CotError(f"{where}: {raw[:40]!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise CotError(f"{where}: {raw[:40]!r} has no time zone")
    return value.astimezone(UTC)


def _from_xml(data: bytes) -> CotEvent:
    if _DOCTYPE.search(data):
        raise CotError("XML with a DTD or entity declaration is refused")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as error:
        raise CotError(f"not XML: {error}") from None
    if root.tag != "event":
        raise CotError(f"root element is <{root.tag[:32]}>, not <event>")
    attrs = root.attrib
    for name in ("uid", "type"):
        if not attrs.get(name):
            raise CotError(f"event.{name}: missing")
    point = root.find("point")
    if point is None:
        raise CotError("event.point: missing")
    detail = root.find("detail")
    found = (lambda tag: detail.find(tag)) if detail is not None else (lambda tag: None)
    contact, track, rampart = found("contact"), found("track"), found("__rampart")
    return CotEvent(
        uid=attrs["uid"],
        type=attrs["type"],
        time=_time(attrs.get("time"), "event.time"),
        lat=_number(point.attrib, "lat", "point"),
        lon=_number(point.attrib, "lon", "point"),
        hae=_number(point.attrib, "hae", "point", UNKNOWN_ERROR_M),
        ce=_number(point.attrib, "ce", "point", UNKNOWN_ERROR_M),
        le=_number(point.attrib, "le", "point", UNKNOWN_ERROR_M),
        callsign=contact.attrib.get("callsign", "") if contact is not None else "",
        course=_number(track.attrib, "course", "track") if track is not None else None,
        speed=_number(track.attrib, "speed", "track") if track is not None else None,
        has_takv=found("takv") is not None,
        rampart_gateway=rampart.attrib.get("gateway") if rampart is not None else None,
    )


def _from_protobuf(data: bytes) -> CotEvent:
    try:
        message = takproto.parse_proto(bytearray(data))
    except Exception as error:  # takproto raises protobuf's DecodeError, IndexError or ValueError
        raise CotError(f"not TAK protocol v1: {type(error).__name__}") from None
    if message is None or not message.HasField("cotEvent"):
        raise CotError("TAK protocol v1 message without a cotEvent")
    event = message.cotEvent
    if not event.uid or not event.type:
        raise CotError(f"event.{'uid' if not event.uid else 'type'}: missing")
    detail = event.detail
    gateway = re.search(r'<__rampart gateway="([^"]*)"', detail.xmlDetail)
    return CotEvent(
        uid=event.uid,
        type=event.type,
        time=datetime.fromtimestamp(event.sendTime / 1000.0, UTC),
        lat=event.lat,
        lon=event.lon,
        hae=event.hae,
        ce=event.ce,
        le=event.le,
        callsign=detail.contact.callsign,
        course=detail.track.course if detail.HasField("track") else None,
        speed=detail.track.speed if detail.HasField("track") else None,
        has_takv=detail.HasField("takv"),
        rampart_gateway=gateway.group(1) if gateway else None,
    )


_SEGMENT = re.compile(r"^[A-Za-z0-9_.:-]+$")


def platform_id(gateway_id: str, tak_uid: str) -> str:
    """The platform id of a TAK client: `<gateway id>.<its uid>`, or a digest of the uid where the uid
    has characters an id may not have or the id would be longer than 64."""
    candidate = f"{gateway_id}.{tak_uid}"
    if _SEGMENT.match(tak_uid) and len(candidate) <= 64:
        return candidate
    return f"{gateway_id}.h{sha256(tak_uid.encode()).hexdigest()[:24]}"


def is_pli(event: CotEvent) -> bool:
    """A TAK client's own position report: a friendly atom sent by a TAK client (it carries `takv`)."""
    return event.type.startswith("a-f-") and event.has_takv


def position_report(event: CotEvent, source: Source, gateway_id: str, picture: str) -> PositionReport | None:
    """A PLI as a PositionReport from the gateway's source; None for an event that is not a PLI
    (chat, pings, markers: not for the picture). Raises CotError for a PLI that cannot be used or
    an event that claims a Rampart picture's namespace."""
    own_prefix = f"{UID_ROOT}.{picture}."
    if event.rampart_gateway is not None or event.uid.startswith(f"{UID_ROOT}."):
        if event.uid.startswith(own_prefix) or event.rampart_gateway == gateway_id:
            return None  # our own event, echoed back by the server
        claimed = event.rampart_gateway or event.uid.split(".")[1]
        raise CotError(f"uid {event.uid[:80]!r} claims another Rampart gateway's namespace ({claimed})")
    if not is_pli(event):
        return None
    velocity = None
    if event.course is not None and event.speed is not None and event.speed >= 0:
        rad = math.radians(event.course)
        velocity = (event.speed * math.sin(rad), event.speed * math.cos(rad), 0.0)
    try:
        return PositionReport(
            source=source,
            time=event.time,
            platform_id=platform_id(gateway_id, event.uid),
            position={"lat": event.lat, "lon": event.lon, "hae_m": 0.0 if event.hae >= UNKNOWN_ERROR_M else event.hae},
            velocity_enu_mps=velocity,
            heading_deg=event.course % 360.0 if event.course is not None else None,
            ce_m=None if event.ce >= UNKNOWN_ERROR_M else event.ce,
            le_m=None if event.le >= UNKNOWN_ERROR_M else event.le,
            environment=ENVIRONMENT_OF_DIMENSION.get(event.type.split("-")[2][:1], Environment.UNKNOWN),
            platform_type=f"TAK {event.type}"[:256],
            callsign=event.callsign[:256],
        )
    except ValidationError as error:
        where, reason = validation_failure(error)
        raise CotError(f"{where}: {reason}") from None


@dataclass
class StreamSplitter:
    """Cuts a TAK stream (TCP) into events: XML up to `</event>`, or TAK protocol v1 stream frames
    (bf, varint length, payload). An event over `max_bytes` is reported as oversized and skipped."""

    max_bytes: int = MAX_EVENT_BYTES
    _buffer: bytearray = field(default_factory=bytearray)
    _skip_xml: bool = False
    _skip_bytes: int = 0

    def feed(self, data: bytes) -> list[bytes | CotError]:
        """The whole events (bytes) and refusals (CotError) that `data` completes."""
        self._buffer += data
        out: list[bytes | CotError] = []
        while self._buffer:
            if self._skip_bytes:
                dropped = min(self._skip_bytes, len(self._buffer))
                del self._buffer[:dropped]
                self._skip_bytes -= dropped
                continue
            if self._buffer[0] == STREAM_MAGIC and not self._skip_xml:
                item = self._protobuf_frame()
            else:
                item = self._xml_event()
            if item is None:
                break
            out.append(item)
        return out

    def _xml_event(self) -> bytes | CotError | None:
        end = self._buffer.find(b"</event>")
        if end < 0:
            if len(self._buffer) <= self.max_bytes:
                return None
            del self._buffer[: -len(b"</event>")]  # keep a tail that may hold the start of `</event>`
            if self._skip_xml:
                return None
            self._skip_xml = True
            return CotError(f"oversized: more than {self.max_bytes} bytes without </event>")
        end += len(b"</event>")
        event = bytes(self._buffer[:end]).strip()
        del self._buffer[:end]
        if self._skip_xml:
            self._skip_xml = False
            return None if not self._buffer else self._xml_event()
        if len(event) > self.max_bytes:
            return CotError(f"oversized: {len(event)} bytes, at most {self.max_bytes}")
        return event

    def _protobuf_frame(self) -> bytes | CotError | None:
        length, shift, pos = 0, 0, 1
        while True:
            if pos >= len(self._buffer):
                return None
            byte = self._buffer[pos]
            length |= (byte & 0x7F) << shift
            pos += 1
            if not byte & 0x80:
                break
            shift += 7
            if shift > 28:
                del self._buffer[:pos]
                return CotError("TAK protocol v1 stream header: length varint longer than 4 bytes")
        if length > self.max_bytes:
            del self._buffer[:pos]
            self._skip_bytes = length
            return CotError(f"oversized: {length} bytes, at most {self.max_bytes}")
        if len(self._buffer) < pos + length:
            return None
        frame = bytes(self._buffer[: pos + length])
        del self._buffer[: pos + length]
        return frame


# --- scheduling ----------------------------------------------------------------------------------

IDENTITY_WEIGHT = {
    Disposition.HOSTILE: 8.0,
    Disposition.SUSPECT: 4.0,
    Disposition.UNKNOWN: 2.0,
    Disposition.PENDING: 2.0,
}
"""How much more often a track of this identity goes out than a friendly or neutral one (weight 1)."""
PROXIMITY_SCALE_M = 5_000.0
"""Urgency halves at this distance from the nearest friendly unit."""
FRIENDLY = (Disposition.FRIENDLY, Disposition.ASSUMED_FRIEND)
NEVER_SENT_WAIT_S = 3600.0
"""A track that never went out counts as having waited this long, so new tracks go before refreshes."""


@dataclass
class _Pending:
    track: Track
    last_sent: float | None


@dataclass
class LinkFigures:
    sent: int = 0
    deletes: int = 0
    bytes: int = 0
    superseded: int = 0
    """Track states replaced by a newer one before they went out (the link was too thin for them)."""


class LinkScheduler:
    """Decides what one link sends next.

    Every picture change is offered; only the newest state of each track waits (older ones are
    superseded). Withdrawals go first, always. Then, while the byte budget (a token bucket of
    `rate_bps`, `burst_bytes` deep; None = unlimited) lasts, the waiting tracks go in order of
    urgency = seconds since the track last went out x identity weight (hostile 8, suspect 4,
    unknown 2, others 1) / (1 + distance to the nearest friendly unit / 5 km): hostile tracks near
    friendly units first, and no track starves, since waiting raises its urgency. A track goes out
    at most once per `min_interval_s`."""

    def __init__(self, rate_bps: float | None = None, min_interval_s: float = 1.0, burst_bytes: int = 4096) -> None:
        self.rate_bps = rate_bps
        self.min_interval_s = min_interval_s
        self.burst_bytes = burst_bytes
        self.figures = LinkFigures()
        self._tokens = float(burst_bytes)
        self._refilled: float | None = None
        self._pending: dict[str, _Pending] = {}
        self._last_sent: dict[str, float] = {}
        self._deletes: dict[str, None] = {}
        self._friendlies: dict[str, tuple[float, float]] = {}

    def offer(self, track: Track) -> None:
        """The newest state of a track (replacing any state of it still waiting)."""
        if track.disposition in FRIENDLY:
            self._friendlies[track.track_id] = (track.position.lat, track.position.lon)
        else:
            self._friendlies.pop(track.track_id, None)
        if track.track_id in self._pending:
            self.figures.superseded += 1
        self._pending[track.track_id] = _Pending(track, self._last_sent.get(track.track_id))
        self._deletes.pop(track.track_id, None)

    def withdraw(self, track_id: str) -> None:
        """The track is gone: withdraw it before anything else, if it ever went out."""
        self._pending.pop(track_id, None)
        self._friendlies.pop(track_id, None)
        if self._last_sent.pop(track_id, None) is not None:
            self._deletes[track_id] = None

    def forget(self) -> None:
        """The link was (re)connected: nothing has gone out on it, nothing waits."""
        self._pending.clear()
        self._last_sent.clear()
        self._deletes.clear()

    @property
    def waiting(self) -> int:
        return len(self._pending) + len(self._deletes)

    def _refill(self, now: float) -> None:
        if self.rate_bps is None:
            self._tokens = math.inf
            return
        if self._refilled is not None:
            self._tokens = min(self.burst_bytes, self._tokens + (now - self._refilled) * self.rate_bps / 8.0)
        self._refilled = now

    def urgency(self, now: float) -> list[tuple[float, str]]:
        """(urgency, track id) of the tracks allowed to go out now, most urgent first."""
        ready = [
            (track_id, p)
            for track_id, p in self._pending.items()
            if p.last_sent is None or now - p.last_sent >= self.min_interval_s
        ]
        if not ready:
            return []
        lat = np.radians([p.track.position.lat for _, p in ready])
        lon = np.radians([p.track.position.lon for _, p in ready])
        if self._friendlies:
            f_lat, f_lon = np.radians(np.array(list(self._friendlies.values()))).T
            dx = (lon[:, None] - f_lon[None, :]) * np.cos((lat[:, None] + f_lat[None, :]) / 2.0)
            dy = lat[:, None] - f_lat[None, :]
            distance = 6_371_000.0 * np.sqrt(dx**2 + dy**2).min(axis=1)
        else:
            distance = np.zeros(len(ready))
        scores = []
        for (track_id, p), d in zip(ready, distance, strict=True):
            waited = now - p.last_sent if p.last_sent is not None else NEVER_SENT_WAIT_S
            weight = IDENTITY_WEIGHT.get(p.track.disposition, 1.0)
            scores.append((waited * weight / (1.0 + float(d) / PROXIMITY_SCALE_M), track_id))
        scores.sort(key=lambda item: (-item[0], item[1]))
        return scores

    def next_batch(
        self, now: float, encode: Callable[[Track], bytes], encode_delete: Callable[[str], bytes]
    ) -> list[tuple[str, bytes]]:
        """What to send now, in order: (track id, the encoded event)."""
        self._refill(now)
        out: list[tuple[str, bytes]] = []
        for track_id in list(self._deletes):
            data = encode_delete(track_id)
            if not self._spend(len(data)):
                return out
            del self._deletes[track_id]
            self.figures.deletes += 1
            out.append((track_id, data))
        for _, track_id in self.urgency(now):
            data = encode(self._pending[track_id].track)
            if not self._spend(len(data)):
                break
            del self._pending[track_id]
            self._last_sent[track_id] = now
            self.figures.sent += 1
            out.append((track_id, data))
        return out

    def _spend(self, size: int) -> bool:
        # An event larger than the whole bucket still goes once the bucket is full, or never would.
        if self._tokens < min(size, self.burst_bytes):
            return False
        self._tokens -= size
        self.figures.bytes += size
        return True
