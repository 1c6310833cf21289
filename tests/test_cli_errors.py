"""Input errors end a command with one line and a documented exit code, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def rampart(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nodes.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "command",
    [
        ["record", "--broker", "mqtt://127.0.0.1:9"],
        ["sim", "--scenario", "smoke", "--duration", "1"],
    ],
)
def test_an_existing_recording_is_not_overwritten_without_force(tmp_path: Path, command: list[str]) -> None:
    out = tmp_path / "kept.rec"
    out.write_bytes(b"precious")
    result = rampart(*command, "--out", str(out))
    assert (result.returncode, result.stderr) == (2, f"rampart {command[0]}: {out} exists; --force overwrites it\n")
    assert out.read_bytes() == b"precious"


def test_sim_force_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "replaced.rec"
    out.write_bytes(b"old")
    result = rampart("sim", "--scenario", "smoke", "--duration", "1", "--out", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:3] != b"old"


def test_an_unreachable_broker_is_one_line_and_exit_3() -> None:
    result = rampart("fusion", "--broker", "mqtt://127.0.0.1:9", "--duration", "1")
    assert result.returncode == 3
    last = result.stderr.splitlines()[-1]
    assert last.startswith("rampart fusion: could not connect to mqtt://127.0.0.1:9")
    assert "Traceback" not in result.stderr
