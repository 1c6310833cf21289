"""A vehicle's replica across fusion restarts (epochs), over a real broker."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from bus import codec, topics
from bus.client import BusClient
from bus.replica import PictureReplica
from bus.schema import GeoPoint, PictureSnapshot, Source, SourceKind, Track, TrackStatus, TrackUpdate
from fusion.picture import paginate
from tests.bus_helpers import client

FUSION = Source(id="fusion", kind=SourceKind.FUSION)
IDENTITY = ((25.0, 0.0, 0.0), (0.0, 25.0, 0.0), (0.0, 0.0, 25.0))


def track(track_id: str) -> Track:
    now = datetime.now(UTC)
    return Track(
        track_id=track_id,
        status=TrackStatus.CONFIRMED,
        position=GeoPoint(lat=54.4, lon=10.2),
        velocity_enu_mps=(0.0, 0.0, 0.0),
        position_cov_enu_m2=IDENTITY,
        velocity_cov_enu_m2s2=IDENTITY,
        first_seen=now,
        updated=now,
        stale_at=now,
    )


def update(epoch: int, seq: int, track_id: str) -> TrackUpdate:
    return TrackUpdate(source=FUSION, time=datetime.now(UTC), epoch=epoch, picture_seq=seq, track=track(track_id))


def snapshot(epoch: int, seq: int, *track_ids: str) -> PictureSnapshot:
    tracks = [track(track_id) for track_id in track_ids]
    return PictureSnapshot(source=FUSION, time=datetime.now(UTC), epoch=epoch, picture_seq=seq, tracks=tracks)


def test_a_restarted_fusion_is_followed_at_once_with_no_ghost(rampart_broker) -> None:
    """On main a restarted fusion's updates (seq from 1 again) were ignored until its sequence passed
    the old one, and the old tracks stayed on screen."""
    fusion, vehicle = client(rampart_broker.url, "fusion"), client(rampart_broker.url, "vehicle")
    replica = PictureReplica(vehicle)
    prefix = f"{vehicle.node_id}-"
    with fusion, vehicle:
        for seq in range(1, 501):
            fusion.publish_raw(topics.track(f"{prefix}old"), codec.encode(update(1_000, seq, f"{prefix}old")))
        assert replica.wait_for(lambda tracks: f"{prefix}old" in tracks, timeout_s=5)

        # The fusion restarts: a new epoch, sequence numbers from 1.
        fusion.publish_raw(topics.track(f"{prefix}new"), codec.encode(update(2_000, 1, f"{prefix}new")))
        assert replica.wait_for(lambda tracks: f"{prefix}new" in tracks, timeout_s=5)
        assert replica.epoch == 2_000
        # A leftover of the dead fusion is ignored; the new epoch's snapshot drops the old track.
        fusion.publish_raw(topics.track(f"{prefix}ghost"), codec.encode(update(1_000, 501, f"{prefix}ghost")))
        fusion.publish_raw(topics.snapshot(), codec.encode(snapshot(2_000, 1, f"{prefix}new")))
        assert replica.wait_for(lambda tracks: set(tracks) == {f"{prefix}new"}, timeout_s=5), replica.tracks()
        assert replica.figures.stale_epoch == 1
        assert replica.figures.epochs == 2


def test_pages_fit_the_limit_and_make_the_whole_again() -> None:
    whole = snapshot(3_000, 42, *(f"T{index:06d}" for index in range(2_000)))
    pages = paginate(whole, 100_000)
    assert len(pages) > 1
    assert all(len(codec.encode(page)) <= 100_000 for page in pages)
    assert [(page.page, page.pages, page.picture_seq) for page in pages] == [
        (index, len(pages), 42) for index in range(len(pages))
    ]
    assert [track for page in pages for track in page.tracks] == whole.tracks
    assert paginate(whole, 10**9) == [whole]


def test_a_page_number_beyond_the_count_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"page 3 of 3 \(pages count from 0\)"):
        PictureSnapshot.model_validate({**snapshot(1, 1).model_dump(by_alias=True), "page": 3, "pages": 3})


# --- one message cannot take over the sequence state ----------------------------------------------------------


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Feed:
    """A forger's raw publishes of TrackUpdates and snapshots (track ids under `prefix`), and waits
    for what a replica took."""

    def __init__(self, fusion: BusClient, prefix: str, epoch: int) -> None:
        self.fusion, self.prefix, self.epoch = fusion, prefix, epoch

    def update(self, seq: int, name: str, *, epoch: int | None = None, retain: bool = False) -> None:
        track_id = f"{self.prefix}{name}"
        message = update(self.epoch if epoch is None else epoch, seq, track_id)
        self.fusion.publish_raw(topics.track(track_id), codec.encode(message), retain=retain)

    def snapshot(self, seq: int, *names: str) -> None:
        message = snapshot(self.epoch, seq, *(f"{self.prefix}{name}" for name in names))
        self.fusion.publish_raw(topics.snapshot(), codec.encode(message))

    def held(self, replica: PictureReplica, names: set[str]) -> bool:
        """Wait until the replica holds exactly tracks `names` of ours (it applies messages in order)."""
        return replica.wait_for(lambda tracks: self.ours(tracks) == names, timeout_s=5)

    def ours(self, tracks: dict[str, Track]) -> set[str]:
        return {track_id.removeprefix(self.prefix) for track_id in tracks if track_id.startswith(self.prefix)}


def test_a_forged_live_sequence_number_is_ignored_and_gaps_are_still_seen(rampart_broker) -> None:
    """On main one TrackUpdate with picture_seq 2**62 became the sequence state: no later update was
    ever a gap again."""
    fusion, vehicle = client(rampart_broker.url, "fusion"), client(rampart_broker.url, "vehicle")
    replica = PictureReplica(vehicle)
    feed = Feed(fusion, f"{vehicle.node_id}-", now_ms())
    with fusion, vehicle:
        feed.update(1, "a")
        feed.update(2, "b")
        feed.update(2**62, "forged")
        feed.update(3, "c")
        assert feed.held(replica, {"a", "b", "c"}), replica.tracks()
        assert (replica.picture_seq, replica.figures.seq_jumps, replica.figures.gaps) == (3, 1, 0)
        feed.update(5, "e")  # 4 is missed: a gap, as before the forgery
        assert feed.held(replica, {"a", "b", "c", "e"})
        assert (replica.picture_seq, replica.figures.gaps) == (5, 1)
        feed.snapshot(5, "a", "b", "c", "e", "s")
        assert feed.held(replica, {"a", "b", "c", "e", "s"})
        assert replica.figures.resyncs == 1


def test_the_jump_allowed_is_a_setting(rampart_broker) -> None:
    fusion, vehicle = client(rampart_broker.url, "fusion"), client(rampart_broker.url, "vehicle")
    replica = PictureReplica(vehicle, max_seq_jump=100)
    feed = Feed(fusion, f"{vehicle.node_id}-", now_ms())
    with fusion, vehicle:
        feed.update(1, "a")
        feed.update(102, "too-far")
        feed.update(101, "b")  # exactly 100 past: a gap, taken
        assert feed.held(replica, {"a", "b"}), replica.tracks()
        assert (replica.picture_seq, replica.figures.seq_jumps, replica.figures.gaps) == (101, 1, 1)


def test_a_forged_retained_sequence_gives_way_to_the_live_picture(rampart_broker) -> None:
    """A retained copy (a late joiner's first messages) may jump anywhere, so it is taken; the first
    live update far behind it shows that the state is forged: it restarts, and the next snapshot
    drops the forged track."""
    fusion, vehicle = client(rampart_broker.url, "fusion"), client(rampart_broker.url, "vehicle")
    feed = Feed(fusion, f"{vehicle.node_id}-", now_ms())
    with fusion:
        feed.update(2**62, "forged", retain=True)
        assert fusion.wait_acknowledged(5)
        try:
            replica = PictureReplica(vehicle)
            with vehicle:
                assert feed.held(replica, {"forged"})
                assert replica.picture_seq == 2**62
                feed.update(3, "c")
                assert feed.held(replica, {"forged", "c"})
                assert (replica.picture_seq, replica.figures.seq_resets) == (3, 1)
                feed.update(5, "e")
                feed.snapshot(5, "c", "e")
                assert feed.held(replica, {"c", "e"}), replica.tracks()
                assert (replica.figures.gaps, replica.figures.resyncs) == (1, 1)
        finally:
            fusion.publish_raw(topics.track(f"{feed.prefix}forged"), b"", retain=True)
            assert fusion.wait_acknowledged(5)


def test_an_epoch_a_day_ahead_is_ignored(rampart_broker) -> None:
    fusion, vehicle = client(rampart_broker.url, "fusion"), client(rampart_broker.url, "vehicle")
    replica = PictureReplica(vehicle)
    epoch = now_ms()
    feed = Feed(fusion, f"{vehicle.node_id}-", epoch)
    with fusion, vehicle:
        feed.update(1, "a")
        feed.update(1, "future", epoch=now_ms() + 86_400_000 + 60_000)
        feed.update(2, "b")
        assert feed.held(replica, {"a", "b"}), replica.tracks()
        assert (replica.epoch, replica.figures.future_epochs, replica.figures.epochs) == (epoch, 1, 1)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"max_seq_jump": 0}, "max_seq_jump must be at least 1, got 0"),
        ({"max_epoch_lead_s": 0.0}, "max_epoch_lead_s must be positive, got 0.0"),
    ],
)
def test_bounds_that_allow_nothing_are_refused(setting: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        PictureReplica(client("mqtt://127.0.0.1:1"), **setting)
