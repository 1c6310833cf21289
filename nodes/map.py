"""`rampart map`: the shared picture as a live map in the browser, served by a passive node.

The node reads the bus (picture, video and sensor observations for footprints and sensor positions,
node states) and publishes nothing but its own retained node state. A plain HTTP server (standard
library, threaded) serves the page, built from `web/` into `nodes/map_static/` by `npm run build`,
and streams the picture to it as server-sent events: one whole frame when a page connects, then
every `FRAME_PERIOD_S` a delta of the tracks that changed or were dropped, the sensors and video
footprints seen lately, and the link state with the picture's age (time since the newest snapshot
was sent). The page turns red when that age passes `--stale-after`, when the broker link is down,
when no fusion node is online, or when the stream itself stops.
"""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import queue
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

from bus import topics
from bus.client import BrokerConfig, BusClient, Delivery
from bus.replica import PictureReplica
from bus.schema import Envelope, SensorReading, Track, VideoMetadata
from nodes.freshness import STALE_AFTER_S, PictureFreshness
from nodes.options import add_broker_option, broker_from
from nodes.passive import passive_client

log = logging.getLogger(__name__)

FRAME_PERIOD_S = 0.25
"""How often the pages get a delta: changes within one period travel together."""
CONTEXT_TTL_S = 10.0
"""A sensor or video footprint not heard of for this long leaves the map."""
STATIC = Path(str(resources.files("nodes") / "map_static"))
BUILD_HINT = "the map's page is not built: run `npm ci && npm run build` in web/ (pip install does it)"


def map_page_built() -> bool:
    return (STATIC / "index.html").is_file()


