"""The adapter SDK and `rampart sim` over a real broker."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from adapters.base import Adapter
from adapters.errors import NativeFormatError
from bus import topics
from bus.client import BrokerConfig
from bus.schema import (
    DeadLetter,
    Envelope,
    GeoPoint,
    GroundTruth,
    NodeState,
    PositionReport,
    SensorReading,
    VideoMetadata,
)
from tests.bus_helpers import Collector, client, unique


@dataclass(frozen=True)
class AcmeFix:
    """A made-up maker's native record: 'LAT;LON;UNIX-SECONDS'."""

    text: str


class AcmeTracker(Adapter[AcmeFix]):
    """The adapter docs/writing-an-adapter.md walks through, written the way it says."""

    kind = "position"
    integration = "acme-tracker"

    def translate(self, native: AcmeFix) -> PositionReport:
        try:
            lat, lon, seconds = (float(part) for part in native.text.split(";"))
        except ValueError:
            raise NativeFormatError(f"expected 'LAT;LON;SECONDS', got {native.text!r}") from None
        return PositionReport(
            source=self.source,
            time=datetime.fromtimestamp(seconds, UTC),
            platform_id=self.source.id,
            position=GeoPoint(lat=lat, lon=lon),
        )


def test_a_new_adapter_publishes_and_rejects_with_a_reason(rampart_broker) -> None:
    source_id = unique("acme")
    received, dead, states = Collector(), Collector(), Collector()
    with client(rampart_broker.url, "sub") as subscriber:
        subscriber.subscribe(topics.observation("position", source_id), received)
        subscriber.subscribe(topics.dead_letter(source_id), dead)
        subscriber.subscribe(topics.node_state(source_id), states)
        with AcmeTracker(source_id, BrokerConfig.from_url(rampart_broker.url)) as adapter:
            adapter.submit(AcmeFix("54.1;10.2;1764331200"))
            adapter.submit(AcmeFix("garbage"))
            adapter.submit(AcmeFix("54.2;10.3;1764331201"))
            assert adapter.flush()
        assert received.wait_for(lambda messages: len(messages) == 2)
        assert dead.wait_for(lambda messages: len(messages) == 1)
        assert states.wait_for(lambda messages: len(messages) == 2)  # birth, then offline at stop
    first, second = received.messages
    assert isinstance(first, PositionReport) and first.position.lat == 54.1
    # one stamper numbers everything the adapter's client sends: birth, reports, dead letter, offline state
    everything = received.messages + dead.messages + states.messages
    kinds = [(type(m).__name__, m.seq) for m in sorted(everything, key=lambda m: m.seq)]
    assert kinds == [
        ("NodeState", 1),
        ("PositionReport", 2),
        ("DeadLetter", 3),
        ("PositionReport", 4),
        ("NodeState", 5),
    ]
    assert len({m.session for m in everything}) == 1
    assert first.msg_id != second.msg_id
    letter = dead.messages[0]
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "expected 'LAT;LON;SECONDS', got 'garbage'"
    assert adapter.figures.published == 2 and adapter.figures.rejected == 1


def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    adapter = AcmeTracker("acme-offline", BrokerConfig.from_url("mqtt://127.0.0.1:1"), queue_size=3)
    accepted = [adapter.submit(AcmeFix(f"0;0;{second}")) for second in range(10)]
    assert accepted == [True] * 3 + [False] * 7
    assert (adapter.figures.submitted, adapter.figures.dropped) == (10, 7)


def test_rampart_sim_publishes_every_kind_with_gapless_sequences(rampart_broker) -> None:
    received = Collector()
    with client(rampart_broker.url, "sub") as subscriber:
        subscriber.subscribe(topics.ALL_OBSERVATIONS, received)
        subscriber.subscribe(topics.truth("smoke"), received)
        subscriber.subscribe(topics.ALL_NODE_STATES, received)
        command = [sys.executable, "-m", "nodes.cli", "sim", "--scenario", "smoke", "--broker", rampart_broker.url]
        result = subprocess.run([*command, "--speed", "30", "--duration", "30"], capture_output=True, timeout=60)
        assert result.returncode == 0, result.stderr.decode()
        assert received.wait_quiet(10_000, quiet_s=1.0, timeout_s=10)
    sessions = {m.source.id: m.session for m in received.messages if not isinstance(m, NodeState)}
    by_source: dict[str, list[Envelope]] = defaultdict(list)
    for message in received.messages:
        if sessions.get(message.source.id) == message.session:  # not other nodes' (retained) states
            by_source[message.source.id].append(message)
    kinds = {type(message) for messages in by_source.values() for message in messages}
    assert kinds == {PositionReport, SensorReading, VideoMetadata, GroundTruth, NodeState}
    assert set(by_source) == {"drone-1.gps", "ifv-1.gps", "drone-1.video", "ifv-1.sensor", "radar-north", "sim.smoke"}
    for source_id, messages in by_source.items():  # node states included: one stamper per client
        assert [m.seq for m in messages] == list(range(1, len(messages) + 1)), f"{source_id} has a gap"
        assert isinstance(messages[0], NodeState) and messages[0].online, f"{source_id} starts with its birth"
    assert len([m for m in by_source["sim.smoke"] if isinstance(m, GroundTruth)]) == 30  # truth at 1 Hz for 30 s
    assert "published" in result.stderr.decode()
