"""MISB ST 0601 KLV packets with an embedded ST 0903 VMTI Local Set, as a drone's encoder writes them.

The encoding is the `stanag4609` library's; this module only chooses the tags. Resolutions are the
standard's: sensor and frame-centre latitude/longitude 4 bytes (~1 cm), altitudes 2 bytes over
-900..19000 m (~0.3 m), heading 2 bytes (~0.005 deg), time stamp to the microsecond. Detections are
VMTI targets (ST 0903.6): bounding box as pixel numbers of a nominal frame (`FRAME_WIDTH` x
`FRAME_HEIGHT`), detection confidence in whole percent (tag 5), absolute location with its ENU
standard deviations (tag 17, 2-byte sigmas over 0..650 m) and the class as a VObject (tag 107)
that names an entry of the ontology series (tag 103) with its own confidence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from stanag4609.st0601 import encode_uas_local_set
from stanag4609.st0903 import Location, VTargetData, encode_vmti_local_set
from stanag4609.st0903_vocab import OntologyLocalSet, VObjectLocalSet

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


def _pixel(x: float, y: float) -> int:
    """ST 0903 pixel number (1-based, row-major) of a normalised frame position."""
    column = min(FRAME_WIDTH - 1, max(0, math.floor(x * FRAME_WIDTH)))
    row = min(FRAME_HEIGHT - 1, max(0, math.floor(y * FRAME_HEIGHT)))
    return row * FRAME_WIDTH + column + 1


def _vtarget(target_id: int, target: Target) -> VTargetData:
    x_min, y_min, x_max, y_max = target.box
    horizontal = min(target.sigma_horizontal_m, MAX_SIGMA_M)
    values: dict[int, Any] = {
        2: _pixel(x_min, y_min),
        3: _pixel(x_max, y_max),
        5: round(100.0 * target.confidence),
        17: Location(
            target.latitude_deg,
            target.longitude_deg,
            target.hae_m,
            horizontal,
            horizontal,
            min(target.sigma_vertical_m, MAX_SIGMA_M),
        ),
    }
    if target.label is not None:
        ontology_id = CLASS_LABELS.index(target.label) + 1
        values[107] = (VObjectLocalSet(ontology_id, confidence=100.0 * target.confidence, confidence_length=2),)
    return VTargetData(target_id, values)


def packet(fields: dict[int, Any], targets: tuple[Target, ...]) -> bytes:
    """One ST 0601 packet: `fields` (tag -> engineering value, None = not sent) plus the targets as
    VMTI in tag 74. Tag 2 (microseconds since 1970) is required; tag 65 and the checksum are added."""
    vmti = encode_vmti_local_set(
        {4: VMTI_LS_VERSION, 5: len(targets), 8: FRAME_WIDTH, 9: FRAME_HEIGHT},
        targets=[_vtarget(i + 1, target) for i, target in enumerate(targets)],
        ontologies=ONTOLOGIES if any(target.label is not None for target in targets) else (),
    )
    values = {tag: value for tag, value in fields.items() if value is not None}
    values[65] = UAS_LS_VERSION
    values[74] = vmti
    return encode_uas_local_set(values)
