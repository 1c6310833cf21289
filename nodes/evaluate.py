"""`rampart eval`: the picture's accuracy against ground truth, for any run that has truth.

FILE is a recording of a live run (snapshots, track updates and truth, e.g. `rampart record`), a
picture history from `rampart replay --offline --out`, or a simulator recording (`rampart sim
--out`), which is first fused offline.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

from bus import codec, topics
from bus.recording import MAGIC, RecordedMessage, RecordingError, open_recording
from bus.schema import Envelope, GroundTruth, PictureSnapshot, TrackUpdate
from fusion.eval import EvalConfig, EvalReport, LatencyStats, evaluate, latency_stats
from fusion.offline import OfflineFusion


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a recording (.rec) or a picture history (JSON lines)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--c", type=float, default=100.0, help="GOSPA cut-off distance in metres (default 100)")


def run(args: argparse.Namespace) -> int:
    try:
        report, latency = evaluate_file(args.file, EvalConfig(c=args.c))
    except (RecordingError, OSError, ValueError) as error:
        print(f"rampart eval: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"accuracy": report.to_dict(), "latency": latency.to_dict() if latency else None}, indent=2))
    else:
        print(report.summary())
        if latency:
            stats = latency
            print(
                f"\nlatency observation -> picture update ({stats.count} updates): mean {stats.mean_ms:.1f} ms, "
                f"p50 {stats.p50_ms:.1f}, p95 {stats.p95_ms:.1f}, p99 {stats.p99_ms:.1f}, max {stats.max_ms:.1f}"
            )
    return 0


def evaluate_file(path: Path, config: EvalConfig) -> tuple[EvalReport, LatencyStats | None]:
    """Pair each truth frame with the latest snapshot at or before it, and evaluate."""
    messages = list(_messages(path))
    if not any(isinstance(m, GroundTruth) for m in messages):
        raise ValueError(f"{path} has no ground truth: nothing to evaluate against")
    frames = []
    latest: PictureSnapshot | None = None
    for message in sorted(messages, key=_order):
        if isinstance(message, PictureSnapshot):
            latest = message
        elif isinstance(message, GroundTruth) and latest is not None:
            frames.append((message, list(latest.tracks)))
    updates = [m for m in messages if isinstance(m, TrackUpdate)]
    latency = latency_stats((u.track.updated, u.sent_at or u.time) for u in updates) if updates else None
    return evaluate(frames, config), latency


def _order(message: Envelope) -> tuple[datetime, int]:
    # A snapshot taken at the truth's instant goes first, so the pair shares the time.
    return message.time, 0 if isinstance(message, PictureSnapshot) else 1


def _messages(path: Path) -> Iterator[Envelope]:
    with open(path, "rb") as probe:
        is_recording = probe.read(len(MAGIC)) == MAGIC
    if not is_recording:
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if line.strip():
                try:
                    yield codec.decode(line, codec.JSON)
                except codec.DecodeError as error:
                    raise ValueError(f"{path}:{number}: {error}") from None
        return
    records = list(open_recording(path))
    if any(_kind(r) is topics.Kind.SNAPSHOT for r in records):
        yield from _decoded(records)
    else:
        yield from OfflineFusion().run(records)


def _kind(record: RecordedMessage) -> topics.Kind | None:
    try:
        return topics.parse(record.topic).kind
    except ValueError:
        return None


def _decoded(records: Iterable[RecordedMessage]) -> Iterator[Envelope]:
    wanted = (topics.Kind.SNAPSHOT, topics.Kind.TRACK, topics.Kind.TRUTH)
    for record in records:
        if _kind(record) in wanted and record.payload:
            yield codec.decode(record.payload, record.content_type)
