"""The fusion service through a real broker: observation-to-vehicle latency, and detections/s on `stress`.

Every run starts its own Mosquitto (LocalMosquitto with the repository's mosquitto.conf, unless
--broker; every client also takes RAMPART_CA_FILE and RAMPART_IDENTITY_DIR from the environment, as
bench/tls_cost.py sets them for its TLS runs) and its own fusion service as a subprocess
(`python -m nodes.cli fusion`), so the fusion competes for the cores as it does in deployment;
publishers are separate processes too. The bench process holds the vehicle node (a PictureReplica)
and reads the fusion's own figures from its retained NodeState (the final one, published when it is
stopped with SIGINT).

1. latency: P adapter processes (an `adapters.base.Adapter` subclass, a blue-force gateway) publish
   PositionReports at QoS 1 for K platforms each, paced to a total of --rate observations/s for
   --duration s. `translate` stamps each report with the wall clock just before it is published and
   records (platform, time). The vehicle records (track, `track.updated`, wall clock) for every update
   it applies. An observation's latency is the arrival at the vehicle of the first update of its
   platform's track with `updated` >= the observation's time (an observation superseded by a newer
   one within the same fusion step is delivered by that newer update). Run once per --admission value.
2. throughput: the `stress` scenario (its first --stress-seconds) generated once with
   `scenario_messages`, re-timed to start a few seconds from now, msgpack-encoded, then published
   by --publishers processes (sources dealt out by bytes) with BusClient.publish_raw at QoS 1, paced
   at S x real time for each of --speeds. The messages keep the scenario's spacing, so the fusion's
   picture clock follows them at S x. A sentinel report after the last observation marks the end:
   its track update reaches the bench once the fusion has applied everything before it.

Usage: python bench/fusion_broker.py [--only latency|throughput] [--rate 2000] [--duration 20]
       [--admission off fair] [--tick S] [--repeat 2] [--stress-seconds 120] [--speeds 4 8 12 16]
       [--publishers 2] [--broker URL]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import multiprocessing as mp
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from _proc import cpu_seconds
from _report import spread

from adapters.base import Adapter
from bus import codec, topics
from bus.client import BrokerConfig, BusClient, Delivery
from bus.replica import PictureReplica
from bus.schema import (
    Envelope,
    Environment,
    GeoPoint,
    NodeState,
    PositionReport,
    Source,
    SourceKind,
    TrackUpdate,
)
from fusion import FusionConfig
from nodes.broker import broker_url
from nodes.cli import tune_gc, tune_threads

REPO = Path(__file__).resolve().parents[1]
MP = mp.get_context("spawn")
LAT0, LON0 = 57.0, 18.3
SPEED_MPS = 5.0
M_PER_DEG_LAT = 111_320.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PAHO_CEILING_MSG_S = 19_000
"""Raw paho QoS 1 messages/s on this machine (bench/bus_throughput.py), for the one-detection-per-message contrast."""


# --- infrastructure ------------------------------------------------------------------------------------


BACKLOG_GAUGES = ("bus_inbox_depth", "bus_unacknowledged")
"""The fusion's own backlog: received and not handled, published and not acknowledged by the broker."""


