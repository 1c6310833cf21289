"""What TLS costs: the typed path's throughput and the fusion's latency, plain MQTT vs the deployed TLS.

Both brokers in one run, one after the other, on the same machine: a LocalMosquitto on the repository's
mosquitto.conf (plain, anonymous), and one on the config `rampart provision` generates (TLS 1.2+ on a
loopback port, a client certificate per identity, `use_identity_as_username`, the generated ACL):
what a deployment runs. Every client of the TLS runs connects with its own provisioned identity
(RAMPART_CA_FILE and RAMPART_IDENTITY_DIR, as the nodes do), so the cost includes the handshake,
encryption both ways and the broker's ACL check of every message.

1. throughput: bench/bus_throughput.py's typed path (model -> codec -> BusClient.publish -> broker ->
   BusClient.subscribe -> codec -> handler), --count PositionReports per run at each --qos; the TLS
   rate as a share of the plain one.
2. latency: bench/fusion_broker.py's latency run (2 adapter processes publishing 2,000 PositionReports/s
   at QoS 1 -> the fusion service as a subprocess -> a vehicle's PictureReplica in this process),
   observation publish -> TrackUpdate decoded at the vehicle, p50/p95/p99, plain vs TLS.

Usage: python bench/tls_cost.py [--count 50000] [--qos 0 1] [--rate 2000] [--duration 20] [--repeat 1]
       [--only throughput|latency]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import spread
from bus_throughput import position_report, run_typed
from fusion_broker import LatencyRun, percentiles, run_latency, tick_s, tune_runtime

from bus.client import BrokerConfig
from nodes.broker import LocalMosquitto
from nodes.security import AuthSpec, Deployment, Node, Role, provision

PLAIN, TLS = "mqtt", "mqtts"
IDENTITY_VARIABLES = ("RAMPART_CA_FILE", "RAMPART_IDENTITY_DIR")


def identities(args: argparse.Namespace) -> AuthSpec:
    """Every client the runs below connect, with the role its traffic needs under the ACL."""
    nodes = []
    for run_no in range(args.repeat * len(args.qos)):
        nodes += [
            Node(f"bench-typed-pub-{_typed_tag(run_no)}", Role.ADAPTER, (f"bench-typed-pub-{_typed_tag(run_no)}",)),
            Node(f"bench-typed-sub-{_typed_tag(run_no)}", Role.RECORDER, ()),
        ]
    for run_no in range(args.repeat):
        tag = f"{os.getpid()}r{run_no}"  # run_latency's
        nodes += [
            Node(f"bench-fusion-{tag}", Role.FUSION, ()),
            Node(f"bench-fusion-{tag}-monitor", Role.MONITOR, ()),
            Node(f"bench-vehicle-{tag}", Role.VEHICLE, (f"bench-vehicle-{tag}",)),
        ]
    nodes += [Node(f"bench-gw-{index}", Role.ADAPTER, (f"bench-gw-{index}",)) for index in range(args.publishers)]
    return AuthSpec(tuple(nodes))


def _typed_tag(run_no: int) -> str:
    return f"tls-{os.getpid()}-{run_no}"


@dataclass
class Broker:
    scheme: str
    url: str
    config: BrokerConfig


@contextmanager
def broker(scheme: str, deployment: Deployment) -> Iterator[Broker]:
    """A fresh LocalMosquitto, plain or on the deployment's TLS settings; while it runs, the
    environment names the deployment's identities for TLS (the spawned processes inherit it)."""
    overrides = deployment.broker_settings() if scheme == TLS else {}
    saved = {name: os.environ.pop(name, None) for name in IDENTITY_VARIABLES}
    try:
        with LocalMosquitto(overrides=overrides) as mosquitto:
            url = f"{scheme}://127.0.0.1:{mosquitto.port}"
            if scheme == TLS:
                os.environ.update(deployment.client_env())
            yield Broker(scheme, url, BrokerConfig.from_env(url))
    finally:
        for name, value in saved.items():
            os.environ.pop(name, None)
            if value is not None:
                os.environ[name] = value


