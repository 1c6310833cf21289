"""`rampart eval`: the picture's accuracy against ground truth, for any run that has truth.

FILE is a recording of a live run (snapshots, track updates and truth, e.g. `rampart record`), a
picture history from `rampart replay --offline --out`, or a simulator recording (`rampart sim
--out`), which is first fused offline with the settings of `--config`, else those the recording
carries, else the defaults. The report names the settings the evaluated picture was made with, as
its snapshots carry them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bus import codec, topics
from bus.recording import MAGIC, RecordedMessage, RecordingError, open_recording
from bus.schema import Envelope, GroundTruth, PictureSnapshot, TrackUpdate
from fusion.eval import EvalConfig, EvalReport, LatencyStats, evaluate, latency_stats
from fusion.offline import OfflineFusion
from nodes import progress
from nodes.options import add_config_option, add_json_option, fusion_config, print_json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a recording (.rec) or a picture history (JSON lines)")
    add_json_option(parser, "the report")
    parser.add_argument("--c", type=float, default=100.0, help="GOSPA cut-off distance in metres (default 100)")
    add_config_option(parser)


@dataclass(frozen=True)
class Evaluation:
    """The accuracy of a picture, its latency (live runs), and the fusion settings it was made with
    (None for pictures from services that did not publish them)."""

    report: EvalReport
    latency: LatencyStats | None
    fusion_settings: dict[str, Any] | None


def run(args: argparse.Namespace) -> int:
    try:
        with progress.bar(f"rampart eval: {args.file.name}") as bar:
            result = evaluate_file(args.file, EvalConfig(c=args.c), args.config, bar)
    except (RecordingError, OSError, ValueError) as error:
        print(f"rampart eval: {error}", file=sys.stderr)
        return 2
    report, latency, made_with = result.report, result.latency, result.fusion_settings
    if args.json:
        latency_figures = latency.to_dict() if latency else None
        print_json({"accuracy": report.to_dict(), "latency": latency_figures, "fusion": made_with})
        return 0
    print(f"fusion settings: {_one_line(made_with) if made_with else 'not in the picture (an older fusion service)'}")
    print(report.summary())
    if latency:
        print(
            f"\nlatency observation -> picture update ({latency.count} updates): mean {latency.mean_ms:.1f} ms, "
            f"p50 {latency.p50_ms:.1f}, p95 {latency.p95_ms:.1f}, p99 {latency.p99_ms:.1f}, max {latency.max_ms:.1f}"
        )
    return 0


def _one_line(fusion_settings: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in fusion_settings.items())


def evaluate_file(
    path: Path, config: EvalConfig, fusion_config_path: Path | None = None, bar: progress.Bar = progress.NO_BAR
) -> Evaluation:
    """Pair each truth frame with the latest snapshot at or before it, and evaluate. A recording
    without a picture is fused offline first (see `nodes.options.fusion_config`); `bar` follows the
    recording time read (a picture history is read at once)."""
    messages = list(_messages(path, fusion_config_path, bar))
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
    snapshots = (m for m in messages if isinstance(m, PictureSnapshot))
    made_with = next((snapshot.fusion_settings for snapshot in snapshots if snapshot.fusion_settings), None)
    return Evaluation(evaluate(frames, config), latency, made_with)


def _order(message: Envelope) -> tuple[datetime, int]:
    # A snapshot taken at the truth's instant goes first, so the pair shares the time.
    return message.time, 0 if isinstance(message, PictureSnapshot) else 1


def _messages(path: Path, fusion_config_path: Path | None, bar: progress.Bar) -> Iterator[Envelope]:
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
    recording = open_recording(path)
    records = list(recording)
    if any(_kind(r) is topics.Kind.SNAPSHOT for r in records):
        yield from _decoded(progress.through(records, bar))
    else:
        carried = recording.header.recorded.get("fusion")
        yield from OfflineFusion(fusion_config(fusion_config_path, carried)).run(progress.through(records, bar))


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