class FusionProcess:
    """`rampart fusion` as a child process, its NodeState figures watched from the bench."""

    def __init__(self, url: str, node_id: str, tick_s: float | None, log_dir: Path, admission: str) -> None:
        self.node_id = node_id
        self.log_path = log_dir / f"{node_id}.log"
        self.figures: dict[str, float] = {}
        self.backlog: dict[str, float] = dict.fromkeys(BACKLOG_GAUGES, 0.0)
        """The largest value of each backlog gauge in the fusion's periodic states."""
        self.online = threading.Event()
        self.offline = threading.Event()
        self.monitor = BusClient(f"{node_id}-monitor", SourceKind.TOOL, BrokerConfig.from_env(url))
        self.monitor.subscribe(topics.node_state(node_id), self._on_state)
        self.monitor.start()
        command = [
            sys.executable, "-m", "nodes.cli", "fusion", "--broker", url, "--id", node_id, "--admission", admission,
        ]  # fmt: skip
        if tick_s is not None:
            config = log_dir / f"{node_id}.toml"  # the settings file `rampart fusion --config` reads
            config.write_text(f"[fusion]\ntick_s = {tick_s!r}\n")
            command += ["--config", str(config)]
        with self.log_path.open("w") as log_file:
            self.process = subprocess.Popen(command, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT)
        if not self.online.wait(20):
            self.process.kill()
            raise RuntimeError(f"fusion did not come online; see {self.log_path}")

    def _on_state(self, message: Envelope, delivery: Delivery) -> None:
        if not isinstance(message, NodeState) or message.seq == 0:
            return  # seq 0: the last will, holding the figures of the connect it was set at, not the run's
        self.figures = dict(message.figures)
        for gauge in BACKLOG_GAUGES:
            self.backlog[gauge] = max(self.backlog[gauge], self.figures.get(gauge, 0.0))
        (self.online if message.online else self.offline).set()

    def cpu_s(self) -> float:
        """User + system CPU seconds the fusion process has used so far (nan once it is gone)."""
        try:
            return cpu_seconds(self.process.pid)
        except OSError:
            return math.nan

    def stop(self) -> dict[str, float]:
        """SIGINT (the service publishes its final figures as it goes offline); return those figures."""
        self.cpu_at_stop = self.cpu_s()
        self.offline.clear()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if not self.offline.wait(3):
            print(f"  warning: no final NodeState from {self.node_id}; figures are the last periodic ones")
        self.monitor.stop()
        return self.figures


def tick_s(args: argparse.Namespace) -> float:
    """The fusion's tick: --tick, else FusionConfig's default."""
    return float(args.tick) if args.tick is not None else FusionConfig().tick_s


def wall_us() -> int:
    return time.time_ns() // 1000


def _sleep_until_wall(t: float) -> None:
    while (delay := t - time.time()) > 0:
        time.sleep(min(delay, 0.05) if delay > 0.002 else 0)


def percentiles(values: np.ndarray) -> dict[str, float]:
    if values.size == 0:
        return dict.fromkeys(("p50", "p95", "p99", "max", "mean"), math.nan)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {
        "p50": float(p50),
        "p95": float(p95),
        "p99": float(p99),
        "max": float(values.max()),
        "mean": float(values.mean()),
    }


# --- 1. latency ----------------------------------------------------------------------------------------


class TimedReplica(PictureReplica):
    """A PictureReplica that also notes, for every live TrackUpdate, (track id, `track.updated` us,
    `sent_at` us, wall-clock arrival), before applying it as usual."""

    def __init__(self, client: BusClient) -> None:
        super().__init__(client)
        self.arrivals: list[tuple[str, int, int, float]] = []

    def _on_message(self, message: Envelope, delivery: Delivery) -> None:
        if isinstance(message, TrackUpdate) and not delivery.retained:
            received = time.time()
            track, sent_at = message.track, message.sent_at or message.time
            self.arrivals.append((track.track_id, _us(track.updated), _us(sent_at), received))
        super()._on_message(message, delivery)


def _us(t: datetime) -> int:
    return (t - EPOCH) // timedelta(microseconds=1)


