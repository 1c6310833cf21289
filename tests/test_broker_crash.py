"""A broker crash loses no observation: the broker is killed (SIGKILL, no clean shutdown) for 5 s in
the middle of a run and restarted from its last autosave. The fusion's persistent session (and its
subscription) survives in the broker's database, so what the adapters send after the restart is
queued for the fusion even before it is back; the adapters hold their records while the broker is
away and send them when it returns; paho resends what was in flight.

The test takes the worst order: every adapter is back and has sent its backlog before the fusion
reconnects (its reconnect is held until then). With clean sessions and no autosave, all of that
went to no subscriber."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from paho.mqtt.enums import MQTTErrorCode

from adapters.base import Adapter
from bus.client import BrokerConfig
from bus.schema import GeoPoint, Observation, PositionReport, utc_now
from fusion import Verdict
from nodes.broker import LocalMosquitto
from nodes.fusion import FusionService
from tests.bus_helpers import unique

OUTAGE_S = 5.0
PERIOD_S = 0.02  # 50 observations per second and source


class Beacon(Adapter[int]):
    kind = "position"
    integration = "beacon"

    def translate(self, native: int) -> PositionReport:
        return PositionReport(
            source=self.source,
            time=utc_now(),
            platform_id=self.source.id,
            position=GeoPoint(lat=54.0 + native * 1e-6, lon=10.0),
        )


def saved_since(path: Path, moment: float, timeout_s: float) -> bool:
    """Whether the broker's autosave wrote `path` after `moment`: a file gives no event to wait on,
    so this looks every 50 ms until it has or the timeout passes."""
    deadline = time.monotonic() + timeout_s
    while not (path.exists() and path.stat().st_mtime > moment):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_broker_killed_for_5_s_mid_run_loses_no_observation(rampart_own_broker, monkeypatch) -> None:
    broker = rampart_own_broker
    if not isinstance(broker, LocalMosquitto):
        pytest.skip("watches the local broker's persistence file")
    config = BrokerConfig.from_url(broker.url)
    fusion = FusionService(config)
    received: defaultdict[str, set[str]] = defaultdict(set)
    arrived = threading.Condition()
    ingest = fusion.core.ingest

    def counting(observation: Observation, now: datetime | None = None) -> Verdict:
        with arrived:
            received[observation.source.id].add(observation.msg_id)
            arrived.notify_all()
        return ingest(observation, now)

    def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
        with arrived:
            return arrived.wait_for(condition, timeout_s)

    monkeypatch.setattr(fusion.core, "ingest", counting)
    adapters = [Beacon(unique("beacon"), config) for _ in range(3)]
    driving = threading.Event()

    def drive() -> None:
        count = 0
        while not driving.wait(PERIOD_S):
            for adapter in adapters:
                adapter.submit(count)
            count += 1

    with fusion.start_in_background():
        subscribed = time.time()
        fusion_may_reconnect = threading.Event()
        paho = fusion.client._mqtt
        connect = paho.connect

        def held_connect(*args: Any, **kwargs: Any) -> MQTTErrorCode:
            fusion_may_reconnect.wait()
            return connect(*args, **kwargs)

        monkeypatch.setattr(paho, "connect", held_connect)
        for adapter in adapters:
            adapter.start()
        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        try:
            # The broker has saved the fusion's session since it subscribed, and traffic flows.
            assert saved_since(broker.persistence_file, subscribed, 10.0)
            assert wait_until(lambda: all(len(received[a.source.id]) >= 25 for a in adapters), 10.0)
            broker.kill()
            killed = [len(received[a.source.id]) for a in adapters]
            driving.wait(OUTAGE_S)  # the outage itself: observations keep coming from the sources
            broker.start()
            assert all(adapter.client.wait_connected(30.0) for adapter in adapters)
            assert all(adapter.flush(30.0) for adapter in adapters)  # the backlog is with the broker
            assert not fusion.client.connected
            fusion_may_reconnect.set()
            assert fusion.client.wait_connected(30.0)
            assert wait_until(
                lambda: all(len(received[a.source.id]) >= n + 400 for a, n in zip(adapters, killed, strict=True)), 30.0
            )
        finally:
            driving.set()
            driver.join()
        for adapter in adapters:
            assert adapter.flush(30.0)
        published = {a.source.id: a.figures.published for a in adapters}
        wait_until(lambda: all(len(received[s]) >= n for s, n in published.items()), 30.0)
        for adapter in adapters:
            adapter.stop()
    for adapter in adapters:
        figures = adapter.figures
        assert (figures.dropped, figures.unpublished, figures.rejected) == (0, 0, 0)
        assert figures.published == figures.submitted
        assert figures.offline_waits >= 1
    reached = {source: len(received[source]) / count for source, count in published.items()}
    assert min(reached.values()) >= 0.99, reached
    assert sum(published.values()) >= 3 * (OUTAGE_S / PERIOD_S)
