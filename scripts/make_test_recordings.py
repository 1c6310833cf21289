"""Regenerate the recordings under tests/data/ and the golden picture the tests compare against.

    python scripts/make_test_recordings.py                  # recordings and golden pictures
    python scripts/make_test_recordings.py --pictures-only  # golden pictures of the committed recordings

Run it after a deliberate change to the simulators, adapters or the fusion core, read the diff of
tests/data/smoke.picture.json, and commit both files together. A change of the fusion core alone
keeps the recordings (they are what old data looks like) and only remakes the pictures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from fusion.offline import replay
from nodes.sim import scenario_for, write_recording

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"
RECORDINGS = {"smoke.rec": ("smoke", 30.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures-only", action="store_true", help="keep the recordings, remake the pictures")
    args = parser.parse_args()
    for name, (scenario_name, duration_s) in RECORDINGS.items():
        count = 0
        if not args.pictures_only:
            scenario = scenario_for(scenario_name, duration_s)
            count = write_recording(scenario, scenario.seed, DATA / name)
        picture = replay(DATA / name)
        golden = DATA / name.replace(".rec", ".picture.json")
        tracks = [track.model_dump(mode="json") for track in picture.tracks.values()]
        golden.write_text(json.dumps(tracks, indent=1, sort_keys=True) + "\n")
        made = "kept" if args.pictures_only else f"{count} messages"
        print(f"{name}: {made}; {golden.name}: {len(tracks)} tracks")


if __name__ == "__main__":
    main()
