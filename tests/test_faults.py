"""Faults over a real Mosquitto: every failure in a handler or an adapter is contained (the message
dead-lettered with the exception's type and text, counted, the node goes on) or fatal; liveness comes
from the loops that do the work; a message the broker would refuse is refused before sending; a
second process with the same node id is named as such; per-source tables are bounded."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading

import pytest

from adapters.base import Adapter
from bus import topics
from bus.client import (
    MAX_TRACKED_SOURCES,
    OTHER_SOURCES,
    BrokerConfig,
    BusClient,
    ClientFigures,
    Delivery,
    MessageTooLargeError,
    SessionTakenOverError,
)
from bus.codec import MAX_PAYLOAD_BYTES
from bus.schema import DeadLetter, Envelope, GeoPoint, NodeState, PositionReport, SourceKind, utc_now
from nodes import health
from tests.bus_helpers import Collector, client, report, unique


def letters_of(messages: list[Envelope]) -> list[DeadLetter]:
    return [message for message in messages if isinstance(message, DeadLetter)]


def test_a_raising_handler_is_contained_and_its_message_dead_lettered(rampart_broker) -> None:
    url = rampart_broker.url
    handled: list[float] = []

    def fragile(message: Envelope, delivery: Delivery) -> None:
        assert isinstance(message, PositionReport)
        if message.position.lat == 1.0:
            raise ValueError("lat 1 is cursed")
        handled.append(message.position.lat)

    letters = Collector()
    with client(url, "gps") as gps, client(url, "node") as node, client(url, "letters") as watcher:
        node.subscribe(topics.observation("position", gps.node_id), fragile)
        watcher.subscribe(topics.dead_letter(gps.node_id), letters)
        for lat in (1.0, 2.0):
            gps.publish(topics.observation("position", gps.node_id), report(gps.node_id, lat))
        assert letters.wait_for(lambda messages: len(messages) == 1)
        (letter,) = letters_of(letters.messages)
        assert letter.reason == "handler failed: ValueError: lat 1 is cursed"
        assert letter.original_topic == topics.observation("position", gps.node_id)
        node.publish_state()
        assert node.wait_acknowledged(5.0)
    assert handled == [2.0]  # the dispatcher went on
    assert node.figures.handler_errors == 1


def test_an_empty_observation_is_rejected_with_a_dead_letter(rampart_broker) -> None:
    url = rampart_broker.url
    letters, seen = Collector(), Collector()
    with client(url, "gps") as gps, client(url, "fusion") as fusion, client(url, "letters") as watcher:
        fusion.subscribe(topics.observation("position", gps.node_id), seen)
        watcher.subscribe(topics.dead_letter(gps.node_id), letters)
        gps.publish_raw(topics.observation("position", gps.node_id), b"", content_type=None)
        assert letters.wait_for(lambda messages: len(messages) == 1)
    (letter,) = letters_of(letters.messages)
    assert letter.reason == "payload: empty (only a retained value's clear may be empty)"
    assert (letter.payload_size, seen.messages) == (0, [])
    assert fusion.figures.rejected == {gps.node_id: 1}


class Fragile(Adapter[bytes]):
    kind = "position"
    integration = "fragile"

    def translate(self, native: bytes) -> PositionReport:
        if native == b"bug":
            raise KeyError("lat")  # a bug, not a NativeFormatError
        return PositionReport(source=self.source, time=utc_now(), platform_id="p1", position=GeoPoint(lat=54, lon=10))


def test_an_adapter_whose_translate_raises_goes_on_publishing(rampart_broker) -> None:
    letters = Collector()
    source = unique("fragile")
    with client(rampart_broker.url, "letters") as watcher:
        watcher.subscribe(topics.dead_letter(source), letters)
        with Fragile(source, BrokerConfig.from_url(rampart_broker.url)) as adapter:
            for native in (b"ok", b"bug", b"ok"):
                adapter.submit(native)
            assert adapter.flush(10.0)
        assert letters.wait_for(lambda messages: len(messages) == 1)
    assert (adapter.figures.submitted, adapter.figures.published, adapter.figures.rejected) == (3, 2, 1)
    (letter,) = letters_of(letters.messages)
    assert (letter.reason, letter.payload) == ("translate failed: KeyError: 'lat'", b"bug")


def node_states(watcher: BusClient, node_id: str) -> Collector:
    states = Collector()
    watcher.subscribe(topics.node_state(node_id), states)
    return states


def last_state(messages: list[Envelope]) -> NodeState | None:
    return next((m for m in reversed(messages) if isinstance(m, NodeState)), None)


def test_a_stuck_handler_turns_the_node_offline_and_health_fails(rampart_broker) -> None:
    url = rampart_broker.url
    release = threading.Event()
    node = client(url, "stuck", state_interval_s=0.2)  # stalled after 3 intervals: 0.6 s
    with client(url, "gps") as gps, node, client(url, "states") as watcher:

        def stuck(message: Envelope, delivery: Delivery) -> None:
            release.wait(30)

        node.subscribe(topics.observation("position", gps.node_id), stuck)
        states = node_states(watcher, node.node_id)
        gps.publish(topics.observation("position", gps.node_id), report(gps.node_id))

        def stalled(messages: list[Envelope]) -> bool:
            state = last_state(messages)
            return state is not None and not state.online and state.figures["bus_stalls"] == 1

        assert states.wait_for(stalled, timeout_s=10.0)
        healthy, message = health.check(node.node_id, BrokerConfig.from_url(url), timeout_s=1.0)
        assert not healthy
        assert message.startswith(f"node {node.node_id} is offline")
        release.set()
        assert states.wait_for(lambda messages: bool((state := last_state(messages)) and state.online), 10.0)
        assert health.check(node.node_id, BrokerConfig.from_url(url), timeout_s=5.0)[0]


def test_a_work_loop_that_stops_beating_turns_the_node_offline(rampart_broker, caplog) -> None:
    url = rampart_broker.url
    node = client(url, "worker", state_interval_s=0.2)
    loop = node.heartbeat("the test loop", stall_s=0.3)
    with node, client(url, "states") as watcher, caplog.at_level(logging.ERROR, logger="bus.client"):
        states = node_states(watcher, node.node_id)
        assert states.wait_for(lambda messages: bool((state := last_state(messages)) and not state.online), 10.0)
        assert (
            f"{node.node_id}: the test loop made no progress for 0.6 s: reporting the node offline" in caplog.messages
        )
        with loop.waiting():  # waiting for work is idle, not stalled
            assert states.wait_for(lambda messages: bool((state := last_state(messages)) and state.online), 10.0)


def test_an_oversize_message_is_refused_before_sending_and_the_client_stays_connected(rampart_broker) -> None:
    with client(rampart_broker.url, "big") as big:
        topic = topics.observation("position", big.node_id)
        with pytest.raises(MessageTooLargeError) as refused:
            big.publish_raw(topic, b"\x80" * (MAX_PAYLOAD_BYTES + 1))
        assert str(refused.value) == (
            f"{big.node_id}: a message of {MAX_PAYLOAD_BYTES + 1} bytes to {topic} is over the broker's limit "
            f"of {MAX_PAYLOAD_BYTES} bytes; not sent"
        )
        big.publish(topic, report(big.node_id))
        assert big.wait_acknowledged(5.0)
        assert big.connected
    assert (big.figures.oversize, big.figures.disconnects, big.figures.connects) == (1, 0, 1)


def test_a_stamped_message_over_the_limit_leaves_no_gap_in_seq(rampart_broker) -> None:
    url = rampart_broker.url
    received = Collector()
    with client(url, "small", max_payload_bytes=1500, state_interval_s=60) as small, client(url, "letters") as watcher:
        topic = topics.dead_letter(small.node_id)
        watcher.subscribe(topic, received)

        def letter(size: int) -> DeadLetter:
            return DeadLetter(
                source=small.source,
                time=utc_now(),
                original_topic=topic,
                reason="test",
                payload=b"x" * size,
                payload_size=size,
                payload_sha256="0" * 64,
            )

        small.publish(topic, letter(10))
        with pytest.raises(MessageTooLargeError):
            small.publish(topic, letter(2000))
        small.publish(topic, letter(10))
        assert received.wait_for(lambda messages: len(messages) == 2)
    first, second = received.messages
    assert second.seq == first.seq + 1


def test_a_second_process_with_the_same_node_id_is_named_and_not_fought(rampart_broker, caplog) -> None:
    config = BrokerConfig.from_url(rampart_broker.url)
    node_id = unique("twin")
    states = Collector()
    named = _LogLine(
        f"{node_id}: an older process was connected to {config.url} as node {node_id!r}: two processes "
        "share one node id; it gives way to this one"
    )
    logging.getLogger("bus.client").addHandler(named)
    try:
        with caplog.at_level(logging.ERROR, logger="bus.client"), client(rampart_broker.url, "states") as watcher:
            watcher.subscribe(topics.node_state(node_id), states)
            first = BusClient(node_id, SourceKind.TOOL, config).start()
            with BusClient(node_id, SourceKind.TOOL, config) as second:
                # The broker closes the first's connection; it comes back once, sees the second's state
                # and gives way. The second, knocked off by that return, comes back for good.
                first._thread.join(10.0)
                expected = (
                    f"another process is connected to {config.url} as node {node_id!r}: two processes share one "
                    "node id; this one stops rather than knock the other off in turn"
                )
                assert str(first.failure) == expected
                assert f"{node_id}: {expected}" in caplog.messages
                with pytest.raises(SessionTakenOverError):
                    first.publish(topics.node_state(node_id), first._state(online=True))
                assert second.wait_connected(10.0)
                second.publish_state()
                assert second.wait_acknowledged(5.0)
                assert states.wait_for(lambda messages: messages[-1].session == second.session)
                # The second names the first when the first's state reaches it, on its own network
                # thread: that may come after the watcher saw the second's state.
                assert named.wait(10.0)
                assert second.failure is None and second.figures.taken_over == 1
            first.stop()
    finally:
        logging.getLogger("bus.client").removeHandler(named)
    assert first.figures.taken_over == 1 and not first._thread.is_alive()


class _LogLine(logging.Handler, threading.Event):
    """Set once a given message is logged, from whichever thread logs it."""

    def __init__(self, message: str) -> None:
        logging.Handler.__init__(self)
        threading.Event.__init__(self)
        self.message = message

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == self.message:
            self.set()


def test_rejections_are_counted_per_source_up_to_a_bound() -> None:
    figures = ClientFigures()
    counted_alone = [figures.count_rejected(f"attacker-{index}") for index in range(MAX_TRACKED_SOURCES + 10)]
    assert counted_alone == [True] * MAX_TRACKED_SOURCES + [False] * 10
    assert figures.count_rejected("attacker-0")  # a known source is still counted on its own
    assert len(figures.rejected) == MAX_TRACKED_SOURCES + 1
    assert (figures.rejected[OTHER_SOURCES], figures.rejected["attacker-0"]) == (10, 2)
    assert figures.as_state(0, 0)["bus_rejected"] == MAX_TRACKED_SOURCES + 11


def test_a_node_that_watches_every_state_still_receives_its_own(rampart_broker) -> None:
    states = Collector()
    monitor = client(rampart_broker.url, "monitor")
    monitor.subscribe(topics.ALL_NODE_STATES, states)
    with monitor:
        assert states.wait_for(lambda messages: any(m.source.id == monitor.node_id for m in messages))
    assert monitor.failure is None


def test_the_older_of_two_vehicles_with_one_id_exits_non_zero_naming_it(rampart_broker, tmp_path) -> None:
    vehicle = unique("twin-ifv")
    command = [sys.executable, "-m", "nodes.cli", "vehicle", "--id", vehicle, "--headless", "--broker"]
    command += [rampart_broker.url, "--duration", "120"]
    first_log = (tmp_path / "first.log").open("w+")
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=first_log, text=True)
    second = None
    try:
        assert health.check(f"{vehicle}.nav", BrokerConfig.from_url(rampart_broker.url), timeout_s=60.0)[0]
        second = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert first.wait(timeout=60) == 1
        first_log.seek(0)
        assert first_log.read().splitlines()[-1] == (
            f"rampart vehicle: SessionTakenOverError: another process is connected to {rampart_broker.url} as node "
            f"'{vehicle}.nav': two processes share one node id; this one stops rather than knock the other off in "
            "turn (-v shows where)"
        )
        assert second.poll() is None  # the newer one goes on
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        first_log.close()
