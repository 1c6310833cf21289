"""The shared picture as messages: numbers every track change and builds the bus messages for it.

Pure, like the rest of the core: the fusion service publishes what `step` returns, offline replay
writes it to a file. `picture_seq` increments once per `TrackUpdate`, so a vehicle that sees a jump
knows it missed one and resynchronises from the next snapshot, which carries the seq it covers.
Drops are not numbered: they travel as empty retained messages, and snapshots reconcile them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bus import codec
from bus.envelope import Stamper
from bus.schema import PictureSnapshot, Source, Track, TrackUpdate
from fusion.config import settings
from fusion.core import FusionCore, PictureChange
from fusion.resume import ResumePlan


@dataclass(frozen=True)
class PictureStep:
    updates: list[TrackUpdate]
    dropped: tuple[str, ...]
    change: PictureChange


class PictureFeed:
    """Advances the core and turns its changes into numbered `TrackUpdate`s and `PictureSnapshot`s."""

    def __init__(self, core: FusionCore, source: Source, session: int = 1, epoch: int = 0) -> None:
        """`epoch` tells this fusion start's picture from an earlier one's (the shell passes its start
        time in milliseconds); `picture_seq` counts from 0 within it."""
        self.core = core
        self.source = source
        self.epoch = epoch
        self.picture_seq = 0
        self._stamper = Stamper(source.id, session)
        self._settings = settings(core.config)
        self._republish: set[str] = set()

    def resume(self, plan: ResumePlan) -> None:
        """Carry on the tracks an earlier fusion left retained (see `fusion.resume`); the next step
        republishes each of them under this epoch, so every retained track topic belongs to it."""
        self.core.adopt(plan.continued, plan.next_number)
        self._republish = {track.track_id for track in plan.continued}

    def step(self, now: datetime, sent_at: datetime | None = None) -> PictureStep:
        """Advance the core to `now`; one update per created or changed track, ids of dropped ones."""
        change = self.core.advance(now)
        updates = []
        changed, self._republish = self._republish.union(change.created, change.updated), set()
        for track in self.core.tracks(changed):
            self.picture_seq += 1
            update = TrackUpdate(
                source=self.source, time=track.updated, epoch=self.epoch, picture_seq=self.picture_seq, track=track
            )
            updates.append(self._stamper.stamp(update, sent_at))
        return PictureStep(updates, change.dropped, change)

    def snapshot(self, now: datetime, sent_at: datetime | None = None) -> PictureSnapshot:
        """The whole picture, covering every update up to the current `picture_seq` (one message:
        offline replay and evaluation keep it whole; `snapshot_pages` is what goes on the bus)."""
        return self._stamper.stamp(self._whole(now), sent_at)

    def snapshot_pages(self, now: datetime, sent_at: datetime | None = None) -> list[PictureSnapshot]:
        """The whole picture in as many pages as keep every message under the broker's size limit."""
        pages = paginate(self._whole(now), codec.MAX_PAYLOAD_BYTES // 2)
        return [self._stamper.stamp(page, sent_at) for page in pages]

    def _whole(self, now: datetime) -> PictureSnapshot:
        return PictureSnapshot(
            source=self.source,
            time=now,
            epoch=self.epoch,
            picture_seq=self.picture_seq,
            tracks=self.core.tracks(),
            fusion_settings=self._settings,
        )


def paginate(whole: PictureSnapshot, limit_bytes: int) -> list[PictureSnapshot]:
    """Split a snapshot into pages whose msgpack encoding is at most `limit_bytes` each: runs of
    tracks sized from the whole's average, and any page still too large halved until it fits."""
    size = len(codec.encode(whole))
    if size <= limit_bytes:
        return [whole]
    tracks = whole.tracks
    per_page = max(1, int(len(tracks) * limit_bytes / size * 0.9))
    pending = [tracks[start : start + per_page] for start in range(0, len(tracks), per_page)]
    fitting: list[list[Track]] = []
    while pending:
        chunk = pending.pop(0)
        if len(chunk) > 1 and len(codec.encode(whole.model_copy(update={"tracks": chunk}))) > limit_bytes:
            half = len(chunk) // 2
            pending[:0] = [chunk[:half], chunk[half:]]
        else:
            fitting.append(chunk)
    return [
        whole.model_copy(update={"tracks": chunk, "page": index, "pages": len(fitting)})
        for index, chunk in enumerate(fitting)
    ]
