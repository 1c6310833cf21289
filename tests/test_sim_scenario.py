"""Scenario files: built-ins load, and bad files fail with a message naming file, field and reason."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from simulators.scenario import ScenarioError, builtin_names, load_scenario

GOOD = """
name = "t"
duration_s = 10
[origin]
lat = 54.0
lon = 10.0
[[targets]]
id = "a"
class = "vehicle"
route = [[0, 0], [100, 0]]
speed_mps = 5
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "x.toml"
    path.write_text(text)
    return str(path)


def test_builtins_load() -> None:
    assert {"smoke", "baltic-patrol", "stress"} <= set(builtin_names())
    counts = {name: load_scenario(name) for name in ("smoke", "baltic-patrol", "stress")}
    assert len(counts["baltic-patrol"].target_ids()) == 33
    assert len(counts["stress"].target_ids()) == 500


def test_good_file_loads(tmp_path: Path) -> None:
    scenario = load_scenario(_write(tmp_path, GOOD))
    assert scenario.targets[0].object_class == "vehicle"
    assert scenario.start_time.isoformat() == "2026-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("speed_mps = 5", "speed_mps = 5\ncolour = 'red'", "targets[0].colour: unknown key"),
        ("duration_s = 10", "duration_s = -5", "duration_s: input should be greater than 0"),
        (
            "route = [[0, 0], [100, 0]]",
            "route = [[0, 0]]",
            "targets[0].route: a route needs at least 2 points, got 1",
        ),
        ('class = "vehicle"', 'class = "tank"', "targets[0].class: input should be 'vehicle', 'person' or 'uav'"),
        (
            "speed_mps = 5",
            "speed_mps = 5\nappear_s = 8\nleave_s = 3",
            "targets[0]: leave_s (3) must be after appear_s (8)",
        ),
    ],
)
def test_bad_file_names_file_field_and_reason(tmp_path: Path, old: str, new: str, reason: str) -> None:
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: {reason}"


RADAR = """
[[radars]]
id = "r"
position = [0, 0]
"""
IDENTIFIES = """
[radars.identification]
hostile = { hostile = 0.6, none = 0.4 }
neutral = { neutral = 0.6, none = 0.4 }
friendly = { friendly = 0.9, none = 0.1 }
unknown = { none = 1.0 }
"""


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("friendly = { friendly = 0.9, none = 0.1 }\n", "", "radars[0].identification: missing rows for friendly"),
        (
            "hostile = { hostile = 0.6, none = 0.4 }",
            "hostile = { hostile = 0.6, neutral = 0.2, none = 0.4 }",
            "radars[0].identification: row 'hostile' sums to 1.2, expected 1",
        ),
        (
            "hostile = { hostile = 0.6, none = 0.4 }",
            "hostile = { hostile = 1.6, none = -0.6 }",
            "radars[0].identification.hostile.hostile: input should be less than or equal to 1\n"
            "{path}: radars[0].identification.hostile.none: input should be greater than or equal to 0",
        ),
        (
            "unknown = { none = 1.0 }",
            "unknown = { unknown = 1.0 }",
            "radars[0].identification.unknown.unknown.[key]: "
            "input should be 'hostile', 'neutral', 'friendly' or 'none'",
        ),
        (
            "hostile = { hostile = 0.6, none = 0.4 }",
            "enemy = { hostile = 0.6, none = 0.4 }",
            "radars[0].identification.enemy.[key]: input should be 'hostile', 'neutral', 'friendly' or 'unknown'",
        ),
    ],
)
def test_bad_identification_names_the_row_and_reason(tmp_path: Path, old: str, new: str, reason: str) -> None:
    path = _write(tmp_path, GOOD + RADAR + IDENTIFIES.replace(old, new))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: " + reason.format(path=path)


def test_identification_is_optional_and_friendly_targets_exist(tmp_path: Path) -> None:
    plain = load_scenario(
        _write(tmp_path, GOOD.replace('class = "vehicle"', 'class = "vehicle"\ndisposition = "friendly"') + RADAR)
    )
    assert plain.targets[0].disposition == "friendly"
    assert plain.radars[0].identification is None
    assert load_scenario(_write(tmp_path, GOOD + RADAR + IDENTIFIES)).radars[0].identification == {
        "hostile": {"hostile": 0.6, "none": 0.4},
        "neutral": {"neutral": 0.6, "none": 0.4},
        "friendly": {"friendly": 0.9, "none": 0.1},
        "unknown": {"none": 1.0},
    }


def test_unknown_builtin_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^nope: no such built-in scenario"):
        load_scenario("nope")
    path = _write(tmp_path, "name = ")
    with pytest.raises(ScenarioError, match=f"^{re.escape(path)}: invalid TOML"):
        load_scenario(path)


def test_dangling_follow_reference(tmp_path: Path) -> None:
    text = GOOD + '[[drones]]\nid = "d"\nbehaviour = { kind = "follow", target = "ghost" }\n'
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(info.value) == f"{path}: drones[0].behaviour.target: no target named 'ghost'"
