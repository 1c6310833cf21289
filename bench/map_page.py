"""The live map under load: N synthetic confirmed tracks, each updated once a second, for --duration s.

A local Mosquitto (the repository's mosquitto.conf, unless --broker), `rampart map` as a subprocess
(its CPU is read from /proc, user + system, over the measured window), a synthetic fusion in this
process (TrackUpdates spread evenly over each second, a paged snapshot once a second, as the fusion
service sends them), and the page in Debian's headless Chromium through Playwright. Reported: the
page's JavaScript time to apply one frame (the server sends one every 250 ms: the changed tracks),
the interval between animation frames (requestAnimationFrame, what a person sees as smoothness),
how far behind the page's newest track update is, and the map server's CPU in % of one core.

Usage: python bench/map_page.py [--tracks 500 2000] [--duration 20] [--broker URL]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

from _proc import cpu_seconds
from playwright.sync_api import sync_playwright

from bus import topics
from bus.client import BrokerConfig, BusClient
from bus.schema import (
    Disposition,
    Environment,
    GeoPoint,
    ObjectClass,
    PictureSnapshot,
    SourceContribution,
    SourceKind,
    Track,
    TrackStatus,
    TrackUpdate,
)
from nodes.broker import LocalMosquitto, free_port

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
PAGE_SIZE = 500
IDENTITIES = [Disposition.HOSTILE, Disposition.UNKNOWN, Disposition.FRIENDLY, Disposition.NEUTRAL]
RAF_PROBE = """() => { window.rafGaps = []; let last = performance.now();
  const tick = (now) => { window.rafGaps.push(now - last); last = now; requestAnimationFrame(tick); };
  requestAnimationFrame(tick); }"""


def track(index: int, now: datetime, start: datetime) -> Track:
    angle = 2 * math.pi * index / 97
    t = (now - start).total_seconds()
    lat = 54.0 + 0.5 * (index % 40) / 40 + 1e-4 * t * math.sin(angle)
    lon = 9.5 + 1.5 * (index // 40) / 50 + 1.7e-4 * t * math.cos(angle)
    return Track(
        track_id=f"S{index:05d}",
        status=TrackStatus.CONFIRMED,
        position=GeoPoint(lat=lat, lon=lon),
        velocity_enu_mps=(10 * math.cos(angle), 10 * math.sin(angle), 0.0),
        position_cov_enu_m2=((400.0, 50.0, 0.0), (50.0, 200.0, 0.0), (0.0, 0.0, 100.0)),
        velocity_cov_enu_m2s2=((4.0, 0.0, 0.0), (0.0, 4.0, 0.0), (0.0, 0.0, 1.0)),
        disposition=IDENTITIES[index % len(IDENTITIES)],
        environment=Environment.LAND,
        classification=ObjectClass.VEHICLE,
        classification_confidence=0.8,
        sources=[SourceContribution(source_id="radar-1", kind=SourceKind.SENSOR, last_time=now)],
        first_seen=start,
        updated=now,
        stale_at=now + timedelta(seconds=10),
    )


class SyntheticFusion:
    """Publishes `count` tracks, each once a second, and a paged snapshot every second."""

    def __init__(self, broker: BrokerConfig, count: int) -> None:
        self.count = count
        self.client = BusClient("bench-fusion", SourceKind.FUSION, broker, role="fusion")
        self.epoch = int(time.time() * 1000)
        self.seq = 0
        self.stop = threading.Event()
        self.behind_s: list[float] = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        start = datetime.now(UTC)
        next_index, began = 0, time.monotonic()
        while not self.stop.is_set():
            due = int((time.monotonic() - began) * self.count)  # updates due so far at count per second
            now = datetime.now(UTC)
            while next_index < due:
                self.seq += 1
                update = TrackUpdate(
                    source=self.client.source,
                    time=now,
                    epoch=self.epoch,
                    picture_seq=self.seq,
                    track=track(next_index % self.count, now, start),
                )
                self.client.publish(topics.track(update.track.track_id), update, retain=True)
                next_index += 1
                if next_index % self.count == 0:
                    self.snapshot(now, start)
            if time.monotonic() - began > next_index / self.count + 1.0:
                self.behind_s.append(time.monotonic() - began - next_index / self.count)
            self.stop.wait(0.01)

    def snapshot(self, now: datetime, start: datetime) -> None:
        tracks = [track(index, now, start) for index in range(self.count)]
        pages = max(1, math.ceil(self.count / PAGE_SIZE))
        for page in range(pages):
            snapshot = PictureSnapshot(
                source=self.client.source,
                time=now,
                epoch=self.epoch,
                picture_seq=self.seq,
                page=page,
                pages=pages,
                tracks=tracks[page * PAGE_SIZE : (page + 1) * PAGE_SIZE],
            )
            self.client.publish(topics.snapshot(page), snapshot, retain=True)


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else float("nan")


def run_once(url: str, count: int, duration: float) -> None:
    broker = BrokerConfig.from_url(url)
    fusion = SyntheticFusion(broker, count)
    port = free_port()
    command = [sys.executable, "-m", "nodes.cli", "map", "--broker", url, "--port", str(port), "--id", f"map-{count}"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert server.stdout is not None
    server.stdout.readline()  # "rampart map: URL": it is serving
    with fusion.client, sync_playwright() as playwright:
        fusion.thread.start()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_function("n => window.rampart.tracks.size >= n", arg=count, timeout=60_000)
        page.evaluate("() => { window.rampart.frameTimes.length = 0; }")
        page.evaluate(RAF_PROBE)
        cpu_before, wall_before = cpu_seconds(server.pid), time.monotonic()
        page.wait_for_timeout(duration * 1000)
        cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - wall_before)
        frames: list[float] = page.evaluate("window.rampart.frameTimes")
        gaps: list[float] = page.evaluate("window.rafGaps")
        lag: float = page.evaluate(
            "() => { let newest = 0; for (const e of window.rampart.tracks.values())"
            " newest = Math.max(newest, Date.parse(e.data.updated)); return (Date.now() - newest) / 1000; }"
        )
        shown = page.evaluate("window.rampart.tracks.size")
        browser.close()
        fusion.stop.set()
        fusion.thread.join()
    server.terminate()
    server.wait()
    print(
        f"{count} tracks at 1 update/s each, {duration:g} s: {shown} on the page; "
        f"frame apply ms p50 {percentile(frames, 50):.1f} p95 {percentile(frames, 95):.1f} max {max(frames):.1f} "
        f"({len(frames)} frames); animation-frame interval ms p50 {percentile(gaps, 50):.1f} "
        f"p95 {percentile(gaps, 95):.1f} max {max(gaps):.0f}; newest update on the page {lag:.2f} s old; "
        f"map server CPU {100 * cpu:.0f}% of one core"
        + (f"; the generator fell behind by up to {max(fusion.behind_s):.1f} s" if fusion.behind_s else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--broker", help="an MQTT broker URL (default: a local Mosquitto started here)")
    args = parser.parse_args()
    local = None if args.broker else LocalMosquitto().start()
    url = args.broker or local.url  # type: ignore[union-attr]
    try:
        for count in args.tracks:
            run_once(url, count, args.duration)
    finally:
        if local is not None:
            local.close()


if __name__ == "__main__":
    main()
