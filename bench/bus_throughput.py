"""Bus throughput: raw paho-mqtt against Rampart's typed path, plus encode/decode cost per message kind.

1. raw: one paho publisher and one paho subscriber (MQTT 5, each with its own loop_start thread) send
   the same msgpack bytes (one PositionReport, encoded once) N times. QoS 1 respects paho's limits:
   every return code is checked, at most 100 in flight (max_inflight_messages_set, as BusClient) and
   at most 10,000 unacknowledged (as BusClient's default window); the publisher waits when it is full.
2. typed: model -> codec.encode -> BusClient.publish -> broker -> BusClient.subscribe ->
   codec.decode_on_topic -> handler (on the client's dispatcher thread). The client stamps (seq,
   session, msg_id, sent_at: a new copy) and encodes the same PositionReport model for every message.
3. encode/decode microseconds for every message type in bus.schema.MESSAGE_TYPES, msgpack and JSON.

msg/s is end to end: from the first publish to the last receive. Both paths run in this one process
(publisher, subscriber and their network threads share the GIL); the broker is a LocalMosquitto with
the repository's mosquitto.conf unless --broker is given.

Usage: python bench/bus_throughput.py [--count N] [--qos 0 1] [--broker URL] [--only bus|codec]
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import subprocess
import sys
import threading
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version

import paho.mqtt.client as mqtt

from bus import codec, schema, topics
from bus.client import BrokerConfig, BusClient
from bus.envelope import Stamper
from bus.schema import (
    BoundingBox,
    Detection,
    Disposition,
    Environment,
    GeoMeasurement,
    GeoPoint,
    ObjectClass,
    PolarMeasurement,
    Source,
    SourceContribution,
    SourceKind,
    Track,
    TrackStatus,
    TruthObject,
    VideoDetection,
)

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)
PROBE = "probe"
"""A probe message (this platform id) proves the subscription is live before the clock starts; handlers skip it."""
RAW_INFLIGHT = 100
"""Same as BusClient: `max_inflight_messages_set(100)`."""
RAW_WINDOW = 10_000
"""Same as BusClient's default `max_unacked`; well under paho's 65,535 message ids."""
QUIET_S = 3.0
"""A run ends when every message arrived, or when nothing arrived for this long."""

_run_ids = iter(range(1_000_000))


# --- realistic instances -------------------------------------------------------------------------


def _cov(sx: float, sy: float, sz: float, rho: float = 0.2) -> tuple:
    cxy = rho * sx * sy
    return ((sx * sx, cxy, 0.0), (cxy, sy * sy, 0.0), (0.0, 0.0, sz * sz))


def _point(i: int, hae: float = 35.0) -> GeoPoint:
    return GeoPoint(lat=54.3213 + 0.0007 * i, lon=10.1342 - 0.0011 * i, hae_m=hae + 0.5 * i)


def position_report(source_id: str = "gps-ifv-21") -> schema.PositionReport:
    """A blue-force report as a GPS/INS adapter fills it in: position, velocity, heading, ce."""
    return schema.PositionReport(
        msg_id="7d0c1f5b2e9a4c6f8b3d1e0a5c7f9b2d",
        source=Source(id=source_id, kind=SourceKind.POSITION),
        seq=1,
        session=1764331200123,
        time=NOW,
        sent_at=NOW + timedelta(milliseconds=12),
        platform_id="ifv-21",
        position=GeoPoint(lat=54.321312, lon=10.134276, hae_m=38.4),
        velocity_enu_mps=(4.21, -7.93, 0.02),
        heading_deg=152.03,
        ce_m=2.5,
        environment=Environment.LAND,
    )


def _envelope(source_id: str, kind: SourceKind) -> dict:
    return {
        "msg_id": "3f2a9c1e5b7d4f60a8c2e4b6d8f01a3c",
        "source": Source(id=source_id, kind=kind),
        "seq": 4711,
        "session": 1764331200123,
        "time": NOW,
        "sent_at": NOW + timedelta(milliseconds=20),
    }


def sensor_reading(detections: int = 50) -> schema.SensorReading:
    """One radar scan with 50 polar detections, each with class probabilities and SNR."""
    return schema.SensorReading(
        **_envelope("radar-north", SourceKind.SENSOR),
        sensor_position=GeoPoint(lat=54.35, lon=10.1, hae_m=62.0),
        scan_id=918,
        detections=[
            Detection(
                polar=PolarMeasurement(
                    range_m=1500.0 + 97.3 * i,
                    bearing_deg=(7.3 * i) % 360.0,
                    elevation_deg=0.4 + 0.01 * i,
                    sigma_range_m=12.5,
                    sigma_bearing_deg=0.35,
                    sigma_elevation_deg=0.8,
                ),
                class_probabilities={ObjectClass.VEHICLE: 0.62, ObjectClass.PERSON: 0.08, ObjectClass.UAV: 0.1},
                snr_db=14.0 + 0.1 * i,
            )
            for i in range(detections)
        ],
    )


def video_metadata(detections: int = 5) -> schema.VideoMetadata:
    """One frame's MISB ST 0601 metadata with every field set and 5 geolocated detections."""
    return schema.VideoMetadata(
        **_envelope("uav-7-eo", SourceKind.VIDEO),
        stream_id="uav-7/eo/0",
        platform_id="uav-7",
        stream_url="rtsp://10.0.7.2:8554/eo0",
        platform_designation="MQ-1C",
        mission_id="op-kestrel-0412",
        platform_heading_deg=231.4,
        platform_pitch_deg=-2.1,
        platform_roll_deg=4.7,
        sensor_position=GeoPoint(lat=54.30, lon=10.05, hae_m=1850.0),
        sensor_hfov_deg=12.3,
        sensor_vfov_deg=6.9,
        sensor_relative_azimuth_deg=312.5,
        sensor_relative_elevation_deg=-38.2,
        sensor_relative_roll_deg=0.3,
        slant_range_m=2950.0,
        frame_center=GeoPoint(lat=54.3201, lon=10.0712, hae_m=31.0),
        footprint_corners=(_point(0, 30.0), _point(1, 30.0), _point(2, 30.0), _point(3, 30.0)),
        detections=[
            VideoDetection(
                box=BoundingBox(x_min=0.1 + 0.15 * i, y_min=0.2, x_max=0.18 + 0.15 * i, y_max=0.31),
                confidence=0.87,
                class_probabilities={ObjectClass.VEHICLE: 0.8, ObjectClass.PERSON: 0.1},
                disposition=Disposition.SUSPECT if i == 0 else None,
                geo=GeoMeasurement(position=_point(i, 31.0), covariance_enu_m2=_cov(15.0, 15.0, 5.0)),
            )
            for i in range(detections)
        ],
    )


