"""MISB ST 0601 (UAS Datalink Local Set) KLV bytes -> `MisbFrame`.

The KLV work is done by the `stanag4609` library: BER lengths, the Local Set, the checksum (tag 1,
16-bit running sum over the packet up to the checksum value), each tag's length check and ST 0601
value mapping, and the reserved "out of range" / "off earth" raw values, which it returns as
`SpecialValue` rather than numbers. `klv-parser` (and `klvdata`, which it forks) was evaluated first
and not used: it never verifies the checksum, silently accepts truncated packets, turns malformed
values into unknown elements without a word, and reports tag 20's raw 0x80000000 (a valid 180°) as
an error marker.

This module adds only what the library does not do for us: splitting a byte stream into packets so
one bad packet does not stop the stream, one error type, `SpecialValue` -> None, and full corner
points computed from the frame centre when a packet carries only offset corners (tags 26-33).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from stanag4609.errors import DecodeError, NeedMoreData, Stanag4609Error, TruncatedData
from stanag4609.klv.ber import decode_ber_length
from stanag4609.st0601 import (
    ST0601_KEY,
    FieldDecodingMode,
    SpecialValue,
    UASLocalSet,
    decode_uas_local_set,
)

from adapters import video
from adapters.base import Adapter
from adapters.errors import NativeFormatError
from bus.client import BrokerConfig
from bus.schema import VideoMetadata
from simulators.native import DroneVideoFrame, MisbFrame

UAS_LS_KEY = ST0601_KEY
"""The 16-byte Universal Key of the UAS Datalink Local Set."""

# Every tag MisbFrame reads: a malformed value in one of them rejects the packet rather than
# silently becoming None (malformed tags the frame does not use are ignored).
_USED_TAGS = frozenset({2, 3, 5, 6, 7, 10, *range(13, 22), *range(23, 34), *range(82, 92)})


class KlvError(NativeFormatError):
    """A packet (or a run of stream bytes) that cannot be decoded; the message says why."""


def decode_stream(data: bytes) -> Iterator[MisbFrame | KlvError]:
    """Yield one `MisbFrame` or `KlvError` per packet of a raw KLV byte stream.

    Errors are yielded, not raised, so that one damaged packet costs one frame. After any error
    (foreign bytes, a broken length, a bad checksum, a truncated tail) decoding resumes at the next
    UAS Local Set key.
    """
    pos = 0
    while pos < len(data):
        try:
            end = _packet_end(data, pos)
            yield decode_packet(data[pos:end])
            pos = end
        except KlvError as error:
            yield error
            # a corrupted length may have swallowed the next packet: resume at the next key
            resume = data.find(UAS_LS_KEY, pos + 1)
            pos = len(data) if resume < 0 else resume


def _packet_end(data: bytes, pos: int) -> int:
    """Return the end offset of the packet starting at `pos`, or raise KlvError."""
    key = data[pos : pos + len(UAS_LS_KEY)]
    if not UAS_LS_KEY.startswith(key):
        raise KlvError(f"not a UAS Datalink Local Set: key {key.hex(' ')} at offset {pos}")
    start = pos + len(UAS_LS_KEY)
    try:
        length, used = decode_ber_length(data, start)
    except NeedMoreData as error:
        raise KlvError(f"truncated packet at offset {pos}: stream ends inside the key or length") from error
    except DecodeError as error:
        raise KlvError(f"bad packet length at offset {pos}: {error}") from error
    end = start + used + length
    if end > len(data):
        raise KlvError(
            f"truncated packet at offset {pos}: declares {length} value bytes, only {len(data) - start - used} remain"
        )
    return end


def decode_packet(packet: bytes) -> MisbFrame:
    """Decode exactly one ST 0601 packet (key, length, value) into a `MisbFrame`.

    Raises KlvError for a foreign key, a truncated packet, a checksum mismatch, a missing precision
    time stamp (tag 2: the frame could not be placed in time) or a malformed value in a used tag.
    """
    key = packet[: len(UAS_LS_KEY)]
    if not UAS_LS_KEY.startswith(key):
        raise KlvError(f"not a UAS Datalink Local Set: key {key.hex(' ')}")
    try:
        uas = decode_uas_local_set(packet, require_version=False, field_decoding=FieldDecodingMode.PRESERVE)
    except TruncatedData as error:
        raise KlvError(f"truncated packet: {error}") from error
    except OverflowError as error:  # the library makes datetimes of time stamps: past year 9999
        raise KlvError(f"time stamp out of range: {error}") from error
    except Stanag4609Error as error:
        raise KlvError(str(error)) from error
    for issue in uas.issues:
        if issue.tag in _USED_TAGS:
            raise KlvError(f"malformed tag {issue.tag} ({issue.name}): {issue.message}")
    corner_lats, corner_lons = _corners(uas)
    return MisbFrame(
        # tag 2 as transmitted (required, 8 bytes: checked above), read as POSIX microseconds as the
        # samples' encoders write it; no ST 0603 leap-second correction (tag 136 is rarely sent)
        precision_time_stamp_us=int.from_bytes(uas.local_set.getall(2)[0].value, "big"),
        platform_designation=_value(uas, 10),
        platform_heading_deg=_value(uas, 5),
        # ST 0601 prefers the full-range tags 90/91 to the legacy 6/7 when both are sent
        platform_pitch_deg=_value(uas, 90, 6),
        platform_roll_deg=_value(uas, 91, 7),
        sensor_latitude_deg=_value(uas, 13),
        sensor_longitude_deg=_value(uas, 14),
        sensor_true_altitude_m=_value(uas, 15),
        sensor_hfov_deg=_value(uas, 16),
        sensor_vfov_deg=_value(uas, 17),
        sensor_relative_azimuth_deg=_value(uas, 18),
        sensor_relative_elevation_deg=_value(uas, 19),
        sensor_relative_roll_deg=_value(uas, 20),
        slant_range_m=_value(uas, 21),
        frame_center_latitude_deg=_value(uas, 23),
        frame_center_longitude_deg=_value(uas, 24),
        frame_center_elevation_m=_value(uas, 25),
        corner_latitudes_deg=corner_lats,
        corner_longitudes_deg=corner_lons,
        mission_id=_value(uas, 3),
    )


def _value(uas: UASLocalSet, *tags: int) -> Any:
    """The first of `tags` with a real value; None when all are absent or special (out of range...)."""
    for tag in tags:
        value = uas.value(tag)
        if value is not None and not isinstance(value, SpecialValue):
            return value
    return None


Corners = tuple[float, float, float, float]


def _corners(uas: UASLocalSet) -> tuple[Corners | None, Corners | None]:
    """Corner latitudes and longitudes (UL, UR, LR, LL), or (None, None) unless all 8 are known.

    The full corners (tags 82-89) when all are known; otherwise the offset corners (tags 26-33,
    degrees relative to the frame centre, same lat/lon interleaving) added to the centre (23/24).
    """
    points = [_value(uas, tag) for tag in range(82, 90)]
    if None in points:
        centre = (_value(uas, 23), _value(uas, 24))
        offsets = [_value(uas, tag) for tag in range(26, 34)]
        points = [
            None if offset is None or centre[i % 2] is None else centre[i % 2] + offset
            for i, offset in enumerate(offsets)
        ]
        if None not in points:
            points[1::2] = [(lon + 180.0) % 360.0 - 180.0 for lon in points[1::2]]  # across ±180°
    if None in points:
        return None, None
    return (points[0], points[2], points[4], points[6]), (points[1], points[3], points[5], points[7])


class KlvAdapter(Adapter[bytes]):
    """Publishes a real MISB ST 0601 KLV stream (one packet per `submit`) as VideoMetadata.

    The stream and platform ids are the adapter's configuration: ST 0601 carries neither reliably."""

    kind = "video"
    integration = "misb-st0601-klv"

    def __init__(
        self,
        source_id: str,
        broker: BrokerConfig | None = None,
        *,
        platform_id: str | None = None,
        stream_id: str | None = None,
        **options: Any,
    ) -> None:
        super().__init__(source_id, broker, **options)
        self.platform_id = platform_id or source_id
        self.stream_id = stream_id or source_id

    def translate(self, native: bytes) -> VideoMetadata:
        frame = DroneVideoFrame(drone_id=self.platform_id, stream_id=self.stream_id, misb=decode_packet(native))
        return video.translate(frame, self.source)
