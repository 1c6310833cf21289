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
from fusion.resume import ResumePlan, next_track_number

TRACK_NUMBER_RESERVE = 1_000
"""Track numbers reserved ahead of the newest id: snapshots carry the reservation
(`next_track_number`), so a restart never gives an id again. Reserving ahead, a snapshot is due out
of turn only when new ids reach the reservation (under `stress`, about 1,300 new ids a minute: one
extra snapshot every 45 s or so) rather than at every new id; a restart skips at most this many."""


@dataclass(frozen=True)
class PictureStep:
    updates: list[TrackUpdate]
    dropped: tuple[str, ...]
    change: PictureChange
    snapshot_due: bool = False
    """New ids reached the numbers the snapshots reserve: publish a snapshot now (it carries the new
    reservation), before any of these tracks can be dropped, so a retained snapshot covers every id
    ever shown and a restarted fusion never gives one again."""


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
        self.next_track_number = 1
        """Carried by every snapshot: each `T` id given so far, by this fusion or an earlier one, is
        numbered below it."""

    def resume(self, plan: ResumePlan) -> None:
        """Carry on the tracks an earlier fusion left retained (see `fusion.resume`); the next step
        republishes each of them under this epoch, so every retained track topic belongs to it."""
        self.core.adopt(plan.continued, plan.next_number)
        self.next_track_number = plan.next_number
        self._republish = {track.track_id for track in plan.continued}

    def step(self, now: datetime, sent_at: datetime | None = None) -> PictureStep:
        """Advance the core to `now`; one update per created or changed track, ids of dropped ones."""
        change = self.core.advance(now)
        updates = []
        changed, self._republish = self._republish.union(change.created, change.updated), set()
        for track in self.core.tracks(changed):
            self.picture_seq += 1
            # Stamped as built: a model made first and stamped after draws a random msg_id it throws
            # away (uuid4, a third of the cost of an update at 2k updates/s) and is copied once more.
            publisher = self._stamper.fields(sent_at or track.updated)
            update = TrackUpdate(
                source=self.source,
                time=track.updated,
                epoch=self.epoch,
                picture_seq=self.picture_seq,
                track=track,
                **publisher,  # the envelope's seq, session, msg_id, sent_at
            )
            updates.append(update)
        newest = next_track_number(list(change.created))
        due = newest > self.next_track_number
        if due:
            self.next_track_number = newest + TRACK_NUMBER_RESERVE
        return PictureStep(updates, change.dropped, change, due)

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
            next_track_number=self.next_track_number,
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
