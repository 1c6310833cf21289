"""`rampart health`: exit 0 if a node's retained state says it is online, else 1 (container health checks).

Every node keeps a retained `NodeState` on `rampart/v1/node/{id}/state`: online while it runs, offline
after a clean stop or through its last will, and republished every 5 s with fresh figures. The check
connects as `health.<node id>` (its own identity in a provisioned deployment), reads that state and
waits up to `--timeout` seconds (connecting included) for it to say online *and* be recent: a state
stamped more than `--max-age` seconds ago (a few refresh intervals) is a node that stopped without
its last will reaching the broker, or a replayed old message. Node ids: fusion's is its `--id`
(default `fusion`), a vehicle's is `ID.nav`, the simulator's `sim.SCENARIO`. Under the generated ACL
only the node itself can write its state, so a forged "online" is refused by the broker.

The check itself announces nothing (`BusClient(announce=False)`): frequent checks leave no
retained states behind.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from bus import topics
from bus.client import BrokerConfig, BusError, Delivery
from bus.schema import Envelope, NodeState, utc_now
from nodes.options import add_broker_option, add_json_option, broker_from, node_id, print_json
from nodes.passive import passive_client

DEFAULT_MAX_AGE_S = 20.0
"""Four of BusClient's 5 s state refresh intervals."""


def _seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return seconds


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node", required=True, type=node_id, help="node id (fusion; a vehicle's is ID.nav; sim.SCENARIO)"
    )
    add_broker_option(parser)
    parser.add_argument("--timeout", type=_seconds, default=5.0, help="seconds to wait for an online state (default 5)")
    parser.add_argument(
        "--max-age",
        type=_seconds,
        default=DEFAULT_MAX_AGE_S,
        help=f"an online state older than this many seconds is stale (default {DEFAULT_MAX_AGE_S:g})",
    )
    add_json_option(parser, "the verdict, the reason and the node's last state (the exit code is the same)")


def run(args: argparse.Namespace) -> int:
    health = examine(args.node, broker_from(args), args.timeout, args.max_age)
    if args.json:
        print_json(health.to_dict())
    else:
        print(
            health.message if health.healthy else f"rampart health: {health.message}",
            file=sys.stdout if health.healthy else sys.stderr,
        )
    return 0 if health.healthy else 1


@dataclass(frozen=True)
class Health:
    """The verdict on a node, what to say about it, and the last state heard from it (None if none)."""

    node: str
    healthy: bool
    message: str
    state: NodeState | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "healthy": self.healthy,
            "message": self.message,
            "age_s": _age_s(self.state) if self.state else None,
            "state": self.state.model_dump(mode="json", by_alias=True) if self.state else None,
        }


def check(
    node_id: str, broker: BrokerConfig, timeout_s: float = 5.0, max_age_s: float = DEFAULT_MAX_AGE_S
) -> tuple[bool, str]:
    """(whether `node_id` is online with a state at most `max_age_s` old, what to say) within
    `timeout_s`, connecting included."""
    health = examine(node_id, broker, timeout_s, max_age_s)
    return health.healthy, health.message


def examine(node_id: str, broker: BrokerConfig, timeout_s: float = 5.0, max_age_s: float = DEFAULT_MAX_AGE_S) -> Health:
    """`check`, with the node's last state."""
    deadline = time.monotonic() + timeout_s
    latest: list[NodeState] = []
    online = threading.Event()

    def on_state(message: Envelope, delivery: Delivery) -> None:
        if isinstance(message, NodeState):
            latest[:] = [message]
            if message.online and _age_s(message) <= max_age_s:
                online.set()

    client = passive_client(f"health.{node_id}", broker, announce=False)
    client.subscribe(topics.node_state(node_id), on_state)
    try:
        client.start(timeout_s)
    except BusError as error:
        return Health(node_id, False, f"cannot check node {node_id}: {error}", None)
    try:
        online.wait(max(0.0, deadline - time.monotonic()))
    finally:
        client.stop()
    state = latest[0] if latest else None
    if online.is_set() and state is not None:
        return Health(
            node_id, True, f"node {node_id} is online (role {state.role or '-'}, version {state.version or '-'})", state
        )
    if state is not None and state.online:
        message = f"node {node_id} is stale: its online state is {_age_s(state):.0f} s old (max {max_age_s:g})"
    elif state is not None:
        message = f"node {node_id} is offline (its last state is stamped {state.time:%Y-%m-%d %H:%M:%S}Z)"
    else:
        message = f"no state from node {node_id} within {timeout_s:g} s"
    return Health(node_id, False, message, state)


def _age_s(state: NodeState) -> float:
    return (utc_now() - state.time).total_seconds()
