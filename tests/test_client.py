"""BusClient's own guarantees over a real Mosquitto: granted or refused subscriptions, one thread
on the socket (TLS survives many publishing threads), a bounded inbox, consecutive seq, figures."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bus import codec, topics
from bus.client import (
    RECV_CHUNK,
    BackpressureError,
    BrokerConfig,
    BusClient,
    BusError,
    ConnectError,
    SubscribeError,
)
from bus.codec import DecodeError
from bus.recording import RecordingError
from bus.schema import Envelope, GeoPoint, NodeState, PositionReport, Source, SourceKind
from nodes.broker import LocalMosquitto
from nodes.fusion import FusionService
from nodes.sim import run_live, scenario_for
from tests.bus_helpers import Collector, client, report, tls_mosquitto, unique
from tests.fusion_helpers import geo_detection, geo_scan


def test_every_bus_error_has_one_base() -> None:
    for error in (BackpressureError, ConnectError, SubscribeError, DecodeError, RecordingError):
        assert issubclass(error, BusError)


DYNSEC_PLUGIN = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so"


@contextmanager
def refusing_broker(directory: Path) -> Iterator[str]:
    """Mosquitto with the dynamic-security plugin: user `tester` may subscribe under rampart/ only.
    (An `acl_file` would not do: Mosquitto 2.0 grants every subscription and filters on delivery.)"""
    if not Path(DYNSEC_PLUGIN).exists():
        pytest.skip(f"no {DYNSEC_PLUGIN}")
    salt = os.urandom(12)
    password = hashlib.pbkdf2_hmac("sha512", b"secret", salt, 101)
    allow = [
        {"acltype": "subscribePattern", "topic": "rampart/#", "priority": 0, "allow": True},
        {"acltype": "publishClientSend", "topic": "rampart/#", "priority": 0, "allow": True},
    ]
    tester = {
        "username": "tester",
        "password": base64.b64encode(password).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": 101,
        "roles": [{"rolename": "bus"}],
    }
    dynsec = {
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": True,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [tester],
        "groups": [],
        "roles": [{"rolename": "bus", "acls": allow}],
    }
    (directory / "dynsec.json").write_text(json.dumps(dynsec))
    overrides = {
        "allow_anonymous": "false",
        "plugin": DYNSEC_PLUGIN,
        "plugin_opt_config_file": str(directory / "dynsec.json"),
    }
    with LocalMosquitto(overrides=overrides) as broker:
        yield f"mqtt://tester:secret@127.0.0.1:{broker.port}"


def test_a_refused_subscription_raises_with_the_brokers_reason(tmp_path: Path) -> None:
    with refusing_broker(tmp_path) as url, client(url, "sub") as subscriber:
        subscriber.subscribe(topics.ALL_OBSERVATIONS, Collector())  # granted: returns
        with pytest.raises(SubscribeError, match=r"'secret/#' not granted: .*Not authorized \(reason code 0x87\)"):
            subscriber.subscribe("secret/#", Collector())
        assert subscriber.figures.subscribe_refused == 1
        assert subscriber.connected  # a refusal is not a failure of the connection


def test_a_refused_subscription_fails_start(tmp_path: Path) -> None:
    with refusing_broker(tmp_path) as url:
        subscriber = client(url, "sub")
        subscriber.subscribe("secret/#", Collector())  # before start: start() waits for the answer
        with pytest.raises(SubscribeError, match="Not authorized"):
            subscriber.start()
        assert not subscriber.connected


def test_a_start_interrupted_while_waiting_for_its_grants_marks_the_node_offline_itself(
    rampart_broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C (or SIGTERM) arriving while `start` waits for the SUBACKs: the node was already
    online, and was left to the broker's last will, whose figures are those of the connect."""
    states = Collector()
    with client(rampart_broker.url, "watch") as watcher:
        node = client(rampart_broker.url, "node")
        watcher.subscribe(topics.node_state(node.node_id), states)
        node.subscribe(topics.ALL_OBSERVATIONS, Collector())

        def interrupted(*_: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(node, "_await_grant", interrupted)
        with pytest.raises(KeyboardInterrupt):
            node.start()
        assert not node.connected
        assert states.wait_for(lambda messages: len(messages) == 2)
    assert [(m.online, m.seq != 0) for m in states.messages if isinstance(m, NodeState)] == [
        (True, True),
        (False, True),
    ]


def test_an_invalid_filter_is_refused_before_it_is_sent(rampart_broker) -> None:
    with client(rampart_broker.url, "sub") as subscriber, pytest.raises(SubscribeError, match="rampart/#/x"):
        subscriber.subscribe("rampart/#/x", Collector())


def test_many_threads_publish_over_tls_without_a_disconnect(tmp_path: Path) -> None:
    threads, per_thread = 8, 500
    with tls_mosquitto(tmp_path) as config:
        received = Collector()
        source_id = unique("tls")
        topic = topics.observation("position", source_id)
        with (
            BusClient(unique("sub"), SourceKind.TOOL, config) as subscriber,
            BusClient(source_id, SourceKind.POSITION, config) as publisher,
        ):
            subscriber.subscribe(topic, received)
            start = threading.Barrier(threads)

            def publish_many(index: int) -> None:
                start.wait()
                for _ in range(per_thread):
                    publisher.publish(topic, report(source_id, lat=50.0 + index), qos=index % 2)

            workers = [threading.Thread(target=publish_many, args=(i,)) for i in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert publisher.wait_acknowledged(20)
            assert received.wait_for(lambda messages: len(messages) == threads * per_thread, timeout_s=20)
            for node in (publisher, subscriber):
                assert (node.figures.connects, node.figures.disconnects) == (1, 0)
        seqs = sorted(message.seq for message in received.messages)
        assert len(set(seqs)) == len(seqs)  # one stamper across every publishing thread


def position_source(url: str, prefix: str) -> tuple[str, str, BusClient]:
    """A new position source: its id, its observation topic and its (unstarted) client."""
    source_id = unique(prefix)
    return (
        source_id,
        topics.observation("position", source_id),
        BusClient(source_id, SourceKind.POSITION, BrokerConfig.from_url(url)),
    )


def test_a_full_inbox_pauses_reading_and_drops_qos0_only_counted(rampart_broker) -> None:
    release = threading.Event()
    handled = Collector()

    source_id, topic, publisher = position_source(rampart_broker.url, "burst")
    with client(rampart_broker.url, "slow", inbox_size=20) as subscriber, publisher:
        subscriber.subscribe(topic, handled.after(lambda: release.wait(10)), qos=0)
        for _ in range(2000):
            publisher.publish(topic, report(source_id), qos=0)
        # Pausing keeps the inbox at its bound give or take one read: what more arrives is dropped.
        assert handled.wait_quiet(2000, quiet_s=0.5, timeout_s=0.5) == 0
        release.set()
        total = handled.wait_quiet(2000, quiet_s=1.0, timeout_s=20)
        figures = subscriber.figures
        assert figures.read_pauses >= 1 and figures.inbox_peak >= 20
        assert total + figures.inbox_dropped == figures.received == 2000
        assert subscriber.inbox_depth == 0


def test_an_inbox_full_of_bytes_pauses_reading_and_loses_nothing_at_qos1(rampart_broker) -> None:
    """Large messages fill the inbox's byte bound long before its count: reading pauses there (give
    or take one read) and the broker holds the rest for this node."""
    release = threading.Event()
    handled = Collector()

    source_id = unique("big")
    topic = topics.observation("sensor", source_id)
    scan = geo_scan(source_id, 0.0, [geo_detection((100.0 * k, 1000.0, 0.0)) for k in range(200)])
    size = len(codec.encode(scan))
    assert size > 20_000
    publisher = BusClient(source_id, SourceKind.SENSOR, BrokerConfig.from_url(rampart_broker.url))
    with client(rampart_broker.url, "slow", inbox_bytes=10 * size) as subscriber, publisher:
        subscriber.subscribe(topic, handled.after(lambda: release.wait(10)))
        for _ in range(60):
            publisher.publish(topic, scan)
        assert publisher.wait_acknowledged(10)
        release.set()
        assert handled.wait_for(lambda messages: len(messages) == 60, timeout_s=20)
        figures = subscriber.figures
        assert figures.read_pauses >= 1 and figures.inbox_peak <= 12 and figures.inbox_peak_bytes <= 12 * size
        assert figures.received == 60 and figures.inbox_dropped == 0


def test_a_slow_handler_leaves_the_backlog_on_the_socket_not_in_the_read_buffer(rampart_broker) -> None:
    """A handler that frees one inbox slot at a time: each read took another 64 kB chunk from the
    socket while whole packets already waited in the buffer, so the buffer grew past every bound."""
    gate = threading.Semaphore(0)
    handled = Collector()

    source_id, topic, publisher = position_source(rampart_broker.url, "steady")
    with client(rampart_broker.url, "slow", inbox_size=20) as subscriber, publisher:
        subscriber.subscribe(topic, handled.after(gate.acquire), qos=0)
        for _ in range(3000):
            publisher.publish(topic, report(source_id), qos=0)
        assert publisher.wait_acknowledged(10)
        reader = subscriber._mqtt  # white box: the read buffer under test
        buffered = []
        for n in range(1, 301):
            gate.release()

            def taken(messages: list[Envelope], n: int = n) -> bool:
                return len(messages) >= n

            assert handled.wait_for(taken)
            buffered.append(len(reader._rx) - reader._rx_pos)
        gate.release(3000)
        assert max(buffered) <= RECV_CHUNK + 1024


def test_seq_is_consecutive_across_node_states_and_dead_letters(rampart_broker) -> None:
    seen = Collector()
    node = client(rampart_broker.url, "node", state_interval_s=0.2)
    with client(rampart_broker.url, "watch") as watcher:
        watcher.subscribe(topics.node_state(node.node_id), seen)
        watcher.subscribe(topics.dead_letter("garbage-source"), seen)
        with node, client(rampart_broker.url, "feeder") as feeder:
            node.subscribe(topics.observation("position", "garbage-source"), Collector())
            for _ in range(3):
                feeder.publish_raw(topics.observation("position", "garbage-source"), b"\xc1 not msgpack")
            assert seen.wait_for(lambda messages: sum(m.source.id == node.node_id for m in messages) >= 8)
    mine = [m for m in seen.messages if m.source.id == node.node_id and m.session == node.session]
    assert [m.seq for m in mine] == list(range(1, len(mine) + 1))
    assert {type(m).__name__ for m in mine} == {"NodeState", "DeadLetter"}


def test_the_clients_figures_are_in_the_node_state(rampart_broker) -> None:
    states = Collector()
    node = client(rampart_broker.url, "node", state_figures=lambda: {"own_figure": 7.0}, state_interval_s=0.2)
    with client(rampart_broker.url, "watch") as watcher:
        watcher.subscribe(topics.node_state(node.node_id), states)
        with node:
            assert states.wait_for(lambda messages: len(messages) >= 2)
    state = states.messages[-1]
    assert isinstance(state, NodeState)
    assert state.figures["own_figure"] == 7.0
    expected = {f"bus_{name}" for name in node.figures.__dataclass_fields__} | {"bus_inbox_depth", "bus_unacknowledged"}
    assert expected <= set(state.figures)
    assert state.figures["bus_connects"] == 1


@pytest.mark.slow
def test_fusion_runs_the_smoke_scenario_over_tls_for_a_minute_without_a_disconnect(tmp_path: Path) -> None:
    with tls_mosquitto(tmp_path) as config, FusionService(config, node_id=unique("fusion")) as fusion:
        runner = threading.Thread(target=fusion.run, daemon=True)
        runner.start()
        run_live(scenario_for("smoke", 60.0), seed=1, broker=config, speed=1.0)
        figures = fusion.client.figures
        assert (figures.connects, figures.disconnects) == (1, 0)
        assert fusion.core.figures.accepted > 100


@pytest.mark.parametrize("qos", [0, 1])
def test_large_messages_span_reads_intact(rampart_broker, qos: int) -> None:
    """Payloads bigger than one 64 KiB read, between small ones: the client's own framing."""
    _large_messages_arrive_intact(BrokerConfig.from_url(rampart_broker.url), qos)


def test_large_messages_span_tls_records_intact(tmp_path: Path) -> None:
    with tls_mosquitto(tmp_path) as config:
        _large_messages_arrive_intact(config, 1)


def _large_messages_arrive_intact(config: BrokerConfig, qos: int) -> None:
    arrived: list[bytes] = []
    done = threading.Event()
    sizes = [10, 300_000, 20, 70_000, 5, 1_000_000 - 200]

    def on_raw(msg: object) -> None:
        arrived.append(bytes(msg.payload))  # type: ignore[attr-defined]
        if len(arrived) == len(sizes):
            done.set()

    topic = topics.observation("position", unique("big"))
    with (
        BusClient(unique("sub"), SourceKind.TOOL, config) as subscriber,
        BusClient(unique("pub"), SourceKind.TOOL, config) as publisher,
    ):
        subscriber.subscribe_raw(topic, on_raw, qos=qos)
        payloads = [bytes([i]) * size for i, size in enumerate(sizes)]
        for payload in payloads:
            publisher.publish_raw(topic, payload, qos=qos)
        assert done.wait(10)
    assert arrived == payloads


def test_a_node_receiving_a_steady_stream_still_publishes_at_once(rampart_broker) -> None:
    """The fusion receives observations and publishes updates at the same rate. The client handed its
    outbox to paho only when nothing was left to send, and after every read the read's QoS 1
    acknowledgements were: at 2k/s each way updates waited 1-2 s behind thousands unacknowledged."""
    url = rampart_broker.url
    count, period_s = 1500, 0.001
    report = PositionReport(
        source=Source(id="feed", kind=SourceKind.POSITION),
        time=datetime.now(UTC),
        platform_id="x",
        position=GeoPoint(lat=54.0, lon=10.0),
    )
    payload = codec.encode(report)
    pace = threading.Event()  # never set: its timeout paces both streams
    with client(url, "feeder") as feeder, client(url, "fusion") as node:
        received = Collector()
        node.subscribe(topics.observation("position", "feed"), received)

        def feed() -> None:
            for _ in range(count):
                feeder.publish_raw(topics.observation("position", "feed"), payload)
                pace.wait(period_s)

        feeding = threading.Thread(target=feed, daemon=True)
        feeding.start()
        peak = 0
        for _ in range(count):
            node.publish_raw(topics.observation("position", "node"), payload)
            peak = max(peak, node.unacknowledged)
            pace.wait(period_s)
        feeding.join()
        assert node.wait_acknowledged(10.0)
        assert received.wait_for(lambda messages: len(messages) == count, timeout_s=10.0)
    assert peak < 300, f"{peak} of {count} published messages were waiting for the broker at once"
