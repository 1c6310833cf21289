"""`rampart sim`: run a scenario through the adapters onto the bus in real time or faster, with
ground truth on the truth topic; or write it straight to a recording (no broker, deterministic)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.base import Adapter, SourceTranslator
from adapters.gps import GpsAdapter
from adapters.radar import RadarAdapter
from adapters.video import VideoAdapter
from bus import codec, topics
from bus.client import BrokerConfig, BusClient
from bus.envelope import Stamper
from bus.recording import RecordedMessage, RecordingWriter
from bus.schema import Envelope, Source, SourceKind, utc_now
from nodes import progress, truth
from nodes.options import add_broker_option, add_json_option, broker_from, fusion_settings, print_json
from simulators import Scenario, ScenarioError, load_scenario, simulate
from simulators.native import GpsOutput, RadarOutput, TruthFrame, VideoOutput

log = logging.getLogger(__name__)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", default="smoke", help="built-in name (smoke, baltic-patrol, stress) or a .toml")
    add_broker_option(parser)
    parser.add_argument("--speed", type=float, default=1.0, help="times real time (default 1)")
    parser.add_argument("--duration", type=float, help="stop after this many simulated seconds")
    parser.add_argument("--seed", type=int, help="random seed (default: the scenario's)")
    parser.add_argument("--out", type=Path, help="write a recording to this file instead of publishing")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="with --out: fusion settings (TOML) the recording carries, for replay --offline and eval",
    )
    add_json_option(parser, "the summary")


def run(args: argparse.Namespace) -> int:
    if args.speed <= 0:
        print("rampart sim: --speed must be positive", file=sys.stderr)
        return 2
    try:
        scenario = scenario_for(args.scenario, args.duration)
    except ScenarioError as error:
        print(f"rampart sim: {error}", file=sys.stderr)
        return 2
    seed = scenario.seed if args.seed is None else args.seed
    if args.out:
        if args.out.exists() and not args.force:
            print(f"rampart sim: {args.out} exists; --force overwrites it", file=sys.stderr)
            return 2
        carried = fusion_settings(args.config) if args.config else None
        with progress.bar(f"rampart sim: {scenario.name}", scenario.duration_s) as bar:
            written = write_recording(scenario, seed, args.out, carried, bar)
        if args.json:
            print_json(
                {
                    "scenario": scenario.name,
                    "seed": seed,
                    "duration_s": scenario.duration_s,
                    "messages": written,
                    "out": str(args.out),
                    "fusion": carried,
                }
            )
        else:
            print(f"wrote {written} messages of scenario {scenario.name} (seed {seed}) to {args.out}")
        return 0
    broker = broker_from(args)
    with progress.bar(f"rampart sim: {scenario.name}", scenario.duration_s) as bar:
        sent = run_live(scenario, seed, broker, args.speed, bar)
    if args.json:
        print_json({"scenario": scenario.name, "seed": seed, "duration_s": scenario.duration_s, **sent})
    else:
        print(
            f"sim {scenario.name}: {scenario.duration_s:g} s (seed {seed}), sources {sent['sources']}, "
            f"published {sent['published']}, dropped {sent['dropped']}, rejected {sent['rejected']}",
            file=sys.stderr,
        )
    return 0


def scenario_for(name_or_path: str, duration_s: float | None) -> Scenario:
    scenario = load_scenario(name_or_path)
    if duration_s is not None:
        scenario = scenario.model_copy(update={"duration_s": min(scenario.duration_s, duration_s)})
    return scenario


@dataclass(frozen=True)
class Route:
    """Which adapter publishes a native record, as which source, with which configuration."""

    adapter: Callable[..., Adapter[Any]]
    source_id: str
    options: dict[str, Any] = field(default_factory=dict)
    data: bytes = b""

    def make(self, broker: BrokerConfig | None = None, **options: Any) -> Adapter[Any]:
        """The adapter for this source; with no broker it is only used for its `translate` (offline)."""
        return self.adapter(self.source_id, broker, **self.options, **options)


def route(native: VideoOutput | RadarOutput | GpsOutput) -> Route:
    """The adapter for a device's output; `data` is the wire bytes it is given."""
    match native:
        case RadarOutput():
            return Route(RadarAdapter, native.sensor_id, data=native.data)
        case GpsOutput():
            return Route(GpsAdapter, f"{native.platform_id}.gps", {"platform_id": native.platform_id}, native.data)
        case VideoOutput():
            options = {"platform_id": native.drone_id, "stream_id": native.stream_id}
            return Route(VideoAdapter, native.stream_id, options, native.data)
    raise TypeError(f"no adapter for {type(native).__name__}")


