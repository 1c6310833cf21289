"""How much faster than real time the simulators and adapters turn a scenario into observations,
offline on one core (default: `stress`). Two figures: generation alone (native output), and
generation + translation into the common schema + msgpack encoding (what `rampart sim --out` does).

Usage: python bench/sim_speed.py [scenario name or .toml path] [--seed N]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from bus import codec
from bus.services.sim import scenario_messages
from simulators import load_scenario, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="stress")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    scenario = load_scenario(args.scenario)
    seed = scenario.seed if args.seed is None else args.seed

    kinds: Counter[str] = Counter()
    started = time.perf_counter()
    for emission in simulate(scenario, seed):
        kinds[type(emission.native).__name__] += 1
    generate_s = time.perf_counter() - started

    messages = detections = 0
    started = time.perf_counter()
    for _, _, message in scenario_messages(scenario, seed):
        codec.encode(message)
        messages += 1
        detections += len(getattr(message, "detections", ()))
    translate_s = time.perf_counter() - started

    print(f"scenario          {scenario.name} ({len(scenario.target_ids())} targets), seed {seed}")
    print(f"emissions         {sum(kinds.values())}  " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"simulated seconds {scenario.duration_s:.1f}")
    print(f"generate only     {generate_s:6.2f} s wall  {scenario.duration_s / generate_s:7.1f}x real time")
    print(
        f"+ translate+encode {translate_s:5.2f} s wall  {scenario.duration_s / translate_s:7.1f}x real time "
        f"(goal >= 50x)  {messages} messages, {detections} detections"
    )


if __name__ == "__main__":
    main()
