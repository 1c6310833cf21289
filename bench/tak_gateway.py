"""The TAK gateway (`rampart tak`) measured: throughput on the 500-target stress picture, what a
9.6 kbit/s link delivers, and the round trip through a real FreeTAKServer.

* `--part stress`: the stress scenario's ground truth (500 targets, 1 Hz) as the picture a perfect
  fusion would hold (one TrackUpdate per target per second, published by this script as the fusion),
  as fast as the broker takes it; the gateway runs as its own process (`python -m nodes.cli tak`)
  sending TAK protocol v1 to a UDP socket of this script with no link limit. Reported: updates
  published, events received, events/s, and the gateway's CPU per 1,000 updates (from /proc).
* `--part link`: the same picture in real time (500 updates/s) to a gateway limited to
  `--link-rate` (9600 bit/s by default). Reported: what reaches the far end, and the age of each
  received event (receive time - the track's update time) by identity, and the interval between
  two updates of one hostile track.
* `--part fts`: a FreeTAKServer (`--fts HOST:PORT`, one already running; its set-up is in
  docs/tak.md), a broker, the fusion service, `rampart sim --scenario smoke` and the gateway; a TAK
  client (a TCP socket speaking CoT XML, as ATAK does on a streaming connection) announces itself,
  receives the tracks, then sends a PLI that must come back as a friendly track in the picture.

    .venv/bin/python bench/tak_gateway.py --part stress --frames 60
    .venv/bin/python bench/tak_gateway.py --part link --duration 60
    .venv/bin/python bench/tak_gateway.py --part fts --fts 127.0.0.1:8087
"""

from __future__ import annotations

import argparse
import math
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import takproto
from _proc import cpu_seconds
from lxml import etree

from bus import topics
from bus.client import BrokerConfig, BusClient
from bus.replica import PictureReplica
from bus.schema import (
    Disposition,
    GroundTruth,
    SourceContribution,
    SourceKind,
    Track,
    TrackStatus,
    TrackUpdate,
    utc_now,
)
from nodes import cot
from nodes.broker import LocalMosquitto
from nodes.sim import scenario_messages
from nodes.tak import ServerLink, TakGateway
from simulators import load_scenario

ROOT = Path(__file__).resolve().parents[1]
COV = ((25.0, 0.0, 0.0), (0.0, 25.0, 0.0), (0.0, 0.0, 4.0))


def stress_frames(count: int) -> list[GroundTruth]:
    scenario = load_scenario("stress")
    frames: list[GroundTruth] = []
    for _, _, message in scenario_messages(scenario, scenario.seed):
        if isinstance(message, GroundTruth):
            frames.append(message)
            if len(frames) == count:
                break
    return frames


def tracks_of(frame: GroundTruth) -> list[Track]:
    now = utc_now()
    contribution = [SourceContribution(source_id="radar-nw", kind=SourceKind.SENSOR, last_time=now)]
    return [
        Track(
            track_id=f"T-{item.object_id}",
            status=TrackStatus.CONFIRMED,
            position=item.position,
            velocity_enu_mps=item.velocity_enu_mps,
            position_cov_enu_m2=COV,
            velocity_cov_enu_m2s2=COV,
            disposition=item.disposition,
            environment=item.environment,
            classification=item.object_class,
            classification_confidence=0.9,
            platform_id=item.platform_id,
            sources=contribution,
            first_seen=now,
            updated=now,
            stale_at=now + timedelta(seconds=10),
        )
        for item in frame.objects
    ]