def truth_source(scenario: Scenario) -> Source:
    return Source(id=f"sim.{scenario.name}", kind=SourceKind.SIMULATOR, integration="rampart-sim")


def scenario_messages(scenario: Scenario, seed: int) -> Iterator[tuple[int, str, Envelope]]:
    """Every message the scenario's adapters would publish, as (emit time in us, topic, message), in
    order. Pure and deterministic: seq, session and msg_id come from per-source stampers. Each
    native record goes through its adapter's `SourceTranslator`, as on the bus."""
    translators: dict[str, tuple[str, SourceTranslator[bytes], Stamper]] = {}
    source = truth_source(scenario)
    truth_topic = topics.truth(scenario.name)
    truth_stamper = Stamper(source.id)
    for emission in simulate(scenario, seed):
        native = emission.native
        if isinstance(native, TruthFrame):
            yield (
                emission.emit_time_us,
                truth_topic,
                truth_stamper.stamp(truth.translate(native, source, scenario.name)),
            )
            continue
        target = route(native)
        if target.source_id not in translators:
            adapter = target.make()
            translators[target.source_id] = (adapter.topic, adapter.translator, Stamper(target.source_id))
        topic, translator, stamper = translators[target.source_id]
        translation = translator(target.data)
        if translation.rejection is not None:
            log.warning("%s: native record rejected: %s", target.source_id, translation.rejection)
        for message in translation.envelopes:
            yield emission.emit_time_us, topic, stamper.stamp(message)


def write_recording(
    scenario: Scenario,
    seed: int,
    path: Path,
    fusion: dict[str, Any] | None = None,
    bar: progress.Bar = progress.NO_BAR,
) -> int:
    """The scenario as a recording: what a recorder on the bus would have captured, in time order;
    with `fusion` settings, the header carries them for offline replay and eval to fuse it with.
    `bar` follows the scenario time written."""
    recorded: dict[str, Any] = {
        "source": "simulator",
        "scenario": scenario.name,
        "seed": seed,
        "duration_s": scenario.duration_s,
    }
    if fusion is not None:
        recorded["fusion"] = fusion
    count = 0
    with RecordingWriter(path, recorded, created_at=scenario.start_time, flush_every=1000, overwrite=True) as writer:
        for time_us, topic, message in scenario_messages(scenario, seed):
            payload = codec.encode(message)
            writer.write(RecordedMessage(time_us, topic, payload, content_type=codec.MSGPACK, qos=1))
            count += 1
            bar((time_us - scenario.start_time_us) / 1e6)
    return count


def run_live(
    scenario: Scenario, seed: int, broker: BrokerConfig, speed: float, bar: progress.Bar = progress.NO_BAR
) -> dict[str, int]:
    """Publish the scenario in (scaled) real time; observation times are shifted to look live. `bar`
    follows the scenario time; returns what the adapters counted, summed over the sources."""
    shift = utc_now() - scenario.start_time
    start_us = scenario.start_time_us
    source = truth_source(scenario)
    truth_topic = topics.truth(scenario.name)
    adapters: dict[str, Adapter[Any]] = {}
    started = time.monotonic()
    with ExitStack() as stack:
        truth_client = stack.enter_context(BusClient(source.id, SourceKind.SIMULATOR, broker, role="simulator"))
        for emission in simulate(scenario, seed):
            delay = started + (emission.emit_time_us - start_us) / 1e6 / speed - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            native = emission.native
            if isinstance(native, TruthFrame):
                message = truth.translate(native, source, scenario.name)
                truth_client.publish(truth_topic, message.model_copy(update={"time": message.time + shift}))
            else:
                target = route(native)
                adapter = adapters.get(target.source_id)
                if adapter is None:
                    adapter = stack.enter_context(target.make(broker, time_shift=shift))
                    adapters[target.source_id] = adapter
                adapter.submit(target.data)
            bar((emission.emit_time_us - start_us) / 1e6)
        for adapter in adapters.values():
            adapter.flush()
        return {
            "sources": len(adapters),
            "published": sum(adapter.figures.published for adapter in adapters.values()),
            "dropped": sum(adapter.figures.dropped for adapter in adapters.values()),
            "rejected": sum(adapter.figures.rejected for adapter in adapters.values()),
        }