def track(i: int = 0) -> Track:
    return Track(
        track_id=f"T{1000 + i}",
        status=TrackStatus.CONFIRMED,
        position=_point(i),
        velocity_enu_mps=(3.1 + 0.01 * i, -2.2, 0.0),
        position_cov_enu_m2=_cov(8.0, 9.0, 4.0),
        velocity_cov_enu_m2s2=_cov(1.2, 1.3, 0.5),
        disposition=Disposition.HOSTILE,
        environment=Environment.LAND,
        class_probabilities={ObjectClass.VEHICLE: 0.81, ObjectClass.PERSON: 0.05},
        classification=ObjectClass.VEHICLE,
        classification_confidence=0.81,
        cot_type="a-h-G-E-V",
        sources=[
            SourceContribution(source_id="radar-north", kind=SourceKind.SENSOR, last_time=NOW),
            SourceContribution(source_id="uav-7-eo", kind=SourceKind.VIDEO, last_time=NOW),
        ],
        first_seen=NOW - timedelta(minutes=3),
        updated=NOW,
        stale_at=NOW + timedelta(seconds=30),
    )


def track_update() -> schema.TrackUpdate:
    return schema.TrackUpdate(**_envelope("fusion-1", SourceKind.FUSION), picture_seq=88_123, track=track())


def picture_snapshot(tracks: int = 100) -> schema.PictureSnapshot:
    return schema.PictureSnapshot(
        **_envelope("fusion-1", SourceKind.FUSION), picture_seq=88_123, tracks=[track(i) for i in range(tracks)]
    )


def node_state() -> schema.NodeState:
    figures = {f"figure_{name}": float(i * 1234.5) for i, name in enumerate("abcdefghijkl")}
    return schema.NodeState(
        **_envelope("fusion-1", SourceKind.FUSION), online=True, role="fusion", version="0.4.0", figures=figures
    )


