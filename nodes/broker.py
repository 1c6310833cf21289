"""A local Mosquitto on a free loopback port, configured from the shipped `nodes/mosquitto.conf`.

Tests use it for an isolated broker they can stop and restart; `rampart up` uses it when no broker
URL is given. The generated config keeps every setting of `mosquitto.conf` except the listener,
and keeps its persistence file in the broker's own working directory, which outlives `stop()` and
`kill()`: a restarted broker resumes from it.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BROKER_CONFIG = Path(__file__).with_name("mosquitto.conf")
"""The shipped broker configuration (package data, so an installed wheel has it too)."""
INSTALL_HINT = (
    "no MQTT broker available: install Mosquitto (Debian/Ubuntu: `sudo apt-get install -y mosquitto`, "
    "macOS: `brew install mosquitto`), or start a Docker engine, or point RAMPART_TEST_BROKER / --broker "
    "at a running broker (mqtt://host:port)"
)


class BrokerUnavailable(RuntimeError):
    """No broker could be started; the message says what to install."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def find_mosquitto() -> str | None:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    candidates = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")
    return shutil.which("mosquitto") or next((path for path in candidates if os.access(path, os.X_OK)), None)


class LocalMosquitto:
    """A `mosquitto` child process. `start`, `stop` and `restart` keep the same port."""

    def __init__(
        self, port: int | None = None, config: Path = BROKER_CONFIG, overrides: dict[str, str] | None = None
    ) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise BrokerUnavailable(INSTALL_HINT)
        self.binary = binary
        self.port = port or free_port()
        self._workdir = Path(tempfile.mkdtemp(prefix="rampart-mosquitto-"))
        self.config_path = self._workdir / "mosquitto.conf"
        self.log_path = self._workdir / "mosquitto.log"
        overrides = {"persistence_location": f"{self._workdir}/", **(overrides or {})}
        self.config_path.write_text(_local_config(config.read_text(), self.port, overrides))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def persistence_file(self) -> Path:
        """Where the broker saves its database (every `autosave_interval`, and at a clean stop)."""
        return self._workdir / "mosquitto.db"

    def start(self, timeout_s: float = 5.0) -> LocalMosquitto:
        with self.log_path.open("ab") as log_file:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)], stdout=log_file, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerUnavailable(f"mosquitto exited at start: {self.log_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerUnavailable(f"mosquitto did not listen on port {self.port} within {timeout_s:g} s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def kill(self) -> None:
        """A crash: SIGKILL, no clean shutdown (Mosquitto saves nothing on the way down)."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> LocalMosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _local_config(template: str, port: int, overrides: dict[str, str]) -> str:
    """The repository config with a loopback listener on `port` and `overrides` applied."""
    replaced = {"listener", *overrides}
    settings = [
        line
        for line in template.splitlines()
        if line.strip() and not line.lstrip().startswith("#") and line.split()[0] not in replaced
    ]
    lines = [f"listener {port} 127.0.0.1", *settings, *(f"{key} {value}" for key, value in overrides.items())]
    if os.geteuid() == 0:
        # Mosquitto started as root drops to user `mosquitto`; stay who we are so it can read our files.
        lines.append(f"user {getpass.getuser()}")
    return "\n".join(lines) + "\n"


@contextmanager
def broker_url(given: str | None) -> Iterator[str]:
    """`given` if there is one, else the URL of a fresh local Mosquitto, closed on exit."""
    if given:
        yield given
        return
    with LocalMosquitto() as broker:
        yield broker.url


def throwaway_tls(directory: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> tuple[dict[str, str], Path]:
    """A TLS listener's settings for `LocalMosquitto(overrides=...)`, with certificates from a fresh
    CA written into `directory` (made by the project's own provisioning code); and the CA file the
    clients must trust. For tests and benchmarks: nothing is kept."""
    from nodes.security import issue, make_ca, write_certificate, write_key

    ca = make_ca("Rampart throwaway CA", days=1)
    certificate, key = issue(ca, "mosquitto", server_hosts=hosts, days=1)
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    write_certificate(ca_file, ca.certificate)
    write_certificate(cert_file, certificate)
    write_key(key_file, key)
    return {"cafile": str(ca_file), "certfile": str(cert_file), "keyfile": str(key_file)}, ca_file
