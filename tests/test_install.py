"""Installable for real: the wheel, installed into a fresh venv outside the repository, runs the stack.

The venv borrows the dependencies of the environment running the tests (a .pth line to its
site-packages, whose own .pth files, among them the editable install of this repository, are not
processed), so nothing is downloaded; Rampart itself comes only from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.skipif(shutil.which("mosquitto") is None, reason="rampart up needs the mosquitto binary")
def test_the_wheel_installed_outside_the_repository_runs_the_stack(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(dist)],
        check=True,
        capture_output=True,
        timeout=180,
    )
    (wheel,) = dist.glob("rampart-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"nodes/mosquitto.conf", "simulators/scenarios/smoke.toml", "bus/py.typed"} <= names
    # The map's page, built by setup.py with npm, Natural Earth's coastlines included.
    assert {"nodes/map_static/index.html", "nodes/map_static/main.js", "nodes/map_static/countries-50m.json"} <= names
    assert not any(name.startswith(("tests/", "docs/", "bench/", "scripts/")) for name in names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True)

    env = {key: value for key, value in os.environ.items() if not key.startswith(("RAMPART_", "PYTHON"))}
    where = subprocess.run(
        [python, "-c", "import nodes, simulators; print(nodes.__file__, simulators.__file__)"],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert str(REPO) not in where and where.count(site) == 2

    up = subprocess.run(
        [venv / "bin" / "rampart", "up", "--scenario", "smoke", "--duration", "15"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stdout + up.stderr
    assert "rampart up: smoke:" in up.stdout
    assert "rampart up: the live map: http://127.0.0.1:" in up.stdout
    assert "accuracy over" in up.stdout
