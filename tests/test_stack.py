"""`rampart up`: the whole stack in one command ends cleanly with a picture and no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from bus import topics
from bus.client import BrokerConfig, BusClient, Delivery
from bus.schema import Envelope, NodeState, SourceKind
from nodes.broker import LocalMosquitto
from nodes.stack import RESTART_LIMIT, SupervisedBroker
from tests.bus_helpers import client


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(command)
    return found


def test_rampart_up_runs_headless_and_leaves_nothing_behind(rampart_own_broker) -> None:
    """With --json the summary is the one document on stdout (the words are the same figures, see
    tests/test_cli_json.py)."""
    command = [sys.executable, "-m", "nodes.cli", "up", "--scenario", "smoke", "--duration", "20", "--json"]
    result = subprocess.run([*command, "--broker", rampart_own_broker.url], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    outcome = json.loads(result.stdout)
    assert outcome["scenario"] == "smoke"
    assert outcome["confirmed"] >= 3, outcome  # two friendly platforms and at least one target
    assert outcome["by_identity"]["friendly"] >= 2 and sum(outcome["by_identity"].values()) == outcome["tracks"]
    assert outcome["observations"] > 0 and outcome["track_updates"] > 0
    verdicts = outcome["fusion_verdicts"]  # nothing refused as late (or anything else) inside the horizon
    assert verdicts["accepted"] > 0 and sum(verdicts.values()) == verdicts["accepted"], verdicts
    assert outcome["processes"]["fusion"] == "stopped" and outcome["processes"]["sim"] == "stopped"
    accuracy = outcome["accuracy"]
    assert accuracy["truth_frames"] >= 5 and 0 <= accuracy["mean_gospa_m"] < accuracy["c_m"] == 100
    assert Path(outcome["logs"], "fusion.log").exists()
    assert processes_mentioning(rampart_own_broker.url) == []


def test_rampart_up_says_what_is_wrong_with_a_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text('name = "bad"\nduration_s = -5\n[origin]\nlat = 54.0\nlon = 10.0\n')
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "up", "--scenario", str(scenario), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"rampart up: {scenario}: duration_s:")


def test_rampart_up_refuses_a_speed_that_is_not_positive() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "up", "--speed", "0", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode, result.stderr) == (2, "rampart up: --speed must be positive, got 0\n")


def test_rampart_up_says_what_to_install_when_no_broker_answers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "up", "--broker", "mqtt://127.0.0.1:9", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3
    assert result.stderr.startswith("rampart up: could not connect to mqtt://127.0.0.1:9 within 5 s")
    assert "sudo apt-get install -y mosquitto" in result.stderr


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc (children first found, then theirs)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_sigterm_to_rampart_up_leaves_no_process_behind(rampart_own_broker) -> None:
    """`kill -TERM` (docker stop, systemd) stops the children like Ctrl-C: no orphans under PID 1."""
    command = [sys.executable, "-m", "nodes.cli", "up", "--scenario", "smoke", "--duration", "120"]
    up = subprocess.Popen(
        [*command, "--broker", rampart_own_broker.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    with BusClient(
        "sigterm-watch", SourceKind.TOOL, BrokerConfig.from_url(rampart_own_broker.url), announce=False
    ) as client:
        online: set[str] = set()
        everyone = threading.Event()

        def on_state(message: Envelope, delivery: Delivery) -> None:
            if isinstance(message, NodeState) and message.online:
                online.add(message.source.id)
                if {"fusion", "vehicle-1.nav", "vehicle-2.nav"} <= online:
                    everyone.set()

        client.subscribe(topics.ALL_NODE_STATES, on_state)
        assert everyone.wait(60), f"nodes online: {sorted(online)}"
    children = _descendants(up.pid)
    assert len(children) >= 4, children  # fusion, sim, two vehicles (and their python children, if any)
    up.send_signal(signal.SIGTERM)
    assert up.wait(timeout=30) == 0  # stopping is how `rampart up` is meant to end
    assert [pid for pid in children if _alive(pid)] == []


def test_a_node_started_as_a_background_job_still_stops_on_the_sigint_of_its_supervisor(
    rampart_own_broker,
) -> None:
    """A shell without job control starts `cmd &` with SIGINT ignored, and Python keeps an ignored
    SIGINT ignored: the SIGINT that `rampart up` and the benches stop their children with was lost,
    and the node ran on until SIGTERM or SIGKILL, without its offline state."""
    states: list[NodeState] = []
    online, offline = threading.Event(), threading.Event()

    def on_state(message: Envelope, delivery: Delivery) -> None:
        if isinstance(message, NodeState) and message.source.id == "fusion":
            states.append(message)
            (online if message.online else offline).set()

    with client(rampart_own_broker.url, "sigint-watch", announce=False) as watch:
        watch.subscribe(topics.node_state("fusion"), on_state)
        fusion = subprocess.Popen(
            [sys.executable, "-m", "nodes.cli", "fusion", "--broker", rampart_own_broker.url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),  # as `sh -c 'cmd &'` starts it
        )
        try:
            assert online.wait(30)
            fusion.send_signal(signal.SIGINT)
            assert fusion.wait(timeout=15) == 130
        finally:
            fusion.kill()
        assert offline.wait(5), [s.online for s in states]
    final = states[-1]  # the node's own final state, not the last will the broker sends for it
    assert final.seq != 0, [(s.seq, s.online) for s in states]


def _local_broker(up_pid: int) -> tuple[int, str] | None:
    """The pid and URL of the Mosquitto that `rampart up` started, from its command line and config."""
    for pid in _descendants(up_pid):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command[0].endswith(b"mosquitto"):
            config = Path(command[command.index(b"-c") + 1].decode()).read_text()
            port = next(line.split()[1] for line in config.splitlines() if line.startswith("listener "))
            return pid, f"mqtt://127.0.0.1:{port}"
    return None


def test_rampart_up_restarts_its_local_broker_when_it_dies() -> None:
    """A broker killed mid-run left `rampart up` running on without one, every node retrying, and
    its summary said nothing of it."""
    command = [sys.executable, "-m", "nodes.cli", "up", "--scenario", "smoke", "--duration", "120", "--json"]
    up = subprocess.Popen([*command, "--insecure-dev"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        updates: list[float] = []
        seen = threading.Condition()

        def on_track(message: Envelope, delivery: Delivery) -> None:
            if delivery.retained:  # a copy the broker kept (and restored from its autosave): not the picture flowing
                return
            with seen:
                updates.append(time.time())
                seen.notify_all()

        assert up.stderr is not None
        for line in up.stderr:  # the map's line comes once the broker runs and the monitor is on it
            if b"live map" in line:
                break
        broker = _local_broker(up.pid)
        assert broker is not None
        broker_pid, url = broker
        with client(url, "restart-watch", announce=False) as watch:
            watch.subscribe(topics.ALL_TRACKS, on_track)
            with seen:
                assert seen.wait_for(lambda: updates, timeout=60)
            os.kill(broker_pid, signal.SIGKILL)
            killed = time.time()
            with seen:  # the broker back on its port, and the picture flowing through it again
                assert seen.wait_for(lambda: updates[-1] > killed + 1, timeout=30)
    finally:  # SIGTERM stops the children too: a failing test must not leave them to the next
        up.send_signal(signal.SIGTERM)
        out, err = up.communicate(timeout=30)
    assert up.returncode == 0, err
    assert json.loads(out)["processes"]["broker"] == "restarted (1)"


def test_the_local_broker_is_restarted_three_times_then_marked_failed(tmp_path: Path) -> None:
    supervised = SupervisedBroker(LocalMosquitto().start(), tmp_path)
    statuses = []
    try:
        for _ in range(RESTART_LIMIT + 1):
            supervised.broker.kill()
            supervised.check()
            statuses.append(supervised.status)
        assert not supervised.broker.running
    finally:
        supervised.close()
    assert statuses == ["restarted (1)", "restarted (2)", "restarted (3)", "failed"]
    starts = (tmp_path / "broker.log").read_text().count("It is recommended to replace")
    assert starts == RESTART_LIMIT + 1  # its log, a note at each start, outlives its directory
