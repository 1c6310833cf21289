"""`rampart replay`: a recording back onto the bus with its timing (scaled), optionally made to look
live; or, with `--offline`, through the fusion core with no broker (see fusion/offline.py), with the
settings of `--config`, else those the recording carries, else the defaults."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bus import codec, topics
from bus.client import BusClient
from bus.envelope import rebased
from bus.recording import RecordedMessage, RecordingError, open_recording
from bus.schema import PictureSnapshot, SourceKind, utc_now
from fusion import FusionConfig
from fusion.config import settings
from fusion.offline import OfflineFusion
from nodes import progress
from nodes.options import (
    OptionError,
    add_broker_option,
    add_config_option,
    add_json_option,
    broker_from,
    fusion_config,
    print_json,
)

DEFAULT_FILTERS = [topics.ALL_OBSERVATIONS, topics.ALL_TRUTH]
REPLAYER_ID = "replayer"
"""The replayer's identity (role `replayer`: it may write observations and truth, see nodes/security.py)."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="a recording (rampart record, or rampart sim --out)")
    add_broker_option(parser)
    parser.add_argument(
        "--id", default=REPLAYER_ID, help=f"node id: its identity in a provisioned deployment (default {REPLAYER_ID})"
    )
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("--speed", type=float, default=1.0, help="times the recorded pace (default 1)")
    pace.add_argument("--max-speed", action="store_true", help="as fast as the broker takes it")
    parser.add_argument("--loop", action="store_true", help="start over at the end, until Ctrl-C")
    parser.add_argument("--live-times", action="store_true", help="rewrite time stamps so the replay looks live")
    parser.add_argument(
        "--topic",
        action="append",
        dest="topics",
        metavar="FILTER",
        help="replay only matching topics (repeatable; default: observations and truth; '#' for all)",
    )
    parser.add_argument("--offline", action="store_true", help="run the fusion core on the file, no broker")
    parser.add_argument("--out", type=Path, help="with --offline: write the picture history (JSON lines) here")
    add_config_option(parser)
    add_json_option(parser, "the summary (with --offline, only with --out; not with --loop)")


def run(args: argparse.Namespace) -> int:
    if args.json and args.offline and args.out is None:
        raise OptionError("--json --offline needs --out FILE: without it the picture history goes to stdout")
    if args.json and args.loop:
        raise OptionError("--json does not go with --loop: a loop ends only on Ctrl-C, with no summary")
    try:
        recording = open_recording(args.file)
    except (RecordingError, OSError) as error:
        print(f"rampart replay: {error}", file=sys.stderr)
        return 2
    if args.offline:
        config = fusion_config(args.config, recording.header.recorded.get("fusion"))
        with progress.bar(f"rampart replay: {args.file.name}") as bar:
            outcome = replay_offline(progress.through(recording, bar), args.out, config)
        if args.json:
            print_json({"file": str(args.file), "out": str(args.out), **outcome})
        else:
            figures = outcome["figures"]
            print(
                f"offline: {figures['accepted']} observations, {figures['detections']} detections, "
                f"{outcome['rejected']} rejected, {figures['late']} late; "
                f"{figures['tracks_confirmed']} confirmed tracks at the end",
                file=sys.stderr,
            )
        return 0
    if args.speed <= 0:
        print("rampart replay: --speed must be positive", file=sys.stderr)
        return 2
    filters = args.topics or DEFAULT_FILTERS
    messages = matching(recording, filters)
    if not messages:
        print(f"rampart replay: no message in {args.file} matches {', '.join(filters)}", file=sys.stderr)
        return 1
    speed = None if args.max_speed else args.speed
    with (
        BusClient(args.id, SourceKind.TOOL, broker_from(args), role="replay") as bus,
        progress.bar(f"rampart replay: {args.file.name}", progress.span_s(messages)) as bar,
    ):
        generation = 0
        while True:
            replay(bus, messages, speed, args.live_times, generation, bar)
            generation += 1
            if not args.loop:
                break
        acknowledged = bus.wait_acknowledged(30)
    if args.json:
        print_json({"file": str(args.file), "messages": len(messages), "acknowledged": acknowledged})
    else:
        print(f"replayed {len(messages)} messages of {args.file}", file=sys.stderr)
    return 0


def replay(
    bus: BusClient,
    messages: list[RecordedMessage],
    speed: float | None,
    live_times: bool,
    generation: int = 0,
    bar: progress.Bar = progress.NO_BAR,
) -> None:
    """Publish `messages` keeping their recorded spacing divided by `speed` (None: no waiting);
    `bar` follows the recording time sent."""
    first_us = messages[0].time_us
    shift = utc_now() - datetime.fromtimestamp(first_us / 1e6, UTC)
    started = time.monotonic()
    for message in messages:
        if speed is not None:
            delay = started + (message.time_us - first_us) / 1e6 / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        payload = _live(message, shift, generation) if live_times and message.payload else message.payload
        bus.publish_raw(message.topic, payload, message.qos, message.retain, message.content_type)
        bar((message.time_us - first_us) / 1e6)


def replay_offline(recording: Iterable[RecordedMessage], out: Path | None, config: FusionConfig) -> dict[str, Any]:
    """The fusion core over the file, no broker: the picture history as JSON lines (snapshots, each
    with the settings it was made with, and the truth frames beside them), deterministic for the
    same file and settings. Returns what the core counted (its figures, the records that did not
    decode), the snapshots written and the settings."""
    fusion = OfflineFusion(config)
    snapshots = 0
    with open(out, "w") if out else contextlib.nullcontext(sys.stdout) as sink:
        for message in fusion.run(recording):
            sink.write(codec.encode(message, codec.JSON).decode() + "\n")
            snapshots += isinstance(message, PictureSnapshot)
    return {
        "figures": asdict(fusion.core.figures),
        "rejected": fusion.rejected,
        "snapshots": snapshots,
        "fusion": settings(config),
    }


def matching(messages: Iterable[RecordedMessage], filters: list[str]) -> list[RecordedMessage]:
    return [m for m in messages if any(topics.matches(f, m.topic) for f in filters)]


def _live(message: RecordedMessage, shift: timedelta, generation: int) -> bytes:
    """The payload with its time moved to now; one that does not decode is replayed as it was."""
    try:
        decoded = codec.decode(message.payload, message.content_type)
    except codec.DecodeError:
        return message.payload
    return codec.encode(rebased(decoded, shift, utc_now(), generation), message.content_type or codec.MSGPACK)
