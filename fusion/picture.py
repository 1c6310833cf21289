"""The shared picture as messages: numbers every track change and builds the bus messages for it.

Pure, like the rest of the core: the fusion service publishes what `step` returns, offline replay
writes it to a file. `picture_seq` increments once per `TrackUpdate`, so a vehicle that sees a jump
knows it missed one and resynchronises from the next snapshot, which carries the seq it covers.
Drops are not numbered: they travel as empty retained messages, and snapshots reconcile them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bus.envelope import Stamper
from bus.schema import PictureSnapshot, Source, TrackUpdate
from fusion.config import settings
from fusion.core import FusionCore, PictureChange


@dataclass(frozen=True)
class PictureStep:
    updates: list[TrackUpdate]
    dropped: tuple[str, ...]
    change: PictureChange


class PictureFeed:
    """Advances the core and turns its changes into numbered `TrackUpdate`s and `PictureSnapshot`s."""

    def __init__(self, core: FusionCore, source: Source, session: int = 1) -> None:
        self.core = core
        self.source = source
        self.picture_seq = 0
        self._stamper = Stamper(source.id, session)
        self._settings = settings(core.config)

    def step(self, now: datetime, sent_at: datetime | None = None) -> PictureStep:
        """Advance the core to `now`; one update per created or changed track, ids of dropped ones."""
        change = self.core.advance(now)
        updates = []
        for track in self.core.tracks(change.created + change.updated):
            self.picture_seq += 1
            update = TrackUpdate(source=self.source, time=track.updated, picture_seq=self.picture_seq, track=track)
            updates.append(self._stamper.stamp(update, sent_at))
        return PictureStep(updates, change.dropped, change)

    def snapshot(self, now: datetime, sent_at: datetime | None = None) -> PictureSnapshot:
        """The whole picture, covering every update up to the current `picture_seq`, with the
        settings it is made with."""
        snapshot = PictureSnapshot(
            source=self.source,
            time=now,
            picture_seq=self.picture_seq,
            tracks=self.core.tracks(),
            fusion_settings=self._settings,
        )
        return self._stamper.stamp(snapshot, sent_at)
