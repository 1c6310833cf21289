"""`rampart health`: 0 for a node whose retained state says online, 1 with a clear message otherwise."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from bus import topics
from bus.schema import SourceKind
from nodes.cli import main
from tests.bus_helpers import Collector, client, unique


def health(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["health", *args])
    out, err = capsys.readouterr()
    return code, out + err


def test_a_node_that_is_online_is_healthy(rampart_broker, capsys) -> None:
    with client(rampart_broker.url, "node") as node:
        started = time.monotonic()
        code, said = health(capsys, "--node", node.node_id, "--broker", rampart_broker.url)
        elapsed = time.monotonic() - started
    assert code == 0, said
    assert f"node {node.node_id} is online" in said
    assert elapsed < 3.0  # it answers once the retained state is in, not at the end of its 5 s


def test_a_stopped_node_is_unhealthy_and_says_since_when(rampart_broker, capsys) -> None:
    node = client(rampart_broker.url, "node").start()
    node.stop()  # a clean stop leaves a retained offline state
    code, said = health(capsys, "--node", node.node_id, "--broker", rampart_broker.url, "--timeout", "1")
    assert code == 1
    assert f"rampart health: node {node.node_id} is offline (its last state is stamped 20" in said


def test_an_unknown_node_is_unhealthy(rampart_broker, capsys) -> None:
    node_id = unique("nobody")
    code, said = health(capsys, "--node", node_id, "--broker", rampart_broker.url, "--timeout", "1")
    assert code == 1
    assert f"rampart health: no state from node {node_id} within 1 s" in said


def test_no_broker_is_unhealthy(capsys) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code, said = health(capsys, "--node", "fusion", "--broker", f"mqtt://127.0.0.1:{port}", "--timeout", "1")
    assert code == 1
    assert "rampart health: cannot check node fusion: could not connect to" in said


def test_bad_arguments_are_refused(capsys) -> None:
    for args in (["--node", "no/slashes"], ["--node", "fusion", "--timeout", "0"]):
        with pytest.raises(SystemExit) as stopped:
            main(["health", *args])
        assert stopped.value.code == 2
    capsys.readouterr()


def test_the_console_command_takes_its_broker_from_the_environment(rampart_broker) -> None:
    """As in docker-compose.yml: `rampart health --node ID` with RAMPART_BROKER set, no --broker."""
    with client(rampart_broker.url, "node") as node:
        result = subprocess.run(
            [sys.executable, "-m", "nodes.cli", "health", "--node", node.node_id],
            env={**os.environ, "RAMPART_BROKER": rampart_broker.url},
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"node {node.node_id} is online" in result.stdout


def test_a_check_leaves_no_state_behind(rampart_broker, capsys) -> None:
    seen = Collector()
    with client(rampart_broker.url, "watcher", kind=SourceKind.TOOL) as watcher:
        watcher.subscribe(topics.ALL_NODE_STATES, seen)
        nobody = unique("nobody")
        health(capsys, "--node", nobody, "--broker", rampart_broker.url, "--timeout", "1")
        # The broker delivers in the order it received: once a node started after the check is seen,
        # anything the check had sent would have arrived before it.
        with client(rampart_broker.url, "sentinel") as sentinel:
            assert seen.wait_for(lambda messages: any(m.source.id == sentinel.node_id for m in messages))
        assert [m for m in seen.messages if m.source.id == f"health.{nobody}"] == []
