"""`rampart fusion`: the thin shell around the fusion core.

Subscribes to every observation, feeds the core, publishes each changed track retained on its own
topic, clears dropped ones (empty retained message), publishes the snapshot at a fixed rate, and
reports its own figures in its retained NodeState.

The picture's clock follows the data (`fusion.clock.PictureClock`): a scenario or a replay at 10x real
time makes a picture at 10x, a silent bus still ages its tracks at wall-clock speed, and no one source
can drag it ahead of the others.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from collections import Counter, deque
from dataclasses import asdict
from datetime import datetime

import numpy as np

from bus import codec, topics
from bus.client import PERSISTENT_SESSION_S, BrokerConfig, BusClient, Delivery
from bus.schema import Envelope, Observation, PictureSnapshot, SourceKind, TrackUpdate, utc_now
from fusion import FusionConfig, FusionCore, VerdictKind, resume
from fusion.admission import SourceBudgets
from fusion.clock import PictureClock
from fusion.config import settings
from fusion.picture import PictureFeed
from fusion.resume import RetainedPicture
from nodes.options import OptionError, add_broker_option, add_config_option, broker_from, fusion_config, node_id

log = logging.getLogger(__name__)

RESUME_TIMEOUT_S = 10.0
"""How long a starting fusion waits for the retained picture of the one before it."""

ADMISSION_FIGURES = 8
"""Sources named in the NodeState's over-budget figures (the most refused first; a state holds 64)."""

STEP_GAP_S = 0.005
"""Shortest time between two picture steps while observations keep arriving: an observation is
applied and published as soon as it arrives, and a stream of them is taken a few at a time rather
than paying a whole step (showing the picture, building updates) for each one."""

HANDOVER_SIZE = 1_000
HANDOVER_DETECTIONS = 50_000
"""Decoded observations waiting for the run loop: at most this many (half a second at 2k/s), and
at most this many detections among them (a scan counts its detections, anything else one), since a
decoded scan of the schema's 4,096 detections takes 8.4 MB and 1,000 of them would take 8 GB. When
either is reached the client's dispatcher waits, its bounded inbox of raw messages fills and the
client stops reading: the rest of a backlog stays with the broker."""

SNAPSHOT_RATE_HZ = 1.0
"""How often the whole picture is published. The service's own setting, not the tracker's: it
changes no track, only how soon a late joiner or a vehicle that missed an update is whole again,
so it is not in FusionConfig and offline replay (which snapshots at every truth frame) has none."""