def dead_letter() -> schema.DeadLetter:
    payload = codec.encode(position_report())
    import hashlib

    return schema.DeadLetter(
        **_envelope("fusion-1", SourceKind.FUSION),
        original_topic=topics.observation("position", "gps-ifv-21"),
        reason="position.lat: 91.0 is not in [-90, 90]",
        content_type=codec.MSGPACK,
        payload=payload,
        payload_size=len(payload),
        payload_sha256=hashlib.sha256(payload).hexdigest(),
    )


def ground_truth(objects: int = 100) -> schema.GroundTruth:
    return schema.GroundTruth(
        **_envelope("sim", SourceKind.SIMULATOR),
        scenario_id="stress",
        objects=[
            TruthObject(
                object_id=f"obj-{i}",
                position=_point(i),
                velocity_enu_mps=(3.0, -2.0, 0.0),
                object_class=ObjectClass.VEHICLE,
                disposition=Disposition.HOSTILE,
                environment=Environment.LAND,
            )
            for i in range(objects)
        ],
    )


SAMPLES: dict[type[schema.Envelope], tuple[str, Callable[[], schema.Envelope]]] = {
    schema.PositionReport: ("pos+vel+heading+ce", position_report),
    schema.SensorReading: ("50 polar detections", sensor_reading),
    schema.VideoMetadata: ("ST 0601 + 5 detections", video_metadata),
    schema.TrackUpdate: ("1 track, 2 sources", track_update),
    schema.PictureSnapshot: ("100 tracks", picture_snapshot),
    schema.NodeState: ("12 figures", node_state),
    schema.DeadLetter: ("PositionReport inside", dead_letter),
    schema.GroundTruth: ("100 objects", ground_truth),
}


# --- bus runs ----------------------------------------------------------------------------------------


@dataclass
class Run:
    path: str
    qos: int
    count: int
    received: int
    seconds: float
    publish_s: float
    note: str = ""

    @property
    def lost(self) -> int:
        return max(0, self.count - self.received)

    @property
    def rate(self) -> float:
        return self.received / self.seconds if self.seconds > 0 else 0.0


