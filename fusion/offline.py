"""The fusion core driven by a recording, with no broker: deterministic, for `rampart replay
--offline`, `rampart eval`, tests (`replay("smoke.rec")`) and benchmarks.

The recording's receive times stand in for the service's clock: before each record the picture is
advanced to that record's time (in steps of the config's `tick_s`, as the live service ticks),
observations go into the core (late, as live, only beyond the horizon behind that clock), and a
snapshot is taken whenever ground truth arrives, so every truth frame has the picture of the same
instant beside it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bus import codec, topics
from bus.recording import RecordedMessage, open_recording
from bus.schema import Envelope, GroundTruth, PictureSnapshot, Source, SourceKind, Track
from fusion import FusionConfig, FusionCore, FusionFigures
from fusion.picture import PictureFeed

log = logging.getLogger(__name__)

OFFLINE_SOURCE = Source(id="fusion-offline", kind=SourceKind.FUSION, integration="rampart")


@dataclass
class Picture:
    """The picture at the end of a replay, with what the core counted on the way."""

    time: datetime | None
    tracks: dict[str, Track]
    figures: FusionFigures
    rejected: int = 0
    history: list[PictureSnapshot | GroundTruth] = field(default_factory=list)

    def confirmed(self) -> list[Track]:
        return [track for track in self.tracks.values() if track.status == "confirmed"]


class OfflineFusion:
    """The core, its picture feed and a clock made of recording times."""

    def __init__(self, config: FusionConfig | None = None) -> None:
        self.config = config or FusionConfig()
        self.core = FusionCore(self.config)
        self.feed = PictureFeed(self.core, OFFLINE_SOURCE)
        self.tick = timedelta(seconds=self.config.tick_s)
        self.rejected = 0

    def run(
        self, messages: Iterable[RecordedMessage], snapshot_every_s: float | None = None
    ) -> Iterator[PictureSnapshot | GroundTruth]:
        """Yield a snapshot and then the truth frame at each truth record (and a snapshot every
        `snapshot_every_s` of recording time if given); a final snapshot at the last record's time."""
        clock: datetime | None = None
        now: datetime | None = None
        next_snapshot: datetime | None = None
        for record in messages:
            now = datetime.fromtimestamp(record.time_us / 1e6, UTC)
            if clock is None:
                clock = next_snapshot = now
            while clock + self.tick <= now:
                clock += self.tick
                self.core.advance(clock)  # nothing is published offline: no track models to build
            message = self._decode(record)
            if isinstance(message, GroundTruth):
                self.feed.step(now)
                yield self.feed.snapshot(now)
                yield message
            elif message is not None:
                self.core.ingest(message, now=now)  # type: ignore[arg-type]
            if snapshot_every_s is not None and next_snapshot is not None and now >= next_snapshot:
                self.feed.step(now)
                yield self.feed.snapshot(now)
                next_snapshot = now + timedelta(seconds=snapshot_every_s)
        if now is not None:
            self.feed.step(now)
            yield self.feed.snapshot(now)

    def _decode(self, record: RecordedMessage) -> Envelope | None:
        """A recorded observation or truth frame; anything else (node states, an old picture) is
        skipped, and bytes that do not decode are counted and logged, as the service would."""
        try:
            kind = topics.parse(record.topic).kind
        except ValueError:
            return None
        if kind not in (topics.Kind.OBSERVATION, topics.Kind.TRUTH) or not record.payload:
            return None
        try:
            return codec.decode_on_topic(record.topic, record.payload, record.content_type)
        except codec.DecodeError as error:
            self.rejected += 1
            log.warning("skipping a recorded message on %s: %s", record.topic, error)
            return None


def replay(path: str | Path, config: FusionConfig | None = None) -> Picture:
    """The final picture of a recording, offline: `picture = replay("tests/data/smoke.rec")`."""
    fusion = OfflineFusion(config)
    history = list(fusion.run(open_recording(path)))
    final = history[-1]
    assert isinstance(final, PictureSnapshot)
    return Picture(
        time=final.time,
        tracks={track.track_id: track for track in final.tracks},
        figures=fusion.core.figures,
        rejected=fusion.rejected,
        history=history,
    )
