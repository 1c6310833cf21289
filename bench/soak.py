"""Memory soak: the fusion and a vehicle under the `stress` scenario, their RSS sampled every minute.

Why: with 500 targets and a constant picture, the fusion's RSS rose from 132 to 146 MB and each
vehicle's from 71 to 89 MB in 8 minutes, about 2 MB a minute. Every table that grows with traffic
must have a bound or a time window; this shows whether the processes level off.

Everything runs as separate processes, as `rampart up --insecure-dev` would run them: a local
Mosquitto, `rampart fusion`, `rampart sim --scenario stress` (its duration stretched to the soak's,
so the picture stays constant rather than restarting) and one headless `rampart vehicle`. RSS comes
from /proc/PID/status (VmRSS). Growth is measured from the sample at minute 5 (the warm-up: the
duplicate memory and the picture fill up) to the last one.

Usage: python bench/soak.py [--duration S] [--sample S] [--warmup S]
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nodes.broker import LocalMosquitto

SCENARIOS = Path(__file__).resolve().parent.parent / "simulators" / "scenarios"


def rss_mb(pid: int) -> float:
    """Resident set size of a process, MB (0 once it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) / 1024 if match else 0.0


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
        print(f"broker {broker.url}; soak for {args.duration:g} s, sampling every {args.sample:g} s", flush=True)
        print(f"{'minute':>6} {'fusion MB':>10} {'vehicle MB':>11}", flush=True)
        samples: list[tuple[float, float, float]] = []
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) <= args.duration:
                sample = (elapsed, rss_mb(processes["fusion"].pid), rss_mb(processes["vehicle"].pid))
                samples.append(sample)
                print(f"{elapsed / 60:>6.1f} {sample[1]:>10.1f} {sample[2]:>11.1f}", flush=True)
                for name, process in processes.items():
                    if process.poll() is not None:
                        print(f"{name} exited with {process.returncode}", flush=True)
                time.sleep(args.sample - (time.monotonic() - started) % args.sample)
        finally:
            stop(processes)
            for log in logs.values():
                log.close()
        print_growth(samples, args.warmup)


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


def print_growth(samples: list[tuple[float, float, float]], warmup_s: float) -> None:
    after = [s for s in samples if s[0] >= warmup_s]
    if len(after) < 2:
        return
    first, last = after[0], after[-1]
    for index, name in ((1, "fusion"), (2, "vehicle")):
        growth = (last[index] - first[index]) / first[index] * 100
        print(
            f"{name}: {first[index]:.1f} MB at minute {first[0] / 60:.1f} -> {last[index]:.1f} MB "
            f"at minute {last[0] / 60:.1f}: {growth:+.1f}%"
        )


if __name__ == "__main__":
    main()
