"""Identity measured on `baltic-patrol` with hostiles, through `rampart sim --out` and `rampart eval`:
hostiles declared within 5 s (median), no friendly platform ever shown as anything but friendly, and
the wrong-declaration rate the report quotes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nodes.cli import main

MAX_WRONG_PER_HOUR = 200.0
"""The wrong declarations `rampart eval` quotes stay below this (unknown objects declared from
sporadic wrong calls, mostly; see README, Recording and replaying)."""


def identity(capsys: pytest.CaptureFixture[str], tmp_path: Path, seed: int, duration_s: int) -> dict[str, Any]:
    recording = tmp_path / f"baltic-{seed}.rec"
    args = ["sim", "--scenario", "baltic-patrol", "--seed", str(seed), "--duration", str(duration_s)]
    assert main([*args, "--out", str(recording)]) == 0
    capsys.readouterr()
    assert main(["eval", str(recording), "--json"]) == 0
    figures: dict[str, Any] = json.loads(capsys.readouterr().out)["accuracy"]["identity"]
    return figures


def check(figures: dict[str, Any], hostiles: int) -> None:
    assert figures["hostile_held"] == figures["hostile_declared"] >= hostiles
    assert figures["median_time_to_hostile_s"] < 5.0
    assert (figures["blue_on_blue"], figures["blue_on_blue_frames"]) == (0, 0)
    wrong, hours = figures["wrong_declarations"], figures["duration_s"] / 3600.0
    assert figures["wrong_declarations_per_hour"] == pytest.approx(wrong / hours)


def test_baltic_patrol_declares_hostiles_fast_and_never_blue_on_blue(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    figures = identity(capsys, tmp_path, seed=11, duration_s=40)  # 8 hostiles from the start
    check(figures, hostiles=7)
    assert main(["eval", str(tmp_path / "baltic-11.rec")]) == 0
    text = capsys.readouterr().out
    assert f"hostiles declared               {figures['hostile_declared']} of {figures['hostile_held']} held" in text
    assert "blue on blue (platform frames)  0 (0)" in text


@pytest.mark.slow
@pytest.mark.timeout(600)  # about two minutes of simulation and fusion on an idle core
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_baltic_patrol_whole_run_on_several_seeds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, seed: int
) -> None:
    figures = identity(capsys, tmp_path, seed, duration_s=600)
    check(figures, hostiles=10)
    assert figures["wrong_declarations_per_hour"] < MAX_WRONG_PER_HOUR
