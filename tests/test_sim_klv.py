"""The simulator's fast KLV encoder (simulators/klv.py) against the `stanag4609` library's encoders:
the library's strict decoder accepts every packet, and every value decodes to what the library's own
encoding of the same input gives, within one least significant bit (the fast encoder rounds in
floating point, the library in exact fractions)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from stanag4609.st0601 import FIELD_DEFINITIONS, decode_uas_local_set, encode_uas_local_set
from stanag4609.st0903 import Location, VTargetData, encode_vmti_local_set
from stanag4609.st0903_vocab import VObjectLocalSet

from simulators import klv

T0_US = 1_767_225_600_000_000


def _angle(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


FIELDS = st.fixed_dictionaries(
    {
        2: st.integers(T0_US, T0_US + 10**12),
        3: st.sampled_from(["smoke", "baltic-patrol"]),
        10: st.sampled_from(["drone-1", "uav-7"]),
        5: _angle(0.0, 360.0),
        6: _angle(-25.0, 25.0),  # beyond the tag's +-20: "out of range"
        13: _angle(-90.0, 90.0),
        14: _angle(-180.0, 180.0),
        15: _angle(-900.0, 19_000.0),
        16: _angle(0.0, 180.0),
        18: _angle(0.0, 360.0),
        19: _angle(-180.0, 180.0),
        21: _angle(0.0, 5e6),
        23: _angle(-90.0, 90.0),
        24: _angle(-180.0, 180.0),
        25: _angle(-900.0, 19_000.0),
        82: _angle(-90.0, 90.0),
        83: _angle(-180.0, 180.0),
    }
)
TARGETS = st.lists(
    st.builds(
        klv.Target,
        box=st.tuples(*[st.floats(0.0, 1.0)] * 2).map(lambda corner: (corner[0], corner[1], 1.0, 1.0)),
        label=st.sampled_from([*klv.CLASS_LABELS, None]),
        confidence=st.floats(0.0, 1.0),
        latitude_deg=_angle(-90.0, 90.0),
        longitude_deg=_angle(-180.0, 180.0),
        hae_m=_angle(-900.0, 19_000.0),
        sigma_horizontal_m=st.floats(0.0, 650.0),
        sigma_vertical_m=st.floats(0.0, 650.0),
    ),
    max_size=4,
).map(tuple)


def _library_packet(fields: dict[int, Any], targets: tuple[klv.Target, ...]) -> bytes:
    def vtarget(i: int, target: klv.Target) -> VTargetData:
        values: dict[int, Any] = {
            2: klv._pixel(target.box[0], target.box[1]),
            3: klv._pixel(target.box[2], target.box[3]),
            5: round(100.0 * target.confidence),
            17: Location(
                target.latitude_deg,
                target.longitude_deg,
                target.hae_m,
                target.sigma_horizontal_m,
                target.sigma_horizontal_m,
                target.sigma_vertical_m,
            ),
        }
        if target.label is not None:
            ontology_id = klv.CLASS_LABELS.index(target.label) + 1
            values[107] = (VObjectLocalSet(ontology_id, confidence=100.0 * target.confidence, confidence_length=2),)
        return VTargetData(i + 1, values)

    vmti = encode_vmti_local_set(
        {4: klv.VMTI_LS_VERSION, 5: len(targets), 8: klv.FRAME_WIDTH, 9: klv.FRAME_HEIGHT},
        targets=[vtarget(i, target) for i, target in enumerate(targets)],
        ontologies=klv.ONTOLOGIES if any(target.label is not None for target in targets) else (),
    )
    return encode_uas_local_set({**fields, 65: klv.UAS_LS_VERSION, 74: vmti})


def _lsb(tag: int) -> float:
    definition = FIELD_DEFINITIONS[tag]
    if definition.kind != "mapped":
        return 0.0
    assert definition.length is not None
    assert definition.physical_max is not None and definition.physical_min is not None
    return float(definition.physical_max - definition.physical_min) / (2 ** (8 * definition.length) - 2)


@settings(max_examples=40, deadline=None)
@given(fields=FIELDS, targets=TARGETS)
def test_the_fast_encoder_matches_the_library_within_one_bit(
    fields: dict[int, Any], targets: tuple[klv.Target, ...]
) -> None:
    ours = decode_uas_local_set(klv.packet(fields, targets))  # strict: checksum, structure, VMTI
    theirs = decode_uas_local_set(_library_packet(fields, targets))
    for tag in [*fields, 65]:
        mine, reference = ours.value(tag), theirs.value(tag)
        if isinstance(reference, float) and isinstance(mine, float):
            assert abs(mine - reference) <= 1.01 * _lsb(tag), tag
        else:
            assert mine == reference, tag
    our_vmti, their_vmti = ours.value(74), theirs.value(74)
    assert [o.label for o in our_vmti.ontologies] == [o.label for o in their_vmti.ontologies]
    assert len(our_vmti.targets) == len(their_vmti.targets) == len(targets)
    for mine, reference in zip(our_vmti.targets, their_vmti.targets, strict=True):
        assert [mine.value(tag) for tag in (2, 3, 5)] == [reference.value(tag) for tag in (2, 3, 5)]
        ours_location, their_location = mine.value(17), reference.value(17)
        # IMAPB steps: 2^-23 deg, 2^-22 deg, 1 m, 1/32 m (truncated, so a value a hair under a step
        # boundary may land one step apart where the library's exact arithmetic does not round)
        for name, lsb in (("latitude", 2**-23), ("longitude", 2**-22), ("hae", 1.0)):
            assert abs(float(getattr(ours_location, name)) - float(getattr(their_location, name))) <= lsb, name
        for name in ("sigma_east", "sigma_north", "sigma_up"):
            assert abs(float(getattr(ours_location, name)) - float(getattr(their_location, name))) <= 1 / 32
        assert mine.value(107) == reference.value(107)


def test_a_typical_frame_is_byte_identical_to_the_library_encoding() -> None:
    fields = {2: T0_US, 3: "smoke", 10: "drone-1", 5: 45.0, 13: 54.1, 14: 10.2, 15: 300.0, 23: 54.11, 24: 10.21}
    targets = (klv.Target((0.1, 0.2, 0.3, 0.4), "vehicle", 0.9, 54.11, 10.21, 0.0, 8.0, 16.0),)
    assert klv.packet(fields, targets) == _library_packet(fields, targets)
