"""`PictureReplica`: the shared picture as one node holds it, for any program on the bus.

It subscribes to `rampart/v1/picture/#`: retained track messages give a late joiner the whole
picture at once; numbered `TrackUpdate`s keep it current; an empty retained message drops a track.
A jump in `picture_seq` means an update was missed: the replica counts the gap and resynchronises
from the next snapshot, which also reconciles drops missed while away.

Each start of the fusion is an epoch. A message of a later epoch switches the replica to it at once:
sequence numbers start again, and the tracks of the old epoch stay only until the new epoch's first
snapshot says which of them still exist. Messages of an earlier epoch (a dead fusion's retained
leftovers) are ignored, so a restart never freezes a vehicle and never leaves a ghost track.

No single message may take over the sequence state (defence in depth: the broker's ACL lets only
the fusion write the picture, but a replica does not rely on it). A live update more than
`max_seq_jump` past the state is ignored and counted (`seq_jumps`), and the replica resynchronises
from the next snapshot: one forged `picture_seq` of 2**62 would otherwise have disabled gap detection
for the life of the process. A live update more than `max_seq_jump` behind the state shows that the
state itself came from such a message (a retained copy or a snapshot): the state restarts from the
live update, what that message set is superseded by the next snapshot, and it is counted
(`seq_resets`). An epoch more than `max_epoch_lead_s` ahead of the replica's clock (a day by default:
epochs are fusion start times) is ignored and counted (`future_epochs`); it would otherwise have
made every real message "of an earlier epoch".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bus import topics
from bus.client import BusClient, Delivery
from bus.schema import Envelope, PictureSnapshot, Track, TrackUpdate

TrackCallback = Callable[[Track], None]
DropCallback = Callable[[str], None]

DEFAULT_MAX_SEQ_JUMP = 10_000
"""Updates a live `picture_seq` may run ahead of the sequence state (at 1,000 updates/s, 10 s lost)."""
DEFAULT_MAX_EPOCH_LEAD_S = 86_400.0
"""How far ahead of the replica's clock a picture epoch (a fusion start time) may be."""


@dataclass
class ReplicaFigures:
    updates: int = 0
    snapshots: int = 0
    gaps: int = 0
    resyncs: int = 0
    drops: int = 0
    epochs: int = 0
    """Epochs switched to (the first one included)."""
    stale_epoch: int = 0
    """Messages of an earlier epoch, ignored."""
    seq_jumps: int = 0
    """Live updates too far ahead of the sequence state, ignored."""
    seq_resets: int = 0
    """Live updates too far behind it: the state had come from an implausible message and restarts."""
    future_epochs: int = 0
    """Messages whose epoch is too far ahead of the replica's clock, ignored."""


