"""MISB ST 0601 (UAS Datalink Local Set) KLV bytes -> `MisbFrame`, with ST 0903 VMTI targets.

The KLV work is done by the `stanag4609` library: BER lengths, the Local Set, the checksum (tag 1,
16-bit running sum over the packet up to the checksum value), each tag's length check and ST 0601
value mapping, and the reserved "out of range" / "off earth" raw values, which it returns as
`SpecialValue` rather than numbers. `klv-parser` (and `klvdata`, which it forks) was evaluated first
and not used: it never verifies the checksum, silently accepts truncated packets, turns malformed
values into unknown elements without a word, and reports tag 20's raw 0x80000000 (a valid 180°) as
an error marker.

This module adds only what the library does not do for us: splitting a byte stream into packets so
one bad packet does not stop the stream, one error type, `SpecialValue` -> None, full corner points
computed from the frame centre when a packet carries only offset corners (tags 26-33), and the
in-frame detections of an embedded VMTI Local Set (tag 74, ST 0903) as `VmtiTarget`s.

`MisbFrame` and `VmtiTarget` are this adapter's own parsed form of a packet (engineering units,
None = absent or "out of range"); `adapters/video.py` turns them into `VideoMetadata`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
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
from stanag4609.st0903 import VMTILocalSet, VTarget, resolve_vtarget_location
from stanag4609.st0903_geo import Location

from adapters.errors import NativeFormatError

UAS_LS_KEY = ST0601_KEY
"""The 16-byte Universal Key of the UAS Datalink Local Set."""

# Every tag MisbFrame reads: a malformed value in one of them rejects the packet rather than
# silently becoming None (malformed tags the frame does not use are ignored).
_USED_TAGS = frozenset({2, 3, 5, 6, 7, 10, *range(13, 22), *range(23, 34), 74, *range(82, 92)})

Corners = tuple[float, float, float, float]


@dataclass(frozen=True, slots=True)
class VmtiTarget:
    """One ST 0903 VTarget as the video adapter uses it (None = not sent).

    `box` is normalised to [0, 1] of the frame (from the pixel numbers of tags 2/3, or the centroid
    of tag 1 as a point, given the VMTI frame size of tags 8/9); `confidence` is tag 5 (whole
    percent) / 100; `label` and `label_confidence` come from the first VObject (tag 107) through the
    ontology series (tag 103: its label, else the entity IRI's fragment); the position is tag 17
    (absolute) or tags 10-12 (offsets from the frame centre); `sigmas_enu_m` and
    `correlations_enu` are tag 17's standard deviations and correlations (ENU).
    """

    target_id: int
    box: Corners | None = None
    confidence: float | None = None
    label: str | None = None
    label_confidence: float | None = None
    latitude_deg: float | None = None
    longitude_deg: float | None = None
    hae_m: float | None = None
    sigmas_enu_m: tuple[float, float, float] | None = None
    correlations_enu: tuple[float, float, float] | None = None


@dataclass(frozen=True, slots=True)
class MisbFrame:
    """One MISB ST 0601 local set in engineering units (None = absent or "out of range").

    Field names follow the ST 0601 tag names; the tag number is in each comment. Angles in degrees,
    distances in metres, altitudes above mean sea level (as ST 0601 defines them).
    """

    precision_time_stamp_us: int  # tag 2: microseconds since 1970-01-01 UTC
    platform_designation: str | None = None  # tag 10
    platform_heading_deg: float | None = None  # tag 5, [0, 360)
    platform_pitch_deg: float | None = None  # tag 90, else 6
    platform_roll_deg: float | None = None  # tag 91, else 7
    sensor_latitude_deg: float | None = None  # tag 13
    sensor_longitude_deg: float | None = None  # tag 14
    sensor_true_altitude_m: float | None = None  # tag 15, MSL
    sensor_hfov_deg: float | None = None  # tag 16
    sensor_vfov_deg: float | None = None  # tag 17
    sensor_relative_azimuth_deg: float | None = None  # tag 18, clockwise from platform nose
    sensor_relative_elevation_deg: float | None = None  # tag 19, negative = looking down
    sensor_relative_roll_deg: float | None = None  # tag 20
    slant_range_m: float | None = None  # tag 21
    frame_center_latitude_deg: float | None = None  # tag 23
    frame_center_longitude_deg: float | None = None  # tag 24
    frame_center_elevation_m: float | None = None  # tag 25, MSL
    # tags 82-89 (or 26-33 added to the centre): corners upper-left, upper-right, lower-right, lower-left
    corner_latitudes_deg: Corners | None = None
    corner_longitudes_deg: Corners | None = None
    mission_id: str | None = None  # tag 3
    targets: tuple[VmtiTarget, ...] = ()  # tag 74: the VMTI Local Set's VTarget series


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
        targets=_targets(uas.value(74), _value(uas, 23), _value(uas, 24)),
    )


def _value(uas: UASLocalSet, *tags: int) -> Any:
    """The first of `tags` with a real value; None when all are absent or special (out of range...)."""
    for tag in tags:
        value = uas.value(tag)
        if value is not None and not isinstance(value, SpecialValue):
            return value
    return None


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


def _targets(vmti: object, centre_lat: float | None, centre_lon: float | None) -> tuple[VmtiTarget, ...]:
    if not isinstance(vmti, VMTILocalSet):
        return ()
    width, height = vmti.value(8), vmti.value(9)
    labels = {
        ontology.ontology_id: _ontology_label(ontology.label, ontology.entity_iri) for ontology in vmti.ontologies
    }
    return tuple(_target(target, width, height, labels, centre_lat, centre_lon) for target in vmti.targets)


def _ontology_label(label: str | None, entity_iri: str) -> str:
    return label if label else entity_iri.rpartition("#")[2]


def _target(
    target: VTarget,
    width: int | None,
    height: int | None,
    labels: dict[int, str],
    centre_lat: float | None,
    centre_lon: float | None,
) -> VmtiTarget:
    label = label_confidence = None
    objects = target.value(107) or ()
    if objects:
        first = objects[0]
        if first.ontology_id not in labels:
            raise KlvError(
                f"VMTI target {target.target_id}: VObject names ontology {first.ontology_id}, not in the series"
            )
        label = labels[first.ontology_id]
        label_confidence = _number(first.confidence, 0.0, 100.0)
        label_confidence = None if label_confidence is None else label_confidence / 100.0
    confidence = target.value(5)
    location = resolve_vtarget_location(target, frame_center_latitude=centre_lat, frame_center_longitude=centre_lon)
    absolute = target.value(17)
    sigmas = correlations = None
    if isinstance(absolute, Location) and location is not None and location.source == "absolute":
        sigmas = _group(absolute.standard_deviations_optional, 0.0, 650.0)
        correlations = _group(absolute.correlations_optional, -1.0, 1.0)
    return VmtiTarget(
        target_id=target.target_id,
        box=_box(target, width, height),
        confidence=None if confidence is None else confidence / 100.0,
        label=label,
        label_confidence=label_confidence,
        latitude_deg=None if location is None else location.latitude,
        longitude_deg=None if location is None else location.longitude,
        hae_m=None if location is None else location.hae,
        sigmas_enu_m=sigmas,  # type: ignore[arg-type]
        correlations_enu=correlations,  # type: ignore[arg-type]
    )


def _number(value: object, low: float, high: float) -> float | None:
    """A finite number in [low, high] (IMAP special values and the like are None)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Fraction):
        return None
    number = float(value)
    return number if math.isfinite(number) and low <= number <= high else None


def _group(values: tuple[object, ...], low: float, high: float) -> tuple[float, ...] | None:
    numbers = tuple(_number(value, low, high) for value in values)
    return None if None in numbers else numbers  # type: ignore[return-value]


def _box(target: VTarget, width: int | None, height: int | None) -> Corners | None:
    """Pixel numbers (1-based, row-major) of the box corners, else the centroid, as [0, 1] fractions."""
    if not width or not height:
        return None
    top_left, bottom_right = target.value(2), target.value(3)
    if top_left is None or bottom_right is None:
        top_left = bottom_right = target.value(1)
    if top_left is None:
        return None
    (row_0, column_0), (row_1, column_1) = divmod(top_left - 1, width), divmod(bottom_right - 1, width)
    if max(row_0, row_1) >= height or row_0 > row_1 or column_0 > column_1:
        raise KlvError(
            f"VMTI target {target.target_id}: box pixels {top_left}..{bottom_right} are not in a {width}x{height} frame"
        )
    return column_0 / width, row_0 / height, min(1.0, (column_1 + 1) / width), min(1.0, (row_1 + 1) / height)
