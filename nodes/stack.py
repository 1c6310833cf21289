"""`rampart up`: the whole stack in one command on a laptop.

A broker (the one given, else a local Mosquitto on a free port), the fusion service, the scenario's
adapters (`rampart sim`) and N vehicle nodes run as supervised child processes; a live view shows
the picture, the message rates and every node's state. Ctrl-C (or `--duration`) stops everything:
children get SIGINT, then SIGTERM, then SIGKILL, and no process is left behind.

The local broker is secure by default: `rampart up` provisions a throw-away deployment in its log
directory (a CA, one client certificate per node, the ACL generated from the stack's roles) and runs
Mosquitto with TLS, client certificates and that ACL. `--insecure-dev` runs plain MQTT with anonymous
access instead, and says so loudly.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from bus import topics
from bus.client import FIGURE_PREFIX, BrokerConfig, BusClient, BusError, Delivery
from bus.replica import PictureReplica
from bus.schema import Envelope, GroundTruth, NodeState, Track
from fusion.eval import EvalConfig, evaluate
from nodes import progress
from nodes.broker import INSTALL_HINT, BrokerUnavailable, LocalMosquitto, free_port
from nodes.freshness import PictureFreshness
from nodes.map import BUILD_HINT, map_page_built
from nodes.options import OptionError, add_broker_option, add_config_option, add_json_option, fusion_config, print_json
from nodes.passive import passive_client
from nodes.security import Node, Role, provision, stack_auth
from nodes.views import freshness_line, live_view
from simulators import Scenario, ScenarioError, load_scenario

log = logging.getLogger(__name__)

RESTART_LIMIT = 3
MONITOR_ID = "up-monitor"
MAP_ID = "map"
INSECURE_WARNING = (
    "INSECURE DEVELOPMENT MODE (--insecure-dev): plain MQTT, no TLS, anonymous clients may read and write "
    "every topic, forge tracks and node states, and take over sessions. Never use it outside a laptop."
)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="smoke", help="built-in name (smoke, baltic-patrol, stress) or a .toml")
    parser.add_argument("--vehicles", type=int, default=2, help="vehicle nodes to start (default 2)")
    add_broker_option(parser, default="start a local Mosquitto on a free port")
    parser.add_argument("--duration", type=float, help="run headless this many seconds, then print a summary")
    add_json_option(parser, "the summary (with --duration)")
    parser.add_argument("--speed", type=float, default=1.0, help="scenario speed, times real time (default 1)")
    add_config_option(parser)
    parser.add_argument("--map-port", type=int, help="port of the live map (`rampart map`; default: a free one)")
    parser.add_argument(
        "--insecure-dev",
        action="store_true",
        help="local broker without TLS, identities or ACL (development only; logged loudly)",
    )


def run(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print(f"rampart up: --speed must be positive, got {args.speed:g}", file=sys.stderr)
        return 2
    if args.json and not args.duration:
        raise OptionError("--json needs --duration: without it, up shows a live view until Ctrl-C")
    if args.config is not None:
        fusion_config(args.config)  # a bad file stops here, before anything starts
    try:
        scenario = load_scenario(args.scenario)
    except ScenarioError as error:
        print(f"rampart up: {error}", file=sys.stderr)
        return 2
    logs = Path(tempfile.mkdtemp(prefix="rampart-up-"))
    env = dict(os.environ)
    try:
        if args.broker:
            local, url = None, args.broker
        elif args.insecure_dev:
            log.warning(INSECURE_WARNING)
            print(f"rampart up: {INSECURE_WARNING}", file=sys.stderr)
            local = LocalMosquitto().start()
            url = local.url
        else:
            local, client_env = secure_broker(scenario, args.vehicles, logs / "deployment")
            env |= client_env
            url = f"mqtts://127.0.0.1:{local.port}"
    except BrokerUnavailable as error:  # its message says what to install
        print(f"rampart up: {error}", file=sys.stderr)
        return 3
    monitor_config = BrokerConfig.from_env(url)
    if local and not args.insecure_dev:
        monitor_config = replace(
            monitor_config, ca_file=env["RAMPART_CA_FILE"], identity_dir=env["RAMPART_IDENTITY_DIR"]
        )
    monitor = Monitor(monitor_config, scenario.name)
    try:
        monitor.start()
    except BusError as error:
        print(f"rampart up: {error}\n{INSTALL_HINT}", file=sys.stderr)
        if local:
            local.close()
        return 3
    children = _children(args, url, scenario.origin.lat, scenario.origin.lon)
    map_url = None
    if map_page_built():
        map_port = args.map_port or free_port()
        map_url = f"http://127.0.0.1:{map_port}/"
        children.append(
            Child("map", [sys.executable, "-m", "nodes.cli", "map", "--broker", url, "--port", str(map_port)])
        )
        print(f"rampart up: the live map: {map_url}", file=sys.stderr if args.json else sys.stdout, flush=True)
    else:
        print(f"rampart up: no live map ({BUILD_HINT})", file=sys.stderr)
    stack = Stack(children, logs, env, SupervisedBroker(local, logs) if local else None)
    interrupted = False
    try:
        stack.start()
        if args.duration:
            with progress.bar(f"rampart up: {scenario.name}", args.duration) as bar:
                started = time.monotonic()
                stack.supervise_until(started + args.duration, lambda: bar(time.monotonic() - started))
        else:
            with live_view(Console()) as live:
                stack.supervise_until(
                    None, lambda: live.update(monitor.view(stack, url, map_url, live.console), refresh=True)
                )
    except KeyboardInterrupt:
        interrupted = True  # stopped on request (Ctrl-C, SIGTERM): an empty picture is no failure
    finally:
        stack.stop()
        monitor.stop()
        if stack.broker is not None:
            stack.broker.close()
    outcome = monitor.outcome(stack, logs, map_url)
    if args.json:
        print_json(outcome)
    else:
        print(summary(outcome))
    failed = [name for name, status in stack.statuses.items() if status == "failed"]
    if failed:
        print(f"rampart up: {', '.join(failed)} failed {RESTART_LIMIT + 1} times (logs: {logs})", file=sys.stderr)
        return 1
    return 0 if interrupted or monitor.replica.tracks() or not args.duration else 1


def secure_broker(scenario: Scenario, vehicles: int, directory: Path) -> tuple[LocalMosquitto, dict[str, str]]:
    """A local Mosquitto with TLS, one client certificate per node of the stack and the generated ACL;
    and the environment the children connect with."""
    monitors = [Node(MONITOR_ID, Role.MONITOR, ()), Node(MAP_ID, Role.MONITOR, ())]
    spec = stack_auth(scenario, [f"vehicle-{index}" for index in range(1, vehicles + 1)], extra=monitors)
    deployment = provision(spec, directory)
    return LocalMosquitto(overrides=deployment.broker_settings()).start(), deployment.client_env()


@dataclass
class Child:
    """One supervised process: its name, command, and whether finishing is normal for it."""

    name: str
    command: list[str]
    may_finish: bool = False
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    status: str = "starting"


def _children(args: argparse.Namespace, url: str, lat: float, lon: float) -> list[Child]:
    rampart = [sys.executable, "-m", "nodes.cli"]
    clock = "wall" if args.speed == 1 else "picture"
    sim = [*rampart, "sim", "--scenario", args.scenario, "--broker", url, "--speed", str(args.speed)]
    vehicles = [
        Child(
            f"vehicle-{index}",
            [
                *rampart,
                "vehicle",
                "--id",
                f"vehicle-{index}",
                "--broker",
                url,
                "--headless",
                "--clock",
                clock,
                "--position",
                f"{lat:.6f},{lon + 0.002 * index:.6f}",
            ],
        )
        for index in range(1, args.vehicles + 1)
    ]
    fusion = [*rampart, "fusion", "--broker", url]
    if args.config is not None:
        fusion += ["--config", str(args.config.resolve())]
    return [Child("fusion", fusion), Child("sim", sim, may_finish=True), *vehicles]


def _restart(unit: Child | SupervisedBroker, start: Callable[[], None]) -> None:
    """Start a supervised process again, or mark it failed once it was restarted `RESTART_LIMIT` times."""
    if unit.restarts == RESTART_LIMIT:
        unit.status = "failed"
        return
    unit.restarts += 1
    start()
    unit.status = f"restarted ({unit.restarts})"


@dataclass
class SupervisedBroker:
    """The local Mosquitto `rampart up` started: if it dies, started again on its port from its last
    autosave (the fusion's persistent session, the retained picture), and every node reconnects.
    Without this a killed broker left the stack running on without one, and its summary silent."""

    broker: LocalMosquitto
    logs: Path
    """Where its log is copied when it is closed (its own directory goes with it)."""
    restarts: int = 0
    status: str = "running"

    def check(self) -> None:
        if self.broker.running or self.status == "failed":
            return
        try:
            _restart(self, self._start_again)
        except BrokerUnavailable as error:  # tried again at the next check, while restarts are left
            self.status = "down"
            log.warning("the local broker did not start again: %s", error)

    def _start_again(self) -> None:
        log.warning("the local broker stopped; starting it again on port %d", self.broker.port)
        self.broker.start()

    def close(self) -> None:
        self.broker.stop()
        if self.broker.log_path.exists():
            shutil.copyfile(self.broker.log_path, self.logs / "broker.log")
        self.broker.close()
        if self.status == "running":
            self.status = "stopped"


class Stack:
    """Starts, restarts (a bounded number of times) and stops the children, and watches the local broker."""

    def __init__(
        self,
        children: list[Child],
        logs: Path,
        env: dict[str, str] | None = None,
        broker: SupervisedBroker | None = None,
    ) -> None:
        self.children = children
        self.logs = logs
        self.env = env
        self.broker = broker
        self.started = time.monotonic()

    @property
    def statuses(self) -> dict[str, str]:
        """Each supervised process by name: the local broker (if any) and the children."""
        broker = {"broker": self.broker.status} if self.broker is not None else {}
        return broker | {child.name: child.status for child in self.children}

    def _spawn(self, child: Child) -> None:
        log = (self.logs / f"{child.name}.log").open("ab")
        # Own process group: a Ctrl-C in the terminal reaches us, and we stop the children in order.
        child.process = subprocess.Popen(
            child.command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=self.env,
        )
        log.close()
        child.status = "running"

    def start(self) -> None:
        self._spawn(self.children[0])  # fusion first, so it hears the scenario from its start
        time.sleep(0.5)
        for child in self.children[1:]:
            self._spawn(child)

    def supervise_until(self, deadline: float | None, tick: Callable[[], None] | None = None) -> None:
        while deadline is None or time.monotonic() < deadline:
            if self.broker is not None:
                self.broker.check()
            for child in self.children:
                code = child.process.poll() if child.process else None
                if code is None or child.status in ("finished", "failed"):
                    continue
                if code == 0 and child.may_finish:
                    child.status = "finished"
                else:
                    _restart(child, functools.partial(self._spawn, child))
            if tick:
                tick()
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGINT (clean shutdown: offline states published), then SIGTERM, then SIGKILL."""
        for sig, grace in ((signal.SIGINT, 5.0), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
            running = [c for c in self.children if c.process and c.process.poll() is None]
            for child in running:
                assert child.process is not None
                os.killpg(child.process.pid, sig)
            deadline = time.monotonic() + grace
            for child in running:
                assert child.process is not None
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.process.wait(max(0.0, deadline - time.monotonic()))
        for child in self.children:
            if child.process and child.status == "running":
                child.status = "stopped"


@dataclass
class Monitor:
    """Watches the bus from inside `rampart up`: the picture, node states, rates, and truth."""

    broker: BrokerConfig
    scenario: str
    client: BusClient = field(init=False)
    replica: PictureReplica = field(init=False)
    states: dict[str, NodeState] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=lambda: {"observations": 0, "track updates": 0})
    frames: list[tuple[GroundTruth, list[Track]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self.client = passive_client(MONITOR_ID, self.broker, announce=True)
        self.replica = PictureReplica(self.client)
        self.freshness = PictureFreshness(self.client)
        self.client.subscribe(topics.ALL_NODE_STATES, self._on_state)
        self.client.subscribe(topics.truth(self.scenario), self._on_truth)
        self.client.subscribe_raw(topics.ALL_OBSERVATIONS, self._count("observations"), qos=0)
        self.client.subscribe_raw(topics.ALL_TRACKS, self._count("track updates"), qos=0)
        self._started = time.monotonic()

    def _count(self, key: str) -> Callable[[mqtt.MQTTMessage], None]:
        def count(msg: mqtt.MQTTMessage) -> None:
            self.counts[key] += 1

        return count

    def _on_state(self, message: Envelope, delivery: Delivery) -> None:
        assert isinstance(message, NodeState)
        self.states[message.source.id] = message

    def _on_truth(self, message: Envelope, delivery: Delivery) -> None:
        assert isinstance(message, GroundTruth)
        with self._lock:
            self.frames.append((message, list(self.replica.tracks().values())))

    def start(self) -> None:
        self.client.start(timeout_s=5.0)

    def stop(self) -> None:
        self.client.stop()

    def view(self, stack: Stack, url: str, map_url: str | None, console: Console) -> Group:
        """The picture's freshness, summary and rates first, so that a small terminal (80x24) keeps
        them; then the processes on one line and the nodes, as many as fit."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        tracks = list(self.replica.tracks().values())
        by_identity: dict[str, int] = {}
        for track in tracks:
            by_identity[track.disposition] = by_identity.get(track.disposition, 0) + 1
        picture = ", ".join(f"{count} {identity}" for identity, count in sorted(by_identity.items())) or "empty"
        rates = "  ".join(f"{key}: {count / elapsed:.0f}/s" for key, count in self.counts.items())
        confirmed = sum(t.status == "confirmed" for t in tracks)
        processes = ", ".join(
            name if status == "running" else f"{name} {status}" for name, status in stack.statuses.items()
        )
        lines = [
            Text(f"rampart up: {self.scenario} on {url}  ({elapsed:.0f} s, Ctrl-C stops)", style="bold"),
            freshness_line(self.freshness.now()),
            Text(f"picture: {len(tracks)} tracks ({confirmed} confirmed): {picture}"),
            Text(f"rates: {rates}   picture seq {self.replica.picture_seq}"),
            Text(f"map: {map_url or 'not built'}   processes: {processes}"),
        ]
        room = console.size.height - sum(len(line.wrap(console, console.size.width)) for line in lines) - 6
        nodes = Table(title="nodes on the bus (retained states)", title_justify="left")
        nodes.add_column("node", no_wrap=True, min_width=14)
        nodes.add_column("role", no_wrap=True, min_width=10, max_width=10, overflow="ellipsis")
        nodes.add_column("state", no_wrap=True, min_width=7)
        room_for_figures = max(console.size.width - 14 - 10 - 7 - 13, 8)  # the rest of the line, less borders
        nodes.add_column("figures", no_wrap=True, max_width=room_for_figures, overflow="ellipsis")
        states = sorted(self.states.items())
        shown = states if len(states) <= max(room, 1) else states[: max(room - 1, 0)]
        for node_id, state in shown:
            own = {key: value for key, value in state.figures.items() if not key.startswith(FIGURE_PREFIX)}
            figures = ", ".join(f"{key} {value:g}" for key, value in list((own or state.figures).items())[:4])
            online = Text("online", style="green") if state.online else Text("offline", style="red")
            nodes.add_row(node_id, state.role, online, figures)
        if len(shown) < len(states):
            nodes.add_row(f"+{len(states) - len(shown)} more", "", "", "")
        return Group(*lines, nodes)

    def outcome(self, stack: Stack, logs: Path, map_url: str | None) -> dict[str, Any]:
        """The run's result (`rampart up --json` prints it as it is): the picture at the end, the
        traffic, the processes, and the accuracy against the scenario's truth (None without a
        truth frame that had a picture beside it)."""
        tracks = list(self.replica.tracks().values())
        with self._lock:
            frames = [(truth, picture) for truth, picture in self.frames if picture]
        by_identity: dict[str, int] = {}
        for track in tracks:
            by_identity[track.disposition.value] = by_identity.get(track.disposition.value, 0) + 1
        config = EvalConfig()
        accuracy = (
            {"truth_frames": len(frames), "mean_gospa_m": evaluate(frames, config).mean_gospa, "c_m": config.c}
            if frames
            else None
        )
        fusion = self.states.get("fusion")
        verdicts = (
            {k.removeprefix("verdict_"): int(v) for k, v in fusion.figures.items() if k.startswith("verdict_")}
            if fusion is not None
            else None
        )
        return {
            "scenario": self.scenario,
            "tracks": len(tracks),
            "confirmed": sum(t.status == "confirmed" for t in tracks),
            "by_identity": dict(sorted(by_identity.items())),
            "observations": self.counts["observations"],
            "track_updates": self.counts["track updates"],
            "fusion_verdicts": verdicts,
            "processes": stack.statuses,
            "accuracy": accuracy,
            "map": map_url,
            "logs": str(logs),
        }


def summary(outcome: dict[str, Any]) -> str:
    """The outcome of a run as lines for a person."""
    lines = [
        f"rampart up: {outcome['scenario']}: {outcome['tracks']} tracks at the end ({outcome['confirmed']} confirmed); "
        f"{outcome['observations']} observations, {outcome['track_updates']} track updates",
        "processes: " + ", ".join(f"{name} {status}" for name, status in outcome["processes"].items()),
    ]
    if outcome["fusion_verdicts"] is not None:
        lines.append("the fusion's verdicts: " + ", ".join(f"{n} {k}" for k, n in outcome["fusion_verdicts"].items()))
    accuracy = outcome["accuracy"]
    if accuracy is not None:
        gospa = accuracy["mean_gospa_m"]
        lines.append(
            f"accuracy over {accuracy['truth_frames']} truth frames: mean GOSPA {gospa:.1f} m (c={accuracy['c_m']:g} m)"
            if gospa is not None
            else "accuracy: no frame to evaluate"
        )
    lines.append(f"logs: {outcome['logs']}")
    return "\n".join(lines)
