"""Faults and hostile input against a running fusion service, over a real broker."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bus import codec, topics
from bus.client import BrokerConfig
from bus.replica import PictureReplica
from bus.schema import (
    MAX_DETECTIONS,
    DeadLetter,
    Envelope,
    GeoPoint,
    Observation,
    PositionReport,
    SensorReading,
    Source,
    SourceKind,
    Track,
)
from fusion import FusionConfig, Verdict
from nodes.fusion import HANDOVER_DETECTIONS, FusionService
from tests.bus_helpers import Collector, client, fusion_fed_by_hand
from tests.fusion_helpers import geo_detection, geo_scan

PLATFORMS = ("ifv-1", "ifv-2", "ifv-3")


def own_report(platform: str, time: datetime) -> PositionReport:
    return PositionReport(
        source=Source(id=f"{platform}.gps", kind=SourceKind.POSITION),
        time=time,
        platform_id=platform,
        position=GeoPoint(lat=54.4 + 0.01 * PLATFORMS.index(platform), lon=10.2),
    )


def test_one_source_stamping_ahead_cannot_drag_the_picture_clock(rampart_own_broker) -> None:
    """60 valid, empty scans, each stamped a little under 5 s ahead of the one before: on main the
    picture clock followed them 294 s ahead and rejected every genuine report as late."""
    with (
        fusion_fed_by_hand(rampart_own_broker.url) as (fusion, gps, picture),
        client(rampart_own_broker.url, "liar") as liar,
    ):
        started = datetime.now(UTC)
        for platform in PLATFORMS:
            gps.publish_raw(
                topics.observation("position", f"{platform}.gps"), codec.encode(own_report(platform, started))
            )
        assert picture.wait_for(lambda tracks: len(tracks) == 3, timeout_s=5)

        source = Source(id="liar", kind=SourceKind.SENSOR)
        for k in range(60):
            ahead = datetime.now(UTC) + timedelta(seconds=4.9 * (k + 1))
            empty = SensorReading(source=source, time=ahead, sensor_position=GeoPoint(lat=54.4, lon=10.2))
            liar.publish_raw(topics.observation("sensor", "liar"), codec.encode(empty))
        assert liar.wait_acknowledged(5)

        after = datetime.now(UTC)
        for platform in PLATFORMS:
            gps.publish_raw(
                topics.observation("position", f"{platform}.gps"), codec.encode(own_report(platform, after))
            )

        def refreshed(tracks: dict[str, Track]) -> bool:
            return all(tracks.get(f"P-{p}") is not None and tracks[f"P-{p}"].updated >= after for p in PLATFORMS)

        assert picture.wait_for(refreshed, timeout_s=5), fusion.figures()
        figures = fusion.figures()
        assert figures.get("verdict_late", 0) == 0
        assert figures["verdict_future"] >= 58  # the liar's second message onwards
        assert abs((fusion.clock.now() - datetime.now(UTC)).total_seconds()) < 2.0


def test_a_fusion_whose_clock_is_far_behind_every_source_follows_them(rampart_own_broker) -> None:
    """`rampart up --speed 2` with the fusion killed 30 s in: the restarted fusion met sources 28 s
    ahead of its clock, refused every observation as future and so never learned their lead (it
    learned only from accepted ones): 2,152 refused, 0 accepted, the picture gone. A host whose clock
    is off by more than the window is the same case."""
    with fusion_fed_by_hand(rampart_own_broker.url) as (fusion, gps, picture):
        lead = timedelta(seconds=30)
        for _ in range(50):  # a fix from each platform every 0.1 s, as long as none is shown
            ahead = datetime.now(UTC) + lead
            for platform in PLATFORMS:
                gps.publish_raw(
                    topics.observation("position", f"{platform}.gps"), codec.encode(own_report(platform, ahead))
                )
            if picture.wait_for(lambda tracks: len(tracks) == len(PLATFORMS), timeout_s=0.1):
                break
        assert sorted(picture.tracks()) == [f"P-{p}" for p in PLATFORMS], fusion.figures()
        assert fusion.figures()["verdict_future"] >= len(PLATFORMS)  # until the clock followed them
        assert abs((fusion.clock.now() - datetime.now(UTC) - lead).total_seconds()) < 1.0


def test_a_picture_of_5000_tracks_travels_in_pages_under_the_size_limit(rampart_own_broker) -> None:
    """On main a snapshot of about 1,750 tracks passed the broker's 1 MiB limit: the broker dropped
    the fusion, and paho resent the oversize message at every reconnect."""
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    pages: dict[str, int] = {}
    patient = FusionConfig(horizon_s=60.0)  # a burst of 5,000 reports may reach a busy machine's fusion late
    with FusionService(broker, patient).start_in_background() as fusion, client(rampart_own_broker.url, "gps") as gps:
        watcher = client(rampart_own_broker.url, "pages")
        watcher.subscribe_raw(
            topics.snapshot(0).rsplit("/", 1)[0] + "/+",
            lambda msg: pages.update({msg.topic: max(len(msg.payload), pages.get(msg.topic, 0))}),
        )
        with watcher:
            for index in range(5_000):
                platform = f"unit-{index}"
                report = PositionReport(
                    source=Source(id=f"{platform}.gps", kind=SourceKind.POSITION),
                    time=datetime.now(UTC),
                    platform_id=platform,
                    position=GeoPoint(lat=54.0 + index * 1e-4, lon=10.2),
                )
                gps.publish_raw(topics.observation("position", f"{platform}.gps"), codec.encode(report))
            vehicle = client(rampart_own_broker.url, "late-vehicle")
            picture = PictureReplica(vehicle)
            with vehicle:
                assert picture.wait_for(lambda tracks: len(tracks) == 5_000, timeout_s=30), (
                    len(picture.tracks()),
                    {k: v for k, v in fusion.figures().items() if "verdict" in k or "track" in k},
                )
                assert picture.wait_for(lambda tracks: picture.figures.snapshots >= 2, timeout_s=10)
        assert fusion.client.figures.connects == 1  # never dropped by the broker
    assert len(pages) > 1, pages  # the picture needed more than one page
    assert max(pages.values()) <= codec.MAX_PAYLOAD_BYTES


BOMB = ('{"a":' * 1_500 + "1" + "}" * 1_500).encode()  # 9 kB of JSON, 1,500 levels deep


def test_a_nesting_bomb_on_every_subscribed_topic_is_dead_lettered_and_nodes_go_on(rampart_own_broker) -> None:
    """On main this message killed the fusion's network thread (RecursionError) while its state
    still said online, and froze every vehicle when sent on the snapshot topic."""
    letters = Collector()
    with (
        fusion_fed_by_hand(rampart_own_broker.url) as (fusion, gps, picture),
        client(rampart_own_broker.url, "attacker") as attacker,
    ):
        attacker.subscribe(topics.ALL_DEAD_LETTERS, letters)
        bombed = [topics.observation("position", "x"), topics.snapshot(0), topics.track("T000001")]
        for topic in bombed:
            attacker.publish_raw(topic, BOMB, content_type=None)
        reason = "payload: JSON nested deeper than the parser's recursion limit"

        def every_topic_letter(messages: list[Envelope]) -> bool:
            rejected = {m.original_topic for m in messages if isinstance(m, DeadLetter) and m.reason == reason}
            return set(bombed) <= rejected

        assert letters.wait_for(every_topic_letter, timeout_s=10), [m for m in letters.messages]
        # Both nodes go on: a new platform becomes a track and reaches the vehicle.
        topic = topics.observation("position", "ifv-1.gps")
        gps.publish_raw(topic, codec.encode(own_report("ifv-1", datetime.now(UTC))))
        assert picture.wait_for(lambda tracks: "P-ifv-1" in tracks, timeout_s=5)
        assert fusion.figures()["rejected_undecodable"] >= 1


def test_an_observation_the_core_fails_on_is_dead_lettered_and_the_fusion_goes_on(
    rampart_own_broker, monkeypatch
) -> None:
    """The run loop judges what the dispatcher hands over: a failure there is contained like a
    failing handler's, not the end of the loop."""
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    letters = Collector()
    fusion = FusionService(broker)
    ingest = fusion.core.ingest

    def failing_for_ifv_2(observation: Observation, now: datetime | None = None) -> Verdict:
        if isinstance(observation, PositionReport) and observation.platform_id == "ifv-2":
            raise FloatingPointError("overflow in a test")
        return ingest(observation, now)

    monkeypatch.setattr(fusion.core, "ingest", failing_for_ifv_2)
    with fusion.start_in_background(), client(rampart_own_broker.url, "gps") as gps:
        vehicle = client(rampart_own_broker.url, "vehicle")
        picture = PictureReplica(vehicle)
        with vehicle, client(rampart_own_broker.url, "watcher") as watcher:
            watcher.subscribe(topics.ALL_DEAD_LETTERS, letters)
            for platform in PLATFORMS:
                topic = topics.observation("position", f"{platform}.gps")
                gps.publish_raw(topic, codec.encode(own_report(platform, datetime.now(UTC))))
            reason = "handler failed: FloatingPointError: overflow in a test"

            def lettered(messages: list[Envelope]) -> bool:
                return any(isinstance(m, DeadLetter) and m.reason == reason for m in messages)

            assert letters.wait_for(lettered, timeout_s=10)
            [letter] = [m for m in letters.messages if isinstance(m, DeadLetter)]
            assert letter.original_topic == topics.observation("position", "ifv-2.gps")
            assert picture.wait_for(lambda tracks: set(tracks) == {"P-ifv-1", "P-ifv-3"}, timeout_s=5)
        assert fusion.client.figures.handler_errors == 1


