"""Terminal views: tables that fit the terminal (columns are dropped by priority rather than squeezed
until ids and statuses are cut, and rows beyond the screen are counted, not scrolled off), redrawn in
place with log records printed above them rather than into them."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bus.schema import Track
from nodes.freshness import Freshness

IDENTITY_STYLES = {"hostile": "red", "suspect": "red", "friendly": "cyan", "assumed_friend": "cyan", "neutral": "green"}


@dataclass(frozen=True)
class Column:
    header: str
    width: int
    """Room the column needs (its widest usual cell); never cut below it."""
    priority: int
    """Lower stays longer: priority 0 columns are always shown."""
    cell: Callable[[int, Track], str | Text]
    right: bool = False


def fitted(columns: Sequence[Column], width: int) -> list[Column]:
    """The columns that fit in `width` (3 characters of border and padding each), dropping the
    least important first, in their original order."""
    kept = list(columns)
    for column in sorted(columns, key=lambda c: -c.priority):
        if sum(c.width + 3 for c in kept) + 1 <= width or column.priority == 0:
            break
        kept.remove(column)
    return kept


def track_table(
    title: str, tracks: Sequence[Track], columns: Sequence[Column], width: int, rows: int, stale: bool
) -> Table:
    """`tracks` in their given order, at most `rows` of them (a last row counts the rest)."""
    shown = fitted(columns, width)
    table = Table(title=title, expand=False, title_justify="left")
    for column in shown:
        table.add_column(
            column.header, justify="right" if column.right else "left", no_wrap=True, min_width=column.width
        )
    room = max(rows, 1)
    listed = tracks if len(tracks) <= room else tracks[: room - 1]
    for index, track in enumerate(listed):
        table.add_row(*(column.cell(index, track) for column in shown), style="dim" if stale else None)
    if len(listed) < len(tracks):
        table.add_row(f"+{len(tracks) - len(listed)} more", *([""] * (len(shown) - 1)))
    return table


def status_cell(track: Track) -> Text:
    return Text(track.status.value, style="bold" if track.status == "confirmed" else "")


def identity_cell(track: Track) -> Text:
    return Text(track.disposition.value, style=IDENTITY_STYLES.get(track.disposition, "yellow"))


def class_cell(track: Track) -> str:
    return f"{track.classification.value} {track.classification_confidence:.0%}" if track.classification else "-"


def freshness_line(fresh: Freshness) -> Text:
    return Text(fresh.line(), style="bold white on red" if fresh.stale else "green")


@contextmanager
def live_view(console: Console) -> Iterator[Live]:
    """A view redrawn in place at each `update(..., refresh=True)`; what is logged meanwhile is
    printed above it (see `logs_above`)."""
    stderr = sys.stderr
    with Live(console=console, auto_refresh=False) as live, logs_above(stderr):
        yield live


@contextmanager
def logs_above(stderr: TextIO) -> Iterator[None]:
    """While a rich display (a live view, a progress bar) holds the terminal, it replaces sys.stderr
    with a proxy that prints above it. Logging's handlers keep the stream they were made with, and a
    record written there would land inside the display and break it: the handlers that wrote to
    `stderr` (the stream before the display started) write to the proxy until the block ends."""
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is stderr
    ]
    for handler in handlers:
        handler.setStream(sys.stderr)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(stderr)
