"""The topic namespace: the only module that builds or parses Rampart topic strings.

rampart/v1/obs/{kind}/{source_id}        adapters -> fusion (kind: video | sensor | position)
rampart/v1/picture/tracks/{track_id}     fusion -> vehicles, retained; empty retained = dropped
rampart/v1/picture/snapshot/{page}       fusion -> vehicles, retained whole picture, in pages
rampart/v1/node/{node_id}/state          every node, retained birth / last will
rampart/v1/deadletter/{source_id}        rejected input with its reason
rampart/v1/truth/{scenario_id}           simulators' ground truth, for evaluation only
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from enum import StrEnum

from bus.schema import OBSERVATION_KINDS, ObservationKind

ROOT = "rampart/v1"
_SEGMENT = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


class Kind(StrEnum):
    OBSERVATION = "obs"
    TRACK = "track"
    SNAPSHOT = "snapshot"
    NODE_STATE = "node-state"
    DEAD_LETTER = "deadletter"
    TRUTH = "truth"


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed topic. `name` is its variable segment (source, track, node or scenario id);
    `sender_id` is the id the message's own `source.id` must carry, where the topic fixes it."""

    kind: Kind
    name: str | None = None
    observation_kind: ObservationKind | None = None
    sender_id: str | None = None

    @property
    def kind_label(self) -> str:
        return f"obs/{self.observation_kind}" if self.kind is Kind.OBSERVATION else self.kind.value


def _segment(value: str, what: str) -> str:
    if not _SEGMENT.match(value):
        raise ValueError(f"{what} {value!r} is not a valid topic segment (1-64 of A-Z a-z 0-9 _ . : -)")
    return value


def observation(kind: ObservationKind, source_id: str) -> str:
    if kind not in OBSERVATION_KINDS:
        raise ValueError(f"observation kind {kind!r} is not one of {', '.join(OBSERVATION_KINDS)}")
    return f"{ROOT}/obs/{kind}/{_segment(source_id, 'source id')}"


def track(track_id: str) -> str:
    return f"{ROOT}/picture/tracks/{_segment(track_id, 'track id')}"


def snapshot(page: int = 0) -> str:
    if page < 0:
        raise ValueError(f"snapshot page {page} is negative")
    return f"{ROOT}/picture/snapshot/{page}"


def node_state(node_id: str) -> str:
    return f"{ROOT}/node/{_segment(node_id, 'node id')}/state"


def dead_letter(source_id: str) -> str:
    return f"{ROOT}/deadletter/{_segment(source_id, 'source id')}"


def truth(scenario_id: str) -> str:
    return f"{ROOT}/truth/{_segment(scenario_id, 'scenario id')}"


ALL = f"{ROOT}/#"
ALL_OBSERVATIONS = f"{ROOT}/obs/#"
PICTURE = f"{ROOT}/picture/#"
ALL_TRACKS = f"{ROOT}/picture/tracks/+"
ALL_NODE_STATES = f"{ROOT}/node/+/state"
ALL_DEAD_LETTERS = f"{ROOT}/deadletter/#"
ALL_TRUTH = f"{ROOT}/truth/#"


def channels() -> dict[str, tuple[str, Address]]:
    """Every channel as (address template with `{parameter}` placeholders, its Address kind),
    keyed by `Address.kind_label`; the AsyncAPI document is generated from this."""
    table = [
        *(
            (f"{ROOT}/obs/{kind}/{{source_id}}", Address(Kind.OBSERVATION, observation_kind=kind))
            for kind in OBSERVATION_KINDS
        ),
        (f"{ROOT}/picture/tracks/{{track_id}}", Address(Kind.TRACK)),
        (f"{ROOT}/picture/snapshot/{{page}}", Address(Kind.SNAPSHOT)),
        (f"{ROOT}/node/{{node_id}}/state", Address(Kind.NODE_STATE)),
        (f"{ROOT}/deadletter/{{source_id}}", Address(Kind.DEAD_LETTER)),
        (f"{ROOT}/truth/{{scenario_id}}", Address(Kind.TRUTH)),
    ]
    return {address.kind_label: (template, address) for template, address in table}


def matches(topic_filter: str, topic: str) -> bool:
    """Whether `topic` matches the MQTT subscription `topic_filter` (`+` one level, `#` this level and
    all below; neither matches a first level starting with `$`).

    paho's `topic_matches_sub` does the same with a trie and a generator that refers to itself: each
    call left a dozen objects in a reference cycle, which only the cycle collector frees, and a
    vehicle matched every new track topic (about 40 calls a second under `stress`): its memory rose
    by megabytes a minute between collections."""
    parts, levels = topic_filter.split("/"), topic.split("/")
    system = topic.startswith("$")
    for index, part in enumerate(parts):
        if part == "#":
            return index > 0 or not system
        if index >= len(levels) or (part == "+" and index == 0 and system):
            return False
        if part not in ("+", levels[index]):
            return False
    return len(parts) == len(levels)


@functools.lru_cache(maxsize=4096)
def parse(topic: str) -> Address:
    """The address of a Rampart topic; ValueError names what is wrong with any other string."""
    prefix = ROOT + "/"
    if not topic.startswith(prefix):
        raise ValueError(f"{topic!r} is not under {prefix}")
    parts = topic[len(prefix) :].split("/")
    match parts:
        case ["obs", kind, source_id] if kind in OBSERVATION_KINDS:
            source = _segment(source_id, "source id")
            return Address(Kind.OBSERVATION, source, observation_kind=kind, sender_id=source)
        case ["picture", "tracks", track_id]:
            return Address(Kind.TRACK, _segment(track_id, "track id"))
        case ["picture", "snapshot", page] if page.isdigit() and page.isascii():
            return Address(Kind.SNAPSHOT, page)
        case ["node", node_id, "state"]:
            node = _segment(node_id, "node id")
            return Address(Kind.NODE_STATE, node, sender_id=node)
        case ["deadletter", source_id]:
            return Address(Kind.DEAD_LETTER, _segment(source_id, "source id"))
        case ["truth", scenario_id]:
            return Address(Kind.TRUTH, _segment(scenario_id, "scenario id"))
    raise ValueError(f"{topic!r} is not a Rampart topic")
