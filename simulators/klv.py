"""MISB ST 0601 KLV packets with an embedded ST 0903 VMTI Local Set, as a drone's encoder writes them.

Tag choice and layout follow the standards; resolutions are theirs: sensor and frame-centre
latitude/longitude 4 bytes (~1 cm), altitudes 2 bytes over -900..19000 m (~0.3 m), heading 2 bytes
(~0.005 deg), time stamp to the microsecond. Detections are VMTI targets (ST 0903.6): bounding box as
pixel numbers of a nominal frame (`FRAME_WIDTH` x `FRAME_HEIGHT`), detection confidence in whole
percent (tag 5), absolute location with its ENU standard deviations (tag 17, IMAPB: 4-byte
latitude/longitude to 2^-23 and 2^-22 deg (~1-2 cm), 2-byte HAE in whole metres (truncated) and
sigmas over 0..650 m in 1/32 m steps) and the class as a VObject (tag 107) that
names an entry of the ontology series (tag 103), with its own confidence.

Speed: the `stanag4609` library's encoders work in exact fractions and decode their own output to
check it, about 35 ms for a frame with eight targets, which made a scenario 6x slower to generate.
So the fixed-point numbers (ST 0601 mapped tags, ST 1201 IMAPB) are computed here in floating
point, from the library's own field definitions; everything else (texts, time stamp, BER lengths
and OIDs, VObject and ontology local sets) comes from the library. `tests/test_sim_klv.py` holds
this encoder to the library's: the library's strict decoder accepts every packet, and each value
decodes to what the library's own encoder gives, within one least significant bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from stanag4609.klv.ber import encode_ber_length, encode_ber_oid
from stanag4609.klv.checksum import running_sum_16
from stanag4609.st0601 import FIELD_DEFINITIONS, ST0601_KEY, encode_field_value
from stanag4609.st0903_vocab import (
    OntologyLocalSet,
    VObjectLocalSet,
    encode_ontology_local_set,
    encode_vobject_local_set,
)

UAS_LS_VERSION = 19
VMTI_LS_VERSION = 6
FRAME_WIDTH, FRAME_HEIGHT = 1280, 720
"""The nominal frame the bounding boxes are given in (VMTI pixel numbers need a frame width)."""
ONTOLOGY_IRI = "https://rampart.example/ontology/object-class"
CLASS_LABELS = ("vehicle", "person", "uav")
ONTOLOGIES = tuple(
    OntologyLocalSet(ontology_id=i + 1, ontology_iri=ONTOLOGY_IRI, entity_iri=f"{ONTOLOGY_IRI}#{label}", label=label)
    for i, label in enumerate(CLASS_LABELS)
)
MAX_SIGMA_M = 650.0  # the largest standard deviation an ST 0903 Location carries


@dataclass(frozen=True, slots=True)
class Target:
    """One detection of the drone's onboard tracker, as the encoder is given it."""

    box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max in [0, 1] of the frame
    label: str | None  # one of CLASS_LABELS, or None when the classifier made no call
    confidence: float  # [0, 1]
    latitude_deg: float
    longitude_deg: float
    hae_m: float
    sigma_horizontal_m: float
    sigma_vertical_m: float


# --- fixed-point numbers ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Mapped:
    """An ST 0601 mapped tag: [low, high] scaled linearly onto [raw_low, raw_high] (ties to even)."""

    length: int
    signed: bool
    low: float
    high: float
    raw_low: int
    raw_high: int
    out_of_range: bytes | None


@cache
def _mapped(tag: int) -> _Mapped | None:
    definition = FIELD_DEFINITIONS[tag]
    if definition.kind != "mapped":
        return None
    assert definition.length is not None and definition.physical_min is not None and definition.physical_max is not None
    bits = 8 * definition.length
    raw_low, raw_high = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if definition.signed else (0, 2**bits - 1)
    if definition.signed and definition.special_raw == raw_low:
        raw_low += 1  # the most negative value is reserved ("out of range")
    special = definition.special_raw
    return _Mapped(
        definition.length,
        definition.signed,
        float(definition.physical_min),
        float(definition.physical_max),
        raw_low,
        raw_high,
        None if special is None else special.to_bytes(definition.length, "big", signed=definition.signed),
    )


def _encode_mapped(tag: int, mapping: _Mapped, value: float) -> bytes:
    if not mapping.low <= value <= mapping.high:
        if mapping.out_of_range is None:
            raise ValueError(f"ST 0601 tag {tag} value {value} is outside [{mapping.low}, {mapping.high}]")
        return mapping.out_of_range
    scale = (mapping.raw_high - mapping.raw_low) / (mapping.high - mapping.low)
    raw = min(mapping.raw_high, max(mapping.raw_low, round(mapping.raw_low + (value - mapping.low) * scale)))
    return raw.to_bytes(mapping.length, "big", signed=mapping.signed)


