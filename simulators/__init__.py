"""Seeded, deterministic scenario engine: ground truth and each source's native output (no `bus` import).

`simulate(load_scenario("smoke"), seed=1)` yields `Emission(emit_time_us, native)` in emit-time order;
`load_scenario` takes a built-in name or a .toml path.
"""

from simulators.engine import Emission, simulate
from simulators.scenario import Scenario, ScenarioError, builtin_names, load_scenario, parse_scenario

__all__ = ["Emission", "Scenario", "ScenarioError", "builtin_names", "load_scenario", "parse_scenario", "simulate"]
