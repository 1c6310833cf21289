"""`rampart health`: exit 0 if a node's retained state says it is online, else 1 (container health checks).

Every node keeps a retained `NodeState` on `rampart/v1/node/{id}/state`: online while it runs, offline
after a clean stop or through its last will. The check connects as `health-<pid>`, reads that state
and waits up to `--timeout` seconds (connecting included) for it to say online. Node ids: fusion's
is its `--id` (default `fusion`), a vehicle's is `ID.nav`, the simulator's `sim.SCENARIO`.

Like every `BusClient`, a check leaves its own offline state behind when it stops. A health check
every few seconds would pile those up on the broker for ever, so each check clears the offline
states of earlier checks (role `health`) that reach it; it listens until its own birth comes back,
which the broker sends after every retained state of the subscription.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from bus import topics
from bus.client import BrokerConfig, BusClient, Delivery
from bus.schema import Envelope, NodeState, SourceKind

ROLE = "health"


def _node_id(value: str) -> str:
    try:
        topics.node_state(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def _seconds(value: str) -> float:
    seconds = float(value)
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number of seconds")
    return seconds


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--node", required=True, type=_node_id, help="node id (fusion; a vehicle's is ID.nav; sim.SCENARIO)"
    )
    parser.add_argument("--broker", help="mqtt://host:port (default: $RAMPART_BROKER or mqtt://127.0.0.1:1883)")
    parser.add_argument(
        "--timeout", type=_seconds, default=5.0, help="seconds to wait for an online state (default 5)"
    )


def run(args: argparse.Namespace) -> int:
    healthy, message = check(args.node, BrokerConfig.from_env(args.broker), args.timeout)
    print(message if healthy else f"rampart health: {message}", file=sys.stdout if healthy else sys.stderr)
    return 0 if healthy else 1


class _Watch:
    """Collects the node's state from the network thread; clears stale health-check states."""

    def __init__(self, node_id: str, client: BusClient) -> None:
        self.topic = topics.node_state(node_id)
        self.client = client
        self.state: NodeState | None = None
        self.online = threading.Event()
        self.caught_up = threading.Event()

    def __call__(self, message: Envelope, delivery: Delivery) -> None:
        if not isinstance(message, NodeState):
            return
        if delivery.topic == self.topic:
            self.state = message
            if message.online:
                self.online.set()
        elif message.source.id == self.client.node_id:
            if message.online and not delivery.retained:
                self.caught_up.set()  # our own birth: every retained state came before it
        elif message.role == ROLE and not message.online:
            self.client.clear_retained(delivery.topic)


def check(node_id: str, broker: BrokerConfig, timeout_s: float = 5.0) -> tuple[bool, str]:
    """(whether `node_id` is online, what to say) within `timeout_s`, connecting included."""
    deadline = time.monotonic() + timeout_s
    client = BusClient(f"health-{os.getpid()}", SourceKind.TOOL, broker, role=ROLE, state_interval_s=3600.0)
    watch = _Watch(node_id, client)
    client.subscribe(topics.ALL_NODE_STATES, watch)
    try:
        client.start(timeout_s)
    except ConnectionError as error:
        return False, f"cannot check node {node_id}: {error}"
    try:
        watch.caught_up.wait(max(0.0, deadline - time.monotonic()))
        watch.online.wait(max(0.0, deadline - time.monotonic()))
        client.wait_acknowledged(1.0)  # the clears
    finally:
        client.stop()
    state = watch.state
    if watch.online.is_set() and state is not None:
        return True, f"node {node_id} is online (role {state.role or '-'}, version {state.version or '-'})"
    if state is not None:
        return False, f"node {node_id} is offline (its last state is stamped {state.time:%Y-%m-%d %H:%M:%S}Z)"
    return False, f"no state from node {node_id} within {timeout_s:g} s"