class Counter:
    """Counts arrivals on the network thread and remembers when the last one came."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.last = 0.0
        self.probe = threading.Event()
        self.done = threading.Event()

    def hit(self) -> None:
        self.count += 1
        self.last = time.perf_counter()
        if self.count >= self.expected:
            self.done.set()

    def wait(self) -> None:
        """Until every message arrived, or none did for QUIET_S."""
        seen, since = -1, time.monotonic()
        while not self.done.wait(0.1):
            if self.count != seen:
                seen, since = self.count, time.monotonic()
            elif time.monotonic() - since > QUIET_S:
                return


def wait_for_probe(counter: Counter, send_probe: Callable[[], object], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not counter.probe.is_set():
        if time.monotonic() > deadline:
            raise RuntimeError("the subscriber never received a probe: is the subscription live?")
        send_probe()
        counter.probe.wait(0.05)
    time.sleep(0.1)  # let any later probe in flight arrive before the clock starts


def _paho_client(config: BrokerConfig, client_id: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    if config.username:
        client.username_pw_set(config.username, config.password)
    if config.tls:
        client.tls_set(ca_certs=config.ca_file, certfile=config.cert_file, keyfile=config.key_file)
    return client


def _connect(client: mqtt.Client, config: BrokerConfig) -> None:
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    client.connect(config.host, config.port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        raise ConnectionError(f"raw paho client could not connect to {config.url}")


def run_raw(config: BrokerConfig, payload: bytes, probe: bytes, count: int, qos: int) -> Run:
    tag = f"{os.getpid()}-{next(_run_ids)}"
    topic = topics.observation("position", "gps-ifv-21")
    counter = Counter(count)

    def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        if msg.payload == probe:
            counter.probe.set()
            return
        counter.hit()

    sub = _paho_client(config, f"bench-raw-sub-{tag}")
    sub.on_message = on_message
    _connect(sub, config)
    sub.subscribe(topic, qos)

    pub = _paho_client(config, f"bench-raw-pub-{tag}")
    pub.max_inflight_messages_set(RAW_INFLIGHT)
    acked = 0
    if qos > 0:

        def on_publish(client: mqtt.Client, userdata: object, mid: int, rc: object, props: object) -> None:
            nonlocal acked
            acked += 1

        pub.on_publish = on_publish
    _connect(pub, config)
    wait_for_probe(counter, lambda: pub.publish(topic, probe, qos=1))
    acked = 0  # the probes were acknowledged during wait_for_probe's pause: count the run's only

    publish = pub.publish
    waits = 0
    started = time.perf_counter()
    if qos == 0:
        for _ in range(count):
            rc = publish(topic, payload, qos=0).rc
            if rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"raw publish refused: {mqtt.error_string(rc)}")
    else:
        for sent in range(count):
            while sent - acked >= RAW_WINDOW:
                waits += 1
                time.sleep(0.001)
            rc = publish(topic, payload, qos=qos).rc
            while rc == mqtt.MQTT_ERR_QUEUE_SIZE:  # paho's message ids are all taken: wait for acks
                waits += 1
                time.sleep(0.001)
                rc = publish(topic, payload, qos=qos).rc
            if rc != mqtt.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"raw publish refused: {mqtt.error_string(rc)}")
    publish_s = time.perf_counter() - started
    counter.wait()
    seconds = (counter.last or time.perf_counter()) - started
    if qos > 0:
        deadline = time.monotonic() + 10
        while acked < count and time.monotonic() < deadline:
            time.sleep(0.01)
    note = f"window waits {waits}" if qos > 0 else ""
    if qos > 0 and acked < count:
        note += f"; {count - acked} never acknowledged"
    pub.disconnect()
    sub.disconnect()
    pub.loop_stop()
    sub.loop_stop()
    return Run("raw paho", qos, count, counter.count, seconds, publish_s, note)


def run_typed(config: BrokerConfig, model: schema.PositionReport, count: int, qos: int, tag: str | None = None) -> Run:
    """The typed path; its clients are `bench-typed-pub-TAG` and `bench-typed-sub-TAG` (identities
    to provision for a broker with an ACL, see bench/tls_cost.py)."""
    tag = tag or f"{os.getpid()}-{next(_run_ids)}"
    source_id = f"bench-typed-pub-{tag}"  # the client stamps messages of its own source only
    model = model.model_copy(update={"source": Source(id=source_id, kind=SourceKind.POSITION)})
    topic = topics.observation("position", source_id)
    counter = Counter(count)

    def handler(message: schema.Envelope, delivery: object) -> None:
        if isinstance(message, schema.PositionReport) and message.platform_id == PROBE:
            counter.probe.set()
            return
        counter.hit()

    sub = BusClient(f"bench-typed-sub-{tag}", SourceKind.TOOL, config)
    sub.subscribe(topic, handler, qos=qos)  # before start: subscribed in on_connect
    pub = BusClient(source_id, SourceKind.POSITION, config)
    sub.start()
    pub.start()
    probe = model.model_copy(update={"platform_id": PROBE})
    wait_for_probe(counter, lambda: pub.publish(topic, probe, qos=1))
    pub.wait_acknowledged(5.0)

    publish = pub.publish
    started = time.perf_counter()
    for _ in range(count):
        publish(topic, model, qos)
    publish_s = time.perf_counter() - started
    counter.wait()
    seconds = (counter.last or time.perf_counter()) - started
    if qos > 0 and not pub.wait_acknowledged(10.0):
        print(f"  warning: {pub.unacknowledged} typed publishes never acknowledged", file=sys.stderr)
    notes = []
    if qos > 0:
        notes.append(f"window waits {pub.figures.backpressure_waits}")
    if sub.figures.rejected or sub.figures.handler_errors:
        notes.append(f"rejected {sum(sub.figures.rejected.values())}, handler errors {sub.figures.handler_errors}")
    pub.stop()
    sub.stop()
    return Run("typed", qos, count, counter.count, seconds, publish_s, "; ".join(notes))


def print_runs(runs: list[Run]) -> None:
    print()
    header = f"{'path':<14} {'QoS':>3} {'messages':>9} {'seconds':>8} {'msg/s':>8} {'lost':>6}"
    print(f"{header}  {'publish loop s':>14}  notes")
    for run in runs:
        print(
            f"{run.path:<14} {run.qos:>3} {run.count:>9} {run.seconds:>8.2f} {run.rate:>8.0f} {run.lost:>6}  "
            f"{run.publish_s:>14.2f}  {run.note}"
        )
    print()
    for qos in sorted({run.qos for run in runs}):
        raw = next((r for r in runs if r.qos == qos and r.path == "raw paho"), None)
        for typed in (r for r in runs if r.qos == qos and r.path.startswith("typed")):
            if raw is None or raw.rate == 0:
                continue
            ratio = typed.rate / raw.rate
            verdict = "meets" if ratio >= 0.85 else "MISSES"
            print(f"{typed.path}/raw at QoS {qos}: {ratio:.2f}  ({verdict} the goal of >= 0.85)")


# --- codec costs -------------------------------------------------------------------------------------


def per_call_us(func: Callable[[], object], budget_s: float = 0.08, repeat: int = 3) -> float:
    """Best of `repeat` timeit loops, each about `budget_s` long, in microseconds per call."""
    timer = timeit.Timer(func)
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= budget_s / 4:
            break
        number *= 4
    number = max(1, int(number * budget_s / elapsed))
    return min(timer.repeat(repeat, number)) / number * 1e6


def print_codec_costs() -> None:
    print()
    print("encode/decode per message (best of 3 timeit loops; decode = codec.decode with the content type given)")
    header = f"{'message':<16} {'instance':<24} {'msgpack B':>9} {'enc us':>8} {'dec us':>8}"
    header += f"   {'JSON B':>7} {'enc us':>8} {'dec us':>8}"
    print(header)
    for model, (what, build) in SAMPLES.items():
        message = build()
        row = [f"{model.NAME:<16} {what:<24}"]
        for content_type, width in ((codec.MSGPACK, 9), (codec.JSON, 7)):
            payload = codec.encode(message, content_type)
            assert codec.decode(payload, content_type) == message, f"{model.NAME} does not round-trip"
            encode_us = per_call_us(functools.partial(codec.encode, message, content_type))
            decode_us = per_call_us(functools.partial(codec.decode, payload, content_type))
            row.append(f"{len(payload):>{width}} {encode_us:>8.1f} {decode_us:>8.1f}")
        print("   ".join(row))
    report = position_report()
    payload = codec.encode(report)
    topic = topics.observation("position", report.source.id)
    stamper = Stamper(report.source.id)
    on_topic_us = per_call_us(lambda: codec.decode_on_topic(topic, payload, codec.MSGPACK))
    stamp_us = per_call_us(lambda: stamper.stamp(report))
    print(
        f"PositionReport extras: decode_on_topic {on_topic_us:.1f} us (what a subscriber runs), "
        f"Stamper.stamp {stamp_us:.1f} us (what BusClient.publish adds per message)"
    )


# --- main --------------------------------------------------------------------------------------------


def mosquitto_version(binary: str | None) -> str:
    if not binary:
        return "external"
    try:
        out = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    first = out.splitlines()[0] if out else "?"
    return first.replace("mosquitto version ", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="messages per run (default 100000)")
    parser.add_argument("--qos", type=int, nargs="+", default=[0, 1], choices=[0, 1, 2])
    parser.add_argument("--broker", help="mqtt://host:port of a running broker (default: start a LocalMosquitto)")
    parser.add_argument("--only", choices=["bus", "codec"], help="run only the bus runs or only the codec costs")
    args = parser.parse_args()

    model = position_report()
    payload = codec.encode(model)
    probe = codec.encode(model.model_copy(update={"platform_id": PROBE}))
    print(
        f"python {platform.python_version()}, paho-mqtt {version('paho-mqtt')}, pydantic {version('pydantic')}, "
        f"msgpack {version('msgpack')}, {os.cpu_count()} CPUs"
    )

    if args.only != "codec":
        broker = None
        if args.broker:
            config = BrokerConfig.from_url(args.broker)
            where = f"{config.url} (external)"
        else:
            from nodes.broker import LocalMosquitto

            broker = LocalMosquitto().start()
            config = BrokerConfig.from_url(broker.url)
            where = f"LocalMosquitto {mosquitto_version(broker.binary)} at {broker.url}, repository mosquitto.conf"
        print(f"broker: {where}")
        print(
            f"payload: PositionReport, {len(payload)} bytes msgpack; {args.count} messages per run; "
            "typed path stamps and encodes the same model object per message"
        )
        runs: list[Run] = []
        try:
            for qos in args.qos:
                runs.append(run_raw(config, payload, probe, args.count, qos))
                print(f"  done: {runs[-1].path} QoS {qos}: {runs[-1].rate:.0f} msg/s", flush=True)
                runs.append(run_typed(config, model, args.count, qos))
                print(f"  done: {runs[-1].path} QoS {qos}: {runs[-1].rate:.0f} msg/s", flush=True)
        finally:
            if broker is not None:
                broker.close()
        print_runs(runs)

    if args.only != "bus":
        print_codec_costs()


if __name__ == "__main__":
    main()
