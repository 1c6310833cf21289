"""The terminal views in a real pseudo-terminal of 80x24, read through a VT100 emulator (pyte):
`rampart watch` shows every column header it keeps and the picture's age, and says STALE within
3 s of the fusion stopping; `rampart tail` prints dead letters as JSON with their reason."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pyte

from bus import codec, topics
from bus.client import BrokerConfig
from bus.schema import GeoPoint, PositionReport, Source, SourceKind
from nodes.fusion import FusionService
from nodes.views import Column, fitted
from nodes.watch import columns
from tests.bus_helpers import client

RAMPART = [sys.executable, "-m", "nodes.cli"]


class Terminal:
    """A command on an 80x24 pseudo-terminal, its screen kept by a terminal emulator."""

    def __init__(self, command: list[str], rows: int = 24, cols: int = 80) -> None:
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
        self.process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True)
        os.close(slave)
        self.master = master

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, condition: Callable[[str], bool], timeout_s: float) -> bool:
        """Read the terminal until `condition(screen text)` holds, or the timeout passes."""
        deadline = time.monotonic() + timeout_s
        while not condition(self.text()):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            readable, _, _ = select.select([self.master], [], [], left)
            if readable:
                try:
                    self.stream.feed(os.read(self.master, 65536))
                except OSError:  # the command ended and closed the terminal
                    return condition(self.text())
        return True

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=10)
        os.close(self.master)


@contextmanager
def terminal(command: list[str]) -> Iterator[Terminal]:
    instance = Terminal(command)
    try:
        yield instance
    finally:
        instance.close()


def report(platform: str, lat: float) -> PositionReport:
    return PositionReport(
        source=Source(id=f"{platform}.gps", kind=SourceKind.POSITION),
        time=datetime.now(UTC),
        platform_id=platform,
        position=GeoPoint(lat=lat, lon=10.0),
    )


def test_watch_fits_80x24_shows_the_picture_age_and_turns_stale(rampart_own_broker) -> None:
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    fusion = FusionService(broker).start_in_background()
    adapter = client(rampart_own_broker.url, "ifv", SourceKind.POSITION)
    try:
        with adapter, terminal([*RAMPART, "watch", "--broker", rampart_own_broker.url]) as screen:
            platforms = [f"ifv-{n}" for n in range(30)]  # more tracks than 24 rows hold
            for index, platform in enumerate(platforms):
                message = report(platform, 54.0 + index * 1e-3)
                adapter.publish_raw(topics.observation("position", f"{platform}.gps"), codec.encode(message))
            kept = [c.header for c in fitted(columns(datetime.now(UTC)), 80)]
            assert {"track", "status", "identity", "age s", "class"} <= set(kept)

            def shows_picture(text: str) -> bool:
                return "LIVE picture age" in text and "more" in text and all(header in text for header in kept)

            assert screen.wait_for(shows_picture, timeout_s=15), screen.text()
            lines = screen.screen.display
            header = next(line for line in lines if "track" in line and "status" in line)
            assert all(header.count(name) for name in kept), header
            assert any("P-ifv-0 " in line and "friendly" in line for line in lines), screen.text()
            fusion.stop()
            assert screen.wait_for(lambda text: "STALE" in text, timeout_s=3), screen.text()
    finally:
        fusion.stop()


def test_columns_are_dropped_by_priority_not_cut() -> None:
    def cell(index: int, track: object) -> str:
        return ""

    cols = [Column("a", 10, 0, cell), Column("b", 10, 2, cell), Column("c", 10, 1, cell)]
    assert [c.header for c in fitted(cols, 80)] == ["a", "b", "c"]
    assert [c.header for c in fitted(cols, 30)] == ["a", "c"]
    assert [c.header for c in fitted(cols, 5)] == ["a"]


def test_tail_prints_dead_letters_as_json_with_their_reason(rampart_own_broker) -> None:
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    tail = subprocess.Popen(
        [*RAMPART, "tail", "deadletter/#", "--count", "1", "--broker", rampart_own_broker.url],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert tail.stdout is not None
    with FusionService(broker).start_in_background(), client(rampart_own_broker.url, "bad") as bad:
        # Dead letters are not retained: send until tail, which may still be subscribing, hears one.
        deadline = time.monotonic() + 15
        while not select.select([tail.stdout], [], [], 0.5)[0]:
            assert time.monotonic() < deadline, "rampart tail printed nothing"
            bad.publish_raw(topics.observation("position", "broken.gps"), b'{"schema": "PositionReport/1"}')
        line = json.loads(tail.stdout.readline())
    assert tail.wait(timeout=10) == 0
    assert line["topic"] == topics.dead_letter("broken.gps")
    letter = line["message"]
    assert letter["schema"] == "DeadLetter/1"
    assert letter["original_topic"] == topics.observation("position", "broken.gps")
    assert "missing" in letter["reason"] or "required" in letter["reason"], letter["reason"]
