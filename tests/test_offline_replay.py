"""Recorded scenarios through the fusion core offline: golden picture, determinism, CLI, bad files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bus.recording import RecordingError, open_recording
from bus.schema import TrackStatus
from tests.recordings import DATA, replay


def _close(actual: object, expected: object, path: str = "") -> None:
    """Structural equality with floats compared to 1e-9 relative (numerical libraries may differ)."""
    if isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), path
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and actual.keys() == expected.keys(), path
        for key in expected:
            _close(actual[key], expected[key], f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), path
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _close(a, e, f"{path}[{index}]")
    else:
        assert actual == expected, path


def test_the_recorded_smoke_scenario_gives_the_committed_picture() -> None:
    picture = replay("smoke.rec")
    expected = json.loads((DATA / "smoke.picture.json").read_text())
    _close([track.model_dump(mode="json") for track in picture.tracks.values()], expected)


def test_the_smoke_picture_is_what_a_user_expects() -> None:
    picture = replay("smoke.rec")
    friendly = {t.platform_id: t for t in picture.tracks.values() if t.platform_id}
    assert set(friendly) == {"drone-1", "ifv-1"}
    assert all(t.disposition == "friendly" and t.status == TrackStatus.CONFIRMED for t in friendly.values())
    assert friendly["drone-1"].environment == "air"
    hostile_vehicle = [t for t in picture.confirmed() if t.platform_id is None and t.classification == "vehicle"]
    assert len(hostile_vehicle) == 1, "one enemy vehicle is one track"
    assert len(hostile_vehicle[0].sources) >= 2
    assert picture.figures.late == 0 and picture.rejected == 0


def test_offline_replay_is_deterministic(tmp_path: Path) -> None:
    outputs = []
    for run in range(2):
        out = tmp_path / f"picture-{run}.jsonl"
        command = [sys.executable, "-m", "nodes.cli", "replay", str(DATA / "smoke.rec"), "--offline", "--out", str(out)]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    lines = outputs[0].splitlines()
    assert len(lines) == 61  # a snapshot and a truth frame per second for 30 s, and a final snapshot
    assert json.loads(lines[0])["schema"] == "PictureSnapshot/1"
    assert json.loads(lines[1])["schema"] == "GroundTruth/1"


def test_eval_reports_on_the_offline_history(tmp_path: Path) -> None:
    out = tmp_path / "picture.jsonl"
    subprocess.run(
        [sys.executable, "-m", "nodes.cli", "replay", str(DATA / "smoke.rec"), "--offline", "--out", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "eval", str(out), "--json"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)["accuracy"]
    assert report["frames"] == 30
    assert report["mean_gospa"] < 60


def test_a_future_format_version_fails_with_a_clear_message(tmp_path: Path) -> None:
    future = tmp_path / "future.rec"
    data = bytearray((DATA / "smoke.rec").read_bytes())
    data[8:12] = (9).to_bytes(4, "big")
    future.write_bytes(bytes(data))
    with pytest.raises(RecordingError, match="has format version 9; this Rampart reads versions up to 1"):
        open_recording(future)
