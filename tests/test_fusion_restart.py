"""Restart continuity: a fusion killed with `kill -9` and started again resumes the retained picture.

Why (issue 10): after `kill -9` and a restart, track ids and `picture_seq` started again at 1, old
tracks stayed on the vehicles' screens, their retained topics stayed on the broker for ever, and ids
were given again to other objects.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bus import codec, topics
from bus.client import BrokerConfig, Delivery
from bus.replica import PictureReplica
from bus.schema import Envelope, GeoPoint, PictureSnapshot, Source, SourceKind, Track, TrackStatus, TrackUpdate
from fusion import FusionConfig, FusionCore, resume
from fusion.picture import TRACK_NUMBER_RESERVE, PictureFeed
from fusion.resume import RetainedPicture
from nodes.fusion import FusionService, read_retained_picture
from tests.bus_helpers import Collector, client, unique
from tests.fusion_helpers import at, config, geo_detection, geo_scan

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FUSION = Source(id="old-fusion", kind=SourceKind.FUSION)


def track(track_id: str, lat: float, updated: datetime = NOW, **fields: object) -> Track:
    defaults: dict[str, object] = {
        "status": TrackStatus.CONFIRMED,
        "position": GeoPoint(lat=lat, lon=10.0, hae_m=5.0),
        "velocity_enu_mps": (3.0, -1.0, 0.0),
        "position_cov_enu_m2": ((25.0, 1.0, 0.0), (1.0, 16.0, 0.0), (0.0, 0.0, 9.0)),
        "velocity_cov_enu_m2s2": ((4.0, 0.0, 0.0), (0.0, 4.0, 0.0), (0.0, 0.0, 1.0)),
        "first_seen": updated - timedelta(seconds=30),
        "updated": updated,
        "stale_at": updated + timedelta(seconds=10),
    }
    return Track(track_id=track_id, **(defaults | fields))


def update(epoch: int, seq: int, one: Track) -> TrackUpdate:
    return TrackUpdate(source=FUSION, time=one.updated, epoch=epoch, picture_seq=seq, track=one)


def test_adopted_tracks_come_back_as_they_were() -> None:
    tracks = [
        track("T000007", 54.30, class_probabilities={"vehicle": 0.7, "person": 0.2, "uav": 0.1}),
        track("P-ifv-7", 54.31, disposition="friendly", platform_id="ifv-7"),
        track("T000042", 54.32, status=TrackStatus.TENTATIVE),
    ]
    core = FusionCore(FusionConfig(origin=GeoPoint(lat=54.0, lon=10.2)))
    core.adopt(tracks, resume.next_track_number([t.track_id for t in tracks]))
    back = {t.track_id: t for t in core.tracks()}
    for original in tracks:
        again = back[original.track_id]
        assert abs(again.position.lat - original.position.lat) < 1e-9
        assert abs(again.position.hae_m - original.position.hae_m) < 1e-6
        assert again.velocity_enu_mps == pytest.approx(original.velocity_enu_mps, abs=1e-9)
        assert np.allclose(again.position_cov_enu_m2, original.position_cov_enu_m2, atol=1e-9)
        assert np.allclose(again.velocity_cov_enu_m2s2, original.velocity_cov_enu_m2s2, atol=1e-9)
        assert (again.status, again.disposition, again.platform_id) == (
            original.status,
            original.disposition,
            original.platform_id,
        )
        given = original.class_probabilities
        assert {c: again.class_probabilities[c] for c in given} == pytest.approx(given, abs=1e-9)
        assert (again.first_seen, again.updated) == (original.first_seen, original.updated)


def test_the_newest_epoch_continues_older_ones_are_cleared_and_numbering_goes_on() -> None:
    old, newer = 1_000, 2_000
    retained = RetainedPicture(
        tracks={
            topics.track("T000003"): update(old, 9, track("T000003", 54.3)),
            topics.track("T000012"): update(newer, 4, track("T000012", 54.4)),
            topics.track("P-ifv-7"): update(newer, 5, track("P-ifv-7", 54.5, platform_id="ifv-7")),
        },
        pages={
            topics.snapshot(0): PictureSnapshot(
                source=FUSION, time=NOW, epoch=newer, picture_seq=5, tracks=[track("T000020", 54.6)], pages=2
            )
        },
    )
    plan = resume.plan(retained)
    assert [t.track_id for t in plan.continued] == ["P-ifv-7", "T000012"]
    assert plan.clear == [topics.track("T000003")]
    assert plan.next_number == 21  # T000020 was in the last snapshot, though its topic was cleared
    assert plan.pages == 1


def test_snapshots_reserve_track_numbers_and_a_restart_numbers_after_the_reservation() -> None:
    feed = PictureFeed(FusionCore(config()), FUSION, epoch=1)
    assert feed.core.ingest(geo_scan("radar-1", 0.0, [geo_detection((0.0, 0.0, 0.0))])).accepted
    first = feed.step(at(0.0))
    assert first.change.created == ("T000001",) and first.snapshot_due
    reserved = feed.snapshot(at(0.0)).next_track_number
    assert reserved == 2 + TRACK_NUMBER_RESERVE
    assert feed.core.ingest(geo_scan("radar-1", 0.1, [geo_detection((5000.0, 0.0, 0.0))])).accepted
    second = feed.step(at(0.1))
    assert second.change.created == ("T000002",) and not second.snapshot_due  # within the reservation

    # Every track dropped: the retained picture is an empty snapshot, and its reservation alone
    # keeps the next fusion from numbering T000001 again.
    empty = PictureSnapshot(source=FUSION, time=NOW, epoch=1, picture_seq=2, next_track_number=reserved)
    assert resume.plan(RetainedPicture(pages={topics.snapshot(0): empty})).next_number == reserved
    assert resume.plan(RetainedPicture()).next_number == 1


def test_a_restart_clears_older_epochs_and_resumes_ids(rampart_own_broker) -> None:
    """Reproduces the issue with retained leftovers of two earlier fusions, then starts a third."""
    url = rampart_own_broker.url
    leftovers = client(url, "old-fusion", SourceKind.FUSION)
    recent = datetime.now(UTC)
    with leftovers:
        for epoch, seq, one in [
            (1_000, 3, track("T000003", 54.3, recent)),
            (2_000, 1, track("T000001", 54.31, recent)),
            (2_000, 2, track("T000002", 54.32, recent)),
        ]:
            leftovers.publish_raw(topics.track(one.track_id), codec.encode(update(epoch, seq, one)), retain=True)
        assert leftovers.wait_acknowledged(5.0)
    broker = BrokerConfig.from_url(url)
    with FusionService(broker, node_id=unique("fusion")).start_in_background() as fusion:
        assert fusion.core.figures.tracks_live == 2
        vehicle = client(url, "vehicle")
        replica = PictureReplica(vehicle)
        with vehicle:
            # The retained leftovers may show first; the new epoch's republished copies take over.
            def resumed(tracks: dict[str, Track]) -> bool:
                return set(tracks) == {"T000001", "T000002"} and replica.epoch == fusion.feed.epoch

            assert replica.wait_for(resumed, timeout_s=5.0)
        on_broker = read_retained_picture(broker, unique("reader"))
        assert sorted(on_broker.tracks) == [topics.track("T000001"), topics.track("T000002")]
        assert {update.epoch for update in on_broker.tracks.values()} == {fusion.feed.epoch}


class Fusion:
    """`rampart fusion` as a process of its own, to be killed."""

    def __init__(self, url: str) -> None:
        command = [sys.executable, "-m", "nodes.cli", "fusion", "--broker", url]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no will handling of ours, no clean-up
        self.process.wait(timeout=10)


class Snapshots:
    """The newest snapshot of each epoch seen, and when the first of each arrived."""

    def __init__(self) -> None:
        self.first_at: dict[int, float] = {}
        self.newest: dict[int, PictureSnapshot] = {}
        self.ids_seen: dict[int, set[str]] = {}
        self._changed = threading.Condition()

    def __call__(self, message: Envelope, delivery: Delivery) -> None:
        with self._changed:
            if isinstance(message, TrackUpdate):
                self.ids_seen.setdefault(message.epoch, set()).add(message.track.track_id)
            elif isinstance(message, PictureSnapshot) and not delivery.retained:
                self.first_at.setdefault(message.epoch, time.monotonic())
                self.newest[message.epoch] = message
                self._changed.notify_all()

    def wait_epoch_after(self, epoch: int, timeout_s: float) -> int | None:
        with self._changed:
            self._changed.wait_for(lambda: any(e > epoch for e in self.newest), timeout_s)
            return max((e for e in self.newest if e > epoch), default=None)

    def ids(self, epoch: int) -> set[str]:
        with self._changed:
            return {t.track_id for t in self.newest[epoch].tracks}


@contextmanager
def scenario(url: str) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "nodes.cli", "sim", "--scenario", "smoke", "--speed", "4", "--broker", url]
    sim = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield sim
    finally:
        sim.kill()
        sim.wait(timeout=10)


def test_kill_9_and_restart_during_the_smoke_scenario(rampart_own_broker) -> None:
    url = rampart_own_broker.url
    monitor = client(url, "monitor")
    snapshots = Snapshots()
    monitor.subscribe(topics.PICTURE, snapshots)
    vehicles = [client(url, f"vehicle-{n}") for n in (1, 2)]
    replicas = [PictureReplica(vehicle) for vehicle in vehicles]
    fusions = [Fusion(url)]
    try:
        with monitor, vehicles[0], vehicles[1]:
            assert snapshots.wait_epoch_after(0, 30.0) is not None, "the fusion did not start"
            with scenario(url):
                assert replicas[0].wait_for(lambda tracks: len(tracks) >= 4, timeout_s=30.0)
                old_epoch = replicas[0].epoch
                assert old_epoch is not None and snapshots.wait_epoch_after(old_epoch - 1, 5.0) == old_epoch
                fusions[0].kill()
                fusions.append(Fusion(url))
                new_epoch = snapshots.wait_epoch_after(old_epoch, 30.0)
                assert new_epoch is not None, "the restarted fusion published no snapshot"

                # Every vehicle holds the new fusion's picture within 2 s of its first snapshot.
                deadline = snapshots.first_at[new_epoch] + 2.0
                for replica in replicas:
                    while replica.epoch != new_epoch or set(replica.tracks()) != snapshots.ids(new_epoch):
                        assert time.monotonic() < deadline, (
                            f"vehicle (epoch {replica.epoch}): {sorted(replica.tracks())}, "
                            f"fusion (epoch {new_epoch}): {sorted(snapshots.ids(new_epoch))}"
                        )
                        replica.wait_for(lambda tracks: False, timeout_s=0.05)
                continued = snapshots.ids_seen[old_epoch] & snapshots.ids(new_epoch)
                assert continued, "the new fusion continued none of the old tracks"

                # Ids are never given to another object: every new id is numbered after the old ones.
                old_numbers = resume.next_track_number(sorted(snapshots.ids_seen[old_epoch]))
                fresh = snapshots.ids_seen.get(new_epoch, set()) - snapshots.ids_seen[old_epoch]
                assert all(resume.next_track_number([tid]) > old_numbers for tid in fresh if tid.startswith("T"))

                # No orphan retained topic: each belongs to the new epoch and to a track it has.
                on_broker = read_retained_picture(BrokerConfig.from_url(url), unique("reader"))
                newest = max(on_broker.pages.values(), key=lambda page: page.picture_seq)
                assert len(on_broker.pages) == newest.pages and newest.epoch == new_epoch
                in_snapshot = {t.track_id for page in on_broker.pages.values() for t in page.tracks}
                orphans = [
                    topic
                    for topic, update in on_broker.tracks.items()
                    if update.epoch != new_epoch
                    or (update.track.track_id not in in_snapshot and update.picture_seq <= newest.picture_seq)
                ]
                assert orphans == []
    finally:
        for fusion in fusions:
            fusion.kill()


def test_ids_are_not_given_again_after_every_track_was_dropped(rampart_own_broker) -> None:
    """Once all of a fusion's tracks were dropped, no retained message showed an id any more: the
    next fusion numbered from T000001 again, giving its predecessor's ids to other objects."""
    url = rampart_own_broker.url
    broker = BrokerConfig.from_url(url)
    node = unique("fusion")
    brief = FusionConfig(confirm_within_s=0.5)  # a lone detection's tentative track goes at once
    created: list[str] = []
    with client(url, "radar-1", SourceKind.SENSOR) as radar:
        for _ in range(2):
            with FusionService(broker, brief, node_id=node).start_in_background() as fusion:
                picture = Collector()
                watcher = client(url, "vehicle")
                watcher.subscribe(topics.PICTURE, picture, on_cleared=lambda topic: None)
                with watcher:
                    scan = geo_scan(radar.node_id, 0.0, [geo_detection((100.0, 200.0, 0.0))])
                    scan = scan.model_copy(update={"time": datetime.now(UTC)})
                    radar.publish_raw(topics.observation("sensor", radar.node_id), codec.encode(scan))

                    def came_and_went(messages: list[Envelope]) -> bool:
                        ours = [m for m in messages if getattr(m, "epoch", None) == fusion.feed.epoch]
                        came = any(isinstance(m, TrackUpdate) for m in ours)
                        return came and isinstance(ours[-1], PictureSnapshot) and not ours[-1].tracks

                    assert picture.wait_for(came_and_went, timeout_s=10.0)
                    created += [m.track.track_id for m in picture.messages if isinstance(m, TrackUpdate)][:1]
    assert created[0] != created[1], f"both fusions numbered their first track {created[0]}"
