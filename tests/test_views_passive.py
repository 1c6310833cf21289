"""Passive nodes publish nothing. `rampart watch`, `map` and `tail` connect in the monitor role,
which may publish only the node's own state (see nodes/security.py): a message they cannot decode
is counted and logged (and printed by tail), never dead-lettered, over a real broker."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
import pytest

from bus import topics
from bus.client import BrokerConfig
from nodes.freshness import PictureFreshness
from nodes.map import MapServer
from nodes.passive import passive_client
from tests.bus_helpers import client, unique

RAMPART = [sys.executable, "-m", "nodes.cli"]
GARBAGE = b"\xc1 not msgpack, not JSON"


class Spy:
    """Everything published under rampart/v1/ while it listens (retained copies sent at
    subscription and the test's own garbage aside); `settle` returns once the broker has passed on
    all that came before."""

    def __init__(self, url: str, garbage_topic: str) -> None:
        self.client = client(url, "spy", announce=False)
        self.garbage_topic = garbage_topic
        self.live: list[mqtt.MQTTMessage] = []
        self.marker = topics.truth(unique("marker"))
        self._marked = threading.Event()
        self.client.subscribe_raw(topics.ALL, self._heard)

    def _heard(self, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == self.marker:
            self._marked.set()
        elif not msg.retain and msg.topic != self.garbage_topic:
            self.live.append(msg)

    def settle(self) -> None:
        """A message of our own through the broker: whatever the broker took before it (acknowledged
        to its sender) has been passed on to us before it."""
        self.client.publish_raw(self.marker, b"marker", qos=1)
        assert self._marked.wait(10), "the marker did not come back"


@contextmanager
def listening(url: str, garbage_topic: str) -> Iterator[Spy]:
    spy = Spy(url, garbage_topic)
    with spy.client:
        yield spy


@contextmanager
def retained_garbage(url: str, topic: str) -> Iterator[None]:
    """`topic` holds a retained message that does not decode, until the block ends."""
    with client(url, "garbage", announce=False) as sender:
        sender.publish_raw(topic, GARBAGE, qos=1, retain=True)
        sender.wait_acknowledged(5)
        try:
            yield
        finally:
            sender.clear_retained(topic)
            sender.wait_acknowledged(5)


class Rejections(logging.Handler):
    """Set when the client logs a rejected message."""

    def __init__(self) -> None:
        super().__init__()
        self.logged = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "rejected a message" in record.getMessage():
            self.logged.set()


@contextmanager
def rejections() -> Iterator[threading.Event]:
    handler = Rejections()
    logger = logging.getLogger("bus.client")
    logger.addHandler(handler)
    try:
        yield handler.logged
    finally:
        logger.removeHandler(handler)


def test_watch_counts_garbage_and_publishes_nothing(rampart_broker) -> None:
    topic = topics.track(unique("T-garbage"))
    with listening(rampart_broker.url, topic) as spy, retained_garbage(rampart_broker.url, topic):
        result = subprocess.run(
            [*RAMPART, "watch", "--json", "--duration", "1.5", "--id", unique("watch"), "--broker", rampart_broker.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        spy.settle()
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["rejected"] == {"track": 1}
    assert document["link"] is True
    assert f"rejected a message from track on {topic}" in result.stderr
    assert [msg.topic for msg in spy.live] == []


def test_map_counts_garbage_and_publishes_only_its_state(rampart_broker) -> None:
    topic = topics.track(unique("T-garbage"))
    node_id = unique("map")
    broker = BrokerConfig.from_url(rampart_broker.url)
    with listening(rampart_broker.url, topic) as spy, rejections() as rejected:
        with MapServer(broker, node_id, "127.0.0.1", 0) as server, retained_garbage(rampart_broker.url, topic):
            assert rejected.wait(10), "the map did not reject the garbage"
            assert server.client.wait_acknowledged(5)  # a dead letter, had there been one, is at the broker
            spy.settle()
            assert server.client.figures.rejected == {"track": 1}
            assert server.client.figures.dead_letters_lost == 0
        spy.settle()
    published = {msg.topic for msg in spy.live}
    assert published == {topics.node_state(node_id)}, published  # its state (online, offline), nothing else


def test_tail_prints_garbage_and_publishes_nothing(rampart_broker) -> None:
    topic = topics.track(unique("T-garbage"))
    with listening(rampart_broker.url, topic) as spy, retained_garbage(rampart_broker.url, topic):
        result = subprocess.run(
            [*RAMPART, "tail", topic, "--count", "1", "--broker", rampart_broker.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        spy.settle()
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout)
    assert (line["topic"], line["retained"]) == (topic, True)
    assert "error" in line and line["payload_base64"]
    assert [msg.topic for msg in spy.live] == []


@pytest.mark.parametrize("announce", [True, False])
def test_a_passive_client_never_dead_letters_what_a_handler_raised_on(rampart_broker, announce: bool) -> None:
    topic = topics.track(unique("T-garbage"))
    node_id = unique("passive")
    called = threading.Event()

    def fails(msg: mqtt.MQTTMessage) -> None:
        called.set()
        raise RuntimeError("a broken view")

    passive = passive_client(node_id, BrokerConfig.from_url(rampart_broker.url), announce=announce)
    passive.subscribe_raw(topic, fails)
    with listening(rampart_broker.url, topic) as spy:
        with passive, retained_garbage(rampart_broker.url, topic):
            assert called.wait(10)
            assert passive.wait_acknowledged(5)
            spy.settle()
            assert passive.figures.handler_errors == 1
        spy.settle()
    assert {msg.topic for msg in spy.live} <= ({topics.node_state(node_id)} if announce else set())


def test_a_cleared_snapshot_page_is_not_a_rejected_message(rampart_broker) -> None:
    """The fusion clears snapshot pages it no longer needs (and its resume probe): empty retained
    messages, which the views' freshness must take as such, not as snapshots that fail to decode."""
    page = topics.snapshot(999_999)  # a page no picture has: clearing it changes nothing
    marker = f"{topics.ROOT}/test/{unique('marker')}"
    seen = threading.Event()
    watcher = passive_client(unique("fresh"), BrokerConfig.from_url(rampart_broker.url), announce=False)
    PictureFreshness(watcher)
    watcher.subscribe_raw(marker, lambda msg: seen.set())
    with watcher, client(rampart_broker.url, "fusion-like", announce=False) as sender:
        sender.publish_raw(page, b"", qos=1, retain=True)  # a clear: subscribers get an empty message
        sender.publish_raw(marker, b"after the clear", qos=1)  # same sender, so it arrives after it
        assert seen.wait(10)
    assert watcher.figures.rejected == {} and watcher.figures.handler_errors == 0