@dataclass(frozen=True, slots=True)
class _Imapb:
    """ST 1201 IMAPB: floor(2^(8L - 1 - ceil(log2(high - low))) * (x - low) + zero offset)."""

    low: float
    high: float
    length: int
    forward: float
    offset: float

    @classmethod
    def of(cls, low: float, high: float, length: int) -> _Imapb:
        forward = 2.0 ** (8 * length - 1 - math.ceil(math.log2(high - low)))
        offset = forward * low - math.floor(forward * low) if low < 0.0 < high else 0.0
        return cls(low, high, length, forward, offset)

    def encode(self, value: float) -> bytes:
        if not self.low <= value <= self.high:
            raise ValueError(f"{value} is outside [{self.low}, {self.high}]")
        return int(self.forward * (value - self.low) + self.offset).to_bytes(self.length, "big")


_LATITUDE, _LONGITUDE = _Imapb.of(-90.0, 90.0, 4), _Imapb.of(-180.0, 180.0, 4)
_HAE, _SIGMA = _Imapb.of(-900.0, 19_000.0, 2), _Imapb.of(0.0, 650.0, 2)


# --- local sets -------------------------------------------------------------------------------------


def _item(tag: int, value: bytes) -> bytes:
    return encode_ber_oid(tag) + encode_ber_length(len(value)) + value


def _uint(value: int) -> bytes:
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


@cache
def _vobject_series(ontology_id: int, percent: float) -> bytes:
    encoded = encode_vobject_local_set(VObjectLocalSet(ontology_id, confidence=percent, confidence_length=2))
    return encode_ber_length(len(encoded)) + encoded


@cache
def _ontology_series() -> bytes:
    return b"".join(encode_ber_length(len(encoded)) + encoded for encoded in map(encode_ontology_local_set, ONTOLOGIES))


def _pixel(x: float, y: float) -> int:
    """ST 0903 pixel number (1-based, row-major) of a normalised frame position."""
    column = min(FRAME_WIDTH - 1, max(0, math.floor(x * FRAME_WIDTH)))
    row = min(FRAME_HEIGHT - 1, max(0, math.floor(y * FRAME_HEIGHT)))
    return row * FRAME_WIDTH + column + 1


def _vtarget(target_id: int, target: Target) -> bytes:
    """One VTarget Pack: BER-OID target id, then its items in tag order (tags are one byte)."""
    x_min, y_min, x_max, y_max = target.box
    horizontal = _SIGMA.encode(min(target.sigma_horizontal_m, MAX_SIGMA_M))
    location = (
        _LATITUDE.encode(target.latitude_deg)
        + _LONGITUDE.encode(target.longitude_deg)
        + _HAE.encode(target.hae_m)
        + horizontal
        + horizontal
        + _SIGMA.encode(min(target.sigma_vertical_m, MAX_SIGMA_M))
    )
    items = [
        (2, _uint(_pixel(x_min, y_min))),
        (3, _uint(_pixel(x_max, y_max))),
        (5, bytes([round(100.0 * target.confidence)])),
        (17, location),
    ]
    if target.label is not None:
        items.append((107, _vobject_series(CLASS_LABELS.index(target.label) + 1, 100.0 * target.confidence)))
    value = encode_ber_oid(target_id) + b"".join(bytes([tag]) + encode_ber_length(len(v)) + v for tag, v in items)
    return encode_ber_length(len(value)) + value


def vmti(targets: tuple[Target, ...]) -> bytes:
    """The embedded (no key, no checksum) ST 0903 VMTI Local Set of one frame's targets."""
    items = [
        (4, _uint(VMTI_LS_VERSION)),
        (5, _uint(len(targets))),
        (6, _uint(len(targets))),
        (8, _uint(FRAME_WIDTH)),
        (9, _uint(FRAME_HEIGHT)),
    ]
    if targets:
        items.append((101, b"".join(_vtarget(i + 1, target) for i, target in enumerate(targets))))
    if any(target.label is not None for target in targets):
        items.append((103, _ontology_series()))
    return b"".join(_item(tag, value) for tag, value in items)


def packet(fields: dict[int, Any], targets: tuple[Target, ...]) -> bytes:
    """One ST 0601 packet: `fields` (tag -> engineering value, None = not sent) plus the targets as
    VMTI in tag 74. Tag 2 (microseconds since 1970) is required; tag 65 and the checksum are added."""
    values = {tag: value for tag, value in fields.items() if value is not None}
    values[65] = UAS_LS_VERSION
    encoded = {}
    for tag, value in values.items():
        mapping = _mapped(tag)
        encoded[tag] = encode_field_value(tag, value) if mapping is None else _encode_mapped(tag, mapping, value)
    encoded[74] = vmti(targets)
    order = [2, *sorted(tag for tag in encoded if tag != 2)]
    local_set = b"".join(_item(tag, encoded[tag]) for tag in order) + b"\x01\x02\x00\x00"
    head = ST0601_KEY + encode_ber_length(len(local_set)) + local_set
    return head[:-2] + running_sum_16(head[:-2]).to_bytes(2, "big")
