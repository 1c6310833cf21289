"""Continuity across fusion restarts: what a new fusion takes over from the retained picture.

A fusion that dies (`kill -9`) leaves its picture on the broker: one retained `TrackUpdate` per live
track, and the retained snapshot pages. The next fusion reads them before it fuses anything and
decides here, purely, what becomes of each:

* the tracks of the newest epoch found are continued under their ids (their retained topic is
  republished under the new epoch at the first step);
* every other retained track topic (an older epoch's leftovers) is cleared;
* new track ids are numbered after the highest id any retained message shows, and from the
  snapshots' `next_track_number` on (which covers ids whose tracks were dropped since), so an id is
  never given to another object;
* snapshot pages beyond what the new picture needs are cleared by the service as usual.

Tracks of a dead fusion's last picture that are too old by now are not special: the core's track
management drops them at its first step, and the drop travels as usual.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from bus.schema import PictureSnapshot, Track, TrackUpdate
from fusion import identity
from fusion.frame import LocalFrame
from fusion.intake import to_us
from fusion.store import CONFIRMED, STATUSES, TENTATIVE, TrackTable

_NUMBERED = re.compile(r"^T(\d+)$")


@dataclass
class RetainedPicture:
    """What the broker held on `rampart/v1/picture/#` when a fusion started."""

    tracks: dict[str, TrackUpdate] = field(default_factory=dict)
    """Retained track messages, by topic."""
    pages: dict[str, PictureSnapshot] = field(default_factory=dict)
    """Retained snapshot pages, by topic."""


@dataclass(frozen=True)
class ResumePlan:
    continued: list[Track]
    """Tracks of the newest epoch, sorted by id: the new fusion carries them on."""
    clear: list[str]
    """Retained track topics to clear: leftovers of earlier epochs."""
    next_number: int
    """The number of the next `T` track id: above every id seen on the broker, and at least what
    the snapshots reserved."""
    pages: int
    """Snapshot pages on the broker (the service clears those its own picture does not need)."""


def plan(retained: RetainedPicture) -> ResumePlan:
    """Which retained tracks continue, which topics are cleared, where numbering resumes."""
    epoch = max((update.epoch for update in retained.tracks.values()), default=None)
    continued = sorted(
        (update.track for update in retained.tracks.values() if update.epoch == epoch), key=lambda t: t.track_id
    )
    clear = sorted(topic for topic, update in retained.tracks.items() if update.epoch != epoch)
    seen = [update.track.track_id for update in retained.tracks.values()]
    seen += [track.track_id for page in retained.pages.values() for track in page.tracks]
    pages = max((page.page + 1 for page in retained.pages.values()), default=0)
    reserved = max((page.next_track_number or 1 for page in retained.pages.values()), default=1)
    return ResumePlan(continued, clear, max(next_track_number(seen), reserved), pages)


def next_track_number(track_ids: list[str]) -> int:
    """One above the highest `T` number among `track_ids` (1 if none)."""
    numbers = [int(match.group(1)) for tid in track_ids if (match := _NUMBERED.match(tid))]
    return max(numbers, default=0) + 1


def table_from_tracks(tracks: list[Track], frame: LocalFrame, confirm_m: int) -> TrackTable:
    """Track models back into table rows in `frame`: the inverse of the core's `_build`. What a Track
    does not carry starts afresh: the position-velocity cross covariance (zero), identity challenges,
    and a tentative track's M-of-N count (its one hit)."""
    n = len(tracks)
    table = TrackTable.blank(n)
    if n == 0:
        return table
    lat = np.array([t.position.lat for t in tracks])
    lon = np.array([t.position.lon for t in tracks])
    rot = frame.from_local(lat, lon)
    rot_t = np.swapaxes(rot, 1, 2)
    table.x[:, :3] = frame.to_enu(lat, lon, np.array([t.position.hae_m for t in tracks]))
    table.x[:, 3:] = (rot @ np.array([t.velocity_enu_mps for t in tracks])[..., None])[..., 0]
    table.p[:, :3, :3] = rot @ np.array([t.position_cov_enu_m2 for t in tracks]) @ rot_t
    table.p[:, 3:, 3:] = rot @ np.array([t.velocity_cov_enu_m2s2 for t in tracks]) @ rot_t
    table.time_us[:] = [to_us(t.updated) for t in tracks]
    table.first_us[:] = [to_us(t.first_seen) for t in tracks]
    table.status[:] = [STATUSES.index(t.status) for t in tracks]
    table.hits[:] = np.where(table.status == TENTATIVE, 1, confirm_m)
    table.platform[:] = [t.platform_id is not None for t in tracks]
    table.status[table.platform] = CONFIRMED
    table.environment[:] = [identity.ENVIRONMENTS.index(t.environment) for t in tracks]
    table.disposition[:] = [identity.DISPOSITIONS.index(t.disposition) for t in tracks]
    for row, track in enumerate(tracks):
        if track.class_probabilities:
            probabilities = [max(track.class_probabilities.get(c, 0.0), 1e-12) for c in identity.CLASSES]
            table.log_class[row] = np.log(np.asarray(probabilities) / sum(probabilities))
            table.has_class[row] = True
    table.ids = [t.track_id for t in tracks]
    table.platform_ids = [t.platform_id for t in tracks]
    table.sources = [{c.source_id: (c.kind, to_us(c.last_time)) for c in t.sources} for t in tracks]
    return table
