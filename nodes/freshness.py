"""How fresh a node's picture is: the age of the newest snapshot (the fusion sends one a second),
the broker link, and whether a fusion node is online. Every view shows it, so that a picture whose
fusion stopped or whose broker died says STALE instead of showing "confirmed" tracks as if live."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from bus import topics
from bus.client import BusClient, Delivery
from bus.schema import Envelope, NodeState, PictureSnapshot, SourceKind

STALE_AFTER_S = 2.5
"""Snapshots come once a second by default: two and a half seconds without one means trouble."""


@dataclass(frozen=True)
class Freshness:
    link: bool
    age_s: float | None
    """Seconds since the newest snapshot was sent (None before any)."""
    fusion_online: bool
    reasons: tuple[str, ...]
    """Why the picture is stale; empty when it is live."""

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    def line(self) -> str:
        """One line for a terminal: `LIVE picture age 0.4 s` or `STALE picture age 7.1 s: fusion offline`."""
        age = "no picture yet" if self.age_s is None else f"picture age {self.age_s:.1f} s"
        return f"STALE {age}: {', '.join(self.reasons)}" if self.stale else f"LIVE {age}"


class PictureFreshness:
    """Follows the snapshot pages on `client`, and the fusion nodes' states if `node_states` (a
    vehicle's identity may read the picture only: its snapshots' age and its link then decide)."""

    def __init__(self, client: BusClient, stale_after_s: float = STALE_AFTER_S, node_states: bool = True) -> None:
        self.client = client
        self.stale_after_s = stale_after_s
        self._lock = threading.Lock()
        self._snapshot_sent: datetime | None = None
        self._fusions: dict[str, bool] = {}
        # A page cleared (the picture shrank) or the fusion's resume probe is no snapshot: not an error.
        client.subscribe(f"{topics.ROOT}/picture/snapshot/+", self._on_snapshot, on_cleared=_no_snapshot)
        if node_states:
            client.subscribe(topics.ALL_NODE_STATES, self._on_state)

    def _on_snapshot(self, message: Envelope, delivery: Delivery) -> None:
        assert isinstance(message, PictureSnapshot)
        sent = message.sent_at or message.time
        with self._lock:
            if self._snapshot_sent is None or sent > self._snapshot_sent:
                self._snapshot_sent = sent

    def _on_state(self, message: Envelope, delivery: Delivery) -> None:
        assert isinstance(message, NodeState)
        if message.source.kind is SourceKind.FUSION:
            with self._lock:
                self._fusions[message.source.id] = message.online

    def now(self) -> Freshness:
        with self._lock:
            sent, fusions = self._snapshot_sent, dict(self._fusions)
        age = None if sent is None else max(0.0, (datetime.now(UTC) - sent).total_seconds())
        link = self.client.connected
        fusion_online = any(fusions.values())
        reasons = []
        if not link:
            reasons.append("broker link down")
        if age is None:
            reasons.append("no picture yet")
        elif age > self.stale_after_s:
            reasons.append(f"no snapshot for {age:.0f} s")
        if fusions and not fusion_online:
            reasons.append("fusion offline")
        return Freshness(link, age, fusion_online, tuple(reasons))


def _no_snapshot(topic: str) -> None:
    """An empty retained message on a snapshot page."""
