"""The bus end to end over a real Mosquitto: non-Python publishers, dead letters, faults, flow control."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bus import codec, topics
from bus.client import BackpressureError, BrokerConfig, BusClient
from bus.schema import DeadLetter, Envelope, GeoPoint, NodeState, PositionReport, Source, SourceKind
from nodes.broker import LocalMosquitto
from tests.bus_helpers import Collector, client, unique

EXAMPLE = Path(__file__).parents[1] / "docs" / "examples" / "position-report.json"
EXAMPLE_TOPIC = topics.observation("position", "gps-acme-7")


def mosquitto_pub(url: str, topic: str, file: Path, *extra: str) -> None:
    """Publish a file with the C client, as an integrator without Python would."""
    binary = shutil.which("mosquitto_pub")
    assert binary, "mosquitto_pub is missing: apt-get install -y mosquitto-clients"
    parts = urlsplit(url)
    address = ["-h", str(parts.hostname), "-p", str(parts.port)]
    arguments = [*address, "-t", topic, "-f", str(file), "-q", "1", *extra]
    subprocess.run([binary, *arguments], check=True, timeout=10)


def position(source_id: str, seq: int, lat: float = 54.0) -> PositionReport:
    return PositionReport(
        source=Source(id=source_id, kind=SourceKind.POSITION),
        seq=seq,
        time=datetime.now(UTC),
        platform_id="p1",
        position=GeoPoint(lat=lat, lon=10.0),
    )


def test_json_from_mosquitto_pub_arrives_typed(rampart_broker, tmp_path: Path) -> None:
    received = Collector()
    with client(rampart_broker.url, "sub") as subscriber:
        subscriber.subscribe(EXAMPLE_TOPIC, received)  # returns once the broker granted it
        json_property = ("-D", "publish", "content-type", codec.JSON)
        mosquitto_pub(rampart_broker.url, EXAMPLE_TOPIC, EXAMPLE, "-V", "mqttv5", *json_property)
        mosquitto_pub(rampart_broker.url, EXAMPLE_TOPIC, EXAMPLE, "-V", "mqttv311")  # no content type: sniffed
        assert received.wait_for(lambda messages: len(messages) == 2)
    for message in received.messages:
        assert isinstance(message, PositionReport)
        assert message.platform_id == "ifv-7"
        assert message.position.lat == 54.3201
        assert message.time == datetime(2026, 11, 28, 12, 0, 0, 250000, tzinfo=UTC)
        assert message.velocity_enu_mps == (3.2, -1.1, 0.0)


def test_malformed_message_is_dead_lettered_and_valid_ones_keep_flowing(rampart_broker, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    document = json.loads(EXAMPLE.read_text())
    document["position"]["lat"] = 91.2
    bad.write_text(json.dumps(document))
    received, dead = Collector(), Collector()
    with client(rampart_broker.url, "sub") as subscriber, client(rampart_broker.url, "dlq") as watcher:
        watcher.subscribe(topics.dead_letter("gps-acme-7"), dead)
        subscriber.subscribe(EXAMPLE_TOPIC, received)
        mosquitto_pub(rampart_broker.url, EXAMPLE_TOPIC, bad)
        mosquitto_pub(rampart_broker.url, EXAMPLE_TOPIC, bad)
        mosquitto_pub(rampart_broker.url, EXAMPLE_TOPIC, EXAMPLE)
        assert received.wait_for(lambda messages: len(messages) == 1)
        assert dead.wait_for(lambda messages: len(messages) == 2)
        assert subscriber.figures.rejected == {"gps-acme-7": 2}
    letter = dead.messages[0]
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "position.lat: 91.2 is not in [-90, 90]"
    assert letter.original_topic == EXAMPLE_TOPIC
    assert letter.payload == bad.read_bytes()
    assert letter.source.id == subscriber.node_id
    assert isinstance(received.messages[0], PositionReport)


def test_typed_publish_and_subscribe_both_encodings(rampart_broker) -> None:
    received = Collector()
    source_id = unique("gps")
    topic = topics.observation("position", source_id)
    with client(rampart_broker.url, "sub") as subscriber:
        subscriber.subscribe(topic, received)
        for content_type, lat in ((codec.MSGPACK, 54.0), (codec.JSON, 55.0)):
            with BusClient(
                source_id, SourceKind.POSITION, BrokerConfig.from_url(rampart_broker.url), content_type=content_type
            ) as pub:
                pub.publish(topic, position(source_id, 0, lat=lat))
        assert received.wait_for(lambda messages: len(messages) == 2)
    assert [message.position.lat for message in received.messages if isinstance(message, PositionReport)] == [
        54.0,
        55.0,
    ]


def _online(message: Envelope) -> bool:
    assert isinstance(message, NodeState)
    return message.online


def test_birth_on_connect_and_offline_on_clean_stop(rampart_broker) -> None:
    states = Collector()
    node = client(rampart_broker.url, "node", role="test-node", session_base=0)
    with client(rampart_broker.url, "watch") as watcher:
        watcher.subscribe(topics.node_state(node.node_id), states)
        with node:
            assert states.wait_for(lambda messages: any(_online(m) for m in messages))
        assert states.wait_for(lambda messages: not _online(messages[-1]))
    birth = states.messages[0]
    assert isinstance(birth, NodeState)
    assert (birth.role, birth.session) == ("test-node", 1)


def test_last_will_marks_a_killed_node_offline(rampart_broker) -> None:
    node_id = unique("doomed")
    script = (
        "import threading\n"
        "from bus.client import BusClient, BrokerConfig\nfrom bus.schema import SourceKind\n"
        f"BusClient({node_id!r}, SourceKind.TOOL, BrokerConfig.from_url({rampart_broker.url!r})).start()\n"
        "print('up', flush=True)\nthreading.Event().wait(60)  # until killed\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    try:
        assert process.stdout is not None and process.stdout.readline() == b"up\n"
        states = Collector()
        with client(rampart_broker.url, "watch") as watcher:
            watcher.subscribe(topics.node_state(node_id), states)
            assert states.wait_for(lambda messages: len(messages) == 1 and _online(messages[0]))
            process.kill()
            assert states.wait_for(lambda messages: not _online(messages[-1]))
    finally:
        process.kill()
        process.wait()


def test_client_reconnects_after_a_broker_restart(rampart_own_broker) -> None:
    received = Collector()
    source_id = unique("gps")
    topic = topics.observation("position", source_id)
    with (
        BusClient(
            source_id,
            SourceKind.POSITION,
            BrokerConfig.from_url(rampart_own_broker.url),
            backoff_s=(0.05, 0.5),
            session_base=0,
        ) as publisher,
        client(rampart_own_broker.url, "sub", backoff_s=(0.05, 0.5)) as subscriber,
    ):
        subscriber.subscribe(topic, received)
        rampart_own_broker.stop()
        assert publisher.wait_disconnected(5) and subscriber.wait_disconnected(5)
        rampart_own_broker.start()
        # connected again means the subscriptions are renewed too: no pause needed before publishing
        assert publisher.wait_connected(10) and subscriber.wait_connected(10)
        assert publisher.session == 2
        assert (publisher.figures.connects, publisher.figures.disconnects) == (2, 1)
        publisher.publish(topic, position(source_id, 1))
        assert received.wait_for(lambda messages: len(messages) == 1, timeout_s=10)


def _slow_subscriber_loses(url: str, count: int) -> int:
    """Publish `count` QoS 1 messages to a subscriber whose handler stalls at the first until all
    are acknowledged; return how many it lost. Its inbox holds 100: once full, its network thread
    stops reading, so the broker has to queue the rest."""
    received = Collector()
    release = threading.Event()

    source_id = unique("burst")
    topic = topics.observation("position", source_id)
    publisher = BusClient(source_id, SourceKind.POSITION, BrokerConfig.from_url(url))
    with client(url, "slow", inbox_size=100) as subscriber, publisher:
        subscriber.subscribe(topic, received.after(lambda: release.wait(20)), qos=1)
        for seq in range(count):
            publisher.publish(topic, position(source_id, seq), qos=1)
        assert publisher.wait_acknowledged(10), "the broker acknowledged every message it accepted"
        assert subscriber.figures.read_pauses >= 1 and subscriber.figures.inbox_dropped == 0
        release.set()
        return count - received.wait_quiet(count, quiet_s=1.5, timeout_s=20)


def test_slow_subscriber_loses_nothing_with_the_repository_config(rampart_own_broker) -> None:
    assert _slow_subscriber_loses(rampart_own_broker.url, 5000) == 0


@pytest.mark.broker  # starts a Mosquitto of its own
def test_default_queue_limit_would_drop_silently() -> None:
    """The same load against Mosquitto's default queue of 1000 loses messages: why the config matters."""
    with LocalMosquitto(overrides={"max_queued_messages": "1000", "max_inflight_messages": "20"}) as default:
        assert _slow_subscriber_loses(default.url, 5000) > 0


def test_publisher_facing_a_full_window_waits_then_reports(rampart_own_broker) -> None:
    source_id = unique("gps")
    topic = topics.observation("position", source_id)
    publisher = BusClient(
        source_id,
        SourceKind.POSITION,
        BrokerConfig.from_url(rampart_own_broker.url),
        max_unacked=20,
        publish_timeout_s=0.5,
        backoff_s=(5.0, 5.0),
    )
    with publisher:
        rampart_own_broker.stop()
        assert publisher.wait_disconnected(5)
        for seq in range(20):
            publisher.publish(topic, position(source_id, seq))
        started = time.monotonic()
        with pytest.raises(BackpressureError, match=r"20 messages unacknowledged for 0\.5 s"):
            publisher.publish(topic, position(source_id, 20))
        assert time.monotonic() - started >= 0.5
        assert publisher.figures.backpressure_waits == 1
        rampart_own_broker.start()
