"""`rampart record`: capture bus traffic into a recording file, with a live count."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from bus import topics
from bus.client import PERSISTENT_SESSION_S, BrokerConfig, BusClient, BusError
from bus.recording import RecordedMessage, RecordingWriter
from bus.schema import SourceKind, utc_now
from nodes import progress
from nodes.options import add_broker_option, add_json_option, broker_from, node_id, print_json


def configure(parser: argparse.ArgumentParser) -> None:
    add_broker_option(parser)
    parser.add_argument("--out", required=True, help="the recording file to write")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument(
        "--topic", action="append", dest="topics", metavar="FILTER", help=f"repeatable; default {topics.ALL}"
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    parser.add_argument(
        "--id",
        default="recorder",
        type=node_id,
        help="node id: its identity in a provisioned deployment (default recorder)",
    )
    add_json_option(parser, "the summary at the stop")


def run(args: argparse.Namespace) -> int:
    filters = args.topics or [topics.ALL]
    try:
        recorder = Recorder(args.out, filters, broker_from(args), overwrite=args.force, node_id=args.id)
    except FileExistsError:
        print(f"rampart record: {args.out} exists; --force overwrites it", file=sys.stderr)
        return 2
    with recorder:
        deadline = time.monotonic() + args.duration if args.duration else None
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(min(1.0, deadline - time.monotonic()) if deadline else 1.0)
                if progress.shown():  # a live count on a terminal; never in logs
                    print(f"\r{recorder.status()}", end="", file=sys.stderr, flush=True)
                if recorder.failure is not None:  # another recorder took our id over: exit non-zero
                    raise recorder.failure
        except KeyboardInterrupt:
            pass
    if args.json:
        print_json({"out": str(args.out), "topics": filters, **recorder.figures()})
    else:
        print(f"\r{recorder.status()}  -> {args.out}", file=sys.stderr)
    return 0


class Recorder:
    """Writes every message matching `filters` to a recording, as received (bytes and properties)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        filters: list[str],
        broker: BrokerConfig,
        overwrite: bool = False,
        node_id: str | None = None,
    ) -> None:
        """`node_id` defaults to `recorder-<pid>`; a provisioned deployment names the recorder's identity."""
        self.filters = filters
        self.messages = 0
        self.bytes = 0
        self._started = time.monotonic()
        self._lock = threading.Condition()
        self._latest: RecordedMessage | None = None
        self._writer = RecordingWriter(
            path,
            {"source": "broker", "broker": broker.url, "topics": filters},
            created_at=utc_now(),
            overwrite=overwrite,
        )
        self._client = BusClient(
            node_id or f"recorder-{os.getpid()}",
            SourceKind.RECORDER,
            broker,
            role="recorder",
            persistent_session_s=PERSISTENT_SESSION_S,
        )
        for topic_filter in filters:
            self._client.subscribe_raw(topic_filter, self._record)

    def _record(self, msg: mqtt.MQTTMessage) -> None:
        properties = msg.properties
        content_type = getattr(properties, "ContentType", None) if properties else None
        user_properties = tuple(getattr(properties, "UserProperty", ()) or ()) if properties else ()
        record = RecordedMessage(
            time_us=time.time_ns() // 1000,
            topic=msg.topic,
            payload=bytes(msg.payload),
            content_type=content_type,
            qos=msg.qos,
            retain=bool(msg.retain),
            user_properties=user_properties,
        )
        with self._lock:
            self._writer.write(record)
            self.messages += 1
            self.bytes += len(record.payload)
            self._latest = record
            self._lock.notify_all()

    def wait_for(self, condition: Callable[[RecordedMessage], bool], timeout_s: float) -> bool:
        """Until a message that satisfies `condition` is recorded (checked as each one is written):
        lets a caller know what the recording holds before it stops."""
        with self._lock:
            return self._lock.wait_for(lambda: self._latest is not None and condition(self._latest), timeout_s)

    def figures(self) -> dict[str, float]:
        """What was recorded so far: messages, payload bytes, seconds since the start, messages a second."""
        seconds = max(time.monotonic() - self._started, 1e-9)
        return {"messages": self.messages, "bytes": self.bytes, "seconds": seconds, "rate": self.messages / seconds}

    def status(self) -> str:
        figures = self.figures()
        return f"recorded {self.messages} messages, {self.bytes / 1e6:.2f} MB ({figures['rate']:.0f} msg/s)"

    def start(self) -> Recorder:
        self._client.start()
        return self

    @property
    def failure(self) -> BusError | None:
        """Why the recorder's connection gave up for good (see BusClient.failure), else None."""
        return self._client.failure

    def stop(self) -> None:
        self._client.stop()
        with self._lock:
            self._writer.close()

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
