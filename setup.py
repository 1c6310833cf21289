"""The build step setuptools cannot declare: the map's page (web/) is bundled with npm into
nodes/map_static before the packages are collected, so `pip install .`, `pip install -e .` and the
wheel all carry it. The page's dependencies come from the npm registry, pinned by
web/package-lock.json (`npm ci`); no third-party code is kept in the repository. Where web/ is absent
(the Docker image copies the page built in its node stage) the files already there are used."""

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
WEB = ROOT / "web"
BUNDLE = ROOT / "nodes" / "map_static" / "main.js"


def build_web() -> None:
    if not (WEB / "package.json").is_file():
        return
    sources = [WEB / "package-lock.json", WEB / "build.mjs", *(WEB / "src").iterdir()]
    if BUNDLE.is_file() and all(source.stat().st_mtime <= BUNDLE.stat().st_mtime for source in sources):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("building Rampart's map page needs Node.js 20 and npm: apt-get install nodejs npm")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    subprocess.run([npm, "run", "build"], cwd=WEB, check=True)


class BuildPy(build_py):
    def run(self) -> None:
        build_web()
        super().run()


setup(cmdclass={"build_py": BuildPy})
