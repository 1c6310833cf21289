"""Recorded traffic for tests: `picture = replay("smoke.rec")` runs a committed recording through
the fusion core offline (no broker) and returns the final picture. Regenerate the files with
`python scripts/make_test_recordings.py`."""

from __future__ import annotations

from pathlib import Path

from fusion import FusionConfig, offline

DATA = Path(__file__).parent / "data"


def replay(name: str, config: FusionConfig | None = None) -> offline.Picture:
    return offline.replay(DATA / name, config)
