"""`rampart fusion`: the thin shell around the fusion core.

Subscribes to every observation, feeds the core, publishes each changed track retained on its own
topic, clears dropped ones (empty retained message), publishes the snapshot at a fixed rate, and
reports its own figures in its retained NodeState.

The picture's clock follows the data (`fusion.clock.StreamClock`): a scenario or a replay at 10x real
time makes a picture at 10x, while a silent bus still ages its tracks at wall-clock speed.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import asdict

import numpy as np

from bus import topics
from bus.client import BrokerConfig, BusClient, Delivery
from bus.schema import Envelope, GeoPoint, SourceKind, utc_now
from fusion import FusionConfig, FusionCore, VerdictKind
from fusion.clock import StreamClock
from fusion.picture import PictureFeed

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--broker", help="mqtt://host:port (default: $RAMPART_BROKER or mqtt://127.0.0.1:1883)")
    parser.add_argument("--id", default="fusion", help="node id (default fusion)")
    parser.add_argument("--snapshot-rate", type=float, default=1.0, help="snapshots per second (default 1)")
    parser.add_argument("--tick", type=float, default=0.05, help="seconds between picture updates (default 0.05)")
    parser.add_argument(
        "--reorder-window", type=float, default=0.2, help="seconds observations wait for late peers (default 0.2)"
    )
    parser.add_argument("--origin", help="LAT,LON of the local frame (default: the first observation)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    origin = None
    if args.origin:
        lat, lon = (float(part) for part in args.origin.split(","))
        origin = GeoPoint(lat=lat, lon=lon)
    config = FusionConfig(origin=origin, reorder_window_s=args.reorder_window)
    service = FusionService(BrokerConfig.from_env(args.broker), config, args.id, args.snapshot_rate, args.tick)
    with service:
        service.run(args.duration)
    return 0


class FusionService:
    """Wires `FusionCore` + `PictureFeed` to the bus. Observations are judged as they arrive, on the
    client's dispatcher thread (its bounded inbox is the service's queue); the run loop steps the
    picture and publishes. One lock keeps the two off the core at the same time."""

    def __init__(
        self,
        broker: BrokerConfig,
        config: FusionConfig | None = None,
        node_id: str = "fusion",
        snapshot_rate_hz: float = 1.0,
        tick_s: float = 0.05,
    ) -> None:
        self.core = FusionCore(config)
        self.client = BusClient(node_id, SourceKind.FUSION, broker, role="fusion", state_figures=self.figures)
        self.feed = PictureFeed(self.core, self.client.source, self.client.session)
        self.clock = StreamClock()
        self.verdicts: Counter[str] = Counter()
        self._core_lock = threading.Lock()
        self._pending: list[float] = []
        self._snapshot_period_s = 1.0 / snapshot_rate_hz
        self._tick_s = tick_s
        self._stopping = threading.Event()
        self._runner: threading.Thread | None = None
        self._received = 0
        self._latencies_ms: deque[float] = deque(maxlen=10_000)
        self._rate_window: deque[tuple[float, int]] = deque(maxlen=10)
        self.client.subscribe(topics.ALL_OBSERVATIONS, self._on_observation)

    def _on_observation(self, message: Envelope, delivery: Delivery) -> None:
        """Judge one observation; keep its receive time if accepted, for the latency figures."""
        with self._core_lock:
            self._received += 1
            verdict = self.core.ingest(message, now=self.clock.now())  # type: ignore[arg-type]
            self.verdicts[verdict.kind.value] += 1
            if verdict.kind is VerdictKind.ACCEPTED:
                self.clock.observe(message.time)
                self._pending.append(delivery.received_at)
            elif self.verdicts[verdict.kind.value] == 1:
                kind, source = verdict.kind.value, message.source.id
                log.warning("%s observation from %s: %s (further ones are counted)", kind, source, verdict.reason)

    def start(self) -> FusionService:
        self.client.start()
        return self

    def start_in_background(self) -> FusionService:
        """Connect and fuse on a thread of its own (tests, `rampart up` in one process)."""
        self.start()
        self._runner = threading.Thread(target=self.run, name="fusion", daemon=True)
        self._runner.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            self._runner.join(timeout=5.0)
        self.client.stop()

    def __enter__(self) -> FusionService:
        return self if self.client.connected else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, duration_s: float | None = None) -> None:
        """Fuse until stopped (or for `duration_s`): ingest, step the picture, publish."""
        deadline = time.monotonic() + duration_s if duration_s else None
        next_snapshot = next_rate_sample = time.monotonic()
        while not self._stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            started = time.monotonic()
            snapshot = None
            with self._core_lock:
                step = self.feed.step(self.clock.now(), sent_at=utc_now())
                if step.change.applied:
                    published = time.monotonic()
                    applied = self._pending[: step.change.applied]
                    self._latencies_ms.extend((published - received) * 1000 for received in applied)
                    del self._pending[: step.change.applied]
                if started >= next_snapshot:
                    snapshot = self.feed.snapshot(self.clock.now(), utc_now())
                    next_snapshot = started + self._snapshot_period_s
                received = self._received
            for update in step.updates:
                self.client.publish(topics.track(update.track.track_id), update, retain=True)
            for track_id in step.dropped:
                self.client.clear_retained(topics.track(track_id))
            if snapshot is not None:
                self.client.publish(topics.snapshot(), snapshot, retain=True)
            if started >= next_rate_sample:
                self._rate_window.append((started, received))
                next_rate_sample = started + 1.0
            self._stopping.wait(max(0.0, self._tick_s - (time.monotonic() - started)))

    def figures(self) -> dict[str, float]:
        """What the service reports in its NodeState: rates, rejections, tracks, latency."""
        core = asdict(self.core.figures)
        rate = 0.0
        if len(self._rate_window) >= 2:
            (t0, n0), (t1, n1) = self._rate_window[0], self._rate_window[-1]
            rate = (n1 - n0) / max(t1 - t0, 1e-9)
        latencies = np.asarray(self._latencies_ms) if self._latencies_ms else np.zeros(1)
        return {
            "observations_in_per_s": rate,
            "received": self._received,
            "rejected_undecodable": sum(self.client.figures.rejected.values()),
            **{f"verdict_{kind}": count for kind, count in sorted(self.verdicts.items())},
            "tracks_live": core["tracks_live"],
            "tracks_confirmed": core["tracks_confirmed"],
            "picture_seq": self.feed.picture_seq,
            "processing_latency_p50_ms": float(np.percentile(latencies, 50)),
            "processing_latency_p99_ms": float(np.percentile(latencies, 99)),
        }
