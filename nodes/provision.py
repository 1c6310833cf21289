"""`rampart provision`: a deployment's CA, the broker's certificate, ACL and config, one identity per node.

    rampart provision --out deploy/secrets --auth deploy/rampart-auth.toml
    rampart provision --out secrets --scenario smoke --vehicle ifv-7 --vehicle ifv-8 --host broker.local

The identities come from an auth file (see nodes/security.py and the README's Security section), or
are those of a stack (`--scenario`: fusion, the simulator, its adapters, `--vehicle` nodes, a recorder
and monitors). Clients then connect with `mqtts://HOST:8883`, `RAMPART_CA_FILE=OUT/ca.crt` and
`RAMPART_IDENTITY_DIR=OUT/nodes`; the broker runs with `OUT/broker/mosquitto.conf`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from nodes.broker import BROKER_CONFIG
from nodes.options import add_json_option, print_json
from nodes.security import (
    CA_FILE,
    CA_KEY_FILE,
    AuthFileError,
    AuthSpec,
    Node,
    Role,
    load_auth_file,
    load_issuer,
    provision,
    stack_auth,
)
from simulators import ScenarioError, load_scenario

TLS_PORT = 8883
_LISTENER_KEYS = {"listener", "protocol", "allow_anonymous"}
_CHECKED = (Role.FUSION, Role.SIMULATOR, Role.VEHICLE, Role.RECORDER)
"""Roles whose node health is checked (compose health checks): each gets a `health.<id>` identity."""


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=Path, help="directory to write the deployment into")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--auth", type=Path, help="the auth file declaring roles and node ids (TOML)")
    source.add_argument("--scenario", help="declare a stack instead: fusion, this scenario's sources, vehicles")
    parser.add_argument("--vehicle", action="append", default=[], metavar="ID", help="with --scenario; repeatable")
    parser.add_argument(
        "--host", action="append", metavar="NAME", help="the broker's host names/addresses (server certificate SANs)"
    )
    parser.add_argument("--password", action="store_true", help="passwords instead of client certificates")
    parser.add_argument("--ca-from", type=Path, metavar="DIR", help="issue with the CA of an earlier deployment")
    parser.add_argument("--days", type=int, default=825, help="validity of the certificates issued (default 825)")
    parser.add_argument(
        "--broker-path", help="where the broker will see OUT/broker (e.g. a container mount); default: OUT/broker"
    )
    parser.add_argument(
        "--broker-owner", type=int, metavar="UID", help="chown the broker's files to this user (the broker's)"
    )
    parser.add_argument("--node-owner", type=int, metavar="UID", help="chown the nodes' identities to this user")
    parser.add_argument(
        "--skip-existing", action="store_true", help="do nothing if OUT is already provisioned (an init container)"
    )
    add_json_option(parser, "what was written and how to use it")


def run(args: argparse.Namespace) -> int:
    try:
        spec = _spec(args)
    except (AuthFileError, ScenarioError) as error:
        print(f"rampart provision: {error}", file=sys.stderr)
        return 2
    if args.skip_existing and (args.out / CA_FILE).exists():
        if args.json:
            print_json({"out": str(args.out), "provisioned": False})
        else:
            print(f"{args.out} is already provisioned; nothing to do")
        return 0
    if args.ca_from is None and (args.out / CA_FILE).exists():
        print(
            f"rampart provision: {args.out} is already provisioned: give --ca-from {args.out} to issue "
            "identities with its CA, or choose another --out",
            file=sys.stderr,
        )
        return 2
    try:
        issuer = load_issuer(args.ca_from) if args.ca_from else None
    except (OSError, ValueError) as error:
        print(f"rampart provision: cannot load the CA from {args.ca_from}: {error}", file=sys.stderr)
        return 2
    deployment = provision(spec, args.out, passwords=args.password, ca=issuer, days=args.days)
    config = deployment.broker_dir / "mosquitto.conf"
    config.write_text(broker_config(deployment.broker_settings(args.broker_path)))
    for directory, owner in ((deployment.broker_dir, args.broker_owner), (deployment.identity_dir, args.node_owner)):
        for path in (directory, *directory.iterdir()) if owner is not None else ():
            os.chown(path, owner, -1)
    kind = "passwords" if args.password else "client certificates"
    if args.json:
        print_json(
            {
                "out": str(args.out),
                "provisioned": True,
                "identities": [node.id for node in spec.nodes],
                "credentials": kind,
                "hosts": list(spec.hosts),
                "broker_config": str(config),
                "ca_file": str(deployment.ca_file),
                "identity_dir": str(deployment.identity_dir),
                "ca_key": None if issuer else str(args.out / CA_KEY_FILE),
            }
        )
        return 0
    print(f"provisioned {len(spec.nodes)} identities ({kind}) for {', '.join(spec.hosts)} in {args.out}")
    print(f"  broker:  mosquitto -c {config}")
    print(f"  nodes:   RAMPART_CA_FILE={deployment.ca_file} RAMPART_IDENTITY_DIR={deployment.identity_dir}")
    print(f"           --broker mqtts://HOST:{TLS_PORT}, HOST one of {', '.join(spec.hosts)}")
    if issuer is None:
        print(f"  keep {args.out / CA_KEY_FILE} offline: it is needed only to add identities (--ca-from)")
    return 0


def _spec(args: argparse.Namespace) -> AuthSpec:
    hosts = tuple(args.host) if args.host else None
    if args.auth:
        spec = load_auth_file(args.auth)
        return AuthSpec(spec.nodes, hosts or spec.hosts)
    spec = stack_spec(args.scenario, args.vehicle)
    return AuthSpec(spec.nodes, hosts or spec.hosts)


def stack_spec(scenario: str, vehicles: list[str]) -> AuthSpec:
    """The identities of a whole stack: fusion, the scenario's simulator and adapters, the vehicles
    (`ID.nav`), a recorder, a replayer, `rampart up`'s monitor, and a `health.<id>` identity per
    checked node."""
    tools = [
        Node("recorder", Role.RECORDER, ()),
        Node("replayer", Role.REPLAYER, ()),
        Node("up-monitor", Role.MONITOR, ()),
    ]
    spec = stack_auth(load_scenario(scenario), vehicles, extra=tools)
    health = [Node(f"health.{node.id}", Role.MONITOR, ()) for node in spec.nodes if node.role in _CHECKED]
    return AuthSpec((*spec.nodes, *health), spec.hosts)


def broker_config(settings: dict[str, str], port: int = TLS_PORT) -> str:
    """The shipped `mosquitto.conf` with its listener replaced by a TLS one on every interface."""
    kept = [
        line
        for line in BROKER_CONFIG.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#") and line.split()[0] not in _LISTENER_KEYS
    ]
    header = "# Generated by `rampart provision`: the shipped limits, a TLS listener, the generated ACL."
    return (
        "\n".join([header, f"listener {port}", "protocol mqtt", *kept, *(f"{k} {v}" for k, v in settings.items())])
        + "\n"
    )
