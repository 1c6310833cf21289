"""Input errors end a command with one line and a documented exit code, never a traceback."""

from __future__ import annotations

import os
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


@pytest.mark.parametrize(
    ("command", "error"),
    [
        (["vehicle", "--id", "v", "--position", "95,10"], "argument --position: latitude 95 is not in [-90, 90]"),
        (["vehicle", "--id", "v", "--position", "54,181"], "argument --position: longitude 181 is not in [-180, 180]"),
        (
            ["vehicle", "--id", "v", "--position", "abc"],
            "argument --position: 'abc' is not LAT,LON in degrees (e.g. 54.32,10.14)",
        ),
        (
            ["vehicle", "--id", "v", "--velocity", "1,nan"],
            "argument --velocity: '1,nan' is not VE,VN in m/s (e.g. 3,-1.5): finite numbers only",
        ),
        (["vehicle", "--id", "v", "--report-rate", "0"], "argument --report-rate: 0 is not a positive number"),
        (
            ["vehicle", "--id", "bad id/#"],
            "argument --id: node id 'bad id/#' is not a valid topic segment (1-64 of A-Z a-z 0-9 _ . : -)",
        ),
        (
            ["vehicle", "--id", "v" * 62],
            f"argument --id: vehicle id {'v' * 62!r} is too long: {'v' * 62}.nav must fit 64 characters",
        ),
        (
            ["fusion", "--id", "a+b"],
            "argument --id: node id 'a+b' is not a valid topic segment (1-64 of A-Z a-z 0-9 _ . : -)",
        ),
        (
            ["fusion", "--broker", "foo://x"],
            "argument --broker: broker URL 'foo://x': scheme must be mqtt:// or mqtts://",
        ),
        (["sim", "--broker", "mqtt://"], "argument --broker: broker URL 'mqtt://': no host"),
        (
            ["record", "--broker", "mqtt://h?protocol=4"],
            "argument --broker: broker URL 'mqtt://h?protocol=4': protocol must be 5 or 3.1.1",
        ),
        (
            ["replay", "x.rec", "--broker", "http://h"],
            "argument --broker: broker URL 'http://h': scheme must be mqtt:// or mqtts://",
        ),
        (["fusion", "--origin", "54.3"], "unrecognized arguments: --origin 54.3"),
    ],
)
def test_a_bad_option_is_a_usage_error(command: list[str], error: str) -> None:
    result = rampart(*command)
    prog = "rampart" if error.startswith("unrecognized") else f"rampart {command[0]}"
    assert (result.returncode, result.stderr.splitlines()[-1]) == (2, f"{prog}: error: {error}")
    assert "Traceback" not in result.stderr


def test_a_bad_broker_url_in_the_environment_is_one_line_and_exit_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "nodes.cli", "fusion", "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "RAMPART_BROKER": "tcp://x"},
    )
    assert (result.returncode, result.stderr.splitlines()[-1]) == (
        2,
        "rampart fusion: RAMPART_BROKER: broker URL 'tcp://x': scheme must be mqtt:// or mqtts://",
    )
