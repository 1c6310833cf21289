"""The benchmark family: scenarios generated from a size and a seed, all in one setup.

`family-{targets}-{seed}` (e.g. `family-100-2`) is a scenario like any built-in one: targets in a
10 x 10 km square, nearly-constant-velocity (white acceleration 0.1 m²/s³), a fifth of them entering
during the run and a fifth leaving; a drone's camera at 2 Hz (geolocated detections, 15 m, its
footprint moving along a patrol), a ground radar at 1 Hz (range and bearing, 10 m / 0.5 deg, 7.5 km)
and a combat vehicle's sensor at 1 Hz (5 m, 1.5 km around the moving vehicle); Pd 0.9 and 2 false
alarms per scan for every sensor, with latencies that make arrivals overtake one another. Hostile,
neutral and unknown targets; the sensors confuse classes and make imperfect identity calls.

The trackers benchmarked on it are never told its motion noise.
"""

from __future__ import annotations

import re

import numpy as np

from simulators.scenario import Scenario

SIZES = (10, 100, 500)
SEEDS = (1, 2, 3)
DURATION_S = {10: 300.0, 100: 300.0, 500: 120.0}
"""Seconds of each size: long enough for tracks to enter, leave and fragment."""
HALF_SIZE_M = 5_000.0
PROCESS_NOISE = 0.1
_NAME = re.compile(r"^family-(\d+)-(\d+)$")
_CLASSES = (("vehicle", 0.7), ("person", 0.2), ("uav", 0.1))
_SPEEDS = {"vehicle": (3.0, 15.0), "person": (0.5, 2.0), "uav": (10.0, 25.0)}
_DISPOSITIONS = (("hostile", 0.3), ("neutral", 0.4), ("unknown", 0.3))


def is_family(name: str) -> bool:
    return _NAME.match(name) is not None


def family_scenario(name: str) -> Scenario:
    """The scenario `family-{targets}-{seed}`; ValueError if the name is not one."""
    match = _NAME.match(name)
    if match is None:
        raise ValueError(f"{name}: not a family scenario name (family-TARGETS-SEED)")
    count, seed = int(match.group(1)), int(match.group(2))
    duration = DURATION_S.get(count, 300.0)
    rng = np.random.default_rng([count, seed])
    classes = rng.choice([c for c, _ in _CLASSES], size=count, p=[w for _, w in _CLASSES])
    dispositions = rng.choice([d for d, _ in _DISPOSITIONS], size=count, p=[w for _, w in _DISPOSITIONS])
    targets = []
    for i in range(count):
        cls = str(classes[i])
        low, high = _SPEEDS[cls]
        fate = rng.random()
        appear = float(rng.uniform(0.0, duration / 2)) if fate < 0.2 else 0.0
        leave = float(rng.uniform(duration / 2, duration)) if 0.2 <= fate < 0.4 else None
        targets.append(
            {
                "id": f"{dispositions[i][:3]}-{i:04d}",
                "class": cls,
                "disposition": str(dispositions[i]),
                "start": [float(v) for v in rng.uniform(-HALF_SIZE_M, HALF_SIZE_M, 2)],
                "heading_deg": float(rng.uniform(0.0, 360.0)),
                "speed_mps": float(rng.uniform(low, high)),
                "process_noise": PROCESS_NOISE,
                "appear_s": appear,
                **({"leave_s": leave} if leave is not None else {}),
            }
        )
    patrol = [[-3000.0, -3000.0], [3000.0, -3000.0], [3000.0, 3000.0], [-3000.0, 3000.0]]
    return Scenario.model_validate(
        {
            "name": name,
            "description": f"{count} targets, seed {seed}: the benchmark family (simulators/family.py)",
            "origin": {"lat": 54.40, "lon": 10.20, "alt": 0.0},
            "duration_s": duration,
            "seed": seed,
            "truth_rate_hz": 1.0,
            "targets": targets,
            "drones": [
                {
                    "id": "drone-1",
                    "altitude_m": 1200.0,
                    "speed_mps": 30.0,
                    "behaviour": {"kind": "patrol", "route": patrol, "loop": True},
                    "camera": {
                        "frame_rate_hz": 2.0,
                        "hfov_deg": 60.0,
                        "vfov_deg": 45.0,
                        "sigma_m": 15.0,
                        "pd0": 0.9,
                        "r0_m": 2999.0,
                        "max_range_m": 3000.0,
                        "clutter_per_frame": 2.0,
                        "latency_s": 0.1,
                        "latency_jitter_s": 0.1,
                    },
                    "gps": {"rate_hz": 1.0, "sigma_m": 2.0},
                }
            ],
            "vehicles": [
                {
                    "id": "ifv-1",
                    "route": [[-2000.0, -1000.0], [2000.0, -1000.0], [2000.0, 1500.0], [-2000.0, 1500.0]],
                    "speed_mps": 8.0,
                    "loop": True,
                    "gps": {"rate_hz": 1.0, "sigma_m": 2.5, "latency_s": 0.05},
                    "sensor": {
                        "scan_period_s": 1.0,
                        "max_range_m": 1500.0,
                        "r0_m": 1499.0,
                        "pd0": 0.9,
                        "sigma_range_m": 5.0,
                        "sigma_bearing_deg": 0.2,
                        "clutter_per_scan": 2.0,
                        "latency_s": 0.1,
                        "latency_jitter_s": 0.05,
                    },
                }
            ],
            "radars": [
                {
                    "id": "radar-1",
                    "position": [0.0, 0.0],
                    "height_m": 10.0,
                    "scan_period_s": 1.0,
                    "max_range_m": 7500.0,
                    "r0_m": 7499.0,
                    "pd0": 0.9,
                    "sigma_range_m": 10.0,
                    "sigma_bearing_deg": 0.5,
                    "clutter_per_scan": 2.0,
                    "latency_s": 0.15,
                    "latency_jitter_s": 0.1,
                }
            ],
        }
    )
