"""The `rampart` command: one subcommand per service, each in its own module under nodes."""

from __future__ import annotations

import argparse
import gc
import importlib
import logging
import signal
import sys
from types import FrameType

from bus.errors import BrokerConfigError
from nodes.heap import keep_heap_trimmed
from nodes.options import OptionError

# subcommand -> (module with `configure(parser)` and `run(args) -> int`, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "schema": ("nodes.schema_docs", "write JSON Schema and the AsyncAPI document"),
    "sim": ("nodes.sim", "run a scenario through the adapters onto the bus, or into a recording"),
    "fusion": ("nodes.fusion", "the fusion service: observations in, the shared picture out"),
    "vehicle": ("nodes.vehicle", "a vehicle node: the shared picture, sorted by distance"),
    "up": ("nodes.stack", "the whole stack in one command: broker, fusion, scenario, vehicles"),
    "health": ("nodes.health", "exit 0 if a node is online on the bus (for health checks)"),
    "eval": ("nodes.evaluate", "the picture's accuracy against ground truth"),
    "record": ("nodes.recorder", "record bus traffic into a file"),
    "replay": ("nodes.replayer", "replay a recording onto the bus, or offline through the fusion core"),
    "tak": ("nodes.tak", "a TAK gateway: the picture as CoT to TAK servers and the mesh, TAK clients' PLI in"),
    "map": ("nodes.map", "the shared picture as a live map in the browser (a passive node)"),
    "watch": ("nodes.watch", "the shared picture in the terminal, passively (publishes nothing)"),
    "tail": ("nodes.tail", "print any bus message as JSON (dead letters with their reasons)"),
    "provision": ("nodes.provision", "make a deployment's CA, broker certificate, ACL and node identities"),
}
EXIT_CONNECTION = 3
"""Exit code when the broker cannot be reached or the TLS/auth settings cannot work."""


def tune_gc() -> None:
    """Collect cyclic garbage less often. Every message makes dozens of short-lived, acyclic objects
    (pydantic models, dicts, floats); at Python's default threshold (700 allocations) the collector
    ran so often that it took three quarters of the adapters' translation time (measured with
    bench/sim_speed.py). Memory is still reclaimed at once by reference counting."""
    gc.set_threshold(200_000, 50, 1000)


def tune_threads() -> None:
    """Hand the interpreter lock between threads every 1 ms instead of 5 ms. A node's network thread
    waits for the lock to send what its fusing or decoding thread just made; at 5 ms those waits
    were a visible part of the fusion's latency tail (`bench/fusion_broker.py`, 2,000 obs/s: p99
    median 51.5 and 50.1 ms over 3 runs each without admission and with it; at 1 ms 47.5 and 44.9 over 2)."""
    sys.setswitchinterval(0.001)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The `rampart` parser; only `command`'s module is imported (the others cost start-up time)."""
    parser = argparse.ArgumentParser(prog="rampart", description="Rampart: a shared battle-space data-fusion bus")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        subparser = commands.add_parser(name, help=help_text, description=help_text)
        if name == command:
            importlib.import_module(module_name).configure(subparser)
    return parser


EXIT_FAILED = 1
"""The command ran and failed (a supervised child gave up, an unexpected error)."""
EXIT_USAGE = 2
"""Bad input on the command line or in a file it names (argparse uses 2 as well)."""
EXIT_BROKER = 3
"""The broker could not be reached, or refused us (address, TLS, credentials)."""
EXIT_INTERRUPTED = 130


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (docker stop, systemd) and SIGINT (Ctrl-C, `rampart up` stopping its children) end a
    node alike: its clean-up runs, it marks itself offline and stops its children, rather than dying
    on the spot. Installed for SIGINT too, as a node started by `cmd &` in a script inherits SIGINT
    ignored, and Python would leave it so (so Ctrl-C on such a script now stops its nodes too)."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = next((arg for arg in argv if not arg.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    tune_gc()
    tune_threads()
    keep_heap_trimmed()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except OptionError as error:
        print(f"rampart {args.command}: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (ConnectionError, BrokerConfigError) as error:  # one line naming the broker, file or identity
        print(f"rampart {args.command}: {error}", file=sys.stderr)
        return EXIT_BROKER
    except Exception as error:  # no traceback reaches a user: one line, and the trace with -v
        logging.getLogger("rampart").debug("rampart %s failed", args.command, exc_info=True)
        print(f"rampart {args.command}: {type(error).__name__}: {error} (-v shows where)", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
