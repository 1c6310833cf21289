"""Memory soak: the fusion and a vehicle under the `stress` scenario, their RSS sampled every minute.

Why: with 500 targets and a constant picture, the fusion's RSS rose from 132 to 146 MB and each
vehicle's from 71 to 89 MB in 8 minutes, about 2 MB a minute. Every table that grows with traffic
must have a bound or a time window; this shows whether the processes level off.

Everything runs as separate processes, as `rampart up --insecure-dev` would run them: a local
Mosquitto, `rampart fusion`, `rampart sim --scenario stress` (its duration stretched to the soak's,
so the picture stays constant rather than restarting) and one headless `rampart vehicle`. RSS comes
from /proc/PID/status (VmRSS). Growth is measured from the first sample after the warm-up (minute 5
by default: the duplicate memory, the caches and the picture fill up) to the last one, as a
percentage and as a least-squares slope in MB a minute.

A machine too busy to keep up makes queues grow, and queues are memory too: so each sample also
shows the load average, each node's CPU share over the interval and the most its inbox has held so
far (from the retained node states), and the end says how busy the machine was: a node starved of
CPU falls behind and its inbox fills (up to 10,000 messages or 64 MiB), and memory the process once
took for a backlog is not all handed back to the system afterwards.

Usage: python bench/soak.py [--duration S] [--sample S] [--warmup S]
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _proc import cpu_seconds, rss_mb

from bus import topics
from bus.client import BrokerConfig, BusClient, Delivery
from bus.schema import Envelope, NodeState, SourceKind
from nodes.broker import LocalMosquitto

SCENARIOS = Path(__file__).resolve().parent.parent / "simulators" / "scenarios"
MEASURED = {"fusion": "fusion", "vehicle": "soak-vehicle.nav"}
"""The nodes whose memory is measured, and the node id each publishes its state under."""


@dataclass(frozen=True)
class Sample:
    elapsed_s: float
    load_1m: float
    rss_mb: dict[str, float]
    cpu_share: dict[str, float]
    """CPU seconds per second over the interval before the sample (1.0: one core, all the time)."""
    inbox_peak_mb: dict[str, float]
    """The most payload the node's inbox has held at once so far, from its newest state (every 5 s)."""
    tracks: float
    """Tracks in the fusion's picture, from its newest state: memory that follows the picture's size
    is no leak."""


class NodeFigures:
    """The figures of each node's newest state."""

    def __init__(self, client: BusClient) -> None:
        self._figures: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()
        client.subscribe(topics.ALL_NODE_STATES, self._on_state)

    def _on_state(self, message: Envelope, delivery: Delivery) -> None:
        if isinstance(message, NodeState):
            with self._lock:
                self._figures[message.source.id] = dict(message.figures)

    def of(self, node_id: str, figure: str) -> float:
        with self._lock:
            return self._figures.get(node_id, {}).get(figure, float("nan"))