def throughput(args: argparse.Namespace, deployment: Deployment) -> None:
    model = position_report()
    rates: dict[tuple[str, int], list[float]] = {}
    run_no = 0
    for _ in range(args.repeat):
        for qos in args.qos:
            for scheme in (PLAIN, TLS):
                with broker(scheme, deployment) as where:
                    run = run_typed(where.config, model, args.count, qos, tag=_typed_tag(run_no))
                rates.setdefault((scheme, qos), []).append(run.rate)
                lost = f", lost {run.lost}" if run.lost else ""
                print(f"  done: typed {scheme} QoS {qos}: {run.rate:.0f} msg/s{lost}", flush=True)
            run_no += 1
    print()
    print(f"throughput: typed path, one publisher and one subscriber, {args.count} PositionReports per run")
    print(f"{'qos':>3} {'mqtt msg/s':>28} {'mqtts msg/s':>28} {'mqtts / mqtt':>14}")
    for qos in args.qos:
        plain, tls = rates[(PLAIN, qos)], rates[(TLS, qos)]
        ratios = [t / p for p, t in zip(plain, tls, strict=True)]
        print(f"{qos:>3} {spread(plain, '{:.0f}'):>28} {spread(tls, '{:.0f}'):>28} {spread(ratios, '{:.2f}'):>14}")


def latency(args: argparse.Namespace, deployment: Deployment, log_dir: Path) -> None:
    runs: dict[str, list[LatencyRun]] = {PLAIN: [], TLS: []}
    for run_no in range(args.repeat):
        for scheme in (PLAIN, TLS):
            with broker(scheme, deployment) as where:
                args.broker = where.url
                run = run_latency(args, run_no, log_dir, "fair")
            runs[scheme].append(run)
            s = run.stats
            notes = f" ({'; '.join(run.notes)})" if run.notes else ""
            print(
                f"  done: latency {scheme}: p50 {s['p50']:.1f} p99 {s['p99']:.1f} ms, "
                f"load average {os.getloadavg()[0]:.2f}{notes}",
                flush=True,
            )
    print()
    print(
        f"latency: {args.rate:g} obs/s for {args.duration:g} s at QoS 1 from {args.publishers} adapter processes -> "
        f"fusion (tick_s {tick_s(args):g}) -> vehicle; publish -> update decoded"
    )
    print(f"{'':>5} {'own':>7} {'lost':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6}  {'fus cpu':>7} {'veh cpu':>7}")
    for scheme in (PLAIN, TLS):
        for run in runs[scheme]:
            s = percentiles(run.latencies_ms)
            print(
                f"{scheme:>5} {run.matched:>7} {run.published - run.received:>5.0f} {s['p50']:>6.1f} {s['p95']:>6.1f} "
                f"{s['p99']:>6.1f} {s['max']:>6.0f}  {run.fusion_cpu:>7.2f} {run.bench_cpu:>7.2f}"
            )
    for key in ("p50", "p95", "p99"):
        plain = [run.stats[key] for run in runs[PLAIN]]
        tls = [run.stats[key] for run in runs[TLS]]
        extra = [t - p for p, t in zip(plain, tls, strict=True)]
        print(f"TLS adds to {key}: {spread(extra)} ms (mqtt {spread(plain)}, mqtts {spread(tls)})")
    print("(ms; fus cpu / veh cpu = CPU seconds per second of the fusion process / of this process with the vehicle)")


def main() -> None:
    tune_runtime()  # the vehicle in this process, as in fusion_broker.py
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["throughput", "latency"])
    parser.add_argument("--repeat", type=int, default=1, help="runs of each configuration (default 1)")
    parser.add_argument("--count", type=int, default=50_000, help="throughput: messages per run (default 50000)")
    parser.add_argument("--qos", type=int, nargs="+", default=[0, 1], choices=[0, 1], help="throughput: QoS levels")
    parser.add_argument("--rate", type=float, default=2000.0, help="latency: observations/s in total (default 2000)")
    parser.add_argument("--duration", type=float, default=20.0, help="latency: seconds of load (default 20)")
    parser.add_argument("--warmup", type=float, default=1.0, help="latency: seconds left out (default 1)")
    parser.add_argument("--platforms", type=int, default=200, help="latency: platforms in total (default 200)")
    parser.add_argument("--publishers", type=int, default=2, help="latency: adapter processes (default 2)")
    parser.add_argument("--tick", type=float, help="latency: fusion tick_s (default: FusionConfig's)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="rampart-tls-cost-") as tmp:
        deployment = provision(identities(args), Path(tmp) / "deployment")
        if args.only != "latency":
            throughput(args, deployment)
        if args.only != "throughput":
            latency(args, deployment, Path(tmp))


if __name__ == "__main__":
    main()