def test_the_handover_to_the_run_loop_is_bounded_by_detections_too(rampart_own_broker) -> None:
    """Decoded observations wait for the run loop in a handover of 1,000; a decoded scan of the
    schema's 4,096 detections takes 8.4 MB, so 1,000 of them were 8 GB. With the loop held up, 20
    such scans fill the handover to its detection bound (one scan over at most) and wait in the
    client's inbox and at the broker; once the loop runs, every one of them is judged."""
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    fusion = FusionService(broker).start()  # connected; its run loop not started yet
    now = datetime.now(UTC)
    scan = geo_scan("big-radar", 0.0, [geo_detection((50.0 * k, 0.0, 0.0)) for k in range(MAX_DETECTIONS)])

    class Handover(deque[Any]):
        """The fusion's handover, measured: its peak, what came through, a condition to wait on."""

        def __init__(self) -> None:
            super().__init__()
            self.peak = self.total = 0
            self.changed = threading.Condition()

        def append(self, item: Any) -> None:
            super().append(item)
            with self.changed:
                self.peak, self.total = max(self.peak, len(self)), self.total + 1
                self.changed.notify_all()

        def clear(self) -> None:
            super().clear()
            with self.changed:
                self.changed.notify_all()

        def wait_for(self, condition: Callable[[], bool], timeout_s: float) -> bool:
            with self.changed:
                return self.changed.wait_for(condition, timeout_s)

    fusion._arrivals = handover = Handover()  # white box: the queue under test, measured
    runner = threading.Thread(target=fusion.run, daemon=True)
    try:
        with client(rampart_own_broker.url, "radar") as radar:
            for n in range(20):
                radar.publish_raw(
                    topics.observation("sensor", "big-radar"),
                    codec.encode(scan, update={"time": now + timedelta(seconds=n / 10), "msg_id": f"scan-{n}"}),
                )
            assert radar.wait_acknowledged(20)
        handed = HANDOVER_DETECTIONS // MAX_DETECTIONS + 1
        assert handover.wait_for(lambda: len(handover) == handed, timeout_s=20)
        # Without the bound the dispatcher hands the next scan over as soon as it is decoded (~0.1 s).
        assert not handover.wait_for(lambda: len(handover) > handed, timeout_s=1.0)
        assert fusion.figures()["handover_detections"] == handed * MAX_DETECTIONS
        runner.start()
        assert handover.wait_for(lambda: handover.total == 20 and not handover, timeout_s=60)
        assert handover.peak == handed
    finally:
        fusion.stop()
        if runner.is_alive():
            runner.join(10)
