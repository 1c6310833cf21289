"""How much faster than real time the simulators generate a scenario offline (default: `stress`).

Usage: python bench/sim_speed.py [scenario name or .toml path] [--seed N]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from simulators.engine import simulate
from simulators.scenario import load_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", nargs="?", default="stress")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()

    scenario = load_scenario(args.scenario)
    kinds: Counter[str] = Counter()
    started = time.perf_counter()
    for emission in simulate(scenario, args.seed):
        kinds[type(emission.native).__name__] += 1
    wall_s = time.perf_counter() - started

    print(f"scenario          {scenario.name} ({len(scenario.target_ids())} targets)")
    print(f"emissions         {sum(kinds.values())}  " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    print(f"simulated seconds {scenario.duration_s:.1f}")
    print(f"wall seconds      {wall_s:.2f}")
    print(f"speed-up          {scenario.duration_s / wall_s:.1f}x real time (goal >= 50x)")


if __name__ == "__main__":
    main()
