"""Options that several subcommands share, declared once: the broker, the fusion settings file and
`--json` (and the one way a result is printed as JSON); and the argparse types that turn a bad value
into a usage error naming the option (exit 2)."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bus import topics
from bus.client import BrokerConfig
from bus.errors import BrokerConfigError

if TYPE_CHECKING:
    from fusion.config import FusionConfig

ENV_DEFAULT = "$RAMPART_BROKER or mqtt://127.0.0.1:1883"


class OptionError(Exception):
    """An option the command cannot run with; `rampart` prints it on one line and exits 2."""


def node_id(value: str) -> str:
    """An argparse type: a node id that can name its topics."""
    try:
        topics.node_state(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def vehicle_id(value: str) -> str:
    """An argparse type: a vehicle id, whose navigation node is `ID.nav`."""
    node_id(value)
    try:
        topics.node_state(f"{value}.nav")
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"vehicle id {value!r} is too long: {value}.nav must fit 64 characters"
        ) from None
    return value


def positive(value: str) -> float:
    """An argparse type: a finite number above zero."""
    number = _number(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return number


def lat_lon(value: str) -> tuple[float, float]:
    """An argparse type: `LAT,LON` in degrees."""
    lat, lon = _pair(value, "LAT,LON in degrees (e.g. 54.32,10.14)")
    if not -90 <= lat <= 90:
        raise argparse.ArgumentTypeError(f"latitude {lat:g} is not in [-90, 90]")
    if not -180 <= lon <= 180:
        raise argparse.ArgumentTypeError(f"longitude {lon:g} is not in [-180, 180]")
    return lat, lon


def east_north(value: str) -> tuple[float, float]:
    """An argparse type: `VE,VN`, a velocity east and north in m/s."""
    return _pair(value, "VE,VN in m/s (e.g. 3,-1.5)")


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value} is not a finite number")
    return number


def _pair(value: str, form: str) -> tuple[float, float]:
    parts = value.split(",")
    try:
        first, second = (float(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not {form}") from None
    if not (math.isfinite(first) and math.isfinite(second)):
        raise argparse.ArgumentTypeError(f"{value!r} is not {form}: finite numbers only")
    return first, second


def broker_url(value: str) -> str:
    """An argparse type: a broker URL that BrokerConfig can use."""
    try:
        BrokerConfig.from_url(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return value


def add_broker_option(parser: argparse.ArgumentParser, default: str = ENV_DEFAULT) -> None:
    parser.add_argument(
        "--broker",
        type=broker_url,
        metavar="URL",
        help=f"mqtt://[user[:password]@]host[:port], mqtts:// for TLS (default: {default})",
    )


def broker_from(args: argparse.Namespace) -> BrokerConfig:
    """The broker named by `--broker`, else by the environment (see BrokerConfig.from_env); a bad
    URL in RAMPART_BROKER is an OptionError."""
    try:
        return BrokerConfig.from_env(args.broker)
    except BrokerConfigError:
        raise
    except ValueError as error:
        raise OptionError(f"RAMPART_BROKER: {error}") from None


def add_json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON document on stdout")


def print_json(document: Mapping[str, Any]) -> None:
    """A command's result with `--json`: one JSON document, the only thing on stdout."""
    print(json.dumps(document, indent=2), flush=True)


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="PATH",
        help="fusion settings: a TOML file with a [fusion] table (default: FusionConfig's defaults)",
    )


def fusion_config(path: Path | None, carried: Mapping[str, Any] | None = None) -> FusionConfig:
    """The settings of `--config PATH` if given, else `carried` (the settings a recording carries),
    else the defaults. A bad file or table is an OptionError naming the file and the key."""
    from fusion.config import ConfigError, FusionConfig, from_settings, load_config  # scipy: not for every command

    try:
        if path is not None:
            return load_config(path)
        if carried is not None:
            return from_settings(carried, "the recording's fusion settings")
    except ConfigError as error:
        raise OptionError(str(error)) from None
    return FusionConfig()


def fusion_settings(path: Path) -> dict[str, Any]:
    """The settings of a `--config` file as the plain dict that travels with a picture or recording."""
    from fusion.config import settings

    return settings(fusion_config(path))
