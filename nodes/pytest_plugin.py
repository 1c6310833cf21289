"""The Rampart pytest plugin: fixtures for any project that installs Rampart (entry point `pytest11`,
loaded by pytest on its own; `-p no:rampart` turns it off).

Fixtures (all named `rampart_*`, so they do not clash with a project's own):

* `rampart_broker`: one MQTT broker for the session, with a `url`. Order: the broker at
  `RAMPART_TEST_BROKER` if set; else Mosquitto 2 in a container through testcontainers where a Docker
  engine answers; else a local `mosquitto` binary on a free loopback port. Both started brokers use
  the shipped `nodes/mosquitto.conf`. With none of these the run stops at once and says what to install.
* `rampart_own_broker`: a private broker for one test, which it may `stop()` (or `kill()`, a crash) and
  `start()` again (same URL, same persistence file). Skipped when `RAMPART_TEST_BROKER` is set: a
  shared broker cannot be restarted.
* `rampart_fusion`: a `FusionService` fusing in the background on `rampart_own_broker` (picture topics
  are global, so every test gets a broker of its own).
* `rampart_replay`: `rampart_replay("smoke.rec")` fuses a recording offline (no broker, deterministic)
  and returns a `Replay`: the final picture, `count_by_identity()`, `evaluate()` and `mean_gospa()`
  against the truth in the recording. A relative path is taken from the test file's folder.

Tests that use a broker fixture are marked `broker`: `pytest -m "not broker"` runs the others alone.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from nodes.broker import BROKER_CONFIG, INSTALL_HINT, BrokerUnavailable, LocalMosquitto, free_port

if TYPE_CHECKING:  # the fusion stack (numpy, scipy) is imported when a fixture is used, not at every pytest start
    from bus.schema import Track
    from fusion.config import FusionConfig
    from fusion.eval import EvalConfig, EvalReport
    from fusion.offline import Picture
    from nodes.fusion import FusionService

MOSQUITTO_IMAGE = "eclipse-mosquitto:2"
MQTT_PORT = 1883
BROKER_FIXTURES = frozenset({"rampart_broker", "rampart_own_broker"})
_RUNNING = re.compile(r"mosquitto version \d+\.\d+\.\d+ running")


# --- brokers ---------------------------------------------------------------------------------------


class Broker(Protocol):
    """What a broker fixture gives: where the broker is, and how to let it go."""

    @property
    def url(self) -> str: ...

    def close(self) -> None: ...


class OwnedBroker(Broker, Protocol):
    def stop(self) -> None: ...
    def kill(self) -> None:
        """A crash (SIGKILL): no clean shutdown; `start()` resumes from the last autosave."""

    def start(self) -> object: ...


@dataclass
class ExternalBroker:
    """A broker someone else runs: shared by the tests, never stopped from here."""

    url: str

    def close(self) -> None:
        return None


class ContainerBroker:
    """Mosquitto 2 in Docker with the shipped mosquitto.conf (used where an engine answers)."""

    def __init__(self) -> None:
        from testcontainers.community.mqtt import MosquittoContainer

        self._container = MosquittoContainer(MOSQUITTO_IMAGE)
        # Docker gives a randomly published port a new number whenever a stopped container starts
        # again (moby/moby#31926), and fault tests restart the broker: publish on a fixed free port.
        # MosquittoContainer.start() exposes 1883 again with no host port; docker-py folds "1883" and
        # "1883/tcp" into one binding and keeps the later entry, ours. A test checks the result.
        self._container.with_exposed_ports(MQTT_PORT).with_bind_ports(f"{MQTT_PORT}/tcp", free_port())
        # The config is an argument of start() (testcontainers 4), which mounts it and waits for the
        # broker's "running" log line.
        self._container.start(configfile=str(BROKER_CONFIG))
        self._starts = 1
        host = self._container.get_container_host_ip()
        self.url = f"mqtt://{host}:{self._container.get_exposed_port(MQTT_PORT)}"

    def stop(self) -> None:
        self._container.get_wrapped_container().stop()

    def kill(self) -> None:
        self._container.get_wrapped_container().kill()  # SIGKILL; the data volume stays

    def start(self) -> ContainerBroker:
        from testcontainers.core.waiting_utils import wait_for_logs

        self._container.get_wrapped_container().start()
        self._starts += 1
        starts = self._starts
        wait_for_logs(self._container, lambda logs: len(_RUNNING.findall(logs)) >= starts, timeout=30)
        return self

    def close(self) -> None:
        self._container.stop()


def _docker_broker() -> ContainerBroker | None:
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # no engine (or no testcontainers): costs about a millisecond
        return None
    return ContainerBroker()


def make_owned_broker() -> OwnedBroker:
    """A Docker broker where an engine answers, else a local mosquitto; or stop the run."""
    container = _docker_broker()
    if container is not None:
        return container
    try:
        return LocalMosquitto().start()
    except BrokerUnavailable as error:
        pytest.exit(f"no test broker: {error}\n{INSTALL_HINT}", returncode=3)


@pytest.fixture(scope="session")
def rampart_broker() -> Iterator[Broker]:
    """One broker for the whole run; tests isolate themselves by topic and client id."""
    external = os.environ.get("RAMPART_TEST_BROKER")
    instance = ExternalBroker(external) if external else make_owned_broker()
    yield instance
    instance.close()


@pytest.fixture
def rampart_own_broker() -> Iterator[OwnedBroker]:
    """A private broker that the test may stop and start again (same URL)."""
    if os.environ.get("RAMPART_TEST_BROKER"):
        pytest.skip("RAMPART_TEST_BROKER is set: this test needs a broker it owns")
    instance = make_owned_broker()
    yield instance
    instance.close()


@pytest.fixture
def rampart_fusion(rampart_own_broker: OwnedBroker) -> Iterator[FusionService]:
    """The fusion service (default settings) fusing in the background on `rampart_own_broker`."""
    from bus.client import BrokerConfig
    from nodes.fusion import FusionService

    with FusionService(BrokerConfig.from_url(rampart_own_broker.url)).start_in_background() as service:
        yield service


# --- offline replay --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Replay:
    """A recording fused offline: the final picture, and the truth the recording holds."""

    path: Path
    picture: Picture

    def tracks(self) -> list[Track]:
        """The tracks of the final picture that count as estimates (confirmed or coasting)."""
        from fusion.eval import CONFIRMED_STATUSES

        return [track for track in self.picture.tracks.values() if track.status in CONFIRMED_STATUSES]

    def count_by_identity(self) -> dict[str, int]:
        """Those tracks counted by disposition, e.g. `{"friendly": 2, "unknown": 3}`."""
        return dict(Counter(track.disposition.value for track in self.tracks()))

    def evaluate(self, config: EvalConfig | None = None) -> EvalReport:
        """GOSPA, OSPA and continuity: each truth frame against the picture taken at its instant."""
        from bus.schema import GroundTruth, PictureSnapshot
        from fusion.eval import evaluate

        frames = []
        latest: PictureSnapshot | None = None
        for message in self.picture.history:
            if isinstance(message, PictureSnapshot):
                latest = message
            elif isinstance(message, GroundTruth) and latest is not None:
                frames.append((message, list(latest.tracks)))
        if not frames:
            raise ValueError(f"{self.path} has no ground truth: nothing to evaluate against")
        return evaluate(frames, config)

    def mean_gospa(self, config: EvalConfig | None = None) -> float:
        """The mean GOSPA (m, cut-off 100 m by default) over the recording's truth frames."""
        mean = self.evaluate(config).mean_gospa
        assert mean is not None  # evaluate() refuses a recording without truth frames
        return mean


@pytest.fixture
def rampart_replay(request: pytest.FixtureRequest) -> Callable[..., Replay]:
    """`rampart_replay(path, config=None)`: the recording fused offline, as a `Replay`."""

    def replay(path: str | os.PathLike[str], config: FusionConfig | None = None) -> Replay:
        from fusion.offline import replay as fuse

        resolved = Path(request.path).parent / path
        return Replay(resolved, fuse(resolved, config))

    return replay


# --- the `broker` marker ---------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "broker: the test needs an MQTT broker (set on every test using a rampart broker fixture)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.broker)
