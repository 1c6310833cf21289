"""A vehicle's replica across fusion restarts (epochs), over a real broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bus import codec, topics
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
