"""Memory growth in one process, fast: the fusion core with its picture feed and a vehicle's
`PictureReplica`, driven by a scenario's messages (default `stress`) at full speed, no broker.

Why: the soak (`bench/soak.py`) takes half an hour and, on a loaded machine, cannot tell a table
that grows with traffic from queues under CPU starvation. Here the picture's clock is the messages'
own, so many simulated minutes take a few wall minutes, and `tracemalloc` says which lines hold the
memory that grew: a snapshot after the warm-up is compared with one at the end, by line. Tracing
starts at the end of the warm-up (it slows the run about sixfold) and the baseline is taken
`--settle` minutes later, so that windows (the duplicate memory, the checkpoints) are full of traced
objects on both sides. No collection is forced: the nodes collect cyclic garbage seldom
(`nodes.cli.tune_gc`), so garbage in reference cycles is memory they hold, and shows here.

The fusion side is what the service does per tick (`PictureFeed.step`, one `snapshot_pages` a
second); the vehicle side gets every `TrackUpdate`, drop and snapshot page the service would
publish, through the replica's own handlers.

Usage: python bench/memory_growth.py [--minutes M] [--warmup M] [--top N] [--scenario NAME]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from _proc import rss_mb

from bus import topics
from bus.client import Delivery
from bus.replica import PictureReplica
from bus.schema import GroundTruth, Observation, Source, SourceKind
from fusion import FusionConfig, FusionCore
from fusion.intake import from_us
from fusion.picture import PictureFeed
from nodes.cli import tune_gc
from nodes.sim import scenario_messages
from simulators import load_scenario

SOURCE = Source(id="fusion", kind=SourceKind.FUSION)


class _Subscriptions:
    """Stands in for a `BusClient` for the replica: keeps the handlers it subscribes."""

    def __init__(self) -> None:
        self.handler: Callable[..., None] | None = None
        self.on_cleared: Callable[[str], None] | None = None

    def subscribe(self, topic_filter: str, handler: Callable[..., None], on_cleared: Any = None) -> None:
        self.handler, self.on_cleared = handler, on_cleared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="stress")
    parser.add_argument("--minutes", type=float, default=20.0, help="simulated minutes (default 20)")
    parser.add_argument("--warmup", type=float, default=5.0, help="simulated minutes before tracing (default 5)")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="simulated minutes of tracing before the baseline (default 2)"
    )
    parser.add_argument("--top", type=int, default=12, help="lines of growth shown (default 12)")
    args = parser.parse_args()
    tune_gc()  # as the `rampart` command does
    scenario = load_scenario(args.scenario)
    scenario = scenario.model_copy(update={"duration_s": args.minutes * 60.0})
    start_us = scenario.start_time_us

    config = FusionConfig()
    core = FusionCore(config)
    feed = PictureFeed(core, SOURCE, epoch=1)
    subscriptions = _Subscriptions()
    replica = PictureReplica(subscriptions)  # type: ignore[arg-type]
    assert subscriptions.handler is not None and subscriptions.on_cleared is not None
    on_message, on_cleared = subscriptions.handler, subscriptions.on_cleared
    tick = timedelta(seconds=config.tick_s)

    baseline: tracemalloc.Snapshot | None = None
    baseline_at = 0.0
    clock = next_snapshot = next_report = from_us(start_us)
    started = time.perf_counter()
    print(f"{'sim min':>7} {'wall s':>7} {'RSS MB':>7} {'traced MB':>9} {'tracks':>6} {'replica':>7}")
    for emit_us, _topic, message in scenario_messages(scenario, scenario.seed):
        now = from_us(emit_us)
        while clock + tick <= now:
            clock += tick
            step = feed.step(clock)
            for update in step.updates:
                on_message(update, Delivery(topics.track(update.track.track_id), False, 0.0))
            for track_id in step.dropped:
                on_cleared(topics.track(track_id))
            if clock >= next_snapshot:
                for page in feed.snapshot_pages(clock):
                    on_message(page, Delivery(topics.snapshot(page.page), False, 0.0))
                next_snapshot = clock + timedelta(seconds=1)
        if isinstance(message, Observation):
            core.ingest(message, now=now)
        elif not isinstance(message, GroundTruth):
            continue
        minute = (emit_us - start_us) / 60e6
        if not tracemalloc.is_tracing() and minute >= args.warmup:
            tracemalloc.start(1)
        if baseline is None and minute >= args.warmup + args.settle:
            baseline, baseline_at = tracemalloc.take_snapshot(), minute
        if now >= next_report:
            next_report = now + timedelta(minutes=1)
            traced = tracemalloc.get_traced_memory()[0] / 1e6
            print(
                f"{minute:>7.1f} {time.perf_counter() - started:>7.0f} {rss_mb():>7.1f} {traced:>9.1f} "
                f"{len(core.tracks()):>6} {len(replica.tracks()):>7}",
                flush=True,
            )
    if baseline is None:
        print("no baseline: the run ended before the warm-up and the settling were over")
        return
    end = tracemalloc.take_snapshot()
    span = max((emit_us - start_us) / 60e6 - baseline_at, 1e-9)
    growth = end.compare_to(baseline, "lineno")
    total = sum(stat.size_diff for stat in growth)
    print(
        f"\ngrowth from minute {baseline_at:.1f} to {baseline_at + span:.1f}: {total / span / 1e3:+.1f} kB per minute"
    )
    for stat in growth[: args.top]:
        frame = stat.traceback[0]
        print(
            f"{stat.size_diff / span / 1e3:>+9.1f} kB/min {stat.count_diff / span:>+8.0f} blocks/min  "
            f"{frame.filename.split('/site-packages/')[-1]}:{frame.lineno}"
        )


if __name__ == "__main__":
    main()
