"""The terminal views in a real pseudo-terminal of 80x24, read through a VT100 emulator (pyte):
`rampart watch` shows every column header it keeps and the picture's age, and says STALE within
3 s of the fusion stopping; `rampart vehicle` and `rampart up` fit the screen, more rows than it
holds counted; progress bars are drawn on a terminal and gone when the command ends; `rampart tail`
prints dead letters as JSON with their reason."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
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
from pathlib import Path

import numpy as np
import pyte
import pytest
from rich.console import Console
from rich.progress import Progress

from bus import codec, topics
from bus.client import BrokerConfig, BusClient
from bus.recording import RecordedMessage
from bus.schema import GeoPoint, PositionReport, Source, SourceKind
from nodes import progress, vehicle
from nodes.fusion import FusionService
from nodes.views import Column, fitted
from nodes.watch import columns
from tests.bus_helpers import client
from tests.recordings import DATA

RAMPART = [sys.executable, "-m", "nodes.cli"]
SMOKE = str(DATA / "smoke.rec")


class Terminal:
    """A command on an 80x24 pseudo-terminal, its screen kept by a terminal emulator."""

    def __init__(self, command: list[str], rows: int = 24, cols: int = 80) -> None:
        self.screen = pyte.Screen(cols, rows)
        self.stream = pyte.ByteStream(self.screen)
        self.raw = bytearray()
        """Every byte the command wrote, for what was drawn and then erased."""
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
                    data = os.read(self.master, 65536)
                except OSError:  # the command ended and closed the terminal
                    return condition(self.text())
                self.raw += data
                self.stream.feed(data)
        return True

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGINT)
                self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()  # a command that ignored SIGINT must not outlive its test (and load the next)
            self.process.wait()
            raise
        finally:
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
            publish_platforms(adapter, 30)
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


def publish_platforms(adapter: BusClient, count: int) -> None:
    """`count` friendly platforms, one position report each: more tracks than 24 rows hold."""
    for index in range(count):
        message = report(f"ifv-{index}", 54.0 + index * 1e-3)
        adapter.publish_raw(topics.observation("position", f"ifv-{index}.gps"), codec.encode(message))


def test_vehicle_fits_80x24_with_its_summary_and_the_picture_age(rampart_own_broker) -> None:
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    fusion = FusionService(broker).start_in_background()
    adapter = client(rampart_own_broker.url, "ifv", SourceKind.POSITION)
    command = [*RAMPART, "vehicle", "--id", "v-80x24", "--position", "54.0,10.0", "--broker", rampart_own_broker.url]
    try:
        with adapter, terminal(command) as screen:
            publish_platforms(adapter, 30)
            kept = [c.header for c in fitted(vehicle.columns(np.zeros(0), np.zeros(0), np.zeros(0, int)), 80)]
            assert {"track", "status", "range m", "bearing", "identity"} <= set(kept)

            def shows_picture(text: str) -> bool:
                return "more" in text and "vehicle v-80x24: 31 tracks" in text and all(h in text for h in kept)

            assert screen.wait_for(shows_picture, timeout_s=15), screen.text()
            lines = screen.screen.display
            assert lines[0].startswith("LIVE picture age"), screen.text()  # nothing scrolled off the top
            assert lines[1].startswith("Shared picture at v-80x24"), screen.text()
            summary = next(index for index, line in enumerate(lines) if line.startswith("vehicle v-80x24:"))
            assert lines[summary - 1].startswith("└") and not any(line.strip() for line in lines[summary + 1 :])
            header = next(line for line in lines if "track" in line and "status" in line)
            assert all(header.count(name) for name in kept), header
            assert any(line.startswith("│ P-ifv-0 ") for line in lines), screen.text()  # the nearest first
    finally:
        fusion.stop()


def test_up_fits_80x24_picture_first_and_counts_the_nodes_beyond(rampart_own_broker) -> None:
    command = [*RAMPART, "up", "--scenario", "smoke", "--vehicles", "5", "--broker", rampart_own_broker.url]
    with terminal(command) as screen:

        def shows_the_stack(text: str) -> bool:
            return "LIVE picture age" in text and "more" in text and "online" in text and "└" in text

        assert screen.wait_for(shows_the_stack, timeout_s=40), screen.text()
        lines = screen.screen.display
        title = next(index for index, line in enumerate(lines) if line.startswith("rampart up: smoke on"))
        assert lines[title + 1].startswith("LIVE picture age"), screen.text()
        assert lines[title + 2].startswith("picture: ") and lines[title + 3].startswith("rates: "), screen.text()
        # Drawn in place: no earlier frame left above it, nothing logged into it, all of it on the screen.
        assert all(line.startswith("rampart up: the live map") for line in lines[:title]), screen.text()
        assert sum(line.startswith(("picture: ", "rates: ")) for line in lines) == 2, screen.text()
        assert re.search(r"^│ \+\d+ more", screen.text(), re.MULTILINE), screen.text()
        assert any(line.startswith("└") for line in lines[title:]), screen.text()
        fusion = next(line for line in lines if line.startswith("│ fusion "))
        assert "bus_" not in fusion, fusion  # a node's own figures first, its client's only without any


@pytest.mark.parametrize(
    ("command", "bar", "result"),
    [
        (["sim", "--scenario", "smoke", "--out", "{tmp}/smoke.rec"], "rampart sim: smoke", "wrote "),
        (["replay", SMOKE, "--offline", "--out", "{tmp}/p.jsonl"], "rampart replay: smoke.rec", "offline: "),
        (["eval", SMOKE], "rampart eval: smoke.rec", "fusion settings: "),
    ],
)
def test_progress_is_drawn_on_a_terminal_and_gone_at_the_end(
    tmp_path: Path, command: list[str], bar: str, result: str
) -> None:
    with terminal([*RAMPART, *(part.format(tmp=tmp_path) for part in command)]) as screen:
        assert screen.wait_for(lambda text: result.encode() in screen.raw, timeout_s=60), screen.text()
        assert screen.process.wait(timeout=30) == 0
    drawn = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.raw.decode(errors="replace"))  # colours, cursor moves
    assert re.search(re.escape(bar) + r" [━╸╺]+ \d+/(30|60) s", drawn), drawn[:2000]  # smoke.rec: 30 s, smoke: 60 s
    assert bar not in screen.text() and "━" not in screen.text(), screen.text()


def test_a_bar_follows_the_recording_time_of_every_record(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "REFRESH_S", 0.0)  # every report reaches the bar
    records = [RecordedMessage(1_000_000 + step * 250_000, "rampart/v1/truth/x", b"") for step in range(9)]
    with Progress(console=Console(file=io.StringIO(), force_terminal=True)) as drawn:
        bar = progress.Bar(drawn, "test")
        assert list(progress.through(records, bar)) == records  # unchanged, in order
        assert bar.total_s == drawn.tasks[0].total == 2.0  # the span, set by the pass over the list
        assert drawn.tasks[0].completed == 2.0  # the last record's time since the first
    assert list(progress.through(records, progress.NO_BAR)) == records and progress.NO_BAR.total_s is None


def test_what_is_logged_is_printed_above_the_view_not_into_it(rampart_own_broker) -> None:
    """A passive watch logs the first message from a source it cannot decode: the line goes above
    the view, which stays whole below it, and the view counts the rejection."""
    with terminal([*RAMPART, "watch", "--broker", rampart_own_broker.url]) as screen:
        assert screen.wait_for(lambda text: "rampart watch: 0 tracks" in text, timeout_s=15), screen.text()
        with client(rampart_own_broker.url, "garbage", announce=False) as sender:
            sender.publish_raw(topics.track("T-garbage"), b"\xc1 not a track", qos=1)
        assert screen.wait_for(lambda text: "1 rejected" in text, timeout_s=10), screen.text()
        lines = screen.screen.display
        logged = next(index for index, line in enumerate(lines) if "WARNING" in line and "rejected a message" in line)
        fresh = [index for index, line in enumerate(lines) if line.startswith("STALE no picture yet")]
        titles = [index for index, line in enumerate(lines) if line.startswith("rampart watch: 0 tracks")]
        assert len(fresh) == len(titles) == 1 and logged < fresh[0] < titles[0], screen.text()


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
