"""Recording and replay costs: does the recorder keep up with the bus, and is offline replay bound by the core?

1. recorder: a publisher process sends N payloads of --size bytes (an 8-byte index + padding) as fast
   as raw paho can (MQTT 5; at QoS 1 at most 100 in flight and 10,000 unacknowledged, as BusClient),
   first to a bare counting paho subscriber (the bus ceiling), then to `Recorder` (nodes.recorder)
   writing a recording. Both subscribe at QoS 1, so the publish QoS decides the delivery QoS. The
   recording is read back afterwards: distinct indexes recorded, duplicates, loss.
2. offline replay: the `stress` scenario's first --stress-seconds written to a recording
   (`write_recording`, as `rampart sim --out`), then timed, --repeat times each:
   (a0) reading the records, (a) reading + decoding every observation and truth frame (what
   OfflineFusion decodes), (b) the full `OfflineFusion.run` (reading, decoding, fusing, snapshots).
   The share of (b) spent reading and decoding is (a)/(b).

Usage: python bench/record_replay.py [--count 100000] [--qos 0 1] [--size 250] [--stress-seconds 120]
       [--repeat 3] [--only record|replay] [--broker URL]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt
from _report import spread

from bus import codec, topics
from bus.client import BrokerConfig
from bus.recording import open_recording
from fusion.offline import OfflineFusion
from nodes.broker import broker_url
from nodes.recorder import Recorder

MP = mp.get_context("spawn")
INFLIGHT = 100
WINDOW = 10_000
QUIET_S = 3.0


# --- 1. recorder ---------------------------------------------------------------------------------------


WHOLE = "{:.0f}"


def _paho(config: BrokerConfig, client_id: str) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
    client.max_inflight_messages_set(INFLIGHT)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.connect(config.host, config.port, keepalive=30)
    client.loop_start()
    if not connected.wait(10):
        raise ConnectionError(f"could not connect to {config.url}")
    return client


def publisher(url: str, topic: str, count: int, size: int, qos: int, go: Any, out: Any) -> None:
    """Publish `count` distinct payloads as fast as paho allows; report the loop time and acknowledgements."""
    client = _paho(BrokerConfig.from_url(url), f"bench-rec-pub-{os.getpid()}")
    acked = 0

    def on_publish(c: mqtt.Client, u: object, mid: int, rc: object, p: object) -> None:
        nonlocal acked
        acked += 1

    client.on_publish = on_publish
    padding = b"x" * max(0, size - 8)
    payloads = [struct.pack(">Q", i) + padding for i in range(count)]
    out.put("ready")
    go.wait()
    started = time.time()
    waits = 0
    publish = client.publish
    for sent, payload in enumerate(payloads):
        if qos > 0:
            while sent - acked >= WINDOW:
                waits += 1
                time.sleep(0.001)
        rc = publish(topic, payload, qos=qos).rc
        while rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            waits += 1
            time.sleep(0.001)
            rc = publish(topic, payload, qos=qos).rc
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError(f"publish refused: {mqtt.error_string(rc)}")
    publish_s = time.time() - started
    deadline = time.monotonic() + 30
    while qos > 0 and acked < count and time.monotonic() < deadline:
        time.sleep(0.01)
    client.disconnect()
    client.loop_stop()
    out.put({"started": started, "publish_s": publish_s, "acked": acked if qos else count, "waits": waits})


@dataclass
class RecordRun:
    sink: str
    qos: int
    count: int
    received: int
    publish_s: float
    sink_s: float
    """first publish -> last message in the sink"""
    distinct: int = -1
    duplicates: int = 0
    waits: int = 0
    acked: int = 0

    @property
    def lost(self) -> int:
        return self.count - (self.distinct if self.distinct >= 0 else self.received)


def _watch(counter: Callable[[], int], expected: int) -> tuple[float, int]:
    """Poll a count until it reaches `expected` or stops for QUIET_S; return (time of the last change, count)."""
    seen, changed = counter(), time.time()
    while seen < expected:
        time.sleep(0.005)
        now = counter()
        if now != seen:
            seen, changed = now, time.time()
        elif time.time() - changed > QUIET_S:
            break
    return changed, seen


def run_sink(url: str, sink: str, qos: int, count: int, size: int, workdir: Path) -> RecordRun:
    topic = f"{topics.ROOT}/bench/record/{sink}-q{qos}-{os.getpid()}"
    config = BrokerConfig.from_url(url)
    path = workdir / f"{sink}-q{qos}.rec"
    received = [0]
    recorder: Recorder | None = None
    raw: mqtt.Client | None = None
    if sink == "recorder":
        recorder = Recorder(path, [topic], config).start()
        counter: Callable[[], int] = lambda: recorder.messages  # noqa: E731
    else:

        def on_message(c: mqtt.Client, u: object, msg: mqtt.MQTTMessage) -> None:
            received[0] += 1

        raw = _paho(config, f"bench-rec-sub-{os.getpid()}")
        raw.on_message = on_message
        raw.subscribe(topic, 1)
        counter = lambda: received[0]  # noqa: E731
    time.sleep(0.3)  # the subscription is in place
    go, results = MP.Event(), MP.Queue()
    worker = MP.Process(target=publisher, args=(url, topic, count, size, qos, go, results))
    worker.start()
    results.get(timeout=60)
    go.set()
    last, got = _watch(counter, count)
    out = results.get(timeout=120)
    worker.join(10)
    run = RecordRun(
        sink, qos, count, got, out["publish_s"], last - out["started"], waits=out["waits"], acked=out["acked"]
    )
    if recorder is not None:
        recorder.stop()
        indexes = [struct.unpack(">Q", m.payload[:8])[0] for m in open_recording(path) if m.topic == topic]
        run.distinct = len(set(indexes))
        run.duplicates = len(indexes) - run.distinct
        path.unlink()
    if raw is not None:
        raw.disconnect()
        raw.loop_stop()
    return run


def print_record_runs(runs: list[RecordRun], args: argparse.Namespace) -> None:
    print()
    print(
        f"recorder: {args.count} messages of {args.size} bytes per run, one raw paho publisher process, "
        "subscribers at QoS 1 (sink = a bare paho counter, or Recorder writing a file)"
    )
    print(
        f"{'sink':<9} {'QoS':>3} {'published':>9} {'pub msg/s':>9} {'received':>8} {'distinct':>8} {'dups':>4} "
        f"{'lost':>5} {'sink msg/s':>10} {'MB/s':>5}  notes"
    )
    for r in runs:
        distinct = f"{r.distinct:>8}" if r.distinct >= 0 else f"{'-':>8}"
        rate = r.received / r.sink_s if r.sink_s > 0 else 0.0
        note = f"window waits {r.waits}" if r.qos else ""
        if r.acked != r.count:
            note += f"; {r.count - r.acked} never acknowledged"
        print(
            f"{r.sink:<9} {r.qos:>3} {r.count:>9} {r.count / r.publish_s:>9.0f} {r.received:>8} {distinct} "
            f"{r.duplicates:>4} {r.lost:>5} {rate:>10.0f} {rate * args.size / 1e6:>5.1f}  {note}"
        )
    print()
    for qos in args.qos:
        ceiling = [r.received / r.sink_s for r in runs if r.qos == qos and r.sink == "paho"]
        recorder = [r.received / r.sink_s for r in runs if r.qos == qos and r.sink == "recorder"]
        lost = [r.lost for r in runs if r.qos == qos and r.sink == "recorder"]
        if ceiling and recorder:
            ratio = statistics.median(recorder) / statistics.median(ceiling)
            print(
                f"QoS {qos}: bus ceiling (bare subscriber) {spread(ceiling, WHOLE)} msg/s; "
                f"recorder {spread(recorder, WHOLE)} msg/s "
                f"= {ratio:.2f} of the ceiling; recorder lost {', '.join(map(str, lost))}"
            )


# --- 2. offline replay ---------------------------------------------------------------------------------


def read_only(path: Path) -> int:
    return sum(1 for _ in open_recording(path))


def read_decode(path: Path) -> int:
    """Read every record and decode the observations and truth frames, as OfflineFusion does."""
    decoded = 0
    wanted = (topics.Kind.OBSERVATION, topics.Kind.TRUTH)
    for record in open_recording(path):
        if record.payload and topics.parse(record.topic).kind in wanted:
            codec.decode_on_topic(record.topic, record.payload, record.content_type)
            decoded += 1
    return decoded


def full_offline(path: Path) -> OfflineFusion:
    fusion = OfflineFusion()
    for _ in fusion.run(open_recording(path)):
        pass
    return fusion


def timed(func: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return times, result


def run_replay(args: argparse.Namespace, workdir: Path) -> None:
    from nodes.sim import scenario_for, write_recording

    scenario = scenario_for("stress", args.stress_seconds)
    path = workdir / "stress.rec"
    started = time.perf_counter()
    written = write_recording(scenario, scenario.seed, path)
    write_s = time.perf_counter() - started
    size_mb = path.stat().st_size / 1e6
    records = list(open_recording(path))
    observations = sum(1 for r in records if topics.parse(r.topic).kind is topics.Kind.OBSERVATION)
    del records
    print()
    print(
        f"offline replay: stress, first {args.stress_seconds:g} s: {written} records ({observations} observations), "
        f"{size_mb:.1f} MB, written by write_recording in {write_s:.1f} s (simulation + translation + encoding)"
    )
    t_read, n = timed(lambda: read_only(path), args.repeat)
    t_decode, decoded = timed(lambda: read_decode(path), args.repeat)
    t_full, fusion = timed(lambda: full_offline(path), args.repeat)
    figures = fusion.core.figures
    print(f"{'stage':<34} {'seconds':<44} {'records/s':>9} {'det/s':>8} {'x real':>7}")
    for label, times in (
        ("(a0) read records", t_read),
        ("(a) read + decode", t_decode),
        ("(b) OfflineFusion.run (everything)", t_full),
    ):
        best = statistics.median(times)
        print(
            f"{label:<34} {spread(times, '{:.2f}'):<44} {n / best:>9.0f} {figures.detections / best:>8.0f} "
            f"{args.stress_seconds / best:>7.1f}"
        )
    share = statistics.median(t_decode) / statistics.median(t_full)
    print(
        f"the core run fused {figures.accepted} observations ({figures.detections} detections, {figures.late} late, "
        f"{fusion.rejected} undecodable) into {figures.tracks_confirmed} confirmed tracks; decoded {decoded} messages"
    )
    print(
        f"share of the offline run spent reading + decoding: {share:.0%} (reading alone "
        f"{statistics.median(t_read) / statistics.median(t_full):.0%}); the rest is the fusion core and snapshots"
    )


# --- main ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", help="mqtt://host:port of a running broker (default: start a LocalMosquitto)")
    parser.add_argument("--only", choices=["record", "replay"])
    parser.add_argument("--count", type=int, default=100_000, help="recorder: messages per run (default 100000)")
    parser.add_argument("--size", type=int, default=250, help="recorder: payload bytes (default 250)")
    parser.add_argument("--qos", type=int, nargs="+", default=[0, 1], choices=[0, 1])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (default 3)")
    parser.add_argument("--stress-seconds", type=float, default=120.0, help="replay: stress prefix (default 120)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="rampart-bench-") as tmp:
        workdir = Path(tmp)
        if args.only != "replay":
            runs: list[RecordRun] = []
            with broker_url(args.broker) as url:
                for _ in range(args.repeat):
                    for qos in args.qos:
                        for sink in ("paho", "recorder"):
                            runs.append(run_sink(url, sink, qos, args.count, args.size, workdir))
                            r = runs[-1]
                            print(
                                f"  done: {sink} QoS {qos}: {r.received / r.sink_s:.0f} msg/s, lost {r.lost}, "
                                f"load average {os.getloadavg()[0]:.2f}",
                                flush=True,
                            )
            print_record_runs(runs, args)
        if args.only != "record":
            run_replay(args, workdir)


if __name__ == "__main__":
    main()