class GatewayAdapter(Adapter[int]):
    """A blue-force gateway: one source reporting the positions of many platforms (native = platform index).

    The report is stamped with the wall clock in `translate`, which the base calls just before
    publishing, so the measured latency starts at the adapter's publish."""

    kind = "position"
    integration = "bench-gateway"

    def __init__(self, source_id: str, broker: BrokerConfig, platforms: list[str], start_wall: float) -> None:
        super().__init__(source_id, broker, queue_size=1_000_000)
        self.platforms = platforms
        self.start_wall = start_wall
        self.sent: list[tuple[int, int]] = []

    def translate(self, native: int) -> PositionReport:
        now_us = wall_us()
        moved_m = SPEED_MPS * (now_us / 1e6 - self.start_wall)
        lat = LAT0 + 0.001 * (native % 100) + 0.01 * (native // 100)
        lon = LON0 + moved_m / (M_PER_DEG_LAT * math.cos(math.radians(lat)))
        self.sent.append((native, now_us))
        return PositionReport(
            source=self.source,
            time=datetime.fromtimestamp(now_us // 1_000_000, UTC) + timedelta(microseconds=now_us % 1_000_000),
            platform_id=self.platforms[native],
            position=GeoPoint(lat=lat, lon=lon, hae_m=20.0),
            velocity_enu_mps=(SPEED_MPS, 0.0, 0.0),
            heading_deg=90.0,
            ce_m=3.0,
            environment=Environment.LAND,
        )


def latency_publisher(
    index: int, url: str, platforms: list[str], rate: float, duration_s: float, start_wall: float, out: Any
) -> None:
    """One adapter process: `rate` reports/s, cycling through its platforms, from `start_wall` on."""
    tune_runtime()
    adapter = GatewayAdapter(f"bench-gw-{index}", BrokerConfig.from_env(url), platforms, start_wall)
    adapter.start()
    total = int(rate * duration_s)
    late_submits = 0
    _sleep_until_wall(start_wall)
    began = time.monotonic()
    for k in range(total):
        due = began + k / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        elif delay < -0.01:
            late_submits += 1
        adapter.submit(k % len(platforms))
    adapter.flush(60)
    result = {
        "index": index,
        "sent": adapter.sent,
        "published": adapter.figures.published,
        "dropped": adapter.figures.dropped,
        "late_submits": late_submits,
        "unacked": adapter.client.unacknowledged,
        "backpressure_waits": adapter.client.figures.backpressure_waits,
    }
    adapter.stop()
    out.put(result)


@dataclass
class LatencyRun:
    admission: str
    published: int
    received: float
    accepted: float
    matched: int
    latencies_ms: np.ndarray
    inbound_ms: np.ndarray
    """adapter publish -> the fusion stamps the update (`sent_at`): transport in, waiting for a step, fusing"""
    outbound_ms: np.ndarray
    """update stamped -> decoded at the vehicle: publish, broker, transport out, decode"""
    newer_ms: np.ndarray
    """observations without an update of their own (superseded within a step, or rejected as late): latency
    to the first newer update of their platform"""
    unmatched: int
    late: float
    updates: int
    fusion_p50_ms: float
    fusion_p99_ms: float
    fusion_cpu: float
    """fusion process CPU seconds per second of load"""
    bench_cpu: float
    """the bench process (vehicle node) CPU seconds per second of load"""
    load: float
    notes: list[str] = field(default_factory=list)

    @property
    def stats(self) -> dict[str, float]:
        return percentiles(self.latencies_ms)


def run_latency(args: argparse.Namespace, run_no: int, log_dir: Path, admission: str) -> LatencyRun:
    tag = f"{os.getpid()}r{run_no}"
    per_process = args.platforms // args.publishers
    with broker_url(args.broker) as url:
        fusion = FusionProcess(url, f"bench-fusion-{tag}", args.tick, log_dir, admission)
        vehicle = BusClient(f"bench-vehicle-{tag}", SourceKind.VEHICLE, BrokerConfig.from_env(url))
        replica = TimedReplica(vehicle)
        vehicle.start()
        cpu0, bench0 = fusion.cpu_s(), time.process_time()
        names = [[f"gw{tag}-{p}-{i}" for i in range(per_process)] for p in range(args.publishers)]
        results = MP.Queue()
        start_wall = time.time() + 3.0  # the spawned processes import and connect first
        workers = [
            MP.Process(
                target=latency_publisher,
                args=(p, url, names[p], args.rate / args.publishers, args.duration, start_wall, results),
            )
            for p in range(args.publishers)
        ]
        for worker in workers:
            worker.start()
        outputs = sorted((results.get(timeout=args.duration + 120) for _ in workers), key=lambda o: int(o["index"]))
        for worker in workers:
            worker.join(10)
        time.sleep(1.0 + tick_s(args))  # the last observations through the fusion and onto the bus
        bench_cpu = time.process_time() - bench0
        load = os.getloadavg()[0]
        figures = fusion.stop()
        vehicle.stop()
        fusion_cpu = fusion.cpu_at_stop - cpu0

    # Match each observation to its own update (`updated` == its time), else to the first newer one.
    own: dict[tuple[str, int], tuple[float, float]] = {}
    by_track: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for track_id, updated_us, sent_us, received in replica.arrivals:
        own.setdefault((track_id, updated_us), (sent_us / 1e6, received))
        by_track[track_id].append((updated_us, received))
    suffix: dict[str, tuple[list[int], list[float]]] = {}
    for track_id, seen in by_track.items():
        seen.sort()
        first_rx = list(itertools.accumulate(reversed([rx for _, rx in seen]), min))[::-1]
        suffix[track_id] = ([u for u, _ in seen], first_rx)
    warmup_us = (start_wall + args.warmup) * 1e6
    exact: list[tuple[float, float, float]] = []
    newer: list[float] = []
    unmatched = sent_total = 0
    for p, output in enumerate(outputs):
        sent_total += len(output["sent"])
        for i, t_us in output["sent"]:
            if t_us < warmup_us:
                continue
            track_id = f"P-{names[p][i]}"
            hit = own.get((track_id, t_us))
            if hit is not None:
                exact.append((t_us / 1e6, hit[0], hit[1]))
                continue
            updated, first_rx = suffix.get(track_id, ([], []))
            k = bisect.bisect_left(updated, t_us)
            if k < len(updated):
                newer.append((first_rx[k] - t_us / 1e6) * 1000.0)
            else:
                unmatched += 1
    times = np.asarray(exact, dtype=np.float64).reshape(-1, 3)
    published = sum(int(o["published"]) for o in outputs)
    notes = []
    dropped = sum(int(o["dropped"]) for o in outputs)
    if dropped:
        notes.append(f"adapter queue dropped {dropped}")
    late = sum(int(o["late_submits"]) for o in outputs)
    if late:
        notes.append(f"{late} submits >10 ms behind schedule")
    unacked = sum(int(o["unacked"]) for o in outputs)
    if unacked:
        notes.append(f"{unacked} never acknowledged")
    rejected = {k: v for k, v in figures.items() if k.startswith("verdict_") and k != "verdict_accepted" and v}
    if rejected:
        notes.append(f"fusion rejected {rejected}")
    notes.append(f"rewinds {figures.get('rewinds', 0):.0f} ({figures.get('reprocessed', 0):.0f} reprocessed)")
    notes.append("fusion backlog peaks: " + ", ".join(f"{k[4:]} {v:.0f}" for k, v in fusion.backlog.items()))
    if sent_total != published:
        notes.append(f"translated {sent_total} != published {published}")
    return LatencyRun(
        admission=admission,
        published=published,
        received=figures.get("received", math.nan),
        accepted=figures.get("verdict_accepted", math.nan),
        matched=len(times),
        latencies_ms=(times[:, 2] - times[:, 0]) * 1000.0,
        inbound_ms=(times[:, 1] - times[:, 0]) * 1000.0,
        outbound_ms=(times[:, 2] - times[:, 1]) * 1000.0,
        newer_ms=np.asarray(newer),
        unmatched=unmatched,
        late=figures.get("verdict_late", 0.0),
        updates=len(replica.arrivals),
        fusion_p50_ms=figures.get("processing_latency_p50_ms", math.nan),
        fusion_p99_ms=figures.get("processing_latency_p99_ms", math.nan),
        fusion_cpu=fusion_cpu / (args.duration + 3.0),
        bench_cpu=bench_cpu / (args.duration + 3.0),
        load=load,
        notes=notes,
    )


def print_latency(runs: list[LatencyRun], args: argparse.Namespace) -> None:
    print()
    print(
        f"latency: {args.rate:g} obs/s for {args.duration:g} s, {args.publishers} adapter processes x "
        f"{args.platforms // args.publishers} platforms at {args.rate / args.platforms:g} Hz each, QoS 1; "
        f"fusion tick_s {tick_s(args):g}; first {args.warmup:g} s left out of the latencies (not of the counts)"
    )
    print(
        "own = observations whose own TrackUpdate reached the vehicle (latency = publish -> decoded at the vehicle, "
        "in = publish -> fusion stamps the update, out = the rest); newer = no update of their own (rejected as "
        "late, or superseded within a step): time to their platform's next update"
    )
    print(
        f"{'admit':>5} {'published':>9} {'fus recv':>8} {'accepted':>8} {'lost':>4} {'late':>5} "
        f"{'own':>6} "
        f"{'p50':>6} {'p95':>6} {'p99':>6} {'max':>6} | {'in p50':>6} {'in p99':>6} {'out p50':>7} {'out p99':>7} | "
        f"{'newer':>5} {'p99':>6} | {'fus cpu':>7} {'veh cpu':>7} {'load1':>5}  notes"
    )
    for run in runs:
        s = run.stats
        lost = run.published - run.received if math.isfinite(run.received) else math.nan
        inbound, outbound, newer = (percentiles(v) for v in (run.inbound_ms, run.outbound_ms, run.newer_ms))
        print(
            f"{run.admission:>5} {run.published:>9} {run.received:>8.0f} {run.accepted:>8.0f} "
            f"{lost:>4.0f} "
            f"{run.late:>5.0f} {run.matched:>6} {s['p50']:>6.1f} {s['p95']:>6.1f} {s['p99']:>6.1f} {s['max']:>6.0f} | "
            f"{inbound['p50']:>6.1f} {inbound['p99']:>6.1f} {outbound['p50']:>7.1f} {outbound['p99']:>7.1f} | "
            f"{run.newer_ms.size:>5} {newer['p99']:>6.0f} | {run.fusion_cpu:>7.2f} {run.bench_cpu:>7.2f} "
            f"{run.load:>5.2f}  {'; '.join(run.notes)}"
        )
    print("(ms; fus cpu / veh cpu = CPU seconds per second of the fusion process / the bench process with the vehicle)")
    print()
    for admission in args.admission:
        mine = [r for r in runs if r.admission == admission]
        p99s = [r.stats["p99"] for r in mine]
        verdict = "meets" if p99s and max(p99s) < 50.0 else "MISSES"
        late = ", ".join(f"{100.0 * r.late / r.published:.1f}%" for r in mine)
        losses = ", ".join(f"{r.published - r.received:.0f}" for r in mine)
        print(
            f"admission {admission}: p99 {spread(p99s)} ms -> {verdict} p99 < 50 ms; "
            f"p50 {spread([r.stats['p50'] for r in mine])} ms; lost at QoS 1: {losses}; rejected as late: {late}"
        )


# --- 2. throughput -------------------------------------------------------------------------------------


@dataclass
class StressData:
    payloads: list[tuple[int, str, bytes, int]]
    """(emit time us since the first emission, topic, msgpack bytes, detections)"""
    span_s: float
    first_obs_wall: float
    last_obs_us: int


def _detections(message: Envelope) -> int:
    return len(getattr(message, "detections", None) or ())


Generated = list[tuple[int, str, Envelope]]


def generate_stress(seconds: float) -> Generated:
    """The scenario's observations (no truth), generated once: (emit time us, topic, message)."""
    from nodes.sim import scenario_for, scenario_messages

    scenario = scenario_for("stress", seconds)
    return [
        (emit_us, topic, message)
        for emit_us, topic, message in scenario_messages(scenario, scenario.seed)
        if topics.parse(topic).kind is topics.Kind.OBSERVATION
    ]


def prepare_stress(generated: Generated, lead_s: float) -> StressData:
    """The observations re-timed so the first is stamped `lead_s` after encoding ends, and encoded.
    The scenario's own spacing is kept: paced at speed S, the picture clock follows at S x real time."""
    # Estimate the encoding time from a sample, so the times can be fixed before encoding.
    sample = generated[: min(len(generated), 200)]
    t = time.perf_counter()
    for _, _, message in sample:
        codec.encode(message)
    estimate_s = (time.perf_counter() - t) / max(len(sample), 1) * len(generated) * 1.3 + 0.5
    first_emit = generated[0][0]
    first_time = min(message.time for _, _, message in generated[:50])
    anchor = datetime.now(UTC) + timedelta(seconds=estimate_s + lead_s)
    shift = anchor - first_time
    payloads = []
    last_obs = first_time
    for emit_us, topic, message in generated:
        moved = message.time + shift
        last_obs = max(last_obs, moved)
        payload = codec.encode(message, update={"time": moved, "sent_at": moved})
        payloads.append((emit_us - first_emit, topic, payload, _detections(message)))
    return StressData(payloads, (generated[-1][0] - first_emit) / 1e6, anchor.timestamp(), _us(last_obs))


def stress_publisher(index: int, url: str, path: str, start: float, pace_s: float, out: Any) -> None:
    """Publish this process's share chunk k at wall time `start + k * pace_s`."""
    tune_runtime()
    with open(path, "rb") as f:
        share: list[list[tuple[str, bytes]]] = pickle.load(f)
    client = BusClient(f"bench-stress-pub-{index}-{os.getpid()}", SourceKind.TOOL, BrokerConfig.from_env(url))
    client.start()
    publish = client.publish_raw
    behind = 0.0
    for chunk, messages in enumerate(share):
        due = start + chunk * pace_s
        _sleep_until_wall(due)
        behind = max(behind, time.time() - due)
        for topic, payload in messages:
            publish(topic, payload, 1, False, codec.MSGPACK)
    finished = time.time()
    acked = client.wait_acknowledged(60)
    out.put({"index": index, "finished": finished, "behind": behind, "acked": acked,
             "waits": client.figures.backpressure_waits})  # fmt: skip
    client.stop()


@dataclass
class ThroughputRun:
    admission: str
    speed: float
    messages: int
    detections: int
    span_s: float
    """scenario seconds published"""
    accepted: float
    rejected: dict[str, float]
    seconds: float
    """first publish -> the sentinel's update at the bench"""
    lag_s: float
    """last publish -> the sentinel's update at the bench: how far the fusion ended behind its input"""
    fusion_cpu: float
    """fusion process CPU seconds per second, from the first publish to the sentinel's update"""
    notes: list[str]

    @property
    def offered(self) -> float:
        return self.detections / (self.span_s / self.speed)

    @property
    def det_rate(self) -> float:
        return self.detections * (self.accepted / self.messages) / self.seconds

    @property
    def kept_up(self) -> bool:
        """Everything accepted, and the fusion done within a second of the last publish."""
        return self.accepted == self.messages and self.lag_s < 1.0


def run_throughput(
    args: argparse.Namespace, generated: Generated, speed: float, run_no: int, log_dir: Path, admission: str
) -> ThroughputRun:
    tag = f"{os.getpid()}t{run_no}"
    with broker_url(args.broker) as url:
        fusion = FusionProcess(url, f"bench-fusion-{tag}", args.tick, log_dir, admission)
        # The first observation is stamped for ~3 s from now, once the publishers (spawned below) are
        # connected; the fusion's clock then follows the data at `speed` x real time.
        data = prepare_stress(generated, lead_s=3.0)
        chunk_us = round(args.chunk_s * 1e6)
        chunks = int(data.payloads[-1][0] // chunk_us) + 1
        # Deal sources out to publishers, heaviest first, to balance bytes.
        weight: dict[str, int] = defaultdict(int)
        for _, topic, payload, _ in data.payloads:
            weight[topic] += len(payload)
        owner: dict[str, int] = {}
        load = [0] * args.publishers
        for topic in sorted(weight, key=weight.__getitem__, reverse=True):
            owner[topic] = load.index(min(load))
            load[owner[topic]] += weight[topic]
        shares: list[list[list[tuple[str, bytes]]]] = [[[] for _ in range(chunks)] for _ in range(args.publishers)]
        for emit_us, topic, payload, _ in data.payloads:
            shares[owner[topic]][int(emit_us // chunk_us)].append((topic, payload))
        paths = []
        for p, share in enumerate(shares):
            path = log_dir / f"stress-share-{tag}-{p}.pickle"
            with path.open("wb") as f:
                pickle.dump(share, f, protocol=pickle.HIGHEST_PROTOCOL)
            paths.append(str(path))
        messages = len(data.payloads)
        detections = sum(d for *_, d in data.payloads)
        notes: list[str] = []
        end_track = f"P-end{tag}"
        done = threading.Event()
        done_at = [math.nan]

        def on_end(message: Envelope, delivery: Delivery) -> None:
            if not done.is_set():
                done_at[0] = time.time()
                done.set()

        watcher = BusClient(f"bench-watch-{tag}", SourceKind.TOOL, BrokerConfig.from_env(url))
        watcher.subscribe(topics.track(end_track), on_end)
        watcher.start()
        cpu0 = fusion.cpu_s()
        started = data.first_obs_wall
        results = MP.Queue()
        workers = [
            MP.Process(target=stress_publisher, args=(p, url, paths[p], started, args.chunk_s / speed, results))
            for p in range(args.publishers)
        ]
        for worker in workers:
            worker.start()
        outputs = [results.get(timeout=600) for _ in workers]
        for worker in workers:
            worker.join(10)
        finished = max(o["finished"] for o in outputs)
        # Sentinel: a report stamped after every observation; its update leaves once everything before it is applied.
        end_source = "bench-end"
        with BusClient(f"{end_source}-{tag}", SourceKind.POSITION, BrokerConfig.from_env(url)) as sentinel:
            t_us = data.last_obs_us + 1000
            report = PositionReport(
                source=Source(id=end_source, kind=SourceKind.POSITION),
                seq=1,
                time=datetime.fromtimestamp(t_us // 1_000_000, UTC) + timedelta(microseconds=t_us % 1_000_000),
                platform_id=f"end{tag}",
                position=GeoPoint(lat=LAT0, lon=LON0, hae_m=0.0),
                ce_m=3.0,
            )
            sentinel.publish_raw(topics.observation("position", end_source), codec.encode(report))  # as stamped
            sentinel.wait_acknowledged(10)
        if not done.wait(args.stress_timeout):
            notes.append(f"the sentinel's update never arrived within {args.stress_timeout:g} s")
        figures = fusion.stop()
        watcher.stop()
    fusion_cpu = (fusion.cpu_at_stop - cpu0) / (done_at[0] - started)
    for name in paths:
        Path(name).unlink(missing_ok=True)
    received = figures.get("received", math.nan) - 1  # less the sentinel report
    if received != messages:
        notes.append(f"the fusion received {received:.0f} of {messages}")
    if not all(o["acked"] for o in outputs):
        notes.append("some publishes never acknowledged")
    if (behind := max(o["behind"] for o in outputs)) > 0.1:
        notes.append(f"a publisher fell {behind:.1f} s behind its schedule")
    waits = sum(o["waits"] for o in outputs)
    if waits:
        notes.append(f"publisher window waits {waits}")
    rejected = {
        k.removeprefix("verdict_"): v
        for k, v in figures.items()
        if k.startswith("verdict_") and k != "verdict_accepted" and v
    }
    return ThroughputRun(
        admission=admission,
        speed=speed,
        messages=messages,
        detections=detections,
        span_s=data.span_s,
        accepted=figures.get("verdict_accepted", math.nan) - 1,
        rejected=rejected,
        seconds=done_at[0] - started,
        lag_s=done_at[0] - finished,
        fusion_cpu=fusion_cpu,
        notes=notes,
    )


def print_throughput(runs: list[ThroughputRun], args: argparse.Namespace) -> None:
    first = runs[0]
    print()
    print(
        f"throughput: stress, first {args.stress_seconds:g} s: {first.messages} observation messages, "
        f"{first.detections} detections ({first.detections / first.messages:.0f} per message), pre-encoded; "
        f"{args.publishers} publisher processes paced at S x real time, QoS 1; fusion tick_s {tick_s(args):g}"
    )
    print(
        f"{'admit':>5} {'S':>4} {'offered det/s':>13} {'accepted':>8} {'e2e s':>6} {'det/s':>7} {'lag s':>6} "
        f"{'fus cpu':>7}  rejected; notes"
    )
    for run in runs:
        print(
            f"{run.admission:>5} {run.speed:>4g} {run.offered:>13,.0f} {run.accepted:>8.0f} {run.seconds:>6.2f} "
            f"{run.det_rate:>7,.0f} {run.lag_s:>6.2f} {run.fusion_cpu:>7.2f}  "
            f"{run.rejected or 'none'}{'; ' if run.notes else ''}{'; '.join(run.notes)}"
        )
    print()
    best: dict[str, float] = {}
    for admission in args.admission:
        kept = [r.offered for r in runs if r.admission == admission and r.kept_up]
        best[admission] = max(kept, default=0.0)
        print(
            f"admission {admission}: kept up (all accepted, done within 1 s of the last publish) with up to "
            + (f"{best[admission]:,.0f} det/s offered" if kept else "none of the speeds tried")
        )
    if len(best) == 2 and best["off"]:
        print(f"fair / off: {best['fair'] / best['off']:.2f}")
    verdict = "meets" if max(best.values()) >= 50_000 else "MISSES"
    print(f"{verdict} the goal of >= 50,000 detections/s into the fusion")
    per_message = first.detections / first.messages
    print(
        f"one detection per message instead: 50,000 det/s would need 50,000 msg/s, "
        f"{50_000 / PAHO_CEILING_MSG_S:.1f}x the raw paho ceiling of ~{PAHO_CEILING_MSG_S:,} msg/s (QoS 1, "
        f"bench/bus_throughput.py), while {per_message:.0f} det/msg needs only {50_000 / per_message:.0f} msg/s"
    )


# --- main ----------------------------------------------------------------------------------------------


def tune_runtime() -> None:
    """The collector and thread switching as the `rampart` command sets them for every node
    (`nodes.cli.main`): the bench's publishers and its vehicle stand in for nodes, and at Python's
    defaults their full collections (28-98 ms in two probed runs, over the records the bench keeps)
    showed in the tail."""
    tune_gc()
    tune_threads()


def main() -> None:
    tune_runtime()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", help="mqtt://host:port of a running broker (default: a LocalMosquitto per run)")
    parser.add_argument("--only", choices=["latency", "throughput"])
    parser.add_argument(
        "--admission",
        choices=["off", "fair"],
        nargs="+",
        default=["off", "fair"],
        help="the fusion's admission, one run of each (default: off fair, today's against fair budgets)",
    )
    parser.add_argument("--repeat", type=int, default=2, help="runs of each configuration (default 2)")
    parser.add_argument("--tick", type=float, help="fusion tick_s in s (default: FusionConfig's)")
    parser.add_argument("--rate", type=float, default=2000.0, help="latency: observations/s in total (default 2000)")
    parser.add_argument("--duration", type=float, default=20.0, help="latency: seconds of load (default 20)")
    parser.add_argument(
        "--warmup", type=float, default=1.0, help="latency: seconds left out of percentiles (default 1)"
    )
    parser.add_argument("--platforms", type=int, default=200, help="latency: platforms in total (default 200)")
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (default 2)")
    parser.add_argument("--stress-seconds", type=float, default=120.0, help="throughput: stress prefix (default 120)")
    parser.add_argument(
        "--speeds",
        type=float,
        nargs="+",
        default=[4.0, 8.0, 12.0, 16.0],
        help="throughput: scenario seconds published per second, one run each (default 4 8 12 16)",
    )
    parser.add_argument("--chunk-s", type=float, default=0.1, help="throughput: publishing step in scenario s")
    parser.add_argument("--stress-timeout", type=float, default=300.0, help="throughput: give up after (s)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="rampart-bench-") as tmp:
        log_dir = Path(tmp)
        if args.only != "throughput":
            runs: list[LatencyRun] = []
            for r, admission in itertools.product(range(args.repeat), args.admission):
                run = run_latency(args, len(runs), log_dir, admission)
                runs.append(run)
                s = run.stats
                print(
                    f"  done: latency admission {admission} run {r + 1}: "
                    f"p50 {s['p50']:.1f} p99 {s['p99']:.1f} ms, "
                    f"load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            print_latency(runs, args)
        if args.only != "latency":
            truns: list[ThroughputRun] = []
            generated = generate_stress(args.stress_seconds)
            for r, speed, admission in itertools.product(range(args.repeat), args.speeds, args.admission):
                truns.append(run_throughput(args, generated, speed, len(truns), log_dir, admission))
                print(
                    f"  done: throughput admission {admission} speed {speed:g} run {r + 1}: "
                    f"{truns[-1].det_rate:,.0f} det/s, lag {truns[-1].lag_s:.2f} s, "
                    f"load average {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
            print_throughput(truns, args)


if __name__ == "__main__":
    main()
