"""`rampart up`: the whole stack in one command ends cleanly with a picture and no orphans."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in command:
            found.append(command)
    return found


def test_rampart_up_runs_headless_and_leaves_nothing_behind(rampart_own_broker) -> None:
    command = [sys.executable, "-m", "nodes.cli", "up", "--scenario", "smoke", "--duration", "20"]
    result = subprocess.run([*command, "--broker", rampart_own_broker.url], capture_output=True, text=True, timeout=90)
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"smoke: (\d+) tracks at the end \((\d+) confirmed\)", result.stdout)
    assert match, result.stdout
    assert int(match.group(2)) >= 3, result.stdout  # two friendly platforms and at least one target
    assert "accuracy over" in result.stdout and "mean GOSPA" in result.stdout
    assert "fusion stopped" in result.stdout
    assert processes_mentioning(rampart_own_broker.url) == []


def test_rampart_up_says_what_is_wrong_with_a_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.toml"
    scenario.write_text('name = "bad"\nduration_s = -5\n[origin]\nlat = 54.0\nlon = 10.0\n')
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "up", "--scenario", str(scenario), "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"rampart up: {scenario}: duration_s:")


def test_rampart_up_says_what_to_install_when_no_broker_answers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "up", "--broker", "mqtt://127.0.0.1:9", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 3
    assert result.stderr.startswith("rampart up: could not connect to mqtt://127.0.0.1:9 within 5 s")
    assert "sudo apt-get install -y mosquitto" in result.stderr