def stretched_stress(directory: Path, duration_s: float) -> Path:
    """The stress scenario, lasting `duration_s` (plus a margin) instead of its 600 s."""
    text = (SCENARIOS / "stress.toml").read_text()
    path = directory / "stress-soak.toml"
    path.write_text(re.sub(r"^duration_s = .*$", f"duration_s = {duration_s + 120:.0f}", text, count=1, flags=re.M))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds (default 1800)")
    parser.add_argument("--sample", type=float, default=60.0, help="seconds between samples (default 60)")
    parser.add_argument("--warmup", type=float, default=300.0, help="growth counted after this (default 300)")
    args = parser.parse_args()
    if not 0 <= args.warmup < args.duration:
        parser.error("--warmup must be shorter than --duration")
    # SIGTERM stops the soak like Ctrl-C: its nodes and broker are stopped, not left running, and
    # the growth so far is printed.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    rampart = [sys.executable, "-m", "nodes.cli"]
    with tempfile.TemporaryDirectory(prefix="rampart-soak-") as workdir, LocalMosquitto() as broker:
        scenario = stretched_stress(Path(workdir), args.duration)
        commands = {
            "fusion": [*rampart, "fusion", "--broker", broker.url],
            "sim": [*rampart, "sim", "--scenario", str(scenario), "--broker", broker.url],
            "vehicle": [*rampart, "vehicle", "--id", "soak-vehicle", "--broker", broker.url, "--headless"],
        }
        logs = {name: (Path(workdir) / f"{name}.log").open("wb") for name in commands}
        processes = {
            name: subprocess.Popen(command, stdout=logs[name], stderr=subprocess.STDOUT)
            for name, command in commands.items()
        }
        monitor = BusClient("soak-monitor", SourceKind.TOOL, BrokerConfig.from_url(broker.url), announce=False)
        figures = NodeFigures(monitor)
        print(
            f"broker {broker.url}; soak for {args.duration:g} s, sampling every {args.sample:g} s, "
            f"growth counted after {args.warmup:g} s; {os.cpu_count()} cores",
            flush=True,
        )
        print(
            f"{'minute':>6} {'load':>5} {'fusion MB':>9} {'vehicle MB':>10} {'fusion CPU':>10} {'vehicle CPU':>11} "
            f"{'fusion inbox MB':>15} {'vehicle inbox MB':>16} {'tracks':>6}",
            flush=True,
        )
        samples: list[Sample] = []
        started = time.monotonic()
        cpu_before = {name: 0.0 for name in MEASURED}
        try:
            with monitor:
                while (elapsed := time.monotonic() - started) <= args.duration:
                    interval = elapsed - samples[-1].elapsed_s if samples else math.nan  # no share yet
                    cpu_now = {name: process_cpu(processes[name].pid, cpu_before[name]) for name in MEASURED}
                    sample = Sample(
                        elapsed,
                        os.getloadavg()[0],
                        {name: rss_mb(processes[name].pid) for name in MEASURED},
                        {name: (cpu_now[name] - cpu_before[name]) / interval for name in MEASURED},
                        {name: figures.of(node, "bus_inbox_peak_bytes") / 1e6 for name, node in MEASURED.items()},
                        figures.of(MEASURED["fusion"], "tracks_live"),
                    )
                    cpu_before = cpu_now
                    samples.append(sample)
                    print(
                        f"{elapsed / 60:>6.1f} {sample.load_1m:>5.1f} {sample.rss_mb['fusion']:>9.1f} "
                        f"{sample.rss_mb['vehicle']:>10.1f} {sample.cpu_share['fusion']:>10.2f} "
                        f"{sample.cpu_share['vehicle']:>11.2f} {sample.inbox_peak_mb['fusion']:>15.1f} "
                        f"{sample.inbox_peak_mb['vehicle']:>16.1f} {sample.tracks:>6.0f}",
                        flush=True,
                    )
                    for name, process in processes.items():
                        if process.poll() is not None:
                            print(f"{name} exited with {process.returncode}", flush=True)
                    time.sleep(args.sample - (time.monotonic() - started) % args.sample)
        except KeyboardInterrupt:
            print("interrupted: the growth so far", flush=True)
        finally:
            stop(processes)
            for log in logs.values():
                log.close()
        print_growth(samples, args.warmup)


def process_cpu(pid: int, before: float) -> float:
    """The process's CPU seconds so far (`before` once it is gone)."""
    try:
        return cpu_seconds(pid)
    except OSError:
        return before


def stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    """SIGINT (the nodes mark themselves offline), then SIGKILL for any still running after 10 s."""
    for process in processes.values():
        process.send_signal(signal.SIGINT)
    for process in processes.values():
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def print_growth(samples: list[Sample], warmup_s: float) -> None:
    """Growth after the warm-up per node (percent and slope), and what the machine's load was."""
    after = [s for s in samples if s.elapsed_s >= warmup_s]
    if len(after) < 2:
        print("too few samples after the warm-up to measure growth")
        return
    first, last = after[0], after[-1]
    minutes = [s.elapsed_s / 60 for s in after]
    for name in MEASURED:
        rss = [s.rss_mb[name] for s in after]
        growth = (rss[-1] - rss[0]) / rss[0] * 100
        slope = statistics.linear_regression(minutes, rss).slope
        cpu = statistics.fmean(s.cpu_share[name] for s in after)
        inbox = last.inbox_peak_mb[name]
        print(
            f"{name}: {rss[0]:.1f} MB at minute {first.elapsed_s / 60:.1f} -> {rss[-1]:.1f} MB at minute "
            f"{last.elapsed_s / 60:.1f}: {growth:+.1f}%, slope {slope:+.3f} MB/min; CPU {cpu:.2f} cores on average, "
            f"inbox held at most {inbox:.1f} MB"
        )
    print(f"fusion tracks: {first.tracks:.0f} at minute {first.elapsed_s / 60:.1f} -> {last.tracks:.0f}")
    load = [s.load_1m for s in after]
    cores = os.cpu_count() or 1
    busy = "busier than its cores" if statistics.fmean(load) > cores else "within its cores"
    print(f"load average after the warm-up: mean {statistics.fmean(load):.1f}, max {max(load):.1f}: {busy} ({cores})")
    print("a node that fell behind shows it in its inbox; one that kept up grew by its own tables")


if __name__ == "__main__":
    main()
