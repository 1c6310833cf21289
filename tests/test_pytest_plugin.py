"""The pytest plugin as a user's project sees it: a test project in a temporary folder, run by a
separate pytest that finds the plugin through the installed package's `pytest11` entry point."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from nodes.pytest_plugin import Replay

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "tests" / "data" / "smoke.rec"


def readme_example() -> str:
    """The example test in the README's section on the pytest plugin."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.DOTALL)
    (example,) = (block for block in blocks if "def test_" in block and "rampart_replay" in block)
    return str(example)


BROKER_TEST = """
import pytest

from bus.client import BrokerConfig
from nodes.health import check


def test_the_fusion_service_is_online(rampart_own_broker, rampart_fusion):
    healthy, reason = check("fusion", BrokerConfig.from_url(rampart_own_broker.url))
    assert healthy, reason


@pytest.fixture
def bus_url(rampart_broker):
    return rampart_broker.url


def test_through_a_fixture_of_the_project(bus_url):  # marked too: its fixture needs a broker
    assert bus_url.startswith("mqtt://")
"""


@pytest.fixture
def user_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project that depends on Rampart: the README's example, its recording, and a broker test."""
    (pytester.path / "data").mkdir()
    shutil.copy(SMOKE, pytester.path / "data" / "smoke.rec")
    pytester.makepyfile(test_recorded_trial=readme_example(), test_on_the_bus=BROKER_TEST)
    return pytester


def test_a_project_of_its_own_replays_smoke_rec_with_the_readme_example(user_project: pytest.Pytester) -> None:
    assert len(readme_example().strip().splitlines()) <= 10, "the README promises a ten-line example"
    result = user_project.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_not_broker_deselects_the_tests_that_need_one(user_project: pytest.Pytester) -> None:
    result = user_project.runpytest_subprocess("-p", "no:cacheprovider", "-m", "not broker", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*test_recorded_trial.py::test_* PASSED*"])


def test_a_recording_in_the_test_folder_replays_offline(rampart_replay: Callable[..., Replay]) -> None:
    run = rampart_replay("data/smoke.rec")
    assert run.path == SMOKE
    assert run.count_by_identity() == {"unknown": 3, "friendly": 2}
    report = run.evaluate()
    assert len(report.times) == 30 and report.objects.keys() == {"hostile-1", "quad-1", "walker-1"}
    assert run.mean_gospa() == pytest.approx(report.mean_gospa) and 0 < run.mean_gospa() < 50


def test_a_recording_without_truth_cannot_be_scored(rampart_replay: Callable[..., Replay], tmp_path: Path) -> None:
    from bus.recording import RecordingWriter, open_recording

    recording = open_recording(SMOKE)
    observations_only = tmp_path / "no-truth.rec"
    header = recording.header
    with RecordingWriter(observations_only, header.recorded, created_at=header.created_at) as writer:
        for record in recording:
            if "/truth/" not in record.topic:
                writer.write(record)
    run = rampart_replay(observations_only)
    assert run.tracks(), "the observations still make a picture"
    with pytest.raises(ValueError, match="no ground truth"):
        run.mean_gospa()
