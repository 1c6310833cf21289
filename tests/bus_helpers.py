"""Small helpers for tests that talk to a real broker."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bus.client import BrokerConfig, BusClient, Delivery, Handler
from bus.replica import PictureReplica
from bus.schema import Envelope, GeoPoint, PositionReport, Source, SourceKind
from fusion import FusionConfig
from nodes.broker import LocalMosquitto, throwaway_tls
from nodes.fusion import FusionService

_ids = itertools.count()


def unique(prefix: str) -> str:
    """An id no other test (or earlier run against a shared broker) uses."""
    return f"{prefix}-{os.getpid()}-{next(_ids)}"


def client(url: str, prefix: str = "test", kind: SourceKind = SourceKind.TOOL, **options: Any) -> BusClient:
    return BusClient(unique(prefix), kind, BrokerConfig.from_url(url), **options)


@contextmanager
def fusion_fed_by_hand(
    url: str, config: FusionConfig | None = None
) -> Iterator[tuple[FusionService, BusClient, PictureReplica]]:
    """A fusion service, a client to feed it observations as bytes (`publish_raw`: `publish` would
    stamp them as the feeder's own), and a vehicle's replica of the picture."""
    with (
        FusionService(BrokerConfig.from_url(url), config).start_in_background() as fusion,
        client(url, "feeder") as feeder,
    ):
        vehicle = client(url, "vehicle")
        picture = PictureReplica(vehicle)
        with vehicle:
            yield fusion, feeder, picture


class Collector:
    """Collects what a handler receives; `wait_for` blocks until a condition holds."""

    def __init__(self) -> None:
        self.items: list[tuple[Envelope, str]] = []
        self._changed = threading.Condition()

    def __call__(self, message: Envelope, delivery: Delivery) -> None:
        with self._changed:
            self.items.append((message, delivery.topic))
            self._changed.notify_all()

    def after(self, wait: Callable[[], object]) -> Handler:
        """A deliberately slow handler: each message waits for `wait()` (an event, a semaphore)
        before it is collected."""

        def slow(message: Envelope, delivery: Delivery) -> None:
            wait()
            self(message, delivery)

        return slow

    @property
    def messages(self) -> list[Envelope]:
        return [message for message, _ in self.items]

    def wait_for(self, condition: Callable[[list[Envelope]], bool], timeout_s: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not condition(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def wait_quiet(self, expected: int, quiet_s: float, timeout_s: float) -> int:
        """Wait for `expected` items, or (once some came) until none arrived for `quiet_s`; return the count."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while len(self.items) < expected and time.monotonic() < deadline:
                before = len(self.items)
                self._changed.wait(quiet_s)
                if before and len(self.items) == before:
                    break
            return len(self.items)


@contextmanager
def tls_mosquitto(directory: Path, **overrides: str) -> Iterator[BrokerConfig]:
    """A local Mosquitto with a TLS listener only, certificates made here by a throwaway CA; yields
    the client config that trusts it."""
    tls, ca_file = throwaway_tls(directory)
    with LocalMosquitto(overrides={**tls, **overrides}) as broker:
        yield BrokerConfig(host="127.0.0.1", port=broker.port, tls=True, ca_file=str(ca_file))


def report(source_id: str, lat: float = 54.0) -> PositionReport:
    """A platform's position report from `source_id`, stamped now."""
    return PositionReport(
        source=Source(id=source_id, kind=SourceKind.POSITION),
        time=datetime.now(UTC),
        platform_id="p1",
        position=GeoPoint(lat=lat, lon=10.0),
    )
