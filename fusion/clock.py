"""The picture's clock: where "now" is for a node that fuses or shows the picture.

It follows the data, so a scenario or a replay at 10x real time makes a picture at 10x, and a silent
bus still ages its tracks at wall-clock speed. What it must not do is follow the *newest* time any
source claims: one source stamping its messages a little in the future, again and again, would drag
the picture ahead of every other source (seen: 270 s ahead after 60 messages, and every genuine
observation then rejected as late).

So each source's lead over the node's own clock (observation time minus receive time: latency makes
it negative, a clock offset or a faster-than-life replay positive) is learned separately, and the
picture runs at the *median* lead of the sources heard recently (the lower middle one of an even
count: always a lead some source has). A source's lead is bounded to `max_lead_s` beyond that
median, so it cannot ratchet itself up either; one source among three or more cannot move the
picture at all, and it recovers by itself once a bad source falls silent.

Leads are learned from accepted observations, which lie within the receiver's window around this
clock; so a clock far *behind* every source (a fusion restarted into a scenario running at 2x, a
host clock off by more than the window) would refuse them all as future and never learn. Sources
whose last observation was refused are therefore remembered apart, as ahead of the clock or behind
it, and while those ahead are more than all the others heard (accepted or behind), and at least two,
the picture runs at the median lead of the accepted and the ahead ones. One source alone, or no
more than half of them, cannot move it. A clock *ahead* of every source is not followed back: the
picture never runs backwards, and a backlog released after an outage must not stop it.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bus.schema import utc_now


@dataclass(frozen=True, slots=True)
class _Lead:
    seconds: float
    heard_at: datetime


class PictureClock:
    """`now()` is the wall clock plus the median lead of the sources heard in the last `memory_s`."""

    def __init__(
        self,
        max_lead_s: float = 5.0,
        memory_s: float = 30.0,
        refresh_s: float = 0.05,
        wall: Callable[[], datetime] = utc_now,
    ) -> None:
        """`refresh_s` bounds how often the median is recomputed: a busy node reads the clock for
        every observation, and the median costs O(sources)."""
        self._max_lead_s = max_lead_s
        self._refresh = timedelta(seconds=refresh_s)
        self._refreshed: datetime | None = None
        self._memory = timedelta(seconds=memory_s)
        self._wall = wall
        self._leads: dict[str, _Lead] = {}
        """Sources whose last observation was accepted: their leads, bounded."""
        self._ahead: dict[str, _Lead] = {}
        """Sources whose last observation was refused, stamped ahead of this clock: their raw leads."""
        self._behind: dict[str, _Lead] = {}
        """Sources whose last observation was refused, stamped behind it (late): they count against
        following the ones ahead, and never pull the clock back."""
        self._consensus_s = 0.0
        self._stale = False
        self._last: datetime | None = None

    def now(self) -> datetime:
        """Never earlier than a previous answer: the picture does not run backwards."""
        now = self._wall() + timedelta(seconds=self._consensus())
        if self._last is not None and now < self._last:
            return self._last
        self._last = now
        return now

    def observe(self, source_id: str, observed: datetime) -> None:
        """Learn `source_id`'s lead from an accepted observation stamped `observed`, received now.
        O(1): the consensus is recomputed when the clock is read."""
        wall = self._wall()
        lead_s = (observed - wall).total_seconds()
        if self._leads:
            lead_s = min(lead_s, self._consensus_s + self._max_lead_s)
        self._leads[source_id] = _Lead(lead_s, wall)
        self._ahead.pop(source_id, None)
        self._behind.pop(source_id, None)
        self._stale = True

    def refused(self, source_id: str, observed: datetime) -> None:
        """Learn `source_id`'s lead from an observation stamped `observed` that the receiver refused
        as outside its window (future or late); see the module docstring for when it counts."""
        wall = self._wall()
        lead = _Lead((observed - wall).total_seconds(), wall)
        self._leads.pop(source_id, None)
        if lead.seconds > self._consensus_s:
            self._ahead[source_id] = lead
            self._behind.pop(source_id, None)
        else:
            self._behind[source_id] = lead
            self._ahead.pop(source_id, None)
        self._stale = True

    def _consensus(self) -> float:
        """The median lead of the sources heard within the memory (forgetting the others)."""
        wall = self._wall()
        if self._stale and (self._refreshed is None or wall - self._refreshed >= self._refresh):
            self._refreshed = wall
            cutoff = wall - self._memory
            self._leads, self._ahead, self._behind = (
                {source: lead for source, lead in table.items() if lead.heard_at >= cutoff}
                for table in (self._leads, self._ahead, self._behind)
            )
            counted = self._leads
            if len(self._ahead) >= 2 and len(self._ahead) > len(self._leads) + len(self._behind):
                counted = self._leads | self._ahead
            if counted:
                self._consensus_s = statistics.median_low(lead.seconds for lead in counted.values())
            self._stale = False
        return self._consensus_s

    @property
    def sources(self) -> int:
        """Sources heard within the memory: the bound on this clock's tables."""
        self._consensus()
        return len(self._leads) + len(self._ahead) + len(self._behind)
