"""The test broker, in one place for every test.

Order: the broker at `RAMPART_TEST_BROKER` if set; else a Mosquitto container through testcontainers
where a Docker engine answers; else a local `mosquitto` binary on a free loopback port with a config
generated from the repository's `mosquitto.conf`. With none of these the run stops at once and says
what to install. Fault tests take `own_broker`, a private broker they may stop and restart.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest

from nodes.broker import BROKER_CONFIG, INSTALL_HINT, BrokerUnavailable, LocalMosquitto


class TestBroker(Protocol):
    url: str

    def close(self) -> None: ...


class OwnedBroker(TestBroker, Protocol):
    def stop(self) -> None: ...
    def start(self) -> object: ...


@dataclass
class ExternalBroker:
    """A broker someone else runs: shared by the tests, never stopped from here."""

    url: str

    def close(self) -> None:
        return None


class ContainerBroker:
    """Mosquitto 2 in Docker with the repository's mosquitto.conf (used where an engine answers)."""

    def __init__(self) -> None:
        from testcontainers.community.mqtt import MosquittoContainer

        self._container = MosquittoContainer("eclipse-mosquitto:2", configfile=str(BROKER_CONFIG))
        self._container.start()
        self.url = f"mqtt://{self._container.get_container_host_ip()}:{self._container.get_exposed_port(1883)}"

    def stop(self) -> None:
        self._container.get_wrapped_container().stop()

    def start(self) -> ContainerBroker:
        self._container.get_wrapped_container().start()
        return self

    def close(self) -> None:
        self._container.stop()


def _docker_broker() -> ContainerBroker | None:
    try:
        import docker

        docker.from_env().ping()
    except Exception:  # no engine (the common case here): costs about a millisecond
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
def broker() -> Iterator[TestBroker]:
    """One broker for the whole run; tests isolate themselves by topic and client id."""
    external = os.environ.get("RAMPART_TEST_BROKER")
    instance = ExternalBroker(external) if external else make_owned_broker()
    yield instance
    instance.close()


@pytest.fixture
def own_broker() -> Iterator[OwnedBroker]:
    """A private broker that the test may stop and restart."""
    if os.environ.get("RAMPART_TEST_BROKER"):
        pytest.skip("RAMPART_TEST_BROKER is set: fault tests need a broker they own")
    instance = make_owned_broker()
    yield instance
    instance.close()
