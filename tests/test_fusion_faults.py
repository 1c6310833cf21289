"""Faults and hostile input against a running fusion service, over a real broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bus import codec, topics
from bus.client import BrokerConfig
from bus.replica import PictureReplica
from bus.schema import (
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
from nodes.fusion import FusionService
from tests.bus_helpers import Collector, client

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
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    with FusionService(broker).start_in_background() as fusion, client(rampart_own_broker.url, "gps") as gps:
        vehicle = client(rampart_own_broker.url, "vehicle")
        picture = PictureReplica(vehicle)
        with vehicle, client(rampart_own_broker.url, "liar") as liar:
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
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    letters = Collector()
    with FusionService(broker).start_in_background() as fusion, client(rampart_own_broker.url, "gps") as gps:
        vehicle = client(rampart_own_broker.url, "vehicle")
        picture = PictureReplica(vehicle)
        with vehicle, client(rampart_own_broker.url, "attacker") as attacker:
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