def configure(parser: argparse.ArgumentParser) -> None:
    add_broker_option(parser)
    parser.add_argument("--id", default="map", help="node id on the bus (default map)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8765, help="port to serve on (default 8765; 0: any free)")
    parser.add_argument(
        "--tiles", default="", metavar="URL", help="optional tile layer, e.g. https://host/{z}/{x}/{y}.png"
    )
    parser.add_argument(
        "--stale-after",
        type=float,
        default=STALE_AFTER_S,
        help=f"seconds without a snapshot before the picture is stale (default {STALE_AFTER_S:g})",
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    with MapServer(broker_from(args), args.id, args.host, args.port, args.tiles, args.stale_after) as server:
        print(f"rampart map: {server.url}", flush=True)
        server.serve(args.duration)
    return 0


def track_json(track: Track) -> dict[str, Any]:
    cov = track.position_cov_enu_m2
    return {
        "id": track.track_id,
        "status": track.status.value,
        "identity": track.disposition.value,
        "environment": track.environment.value,
        "class": track.classification.value if track.classification else None,
        "confidence": track.classification_confidence,
        "cot": track.cot_type,
        "platform": track.platform_id,
        "lat": track.position.lat,
        "lon": track.position.lon,
        "hae": track.position.hae_m,
        "vel": list(track.velocity_enu_mps),
        "cov": [cov[0][0], cov[0][1], cov[1][1]],
        "sources": [{"id": s.source_id, "kind": s.kind.value, "last": s.last_time.isoformat()} for s in track.sources],
        "first_seen": track.first_seen.isoformat(),
        "updated": track.updated.isoformat(),
    }


class MapFeed:
    """What the pages show, kept from the bus; `frame()` turns it into JSON for the pages."""

    def __init__(self, client: BusClient, stale_after_s: float) -> None:
        self.freshness = PictureFreshness(client, stale_after_s)
        self._lock = threading.Lock()
        self._changed: set[str] = set()
        self._dropped: set[str] = set()
        self._context: dict[str, tuple[float, dict[str, Any]]] = {}
        self.replica = PictureReplica(client, on_created=self._touch, on_updated=self._touch, on_dropped=self._drop)
        client.subscribe(f"{topics.ROOT}/obs/video/+", self._on_observation, qos=0)
        client.subscribe(f"{topics.ROOT}/obs/sensor/+", self._on_observation, qos=0)

    def _touch(self, track: Track) -> None:
        with self._lock:
            self._changed.add(track.track_id)
            self._dropped.discard(track.track_id)

    def _drop(self, track_id: str) -> None:
        with self._lock:
            self._dropped.add(track_id)
            self._changed.discard(track_id)

    def _on_observation(self, message: Envelope, delivery: Delivery) -> None:
        item: dict[str, Any] | None = None
        if isinstance(message, VideoMetadata) and message.sensor_position is not None:
            corners = message.footprint_corners or ()
            item = {
                "kind": "video",
                "lat": message.sensor_position.lat,
                "lon": message.sensor_position.lon,
                "footprint": [[c.lat, c.lon] for c in corners],
                "detections": len(message.detections),
            }
        elif isinstance(message, SensorReading):
            position = message.sensor_position
            item = {
                "kind": "sensor",
                "lat": position.lat,
                "lon": position.lon,
                "footprint": [],
                "detections": len(message.detections),
            }
        if item is not None:
            item["id"] = message.source.id
            with self._lock:
                self._context[message.source.id] = (time.monotonic(), item)

    def status(self) -> dict[str, Any]:
        fresh = self.freshness.now()
        return {
            "link": fresh.link,
            "age_s": fresh.age_s,
            "fusion_online": fresh.fusion_online,
            "stale": fresh.stale,
            "reasons": list(fresh.reasons),
            "picture_seq": self.replica.picture_seq,
        }

    def _context_now(self) -> list[dict[str, Any]]:
        cutoff = time.monotonic() - CONTEXT_TTL_S
        with self._lock:
            for key in [key for key, (seen, _) in self._context.items() if seen < cutoff]:
                del self._context[key]
            return [item for _, item in self._context.values()]

    def whole(self) -> str:
        """Every track, for a page that just connected."""
        tracks = [track_json(track) for track in self.replica.tracks().values()]
        return json.dumps(
            {"full": True, "tracks": tracks, "dropped": [], "context": self._context_now(), "status": self.status()}
        )

    def delta(self) -> str:
        """What changed since the last delta (taken by the one broadcaster)."""
        with self._lock:
            changed, dropped = self._changed, self._dropped
            self._changed, self._dropped = set(), set()
        picture = self.replica.tracks()
        tracks = [track_json(picture[track_id]) for track_id in changed if track_id in picture]
        return json.dumps(
            {
                "full": False,
                "tracks": tracks,
                "dropped": sorted(dropped),
                "context": self._context_now(),
                "status": self.status(),
            }
        )


class MapServer:
    """The passive bus node, the HTTP server, and the broadcaster that feeds every page."""

    def __init__(
        self,
        broker: BrokerConfig,
        node_id: str,
        host: str,
        port: int,
        tiles: str = "",
        stale_after_s: float = STALE_AFTER_S,
    ) -> None:
        if not map_page_built():
            raise FileNotFoundError(BUILD_HINT)
        self.client = passive_client(node_id, broker, announce=True)
        self.feed = MapFeed(self.client, stale_after_s)
        self.config = json.dumps({"tiles": tiles, "stale_after_s": stale_after_s})
        self._pages: set[queue.Queue[str]] = set()
        self._pages_lock = threading.Lock()
        self._stop = threading.Event()
        self._http = ThreadingHTTPServer((host, port), self._handler())
        self._http.daemon_threads = True
        self.url = f"http://{host}:{self._http.server_address[1]}/"
        self._threads = [
            threading.Thread(target=self._http.serve_forever, name="map-http", daemon=True),
            threading.Thread(target=self._broadcast, name="map-frames", daemon=True),
        ]

    def __enter__(self) -> MapServer:
        self.client.start()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._http.shutdown()
        self._http.server_close()
        self.client.stop()

    def serve(self, duration: float | None) -> None:
        self._stop.wait(duration)

    def _broadcast(self) -> None:
        while not self._stop.wait(FRAME_PERIOD_S):
            frame = self.feed.delta()
            with self._pages_lock:
                pages = list(self._pages)
            for page in pages:
                try:
                    page.put_nowait(frame)
                except queue.Full:  # a page that cannot keep up starts again from a whole frame
                    with page.mutex:
                        page.queue.clear()
                    page.put_nowait(self.feed.whole())

    def _stream(self, handler: BaseHTTPRequestHandler) -> None:
        page: queue.Queue[str] = queue.Queue(maxsize=20)
        page.put_nowait(self.feed.whole())
        with self._pages_lock:
            self._pages.add(page)
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        try:
            while not self._stop.is_set():
                try:
                    frame = page.get(timeout=1.0)
                except queue.Empty:
                    continue
                handler.wfile.write(f"data: {frame}\n\n".encode())
                handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self._pages_lock:
                self._pages.discard(page)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/events":
                    server._stream(self)
                elif path == "/config.json":
                    self._send(server.config.encode(), "application/json")
                else:
                    file = (STATIC / (path.lstrip("/") or "index.html")).resolve()
                    if not file.is_relative_to(STATIC.resolve()) or not file.is_file():
                        self.send_error(HTTPStatus.NOT_FOUND)
                        return
                    self._send(file.read_bytes(), mimetypes.guess_type(file.name)[0] or "application/octet-stream")

            def _send(self, body: bytes, content_type: str) -> None:
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("%s " + format, self.address_string(), *args)

        return Handler
