"""Load for the admission test: one source's position reports at a paced rate, in a process of its own.

    python -m tests.flood_load URL SOURCE_ID PLATFORMS RATE START END [FLOOD_AT FACTOR]

From wall-clock time START to END (seconds since 1970) SOURCE_ID publishes RATE reports a second in
all, round-robin over PLATFORMS parked platforms, each stamped with the wall clock; from FLOOD_AT on,
FACTOR times as many.
"""

from __future__ import annotations

import sys
import threading
import time
import zlib
from datetime import UTC, datetime

from bus import topics
from bus.client import BrokerConfig, BusClient
from bus.schema import GeoPoint, PositionReport, Source, SourceKind

_BATCH_S = 0.005


def main(argv: list[str]) -> None:
    url, source_id, platforms, rate, start, end = argv[:6]
    flood_at, factor = (float(argv[6]), float(argv[7])) if len(argv) > 6 else (float(end), 1.0)
    count, per_s, start_s, end_s = int(platforms), float(rate), float(start), float(end)
    source = Source(id=source_id, kind=SourceKind.POSITION)
    topic = topics.observation("position", source_id)
    offset = zlib.crc32(source_id.encode()) % 100 * 0.01
    positions = [GeoPoint(lat=54.30 + offset + 0.001 * k, lon=10.10 + offset) for k in range(count)]
    pause = threading.Event()
    with BusClient(source_id, SourceKind.POSITION, BrokerConfig.from_url(url)) as client:
        sent = 0
        pause.wait(max(0.0, start_s - time.time()))
        while (now := time.time()) < end_s:
            due = per_s * (min(now, flood_at) - start_s) + per_s * factor * max(0.0, now - flood_at)
            while sent < due:
                k = sent % count
                stamp = datetime.now(UTC)
                client.publish(
                    topic,
                    PositionReport(source=source, time=stamp, platform_id=f"{source_id}-{k}", position=positions[k]),
                )
                sent += 1
            pause.wait(_BATCH_S)
        client.wait_acknowledged(10.0)


if __name__ == "__main__":
    main(sys.argv[1:])
