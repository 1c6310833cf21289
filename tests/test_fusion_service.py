"""The fusion service and vehicle nodes end to end over a real broker."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from bus import codec, topics
from bus.client import BrokerConfig, BusClient
from bus.replica import PictureReplica
from bus.schema import GeoPoint, PositionReport, Source, SourceKind, TrackStatus
from fusion import FusionConfig
from nodes.fusion import FusionService
from tests.bus_helpers import client, fusion_fed_by_hand

FAST_AGEING = FusionConfig(delete_after_s=3.0, platform_delete_after_s=3.0)


def test_simulator_to_fusion_to_two_vehicles_one_late(rampart_own_broker) -> None:
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    with FusionService(broker, FAST_AGEING, snapshot_rate_hz=2.0).start_in_background() as fusion:
        early = client(rampart_own_broker.url, "vehicle-early")
        early_picture = PictureReplica(early)
        with early:
            command = [sys.executable, "-m", "nodes.cli", "sim", "--scenario", "smoke", "--speed", "10"]
            result = subprocess.run(
                [*command, "--duration", "40", "--broker", rampart_own_broker.url], capture_output=True, timeout=60
            )
            assert result.returncode == 0, result.stderr.decode()
            assert early_picture.wait_for(lambda tracks: len(tracks) >= 3, timeout_s=5)

            late = client(rampart_own_broker.url, "vehicle-late")
            late_picture = PictureReplica(late)
            with late:
                joined = time.monotonic()
                assert late_picture.wait_for(lambda tracks: tracks == early_picture.tracks(), timeout_s=1.0)
                assert time.monotonic() - joined < 1.0
                picture = early_picture.tracks()
                assert any(t.platform_id == "drone-1" and t.disposition == "friendly" for t in picture.values())
                assert any(t.status == TrackStatus.CONFIRMED and t.platform_id is None for t in picture.values())

                # No more data: every track goes stale and must vanish from both vehicles.
                assert early_picture.wait_for(lambda tracks: not tracks, timeout_s=15)
                assert late_picture.wait_for(lambda tracks: not tracks, timeout_s=2)
                assert early_picture.figures.drops >= len(picture)
        assert fusion.core.figures.accepted > 100


GATEWAY = "ifv-9.gps"
REPORTS = topics.observation("position", GATEWAY)


def report(lat: float, time: datetime, msg_id: str | None = None, platform_id: str = "ifv-9") -> PositionReport:
    """A fix from the gateway that publishes on `REPORTS`."""
    extra = {"msg_id": msg_id} if msg_id else {}
    return PositionReport(
        source=Source(id=GATEWAY, kind=SourceKind.POSITION),
        time=time,
        platform_id=platform_id,
        position=GeoPoint(lat=lat, lon=10.0),
        **extra,
    )


def forward(bus: BusClient, message: PositionReport) -> None:
    bus.publish_raw(REPORTS, codec.encode(message))


def test_bad_input_is_counted_and_leaves_the_picture_unharmed(rampart_own_broker) -> None:
    with fusion_fed_by_hand(rampart_own_broker.url, FAST_AGEING) as (fusion, bus, picture):
        now = datetime.now(UTC)
        forward(bus, report(54.0, now))
        assert picture.wait_for(lambda tracks: "P-ifv-9" in tracks, timeout_s=5)

        bus.publish_raw(REPORTS, b"\x00\xffgarbage", content_type=None)
        forward(bus, report(63.0, now + timedelta(seconds=1)))  # 1,000 km in a second
        for _ in range(1000):
            forward(bus, report(54.00001, now + timedelta(seconds=2), msg_id="same"))
        forward(bus, report(54.0, now + timedelta(days=365 * 70)))  # far future
        forward(bus, report(54.0, now - timedelta(days=365 * 20)))  # far past
        # One connection, one dispatcher: once this last report shows in the picture, the service
        # has judged everything sent before it.
        last = now + timedelta(seconds=3)
        forward(bus, report(54.0, last))
        assert picture.wait_for(lambda tracks: tracks["P-ifv-9"].updated >= last, timeout_s=10)

        figures = fusion.figures()
        assert figures["rejected_undecodable"] == 1
        assert figures["verdict_absurd"] == 1
        assert figures["verdict_duplicate"] == 999
        assert figures["verdict_future"] == 1
        assert figures["verdict_late"] == 1
        track = picture.tracks()["P-ifv-9"]
        assert track.position.lat == pytest.approx(54.0, abs=1e-3)
        assert list(picture.tracks()) == ["P-ifv-9"]
        assert fusion._runner is not None and fusion._runner.is_alive()


def test_a_report_arriving_out_of_order_is_applied_by_a_rewind_that_the_figures_count(rampart_own_broker) -> None:
    with fusion_fed_by_hand(rampart_own_broker.url, FAST_AGEING) as (fusion, bus, picture):
        now = datetime.now(UTC)
        forward(bus, report(54.0, now))
        assert picture.wait_for(lambda tracks: "P-ifv-9" in tracks, timeout_s=5)
        forward(bus, report(54.001, now - timedelta(seconds=1), platform_id="ifv-8"))
        assert picture.wait_for(lambda tracks: "P-ifv-8" in tracks, timeout_s=5)

        figures = fusion.figures()
        assert (figures["rewinds"], figures["reprocessed"]) == (1, 1)
        assert figures["verdict_late"] == 0
