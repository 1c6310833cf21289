"""Regenerate the recordings under tests/data/ and the golden picture the tests compare against.

    python scripts/make_test_recordings.py

Run it after a deliberate change to the simulators, adapters or the fusion core, read the diff of
tests/data/smoke.picture.json, and commit both files together.
"""

from __future__ import annotations

import json
from pathlib import Path

from fusion.offline import replay
from nodes.sim import scenario_for, write_recording

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
RECORDINGS = {"smoke.rec": ("smoke", 30.0)}


def main() -> None:
    for name, (scenario_name, duration_s) in RECORDINGS.items():
        scenario = scenario_for(scenario_name, duration_s)
        count = write_recording(scenario, scenario.seed, DATA / name)
        picture = replay(DATA / name)
        golden = DATA / name.replace(".rec", ".picture.json")
        tracks = [track.model_dump(mode="json") for track in picture.tracks.values()]
        golden.write_text(json.dumps(tracks, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {count} messages; {golden.name}: {len(tracks)} tracks")


if __name__ == "__main__":
    main()
