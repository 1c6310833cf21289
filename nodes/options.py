"""Options that several subcommands share, declared once: the broker and the fusion settings file."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bus.client import BrokerConfig

if TYPE_CHECKING:
    from fusion.config import FusionConfig

ENV_DEFAULT = "$RAMPART_BROKER or mqtt://127.0.0.1:1883"


class OptionError(Exception):
    """An option the command cannot run with; `rampart` prints it on one line and exits 2."""


def add_broker_option(parser: argparse.ArgumentParser, default: str = ENV_DEFAULT) -> None:
    parser.add_argument(
        "--broker",
        metavar="URL",
        help=f"mqtt://[user[:password]@]host[:port], mqtts:// for TLS (default: {default})",
    )


def broker_from(args: argparse.Namespace) -> BrokerConfig:
    """The broker named by `--broker`, else by the environment (see BrokerConfig.from_env)."""
    return BrokerConfig.from_env(args.broker)


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
