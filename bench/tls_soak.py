"""TLS soak: the fusion service under the smoke scenario over a TLS-only Mosquitto, counting disconnects.

Why: paho-mqtt breaks TLS connections when a second thread writes to the socket while the network
thread reads ("Protocol error" from Mosquitto; `rampart fusion` was cut in 7 of 8 runs). BusClient
lets only its network thread touch the socket; this runs long enough to show it.

Certificates come from a throwaway CA (`nodes.broker.throwaway_tls`); the scenario restarts every
60 s until the duration is up, in this process, against one FusionService that stays connected throughout. Every node's
own count of connects and disconnects comes from its retained NodeState (`bus_connects`,
`bus_disconnects`), watched by a monitor client.

Usage: python bench/tls_soak.py [--duration S] [--speed X]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import threading
import time
from pathlib import Path

from bus import topics
from bus.client import BrokerConfig, BusClient, Delivery
from bus.schema import Envelope, NodeState, SourceKind
from nodes.broker import LocalMosquitto, throwaway_tls
from nodes.fusion import FusionService
from nodes.sim import run_live, scenario_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--speed", type=float, default=1.0, help="scenario speed (default 1)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    states: dict[str, NodeState] = {}
    lock = threading.Lock()

    def on_state(message: Envelope, delivery: Delivery) -> None:
        if isinstance(message, NodeState):
            with lock:
                states[message.source.id] = message

    with tempfile.TemporaryDirectory(prefix="rampart-tls-soak-") as workdir:
        overrides, ca_file = throwaway_tls(Path(workdir))
        with LocalMosquitto(overrides=overrides) as broker:
            config = BrokerConfig(host="127.0.0.1", port=broker.port, tls=True, ca_file=str(ca_file))
            print(f"TLS broker on 127.0.0.1:{broker.port}; soak for {args.duration:g} s", flush=True)
            monitor = BusClient("soak-monitor", SourceKind.TOOL, config, announce=False)
            monitor.subscribe(topics.ALL_NODE_STATES, on_state)
            started = time.monotonic()
            with monitor, FusionService(config, node_id="soak-fusion") as fusion:
                runner = threading.Thread(target=fusion.run, name="fusion", daemon=True)
                runner.start()
                rounds = 0
                while (left := args.duration - (time.monotonic() - started)) > 1.0:
                    run_live(scenario_for("smoke", left * args.speed), 1 + rounds, config, args.speed)
                    rounds += 1
                fusion_figures = fusion.client.figures
                elapsed = time.monotonic() - started
                accepted = fusion.core.figures.accepted
            print(f"\nran {elapsed:.0f} s, {rounds} scenario rounds, fusion accepted {accepted} observations")
            print(f"{'node':<22} {'connects':>8} {'disconnects':>11} {'published':>10} {'received':>9}")
            with lock:
                for node_id, state in sorted(states.items()):
                    f = state.figures
                    print(
                        f"{node_id:<22} {f.get('bus_connects', 0):>8.0f} {f.get('bus_disconnects', 0):>11.0f} "
                        f"{f.get('bus_published', 0):>10.0f} {f.get('bus_received', 0):>9.0f}"
                    )
            print(
                f"fusion (live figures): connects {fusion_figures.connects}, disconnects {fusion_figures.disconnects}"
            )
            log = broker.log_path.read_text()
            print(f"broker log: {log.count('Protocol error')} 'Protocol error'")


if __name__ == "__main__":
    main()