def configure(parser: argparse.ArgumentParser) -> None:
    add_broker_option(parser)
    parser.add_argument("--id", default="fusion", type=node_id, help="node id (default fusion)")
    add_config_option(parser)
    parser.add_argument(
        "--snapshot-rate",
        type=float,
        default=SNAPSHOT_RATE_HZ,
        help=f"snapshots per second (default {SNAPSHOT_RATE_HZ:g})",
    )
    parser.add_argument(
        "--admission",
        choices=("fair", "off"),
        default="fair",
        help="fair (default): a budget per source learned from its normal rate; off: admit everything",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    if not args.snapshot_rate > 0:
        raise OptionError(f"--snapshot-rate: {args.snapshot_rate} is not positive")
    config = fusion_config(args.config)
    log.info("fusion settings: %s", settings(config))
    admission = SourceBudgets() if args.admission == "fair" else None
    service = FusionService(broker_from(args), config, args.id, args.snapshot_rate, admission)
    with service:
        service.run(args.duration)
    return 0


class FusionService:
    """Wires `FusionCore` + `PictureFeed` to the bus. The client's dispatcher decodes observations
    and hands them over (bounded); the run loop alone touches the core: it judges what was handed
    over, steps the picture and publishes, so building and sending updates never holds up intake."""

    def __init__(
        self,
        broker: BrokerConfig,
        config: FusionConfig | None = None,
        node_id: str = "fusion",
        snapshot_rate_hz: float = SNAPSHOT_RATE_HZ,
        admission: SourceBudgets | None = None,
    ) -> None:
        """`admission`: per-source budgets applied before the core (`fusion.admission`); None admits all."""
        self.core = FusionCore(config)
        self.admission = admission
        self._admission_lock = threading.Lock()
        self.broker = broker
        self.client = BusClient(
            node_id,
            SourceKind.FUSION,
            broker,
            role="fusion",
            state_figures=self.figures,
            persistent_session_s=PERSISTENT_SESSION_S,  # observations wait for it across a broker crash
            admit=None if admission is None else self._admit,
        )
        # This start's epoch: the session base, milliseconds since 1970, so a restart's is larger.
        self.feed = PictureFeed(self.core, self.client.source, self.client.session, epoch=self.client.session)
        self.clock = PictureClock(max_lead_s=self.core.config.max_future_s)
        self.verdicts: Counter[str] = Counter(dict.fromkeys(VerdictKind, 0))  # read by the figures' thread
        self._arrivals: deque[tuple[Observation, Delivery]] = deque()
        self._arrival_detections = 0
        self._handover = threading.Condition()
        self._pending: list[float] = []
        self._snapshot_period_s = 1.0 / snapshot_rate_hz
        self._tick_s = self.core.config.tick_s
        self._stopping = threading.Event()
        self._runner: threading.Thread | None = None
        self._received = 0
        self._snapshot_pages = 0
        self._latencies_ms: deque[float] = deque(maxlen=10_000)
        self._rate_window: deque[tuple[float, int]] = deque(maxlen=10)
        self.client.subscribe(topics.ALL_OBSERVATIONS, self._on_observation)

    def _admit(self, topic: str, received_at: float) -> bool:
        """The budgets, on the client's network thread: a flood is refused by its topic alone,
        before it costs decoding, the shared inbox or the core (see `fusion.admission`)."""
        assert self.admission is not None
        try:
            source_id = topics.parse(topic).sender_id
        except ValueError:
            return True  # not an observation topic: the decoder dead-letters it
        if source_id is None:
            return True
        with self._admission_lock:
            admitted = self.admission.admit(source_id, received_at)
            first_refusal = not admitted and self.admission.dropped == 1
        if first_refusal:
            log.warning("%s is over its budget: its excess is dropped and counted", source_id)
        return admitted

    def _on_observation(self, message: Envelope, delivery: Delivery) -> None:
        """Hand a decoded observation to the run loop, waiting while the handover is full."""
        if not isinstance(message, Observation):
            return  # the topic's kind already guarantees an observation
        weight = max(1, len(getattr(message, "detections", ())))
        with self._handover:
            self._handover.wait_for(self._handover_has_room)
            self._arrivals.append((message, delivery))
            self._arrival_detections += weight
            self._handover.notify_all()

    def _handover_has_room(self) -> bool:
        """Room for one more observation: under both bounds, or nothing waiting (one always fits)."""
        arrivals = self._arrivals
        under = len(arrivals) < HANDOVER_SIZE and self._arrival_detections < HANDOVER_DETECTIONS
        return under or not arrivals or self._stopping.is_set()

    def _judge_arrivals(self, now: datetime) -> None:
        """Ingest what was handed over; keep accepted ones' receive times, for the latency figures."""
        with self._handover:
            arrivals = list(self._arrivals)
            self._arrivals.clear()
            self._arrival_detections = 0
            self._handover.notify_all()
        for message, delivery in arrivals:
            self._received += 1
            try:
                verdict = self.core.ingest(message, now=now)
            except Exception as error:  # contained like a failing handler: dead-lettered, counted
                self.client.contain(error, delivery.topic, codec.encode(message), codec.MSGPACK)
                continue
            self.verdicts[verdict.kind.value] += 1
            if verdict.kind is VerdictKind.ACCEPTED:
                self.clock.observe(message.source.id, message.time)
                self._pending.append(delivery.received_at)
                continue
            if verdict.kind in (VerdictKind.FUTURE, VerdictKind.LATE):
                self.clock.refused(message.source.id, message.time)
            if self.verdicts[verdict.kind.value] == 1:
                kind, source = verdict.kind.value, message.source.id
                log.warning("%s observation from %s: %s (further ones are counted)", kind, source, verdict.reason)

    def start(self) -> FusionService:
        """Take over the retained picture an earlier fusion left (see `fusion.resume`), then connect."""
        plan = resume.plan(read_retained_picture(self.broker, self.client.node_id))
        if plan.continued or plan.clear:
            log.info(
                "resuming %d tracks of the retained picture, clearing %d older topics, new ids from T%06d",
                len(plan.continued),
                len(plan.clear),
                plan.next_number,
            )
        self.feed.resume(plan)
        self._snapshot_pages = plan.pages
        self.client.start()
        for topic in plan.clear:
            self.client.clear_retained(topic)
        return self

    def start_in_background(self) -> FusionService:
        """Connect and fuse on a thread of its own (tests, `rampart up` in one process)."""
        self.start()
        self._runner = threading.Thread(target=self.run, name="fusion", daemon=True)
        self._runner.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._handover:
            self._handover.notify_all()
        if self._runner is not None:
            self._runner.join(timeout=5.0)
        self.client.stop()

    def __enter__(self) -> FusionService:
        return self if self.client.connected else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run(self, duration_s: float | None = None) -> None:
        """Fuse until stopped (or for `duration_s`): step the picture as observations arrive, publish."""
        deadline = time.monotonic() + duration_s if duration_s else None
        next_snapshot = next_rate_sample = time.monotonic()
        heartbeat = self.client.heartbeat("the fusion loop")  # a stuck loop turns the node unhealthy
        while not self._stopping.is_set() and (deadline is None or time.monotonic() < deadline):
            started = time.monotonic()
            heartbeat.beat()
            pages: list[PictureSnapshot] = []
            self._judge_arrivals(self.clock.now())
            now = self.clock.now()
            step = self.feed.step(now, sent_at=utc_now())
            if step.change.applied:
                published = time.monotonic()
                applied = self._pending[: step.change.applied]
                self._latencies_ms.extend((published - received) * 1000 for received in applied)
                del self._pending[: step.change.applied]
            if started >= next_snapshot or step.snapshot_due:
                pages = self.feed.snapshot_pages(now, utc_now())
                next_snapshot = started + self._snapshot_period_s
            for update in step.updates:
                self.client.publish(topics.track(update.track.track_id), update, retain=True)
            for track_id in step.dropped:
                self.client.clear_retained(topics.track(track_id))
            if pages:
                self._publish_snapshot(pages)
            if started >= next_rate_sample:
                self._rate_window.append((started, self._received))
                next_rate_sample = started + 1.0
            self._await_arrivals(started)

    def _await_arrivals(self, step_started: float) -> None:
        """Until the next step: an arrival (a stream is taken a few at a time, `STEP_GAP_S`), else
        the next tick, which ages the picture while the bus is silent."""
        rest = self._tick_s - (time.monotonic() - step_started)
        with self._handover:
            self._handover.wait_for(lambda: self._arrivals or self._stopping.is_set(), max(0.0, rest))
        self._stopping.wait(max(0.0, STEP_GAP_S - (time.monotonic() - step_started)))

    def _publish_snapshot(self, pages: list[PictureSnapshot]) -> None:
        """Every page retained; pages a larger picture needed before are cleared, so a late joiner
        never assembles a stale page."""
        for page in pages:
            self.client.publish(topics.snapshot(page.page), page, retain=True)
        for extra in range(len(pages), self._snapshot_pages):
            self.client.clear_retained(topics.snapshot(extra))
        self._snapshot_pages = len(pages)

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
            "rewinds": core["rewinds"],
            "reprocessed": core["reprocessed"],
            "tracks_live": core["tracks_live"],
            "tracks_confirmed": core["tracks_confirmed"],
            "picture_seq": self.feed.picture_seq,
            "snapshot_pages": self._snapshot_pages,
            "handover_observations": len(self._arrivals),
            "handover_detections": self._arrival_detections,
            "processing_latency_p50_ms": float(np.percentile(latencies, 50)),
            "processing_latency_p99_ms": float(np.percentile(latencies, 99)),
            **self._admission_figures(),
        }

    def _admission_figures(self) -> dict[str, float]:
        """Observations refused over budget, in all and for the sources that lost most."""
        if self.admission is None:
            return {}
        with self._admission_lock:
            by_source = self.admission.dropped_by_source(ADMISSION_FIGURES)
            total = self.admission.dropped
        return {"over_budget": total, **{f"over_budget.{sid}"[:64]: n for sid, n in by_source.items()}}


