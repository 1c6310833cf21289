"""Bounded memory: every table that grows with traffic has a bound or a time window.

Why (issue 10): under the `stress` scenario (500 targets, a constant picture) the fusion's RSS rose
from 132 to 146 MB and each vehicle's from 71 to 89 MB in 8 minutes, about 2 MB a minute.
"""

from __future__ import annotations

import gc
import platform
import subprocess
import sys
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from bus import codec, topics
from bus.client import Delivery
from bus.replica import PictureReplica
from bus.schema import Envelope, Observation, Source, SourceKind
from fusion import FusionConfig, FusionCore
from fusion import intake as intake_module
from fusion.intake import Intake, VerdictKind, from_us, to_us
from fusion.picture import PictureFeed
from nodes.sim import scenario_messages
from simulators import load_scenario
from tests.fusion_helpers import at, config, position_report

TICK = timedelta(seconds=FusionConfig().tick_s)


def test_duplicate_memory_is_a_time_window_not_only_a_count() -> None:
    """It held the last 65,536 (source, msg id) pairs whatever their age: 47 minutes of `stress`."""
    intake = Intake(config())
    for n in range(6000):  # 10 minutes at 10 a second
        report = position_report("gps-1", n / 10, (float(n), 0.0, 0.0), msg_id=f"m{n}")
        assert intake.admit(report, to_us(at(n / 10))).accepted
    assert intake.remembered <= (60 + config().horizon_s + 1) * 10  # 60 s behind the late floor
    again = position_report("gps-1", 599.0, (5990.0, 0.0, 0.0), msg_id="m5990")
    assert intake.admit(again, None).reason.startswith("msg_id m5990")  # recent ones are still known


def test_the_jump_check_remembers_at_most_its_capacity_of_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    """It kept every platform's last fix (and pending challenge) for ever: one entry per platform id
    any source ever reported, made-up ones included. (A capacity of 100 here, for speed.)"""
    monkeypatch.setattr(intake_module, "_PLATFORM_CAPACITY", 100)
    intake = Intake(config())
    for n in range(1000):
        report = position_report(f"made-up-{n}", n / 100, (float(n % 10), 0.0, 0.0))
        assert intake.admit(report, to_us(at(n / 100))).accepted
    assert intake.platforms == 100
    # The most recently heard are still checked: an absurd jump of the newest is refused.
    jump = position_report("made-up-999", 10.0, (9e5, 0.0, 0.0))
    assert intake.admit(jump, to_us(at(10.0))).kind is VerdictKind.ABSURD
    assert intake.platforms == 100


def test_topic_matching_agrees_with_paho_and_leaves_no_cyclic_garbage() -> None:
    """The client matched each new topic to its subscriptions with paho's `topic_matches_sub`, which
    leaves a dozen objects in a reference cycle per call; a vehicle matches every new track topic
    (about 40 calls a second under `stress`), and between two runs of the cycle collector its RSS
    rose by megabytes a minute."""
    filters = [topics.PICTURE, topics.ALL_TRACKS, topics.ALL_NODE_STATES, "#", "+/v1/#", "+/+", "$SYS/#", "a//+"]
    examples = [
        topics.track("T000001"),
        topics.snapshot(0),
        topics.node_state("fusion"),
        "rampart/v1/picture",
        "rampart",
        "$SYS/broker/uptime",
        "a//b",
        "/a",
    ]
    for topic_filter in filters:
        for topic in examples:
            assert topics.matches(topic_filter, topic) == mqtt.topic_matches_sub(topic_filter, topic), (
                topic_filter,
                topic,
            )
    gc.collect()
    gc.disable()
    try:
        for n in range(10_000):
            assert topics.matches(topics.ALL_TRACKS, topics.track(f"T{n:06d}"))
        assert gc.collect() == 0
    finally:
        gc.enable()


class _Subscriptions:
    """Stands in for a BusClient: keeps the handlers a replica subscribes."""

    def subscribe(self, topic_filter: str, handler: Any, on_cleared: Any = None) -> None:
        self.handler, self.on_cleared = handler, on_cleared


def test_fusing_and_following_the_picture_make_no_reference_cycles() -> None:
    """The nodes run the cycle collector seldom (`nodes.cli.tune_gc`: a young collection per 200,000
    net allocations, an old one hardly ever), so garbage in a reference cycle stays for minutes:
    the hot paths must make none. The smoke scenario through the codec, the core, its picture feed
    and a replica, as the fusion and a vehicle handle it."""
    scenario = load_scenario("smoke").model_copy(update={"duration_s": 20.0})
    messages = list(scenario_messages(scenario, scenario.seed))
    feed = PictureFeed(FusionCore(), Source(id="fusion", kind=SourceKind.FUSION), epoch=1)
    vehicle = _Subscriptions()
    replica = PictureReplica(vehicle)  # type: ignore[arg-type]

    def deliver(topic: str, message: Envelope) -> None:
        vehicle.handler(codec.decode_on_topic(topic, codec.encode(message)), Delivery(topic, False, 0.0))

    gc.collect()
    gc.disable()
    try:
        clock = from_us(messages[0][0])
        for emit_us, topic, message in messages:
            while clock + TICK <= from_us(emit_us):
                clock += TICK
                step = feed.step(clock)
                for update in step.updates:
                    deliver(topics.track(update.track.track_id), update)
                for track_id in step.dropped:
                    vehicle.on_cleared(topics.track(track_id))
                for page in feed.snapshot_pages(clock):
                    deliver(topics.snapshot(page.page), page)
            if isinstance(message, Observation):
                feed.core.ingest(codec.decode_on_topic(topic, codec.encode(message)), now=from_us(emit_us))  # type: ignore[arg-type]
        assert replica.tracks()
        assert gc.collect() == 0
    finally:
        gc.enable()


_FRAGMENTED_HEAP_PROBE = """
from nodes.heap import trim_heap

def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))

freed, kept = [], []
for _ in range(10_000):
    freed.extend(bytearray(1500) for _ in range(8))  # payloads and models, freed once handled
    kept.append(bytearray(600))  # what is still alive between them
del freed
before = rss_mb()
trim_heap()
print(before, rss_mb())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="trim_heap trims glibc's heap only")
def test_trimming_the_heap_hands_its_free_pages_back() -> None:
    """Why nodes run `nodes.heap.keep_heap_trimmed`: glibc gives memory back only from the top of
    its heap, so the holes that freed messages leave between live ones stay resident (a vehicle under
    `stress` crept by 0.3 MB a minute while its allocated bytes stayed level). Of 120 MB freed in
    holes of 12 kB between live blocks, none goes back by itself and 77 MB with one trim here."""
    probe = subprocess.run(
        [sys.executable, "-c", _FRAGMENTED_HEAP_PROBE], capture_output=True, text=True, check=True, timeout=60
    )
    before, after = map(float, probe.stdout.split())
    assert before - after > 50, probe.stdout
