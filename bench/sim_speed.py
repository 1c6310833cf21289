"""How much faster than real time the simulators and adapters turn a scenario into observations,
offline on one core (default: `stress`): generation alone (native output), generation + translation
into the common schema (validated models), and with msgpack encoding on top.

Usage: python bench/sim_speed.py [scenario name or .toml path] [--seed N]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from bus import codec
from nodes.cli import tune_gc
from nodes.sim import scenario_messages
from simulators import load_scenario, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="stress")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    tune_gc()  # as the `rampart` command does
    scenario = load_scenario(args.scenario)
    seed = scenario.seed if args.seed is None else args.seed

    kinds: Counter[str] = Counter()
    started = time.perf_counter()
    for emission in simulate(scenario, seed):
        kinds[type(emission.native).__name__] += 1
    generate_s = time.perf_counter() - started

    messages = detections = 0
    encode_s = 0.0
    started = time.perf_counter()
    for _, _, message in scenario_messages(scenario, seed):
        before = time.perf_counter()
        codec.encode(message)
        encode_s += time.perf_counter() - before
        messages += 1
        detections += len(getattr(message, "detections", ()))
    translate_s = time.perf_counter() - started - encode_s

    def speed(seconds: float) -> str:
        return f"{seconds:6.2f} s wall  {scenario.duration_s / seconds:6.1f}x real time"

    print(f"scenario           {scenario.name} ({len(scenario.target_ids())} targets), seed {seed}")
    print(f"emissions          {sum(kinds.values())}  " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"simulated seconds  {scenario.duration_s:.1f};  {messages} messages, {detections} detections")
    print(f"generate only      {speed(generate_s)}")
    print(f"generate+translate {speed(translate_s)}  (goal >= 50x)")
    print(f"  + msgpack encode {speed(translate_s + encode_s)}  (what `rampart sim --out` does)")


if __name__ == "__main__":
    main()
