"""The picture's clock, shared by the fusion service and vehicle nodes."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from bus.schema import utc_now


class StreamClock:
    """The picture's clock: jumps to the newest accepted observation time, runs at wall speed between
    them, never goes back. Before any data it is the wall clock."""

    def __init__(self) -> None:
        self._anchor: datetime | None = None
        self._anchor_wall = 0.0

    def now(self) -> datetime:
        if self._anchor is None:
            return utc_now()
        return self._anchor + timedelta(seconds=time.monotonic() - self._anchor_wall)

    def observe(self, observed: datetime) -> None:
        if observed > self.now():
            self._anchor, self._anchor_wall = observed, time.monotonic()
