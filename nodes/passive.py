"""Passive nodes: `rampart watch`, `map`, `tail`, the view inside `rampart up` and health checks.
They connect in the monitor role, which may read everything and publish nothing but the node's own
state (see nodes/security.py), so they never dead-letter what they cannot decode: they count it
(`bus_rejected` in their state, `rejected` in `rampart watch --json`) and log it once per source,
and the broker never has a publish of theirs to refuse."""

from __future__ import annotations

from bus.client import BrokerConfig, BusClient
from bus.schema import SourceKind

ROLE = "monitor"


def passive_client(node_id: str, broker: BrokerConfig, *, announce: bool) -> BusClient:
    """A passive node's connection; `announce` publishes its node state (birth, refresh, last will)."""
    return BusClient(node_id, SourceKind.TOOL, broker, role=ROLE, announce=announce, dead_letters=False)
