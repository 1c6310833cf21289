"""Progress on stderr for the commands that work through scenario or recording time (`rampart up
--duration`, `eval`, `replay --offline`, `sim --out`): a bar with the time done against the total,
the rate (seconds of scenario or recording per second of wall time, `12.0x`) and the time left.

It is shown only when stderr is a terminal, and it is gone when the command ends, so piped output,
`--json` documents and logs never see it. The pure layers (the fusion core, offline replay, the
simulator) know nothing of it: a command opens a `bar` and reports to it the time it has reached as
it iterates (`through` does so for the records of a recording).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeRemainingColumn
from rich.text import Text

from bus.recording import RecordedMessage
from nodes.views import logs_above

REFRESH_S = 0.1
"""The bar is updated at most this often: a command may report every record, at 100,000 a second."""


class Bar:
    """Where a command reports its progress: `bar(done_s)`, the time reached since the start."""

    def __init__(self, progress: Progress | None = None, description: str = "", total_s: float | None = None) -> None:
        self._progress = progress
        self._task = progress.add_task(description, total=total_s) if progress else None
        self._total_s = total_s
        self._updated = 0.0

    @property
    def shown(self) -> bool:
        return self._progress is not None

    @property
    def total_s(self) -> float | None:
        return self._total_s

    @total_s.setter
    def total_s(self, total_s: float) -> None:
        if self._progress is not None and self._task is not None:
            self._total_s = total_s
            self._progress.update(self._task, total=total_s)

    def __call__(self, done_s: float) -> None:
        if self._progress is None or self._task is None:
            return
        now = time.monotonic()
        if now - self._updated >= REFRESH_S:
            self._updated = now
            self._progress.update(self._task, completed=done_s)


NO_BAR = Bar()
"""A bar that shows nothing: the default of the functions that report progress."""


class DoneColumn(ProgressColumn):
    """Seconds done of the total (which may not be known yet)."""

    def render(self, task: Task) -> Text:
        total = f"/{task.total:.0f}" if task.total is not None else ""
        return Text(f"{task.completed:.0f}{total} s", style="progress.download")


class RateColumn(ProgressColumn):
    """Seconds done per second of wall time: how many times faster than real time."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f}x" if speed else "", style="progress.data.speed")


def shown() -> bool:
    """Whether a bar is drawn: only on a terminal (rich alone would draw one under FORCE_COLOR too)."""
    return sys.stderr.isatty()


@contextmanager
def bar(description: str, total_s: float | None = None) -> Iterator[Bar]:
    """A progress bar on stderr while the block runs, if stderr is a terminal (else `NO_BAR`). The
    total may be set later (`through` sets a recording's span)."""
    if not shown():
        yield NO_BAR
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DoneColumn(),
        RateColumn(),
        TimeRemainingColumn(),
    )
    stderr = sys.stderr
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress, logs_above(stderr):
        yield Bar(progress, description, total_s)


def through(records: Iterable[RecordedMessage], progress: Bar) -> Iterator[RecordedMessage]:
    """`records` as they come, the bar following their recording time. Its total, if not set, is
    their span, which takes a pass over them first (a list's, or a recording file's: `Recording`
    reads the file again for each pass), made only when the bar is shown."""
    if progress.shown and progress.total_s is None:
        progress.total_s = span_s(records)
    first: int | None = None
    for record in records:
        if first is None:
            first = record.time_us
        progress((record.time_us - first) / 1e6)
        yield record


def span_s(records: Iterable[RecordedMessage]) -> float:
    """Seconds from the first record to the last."""
    first = last = None
    for record in records:
        if first is None:
            first = record.time_us
        last = record.time_us
    return 0.0 if first is None or last is None else (last - first) / 1e6