class PictureReplica:
    """Keeps the current picture; `on_created` / `on_updated` / `on_dropped` run on the client's
    dispatcher thread. `max_seq_jump` and `max_epoch_lead_s` bound what one message may do to the
    sequence state (see the module's doc)."""

    def __init__(
        self,
        client: BusClient,
        on_created: TrackCallback | None = None,
        on_updated: TrackCallback | None = None,
        on_dropped: DropCallback | None = None,
        *,
        max_seq_jump: int = DEFAULT_MAX_SEQ_JUMP,
        max_epoch_lead_s: float = DEFAULT_MAX_EPOCH_LEAD_S,
    ) -> None:
        if max_seq_jump < 1:
            raise ValueError(f"max_seq_jump must be at least 1, got {max_seq_jump}")
        if not max_epoch_lead_s > 0:
            raise ValueError(f"max_epoch_lead_s must be positive, got {max_epoch_lead_s}")
        self._max_seq_jump = max_seq_jump
        self._max_epoch_lead_ms = max_epoch_lead_s * 1000.0
        self.figures = ReplicaFigures()
        self._on_created = on_created or (lambda track: None)
        self._on_updated = on_updated or (lambda track: None)
        self._on_dropped = on_dropped or (lambda track_id: None)
        self._tracks: dict[str, Track] = {}
        self._seq_of: dict[str, int] = {}
        self._last_seq: int | None = None
        self._epoch: int | None = None
        self._pages: dict[int, PictureSnapshot] = {}
        self._resync_needed = False
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        client.subscribe(topics.PICTURE, self._on_message, on_cleared=self._on_cleared)

    @property
    def picture_seq(self) -> int | None:
        """The newest picture sequence number seen (None before any)."""
        return self._last_seq

    def tracks(self) -> dict[str, Track]:
        """A copy of the current picture, by track id."""
        with self._lock:
            return dict(self._tracks)

    def wait_for(self, condition: Callable[[dict[str, Track]], bool], timeout_s: float) -> bool:
        """Block until `condition(picture)` holds, or the timeout passes."""
        with self._changed:
            return self._changed.wait_for(lambda: condition(self._tracks), timeout_s)

    @property
    def epoch(self) -> int | None:
        """The fusion start whose picture this replica follows (None before any message)."""
        return self._epoch

    def _on_message(self, message: Envelope, delivery: Delivery) -> None:
        if not isinstance(message, TrackUpdate | PictureSnapshot):
            return
        with self._changed:
            current = self._in_epoch(message.epoch)
        if not current:
            return
        if isinstance(message, TrackUpdate):
            self._apply_update(message, live=not delivery.retained)
        elif message.pages == 1:
            self._apply_snapshot(message)
        else:
            whole = self._assemble(message)
            if whole is not None:
                self._apply_snapshot(whole)

    def _assemble(self, page: PictureSnapshot) -> PictureSnapshot | None:
        """The whole snapshot once every page of it arrived. Pages of one snapshot share its epoch and
        `picture_seq`; a page of a newer one discards an unfinished older set (at most one is kept)."""
        held = next(iter(self._pages.values()), None)
        if held is not None and (held.picture_seq, held.pages) != (page.picture_seq, page.pages):
            if page.picture_seq < held.picture_seq:
                return None
            self._pages.clear()
        self._pages[page.page] = page
        if len(self._pages) < page.pages:
            return None
        tracks = [track for index in range(page.pages) for track in self._pages[index].tracks]
        self._pages.clear()
        return page.model_copy(update={"tracks": tracks, "page": 0, "pages": 1})

    def _in_epoch(self, epoch: int) -> bool:
        """Switch to a later epoch; False for a message of an earlier one, or of one too far in the
        future. Called under the lock."""
        if epoch > time.time() * 1000.0 + self._max_epoch_lead_ms:
            self.figures.future_epochs += 1
            return False
        if self._epoch is not None and epoch < self._epoch:
            self.figures.stale_epoch += 1
            return False
        if self._epoch is None or epoch > self._epoch:
            self._epoch = epoch
            self.figures.epochs += 1
            self._last_seq = None
            self._pages.clear()
            self._resync_needed = False
            # The old epoch's tracks stay on show, but any message of the new epoch supersedes them
            # and its first snapshot drops those it no longer has.
            self._seq_of = dict.fromkeys(self._seq_of, -1)
        return True

    def _apply_update(self, update: TrackUpdate, live: bool) -> None:
        track = update.track
        with self._changed:
            self.figures.updates += 1
            # Retained copies reach a late joiner in topic order, not seq order: only live ones count.
            if live and self._last_seq is not None:
                if update.picture_seq > self._last_seq + self._max_seq_jump:
                    self.figures.seq_jumps += 1
                    self._resync_needed = True
                    return
                if update.picture_seq < self._last_seq - self._max_seq_jump:
                    self._restart_sequence(update.picture_seq)
                elif update.picture_seq > self._last_seq + 1:
                    self.figures.gaps += 1
                    self._resync_needed = True
            if self._seq_of.get(track.track_id, -1) >= update.picture_seq:
                return  # an older retained copy of what we already have
            if self._last_seq is None or update.picture_seq > self._last_seq:
                self._last_seq = update.picture_seq
            created = track.track_id not in self._tracks
            self._tracks[track.track_id] = track
            self._seq_of[track.track_id] = update.picture_seq
            self._changed.notify_all()
        (self._on_created if created else self._on_updated)(track)

    def _restart_sequence(self, picture_seq: int) -> None:
        """The sequence state is implausibly far ahead of a live update: it came from one bad message.
        Restart it from `picture_seq`; whatever was recorded beyond it gives way to the next message
        of its track and to the next snapshot. Called under the lock."""
        self.figures.seq_resets += 1
        self._last_seq = picture_seq
        self._seq_of = {track_id: seq if seq <= picture_seq else -1 for track_id, seq in self._seq_of.items()}
        self._resync_needed = True

    def _on_cleared(self, topic: str) -> None:
        try:
            address = topics.parse(topic)
        except ValueError:
            return
        if address.kind is topics.Kind.TRACK and address.name:
            self._drop([address.name])

    def _drop(self, track_ids: list[str]) -> None:
        dropped = []
        with self._changed:
            for track_id in track_ids:
                if self._tracks.pop(track_id, None) is not None:
                    self._seq_of.pop(track_id, None)
                    dropped.append(track_id)
            self.figures.drops += len(dropped)
            self._changed.notify_all()
        for track_id in dropped:
            self._on_dropped(track_id)

    def _apply_snapshot(self, snapshot: PictureSnapshot) -> None:
        """Take every track the snapshot has newer than ours; drop what it no longer has, unless we
        heard of it after the snapshot was taken."""
        changed: list[tuple[bool, Track]] = []
        with self._changed:
            self.figures.snapshots += 1
            if self._resync_needed:
                self.figures.resyncs += 1
                self._resync_needed = False
            present = {track.track_id for track in snapshot.tracks}
            stale = [
                track_id
                for track_id, seq in self._seq_of.items()
                if track_id not in present and seq <= snapshot.picture_seq
            ]
            for track in snapshot.tracks:
                if (
                    self._seq_of.get(track.track_id, -1) <= snapshot.picture_seq
                    and self._tracks.get(track.track_id) != track
                ):
                    changed.append((track.track_id not in self._tracks, track))
                    self._tracks[track.track_id] = track
                    self._seq_of[track.track_id] = snapshot.picture_seq
            if self._last_seq is None or snapshot.picture_seq > self._last_seq:
                self._last_seq = snapshot.picture_seq
            self._changed.notify_all()
        for created, track in changed:
            (self._on_created if created else self._on_updated)(track)
        self._drop(stale)
