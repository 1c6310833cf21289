"""`rampart watch`: the shared picture in the terminal, from a passive node. It publishes nothing:
no node state, no position, nothing in the picture (unlike a vehicle), so watching never changes
what it watches. The view fits the terminal (80x24 included) and says STALE, with the picture's
age, when snapshots stop, the fusion goes offline or the broker link is lost."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

from rich.console import Console, Group

from bus.client import BusClient
from bus.replica import PictureReplica
from bus.schema import Track
from nodes.freshness import STALE_AFTER_S, PictureFreshness
from nodes.options import add_broker_option, add_json_option, broker_from, print_json
from nodes.passive import passive_client
from nodes.views import Column, class_cell, freshness_line, identity_cell, live_view, status_cell, track_table

STATUS_ORDER = {"confirmed": 0, "coasting": 1, "tentative": 2}
REFRESH_S = 0.5


def configure(parser: argparse.ArgumentParser) -> None:
    add_broker_option(parser)
    parser.add_argument("--id", default="watch", help="client id (default watch); nothing is published under it")
    parser.add_argument(
        "--stale-after", type=float, default=STALE_AFTER_S, help="seconds without a snapshot before STALE"
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    add_json_option(
        parser, "the picture, its freshness and the rejected messages once (after --duration, 2 s by default)"
    )


def columns(now: datetime) -> list[Column]:
    return [
        Column("track", 9, 0, lambda i, t: t.track_id),
        Column("status", 9, 0, lambda i, t: status_cell(t)),
        Column("identity", 14, 1, lambda i, t: identity_cell(t)),
        Column("age s", 5, 1, lambda i, t: f"{(now - t.updated).total_seconds():.0f}", right=True),
        Column("class", 12, 2, lambda i, t: class_cell(t)),
        Column(
            "speed m/s",
            9,
            3,
            lambda i, t: f"{(t.velocity_enu_mps[0] ** 2 + t.velocity_enu_mps[1] ** 2) ** 0.5:.1f}",
            right=True,
        ),
        Column("position", 19, 4, lambda i, t: f"{t.position.lat:.5f},{t.position.lon:.5f}"),
        Column("sources", 7, 5, lambda i, t: str(len(t.sources)), right=True),
    ]


def ordered(tracks: dict[str, Track]) -> list[Track]:
    return sorted(tracks.values(), key=lambda t: (STATUS_ORDER.get(t.status.value, 3), t.track_id))


def view(console: Console, replica: PictureReplica, freshness: PictureFreshness, client: BusClient) -> Group:
    fresh = freshness.now()
    tracks = ordered(replica.tracks())
    confirmed = sum(t.status == "confirmed" for t in tracks)
    title = f"rampart watch: {len(tracks)} tracks ({confirmed} confirmed), seq {replica.picture_seq}"
    rejected = sum(client.figures.rejected.values())
    if rejected:  # messages that did not decode: counted and logged, never republished (a passive node)
        title += f", {rejected} rejected"
    rows = console.size.height - 7
    table = track_table(title, tracks, columns(datetime.now(UTC)), console.size.width, rows, fresh.stale)
    return Group(freshness_line(fresh), table)


def run(args: argparse.Namespace) -> int:
    client = passive_client(args.id, broker_from(args), announce=False)
    replica = PictureReplica(client)
    freshness = PictureFreshness(client, args.stale_after)
    deadline = time.monotonic() + (args.duration if args.duration else 2.0 if args.json else float("inf"))
    with client:
        if args.json:
            time.sleep(max(0.0, deadline - time.monotonic()))
            fresh = freshness.now()
            print_json(
                {
                    "stale": fresh.stale,
                    "reasons": list(fresh.reasons),
                    "picture_age_s": fresh.age_s,
                    "link": fresh.link,
                    "picture_seq": replica.picture_seq,
                    "rejected": dict(client.figures.rejected),
                    "tracks": [t.model_dump(mode="json") for t in ordered(replica.tracks())],
                }
            )
            return 0
        console = Console()
        with live_view(console) as live:
            while time.monotonic() < deadline:
                live.update(view(console, replica, freshness, client), refresh=True)
                time.sleep(REFRESH_S)
    return 0
