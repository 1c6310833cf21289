"""`rampart vehicle`: a vehicle node. It holds the shared picture (`PictureReplica`), reports its own
position as an adapter would, and shows the tracks sorted by distance with bearing and range."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pymap3d
from rich.console import Console, Group
from rich.text import Text

from adapters.base import Adapter
from bus.client import PERSISTENT_SESSION_S, BrokerConfig
from bus.replica import PictureReplica
from bus.schema import Environment, GeoPoint, PositionReport, Track
from fusion.clock import PictureClock
from nodes.freshness import PictureFreshness
from nodes.options import add_broker_option, broker_from, east_north, lat_lon, positive, vehicle_id
from nodes.views import Column, class_cell, freshness_line, identity_cell, live_view, status_cell, track_table


@dataclass(frozen=True)
class OwnFix:
    """The vehicle's own navigation solution at one instant."""

    time: datetime
    position: GeoPoint
    velocity_enu_mps: tuple[float, float, float]


class VehicleNavigation(Adapter[OwnFix]):
    """The vehicle's own position onto the bus: it is an adapter like any other."""

    kind = "position"
    integration = "rampart-vehicle"

    def __init__(self, vehicle_id: str, broker: BrokerConfig | None = None) -> None:
        super().__init__(f"{vehicle_id}.nav", broker, persistent_session_s=PERSISTENT_SESSION_S)
        self.vehicle_id = vehicle_id

    def translate(self, native: OwnFix) -> PositionReport:
        east, north, _ = native.velocity_enu_mps
        return PositionReport(
            source=self.source,
            time=native.time,
            platform_id=self.vehicle_id,
            position=native.position,
            velocity_enu_mps=native.velocity_enu_mps,
            heading_deg=float(np.degrees(np.arctan2(east, north)) % 360.0),
            ce_m=3.0,
            environment=Environment.LAND,
            platform_type="combat vehicle",
            callsign=self.vehicle_id,
        )


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", required=True, type=vehicle_id, help="vehicle id (its platform id in the picture)")
    add_broker_option(parser)
    parser.add_argument("--position", type=lat_lon, default="54.32,10.14", help="start LAT,LON (default 54.32,10.14)")
    parser.add_argument(
        "--velocity", type=east_north, default="0,0", help="constant VE,VN in m/s (default 0,0: parked)"
    )
    parser.add_argument("--report-rate", type=positive, default=1.0, help="own position reports per second (default 1)")
    parser.add_argument("--headless", action="store_true", help="print a summary line instead of the live table")
    parser.add_argument(
        "--clock",
        choices=("wall", "picture"),
        default="wall",
        help="time stamps of own reports: the wall clock, or the picture's (for scenarios run faster than real time)",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    lat, lon = args.position
    ve, vn = args.velocity
    start, started = GeoPoint(lat=lat, lon=lon), time.monotonic()
    navigation = VehicleNavigation(args.id, broker_from(args))
    clock = PictureClock()

    def follow(track: Track) -> None:
        """The picture's time is its newest track update (coasting tracks carry older ones)."""
        if track.updated > clock.now():
            clock.observe("picture", track.updated)

    following = follow if args.clock == "picture" else None
    replica = PictureReplica(navigation.client, on_created=following, on_updated=following)
    freshness = PictureFreshness(navigation.client, node_states=False)  # a vehicle reads the picture only
    deadline = started + args.duration if args.duration else None
    console = Console()
    with navigation, contextlib.nullcontext() if args.headless else live_view(console) as live:
        while deadline is None or time.monotonic() < deadline:
            elapsed = time.monotonic() - started
            lat_now, lon_now, _ = pymap3d.enu2geodetic(ve * elapsed, vn * elapsed, 0.0, start.lat, start.lon, 0.0)
            own = GeoPoint(lat=float(lat_now), lon=float(lon_now))
            navigation.submit(OwnFix(clock.now(), own, (ve, vn, 0.0)))
            if live is None:
                print(f"{summary(args.id, replica)}, {freshness.now().line()}", file=sys.stderr, flush=True)
            else:
                live.update(view(args.id, own, replica, freshness, console), refresh=True)
            time.sleep(1.0 / args.report_rate)
    return 0


def summary(vehicle_id: str, replica: PictureReplica) -> str:
    tracks = replica.tracks()
    confirmed = sum(track.status == "confirmed" for track in tracks.values())
    figures = replica.figures
    return (
        f"vehicle {vehicle_id}: {len(tracks)} tracks ({confirmed} confirmed), picture seq {replica.picture_seq}, "
        f"gaps {figures.gaps}, resyncs {figures.resyncs}"
    )


def ranges_and_bearings(own: GeoPoint, tracks: list[Track]) -> tuple[np.ndarray, np.ndarray]:
    """Ground range (m) and bearing (degrees clockwise from true north) from `own` to each track."""
    if not tracks:
        return np.zeros(0), np.zeros(0)
    lat = np.array([t.position.lat for t in tracks])
    lon = np.array([t.position.lon for t in tracks])
    hae = np.array([t.position.hae_m for t in tracks])
    azimuth, elevation, slant = pymap3d.geodetic2aer(lat, lon, hae, own.lat, own.lon, own.hae_m)
    return np.asarray(slant) * np.cos(np.radians(elevation)), np.asarray(azimuth) % 360.0


def view(
    vehicle_id: str, own: GeoPoint, replica: PictureReplica, freshness: PictureFreshness, console: Console
) -> Group:
    """The tracks by distance; columns dropped by priority to fit the terminal, STALE when it is."""
    tracks = list(replica.tracks().values())
    ranges, bearings = ranges_and_bearings(own, tracks)
    order = np.argsort(ranges, kind="stable")
    by_range = [tracks[int(index)] for index in order]
    fresh = freshness.now()
    title = f"Shared picture at {vehicle_id} ({own.lat:.5f}, {own.lon:.5f})"
    rows = console.size.height - 8
    table = track_table(title, by_range, columns(ranges, bearings, order), console.size.width, rows, fresh.stale)
    return Group(freshness_line(fresh), table, Text(summary(vehicle_id, replica)))


def columns(ranges: np.ndarray, bearings: np.ndarray, order: np.ndarray) -> list[Column]:
    """The view's columns; row `i` shows track `order[i]`, at `ranges` and `bearings` of that index."""
    return [
        Column("track", 9, 0, lambda i, t: t.track_id),
        Column("status", 9, 0, lambda i, t: status_cell(t)),
        Column("range m", 7, 0, lambda i, t: f"{ranges[order[i]]:.0f}", right=True),
        Column("bearing", 7, 1, lambda i, t: f"{bearings[order[i]]:05.1f}", right=True),
        Column("identity", 14, 1, lambda i, t: identity_cell(t)),
        Column("class", 12, 2, lambda i, t: class_cell(t)),
        Column("speed m/s", 9, 3, lambda i, t: f"{float(np.hypot(*t.velocity_enu_mps[:2])):.1f}", right=True),
        Column("sources", 7, 4, lambda i, t: str(len(t.sources)), right=True),
    ]