class Receiver:
    """The far end of the gateway's mesh link: a UDP socket; each datagram a TAK protocol v1 message."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"udp://127.0.0.1:{self.sock.getsockname()[1]}"
        self.events = 0
        self.bytes = 0
        self.ages: dict[str, list[float]] = defaultdict(list)
        self.last_seen: dict[str, float] = {}
        self.intervals: dict[str, list[float]] = defaultdict(list)
        self.shown: dict[str, tuple[str, float]] = {}
        """uid -> (affiliation, update time of the state the far end shows)."""
        self.map_ages: dict[str, list[float]] = defaultdict(list)
        self.tracks = 0
        self.filled_at: float | None = None
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        """Once a second, once every track has been shown (`tracks`, set by the bench): how old is
        what the far end shows of each track."""
        while self.running:
            time.sleep(1.0)
            now = time.time()
            if self.filled_at is None and self.tracks and len(self.shown) >= self.tracks:
                self.filled_at = now
            if self.filled_at is None:
                continue
            for affiliation, updated in list(self.shown.values()):
                self.map_ages[affiliation].append(now - updated)

    def _run(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            received = time.time()
            self.events += 1
            self.bytes += len(data)
            event = takproto.parse_proto(bytearray(data)).cotEvent
            affiliation = event.type.split("-")[1] if event.type.startswith("a-") else event.type
            self.ages[affiliation].append(received - event.sendTime / 1000.0)
            if event.uid in self.last_seen:
                self.intervals[affiliation].append(received - self.last_seen[event.uid])
            self.last_seen[event.uid] = received
            self.shown[event.uid] = (affiliation, event.sendTime / 1000.0)


def start_gateway(url: str, mesh: str, *extra: str) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "nodes.cli", "tak", "--broker", url, "--mesh", mesh, "--min-interval", "0"]
    return subprocess.Popen([*command, *extra], cwd=ROOT, stderr=subprocess.DEVNULL)


def wait_online(client: BusClient, node: str, timeout_s: float = 20.0) -> None:
    online = threading.Event()
    client.subscribe_raw(topics.node_state(node), lambda message: online.set() if message.payload else None)
    if not online.wait(timeout_s):
        raise SystemExit(f"the gateway {node} did not come online")


def publish_frame(fusion: BusClient, frame: GroundTruth, seq: int) -> int:
    for item in tracks_of(frame):
        seq += 1
        update = TrackUpdate(source=fusion.source, time=item.updated, epoch=1, picture_seq=seq, track=item)
        fusion.publish(topics.track(item.track_id), update, qos=0)
    return seq


def stress(frames: list[GroundTruth]) -> None:
    with LocalMosquitto() as broker:
        url = f"mqtt://127.0.0.1:{broker.port}"
        receiver = Receiver()
        gateway = start_gateway(url, receiver.url, "--id", "tak-bench")
        try:
            with BusClient("fusion", SourceKind.FUSION, BrokerConfig.from_url(url)) as fusion:
                wait_online(fusion, "tak-bench")
                seq = publish_frame(fusion, frames[0], 0)  # warm-up: the whole picture once
                deadline = time.monotonic() + 30
                while receiver.events < len(frames[0].objects) and time.monotonic() < deadline:
                    time.sleep(0.05)
                events0, cpu0, start = receiver.events, cpu_seconds(gateway.pid), time.monotonic()
                for frame in frames[1:]:
                    seq = publish_frame(fusion, frame, seq)
                published = seq - len(frames[0].objects)
                fusion.wait_acknowledged(30)
                last, quiet = receiver.events, time.monotonic()
                while time.monotonic() - quiet < 1.0:  # until the gateway has sent all it will
                    time.sleep(0.1)
                    if receiver.events != last:
                        last, quiet = receiver.events, time.monotonic()
                elapsed = quiet - start
                cpu = cpu_seconds(gateway.pid) - cpu0
        finally:
            gateway.terminate()
            gateway.wait(10)
        events = receiver.events - events0
        print(f"stress picture: {len(frames[0].objects)} tracks, {published} updates published in {elapsed:.1f} s")
        print(
            f"  events out {events} ({events / elapsed:.0f}/s; {published - events} superseded by a newer state "
            f"before their turn), gateway CPU {cpu:.2f} s = {1000 * cpu / published * 1000:.0f} ms per 1,000 updates"
        )


def link(frames: list[GroundTruth], rate_bps: float, duration_s: float) -> None:
    with LocalMosquitto() as broker:
        url = f"mqtt://127.0.0.1:{broker.port}"
        receiver = Receiver()
        receiver.tracks = len(frames[0].objects)
        gateway = start_gateway(url, receiver.url, "--id", "tak-bench", "--link-rate", f"{rate_bps:g}")
        try:
            with BusClient("fusion", SourceKind.FUSION, BrokerConfig.from_url(url)) as fusion:
                wait_online(fusion, "tak-bench")
                seq, start, started = 0, time.monotonic(), time.time()
                for index in range(int(duration_s)):
                    seq = publish_frame(fusion, frames[index % len(frames)], seq)
                    time.sleep(max(0.0, start + index + 1 - time.monotonic()))
        finally:
            gateway.terminate()
            gateway.wait(10)
        receiver.running = False
        print(f"{rate_bps:g} bit/s link, {len(frames[0].objects)} tracks updated at 1 Hz for {duration_s:.0f} s")
        print(
            f"  delivered {receiver.events} events ({receiver.bytes / max(receiver.events, 1):.0f} bytes each), "
            f"{receiver.bytes * 8 / duration_s:.0f} bit/s"
        )
        if receiver.filled_at is None:
            print("  not every track was shown once: run longer for the steady state")
            return
        print(
            f"  every track shown once after {receiver.filled_at - started:.0f} s; from then on, sampled each second:"
        )
        names = {"h": "hostile", "u": "unknown", "n": "neutral", "f": "friendly"}
        counts = counts_by_affiliation(frames[0])
        for affiliation, ages in sorted(receiver.ages.items()):
            intervals = receiver.intervals.get(affiliation, [])
            interval = f"{statistics.median(intervals):.1f} s" if intervals else "none yet"
            shown = sorted(receiver.map_ages[affiliation]) or [math.nan]
            print(
                f"  {names.get(affiliation, affiliation):8}: {counts.get(affiliation, 0)} tracks, "
                f"{sum(1 for a, _ in receiver.shown.values() if a == affiliation)} shown; {len(ages)} events, "
                f"delivered {statistics.median(ages):.2f} s after the update (median); one track refreshed every "
                f"{interval} (median); age of what the map shows: median {statistics.median(shown):.1f} s, "
                f"p95 {shown[int(0.95 * (len(shown) - 1))]:.1f} s, max {shown[-1]:.1f} s"
            )


def counts_by_affiliation(frame: GroundTruth) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in frame.objects:
        counts[cot.AFFILIATION[Disposition(item.disposition)]] += 1
    return counts


def fts(address: str, timeout_s: float) -> None:
    from nodes.fusion import FusionService

    host, port = address.rsplit(":", 1)
    with LocalMosquitto() as broker:
        url = f"mqtt://127.0.0.1:{broker.port}"
        config = BrokerConfig.from_url(url)
        sim = subprocess.Popen(
            [sys.executable, "-m", "nodes.cli", "sim", "--scenario", "smoke", "--broker", url],
            cwd=ROOT,
            stderr=subprocess.DEVNULL,
        )
        link = ServerLink(f"tcp://{address}", "xml", cot.LinkScheduler(), None)
        uid = f"ANDROID-{uuid.uuid4().hex[:12]}"
        try:
            with (
                FusionService(config).start_in_background() as fusion,
                TakGateway("tak-gw", [link], config) as gateway,
                BusClient("tak-watch", SourceKind.TOOL, config) as watcher,
            ):
                picture = PictureReplica(watcher)
                client = socket.create_connection((host, int(port)))
                client.sendall(pli(uid, 54.35))
                seen: dict[str, str] = {}
                buffer, deadline = b"", time.monotonic() + timeout_s
                client.settimeout(0.5)
                while time.monotonic() < deadline and len(seen) < 5:
                    try:
                        buffer += client.recv(65536)
                    except TimeoutError:
                        continue
                    *whole, buffer = buffer.split(b"</event>")
                    for part in whole:
                        event = etree.fromstring(part.strip() + b"</event>")
                        if event.get("uid", "").startswith("rampart.main.T") or event.get("uid", "").startswith(
                            "rampart.main.P"
                        ):
                            seen[event.get("uid")] = event.get("type")
                print(f"FreeTAKServer {address}: the TAK client received {len(seen)} Rampart tracks:")
                for track_uid, kind in sorted(seen.items()):
                    print(f"  {track_uid}  {kind}")
                platform = f"P-tak-gw.{uid}"
                found, sent_plis = False, 0
                while not found and time.monotonic() < deadline + timeout_s:
                    client.sendall(pli(uid, 54.3501))  # ATAK reports its position every few seconds
                    sent_plis += 1
                    found = picture.wait_for(lambda tracks: platform in tracks, 2.0)
                track = picture.tracks().get(platform)
                print(
                    f"  the client's PLI ({uid}) in Rampart's picture: {found} after {sent_plis} PLI(s)"
                    + (f", {track.disposition} at {track.position.lat:.6f}, {track.position.lon:.6f}" if track else "")
                )
                print(f"  gateway: {gateway.inbound.inbound}, link {link.scheduler.figures}")
                print(f"  the fusion's verdicts: {dict(fusion.verdicts)}")
                client.close()
        finally:
            sim.terminate()
            sim.wait(10)


def pli(uid: str, lat: float) -> bytes:
    now, stale = utc_now(), utc_now() + timedelta(minutes=2)
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<event version="2.0" uid="{uid}" '
        f'type="a-f-G-U-C" how="m-g" time="{cot.cot_time(now)}" start="{cot.cot_time(now)}" '
        f'stale="{cot.cot_time(stale)}"><point lat="{lat}" lon="10.14" hae="20" ce="5" le="9999999"/>'
        f'<detail><contact callsign="BENCH" endpoint="*:-1:stcp"/><__group name="Cyan" role="Team Member"/>'
        f'<takv device="bench" platform="bench" os="linux" version="1"/><track course="0" speed="0"/>'
        "</detail></event>"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("stress", "link", "fts"), required=True)
    parser.add_argument("--frames", type=int, default=60, help="stress picture frames (1 s each)")
    parser.add_argument("--link-rate", type=float, default=9600.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--fts", default="127.0.0.1:8087", help="a running FreeTAKServer's CoT port")
    args = parser.parse_args()
    if args.part == "fts":
        fts(args.fts, 60.0)
        return
    frames = stress_frames(args.frames if args.part == "stress" else min(args.frames, int(args.duration)))
    if args.part == "stress":
        stress(frames)
    else:
        link(frames, args.link_rate, args.duration)


if __name__ == "__main__":
    main()
