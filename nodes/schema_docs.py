"""`rampart schema`: write the published contract for adapters in any language."""

from __future__ import annotations

import argparse
import json
from importlib.metadata import version
from pathlib import Path

from bus import asyncapi
from nodes.options import add_json_option, print_json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("docs"), help="directory to write into (default: docs)")
    add_json_option(parser, "the files written")


def run(args: argparse.Namespace) -> int:
    written = write(args.out, version("rampart"))
    if args.json:
        print_json({"written": [str(path) for path in written]})
    else:
        for path in written:
            print(path)
    return 0


def write(out: Path, rampart_version: str) -> list[Path]:
    """Write docs/schema/<Message>.json and docs/asyncapi.yaml; return the paths."""
    schema_dir = out / "schema"
    schema_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in asyncapi.json_schemas().items():
        path = schema_dir / f"{name}.json"
        path.write_text(json.dumps(document, indent=2) + "\n")
        written.append(path)
    path = out / "asyncapi.yaml"
    path.write_text(asyncapi.to_yaml(asyncapi.document(rampart_version)))
    written.append(path)
    return written