def read_retained_picture(broker: BrokerConfig, node_id: str, timeout_s: float = RESUME_TIMEOUT_S) -> RetainedPicture:
    """Every retained message under `rampart/v1/picture/`, read by a short-lived client of the
    fusion's own identity before the fusion connects.

    Mosquitto sends the retained messages right after the SUBACK, before anything published later:
    so an empty retained message on a probe topic (a snapshot page no picture has; replicas ignore
    it), published once the subscription is granted, comes back after the last of them."""
    retained = RetainedPicture()
    probe = topics.snapshot(2**31 - 1)
    done = threading.Event()

    def on_message(message: Envelope, delivery: Delivery) -> None:
        if not delivery.retained:
            return
        if isinstance(message, TrackUpdate):
            retained.tracks[delivery.topic] = message
        elif isinstance(message, PictureSnapshot):
            retained.pages[delivery.topic] = message

    def on_cleared(topic: str) -> None:
        if topic == probe:
            done.set()

    reader = BusClient(node_id, SourceKind.FUSION, broker, role="fusion", announce=False)
    with reader:
        reader.subscribe(topics.PICTURE, on_message, on_cleared=on_cleared)
        reader.clear_retained(probe)
        if not done.wait(timeout_s):
            log.warning("the retained picture did not end within %g s: resuming from what arrived", timeout_s)
    return retained
