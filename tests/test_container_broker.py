"""The Docker path of the test broker, as far as a machine without a Docker engine allows.

The plugin's real code (`make_owned_broker`, then stop, start and close, as a fault test does) runs in
a child process with the installed testcontainers and docker-py; only the engine is fake
(`tests/fake_docker_engine.py`, reached through DOCKER_HOST). What the engine is asked for is checked:
the image, the mounted config, the published port, the wait for Mosquitto's log line. Whether the
real image then runs with that config is not checked here: that needs a real engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from nodes.broker import BROKER_CONFIG
from nodes.pytest_plugin import MOSQUITTO_IMAGE
from tests.fake_docker_engine import FakeEngine

SCRIPT = """
import json
from nodes.pytest_plugin import ContainerBroker, make_owned_broker
broker = make_owned_broker()
assert isinstance(broker, ContainerBroker), broker
url = broker.url
broker.stop()
broker.start()
broker.close()
print(json.dumps({"url": url}))
"""


@pytest.fixture
def engine() -> Iterator[FakeEngine]:
    with FakeEngine() as fake:
        yield fake


def run_against(engine: FakeEngine) -> dict[str, str]:
    keep = {
        key: value for key, value in os.environ.items() if not key.startswith(("DOCKER_", "TESTCONTAINERS_", "TC_"))
    }
    environment = {**keep, "DOCKER_HOST": engine.url, "TC_POOLING_INTERVAL": "0.05"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout.splitlines()[-1]))


def test_the_container_broker_runs_mosquitto_2_with_the_shipped_config(engine: FakeEngine) -> None:
    url = run_against(engine)["url"]
    (mosquitto,) = engine.created(MOSQUITTO_IMAGE)
    assert engine.calls("POST", "/images/create"), "the image is pulled when the engine lacks it"
    host_config = mosquitto.create["HostConfig"]
    assert f"{BROKER_CONFIG}:/mosquitto/config/mosquitto.conf:ro" in host_config["Binds"]
    assert mosquitto.create["ExposedPorts"] == {"1883/tcp": {}}
    (binding,) = host_config["PortBindings"]["1883/tcp"]
    assert binding["HostPort"], "a fixed host port, so that a restarted broker keeps its URL"
    assert url == f"mqtt://{engine.host}:{binding['HostPort']}"


def test_the_broker_is_waited_for_at_start_and_restart_and_removed_at_close(engine: FakeEngine) -> None:
    run_against(engine)
    (mosquitto,) = engine.created(MOSQUITTO_IMAGE)
    path = f"/containers/{mosquitto.id}"
    sequence = [(r.method, r.path) for r in engine.requests if r.path.startswith(path) and r.path != path + "/json"]
    start, logs, stop, delete = (
        ("POST", path + "/start"),
        ("GET", path + "/logs"),
        ("POST", path + "/stop"),
        ("DELETE", path),
    )
    without_repeats = [step for i, step in enumerate(sequence) if i == 0 or step != sequence[i - 1]]
    assert without_repeats == [start, logs, stop, start, logs, delete], "each start waits for the broker's log line"
    assert mosquitto.removed
