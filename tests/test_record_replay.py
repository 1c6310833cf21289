"""Record -> replay over a real broker: same topics, payloads and order; timing kept at speed 1 and 10."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from bus import codec, topics
from bus.client import BrokerConfig
from bus.recording import read_all
from bus.schema import PositionReport
from nodes.recorder import Recorder
from nodes.replayer import replay
from tests.bus_helpers import client, unique
from tests.test_bus_e2e import position

GAP_S = 0.03
COUNT = 40


class Arrivals:
    def __init__(self) -> None:
        self.items: list[tuple[float, str, bytes, bool]] = []
        self._changed = threading.Condition()

    def __call__(self, msg: mqtt.MQTTMessage) -> None:
        with self._changed:
            self.items.append((time.monotonic(), msg.topic, bytes(msg.payload), bool(msg.retain)))
            self._changed.notify_all()

    def wait(self, count: int, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.items) >= count, timeout_s)


def _record(url: str, path: Path, source_id: str) -> list[bytes]:
    topic = topics.observation("position", source_id)
    sent = []
    pace = threading.Event()  # never set: each wait is the gap the recording must keep
    with Recorder(path, [topic], BrokerConfig.from_url(url)) as recorder, client(url, "pub") as publisher:
        for seq in range(COUNT):
            content_type = codec.JSON if seq % 2 else codec.MSGPACK
            payload = codec.encode(position(source_id, seq), content_type)
            publisher.publish_raw(topic, payload, qos=1, content_type=content_type)
            sent.append(payload)
            pace.wait(GAP_S)
        assert publisher.wait_acknowledged(5)
        assert recorder.wait_for(lambda message: message.payload == sent[-1], timeout_s=5)
    return sent


def _replay(url: str, source_id: str, recorded: list, speed: float | None, live_times: bool) -> Arrivals:
    """Replay `recorded` and collect what a subscriber to the source's topic receives, with arrival times."""
    arrivals = Arrivals()
    with client(url, "sub") as subscriber, client(url, "replay") as replayer:
        subscriber.subscribe_raw(topics.observation("position", source_id), arrivals)
        replay(replayer, recorded, speed, live_times)
        assert replayer.wait_acknowledged(5)
        assert arrivals.wait(len(recorded), timeout_s=5)
    return arrivals


@pytest.mark.parametrize("speed", [1.0, 10.0])
def test_record_then_replay_keeps_topics_payloads_order_and_timing(
    rampart_broker, tmp_path: Path, speed: float
) -> None:
    source_id = unique("rec")
    path = tmp_path / "trial.rec"
    sent = _record(rampart_broker.url, path, source_id)

    header, recorded = read_all(path)
    assert header.recorded["topics"] == [topics.observation("position", source_id)]
    assert [m.payload for m in recorded] == sent
    assert [m.content_type for m in recorded[:2]] == [None, codec.JSON]  # msgpack is the unnamed default
    recorded_span = (recorded[-1].time_us - recorded[0].time_us) / 1e6

    arrivals = _replay(rampart_broker.url, source_id, recorded, speed, live_times=False)
    assert [(topic, payload) for _, topic, payload, _ in arrivals.items] == [(m.topic, m.payload) for m in recorded]
    replay_span = arrivals.items[-1][0] - arrivals.items[0][0]
    assert replay_span == pytest.approx(recorded_span / speed, rel=0.25, abs=0.05)


def test_live_times_move_observation_times_to_now(rampart_broker, tmp_path: Path) -> None:
    source_id = unique("rec")
    path = tmp_path / "old.rec"
    _record(rampart_broker.url, path, source_id)
    _, fresh = read_all(path)
    hour_us = 3600 * 10**6
    recorded = [replace(m, time_us=m.time_us - hour_us, payload=_aged(m.payload, m.content_type)) for m in fresh]
    arrivals = _replay(rampart_broker.url, source_id, recorded, None, live_times=True)
    originals = [codec.decode(m.payload, m.content_type) for m in recorded]
    replayed = [codec.decode(payload) for _, _, payload, _ in arrivals.items]
    assert all(isinstance(m, PositionReport) for m in replayed)
    shifts = {round((new.time - old.time).total_seconds(), 3) for old, new in zip(originals, replayed, strict=True)}
    assert len(shifts) == 1 and shifts.pop() >= 3600
    assert [m.seq for m in replayed] == [m.seq for m in originals]


def _aged(payload: bytes, content_type: str | None) -> bytes:
    """The message as if observed (and recorded) an hour ago, so that moving it to now is a visible shift."""
    message = codec.decode(payload, content_type)
    return codec.encode(
        message.model_copy(update={"time": message.time - timedelta(hours=1)}), content_type or codec.MSGPACK
    )


def test_replay_refuses_a_file_that_is_not_a_recording(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.txt"
    bogus.write_text("hello world, not a recording")
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "replay", str(bogus), "--max-speed"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"rampart replay: {bogus} is not a Rampart recording (bad magic b'hello wo')"
