"""Deployment security: the auth file, the broker's ACL generated from it, and provisioning (a CA, a
server certificate, and one client certificate or password per node identity).

The model, and why:
* **One identity per connection.** Every `BusClient` connects as its node id; the broker takes the
  identity from the client certificate's common name (`use_identity_as_username`) or from the user
  name of a password login, and replaces whatever client id the client asked for with that identity
  (`use_username_as_clientid`). So no identity can take over another node's MQTT session: a client
  that asks for client id `fusion` is renamed to its own identity, and the fusion keeps its
  connection. (Mosquitto 2.0.11 has no per-user client-id rule in `acl_file`; the dynamic-security
  plugin binds a client id only for password logins.)
* **The auth file declares roles once**; the ACL is generated from it, so the namespace in
  `bus/topics.py` and the broker's rules cannot drift apart. Everything not granted is refused; under
  MQTT 5 the broker answers a refused QoS 1 publish with PUBACK reason 135 "Not authorized".
* **Certificates are made here** with `cryptography` (EC P-256, SHA-256), not by shelling out.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
import os
import secrets
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bus import topics
from simulators import Scenario

AUTH_FILE_VERSION = 1
DEFAULT_HOSTS = ("localhost", "127.0.0.1")
CA_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
BROKER_DIR = "broker"
NODES_DIR = "nodes"
"""`RAMPART_IDENTITY_DIR`: `<node id>.crt` + `<node id>.key`, or `<node id>.password`, per identity."""


class AuthFileError(ValueError):
    """The auth file is unreadable or invalid; the message names the file and the entry."""


class Role(StrEnum):
    FUSION = "fusion"
    SIMULATOR = "simulator"
    ADAPTER = "adapter"
    VEHICLE = "vehicle"
    RECORDER = "recorder"
    REPLAYER = "replayer"
    MONITOR = "monitor"
    GATEWAY = "gateway"


ROLE_HELP = {
    Role.FUSION: "reads observations, writes the picture (tracks, snapshot, retained clears)",
    Role.SIMULATOR: "writes ground truth",
    Role.ADAPTER: "writes observations of its own source ids",
    Role.VEHICLE: "reads the picture, writes its own position reports",
    Role.RECORDER: "reads everything",
    Role.REPLAYER: "writes recorded observations (of any source, or of its [sources]) and truth",
    Role.MONITOR: "reads everything and $SYS (rampart up's view, health checks)",
    Role.GATEWAY: "reads the picture and node states, writes the position reports of the clients it relays",
}


@dataclass(frozen=True)
class Node:
    """One identity: its id (= MQTT user name = client id = node id on the bus), role and sources."""

    id: str
    role: Role
    sources: tuple[str, ...]


@dataclass(frozen=True)
class AuthSpec:
    """The parsed auth file: every identity of a deployment and the server certificate's host names."""

    nodes: tuple[Node, ...]
    hosts: tuple[str, ...] = DEFAULT_HOSTS

    def node(self, node_id: str) -> Node:
        return next(node for node in self.nodes if node.id == node_id)

    def to_toml(self) -> str:
        """The auth file text (the format `load_auth_file` reads)."""
        quoted = ", ".join(f'"{host}"' for host in self.hosts)
        lines = [
            "# Rampart deployment identities: `rampart provision` makes one certificate (or password) per",
            "# node listed here and the broker's ACL from the roles. A node id is its MQTT user name and",
            "# client id; a node publishes observations only under its own id, or the ids in [sources].",
            f"version = {AUTH_FILE_VERSION}",
            f"hosts = [{quoted}]  # the broker's names: subject alternative names of its certificate",
            "",
            "[roles]",
        ]
        for role in Role:
            members = [f'"{node.id}"' for node in self.nodes if node.role is role]
            lines.append(f"# {role.value}: {ROLE_HELP[role]}")
            if len(members) > 3:
                lines += [f"{role.value} = [", *(f"    {member}," for member in members), "]"]
            else:
                lines.append(f"{role.value} = [{', '.join(members)}]")
        extra = [node for node in self.nodes if node.sources != (node.id,) and node.sources]
        if extra:
            lines += ["", "[sources]"]
            lines += [
                f'"{node.id}" = [{", ".join(f"{s!r}" for s in node.sources)}]'.replace("'", '"') for node in extra
            ]
        return "\n".join(lines) + "\n"


def load_auth_file(path: Path) -> AuthSpec:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AuthFileError(f"{path}: {error}") from None
    return parse_auth(data, str(path))


def parse_auth(data: dict[str, object], where: str = "auth file") -> AuthSpec:
    if data.get("version") != AUTH_FILE_VERSION:
        raise AuthFileError(f"{where}: version must be {AUTH_FILE_VERSION}")
    roles = data.get("roles")
    if not isinstance(roles, dict):
        raise AuthFileError(f"{where}: no [roles] table")
    sources = data.get("sources", {})
    if not isinstance(sources, dict):
        raise AuthFileError(f"{where}: [sources] must be a table of node id = [source ids]")
    hosts = data.get("hosts", list(DEFAULT_HOSTS))
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise AuthFileError(f"{where}: hosts must be a non-empty list of host names or addresses")
    nodes: list[Node] = []
    for role_name, members in roles.items():
        try:
            role = Role(role_name)
        except ValueError:
            raise AuthFileError(f"{where}: roles.{role_name}: not a role ({', '.join(Role)})") from None
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise AuthFileError(f"{where}: roles.{role_name}: must be a list of node ids")
        for node_id in members:
            own = sources.get(node_id, [node_id] if role in (Role.ADAPTER, Role.VEHICLE, Role.GATEWAY) else [])
            if not isinstance(own, list) or not all(isinstance(s, str) for s in own):
                raise AuthFileError(f"{where}: sources.{node_id}: must be a list of source ids")
            for value in (node_id, *own):
                try:
                    topics.node_state(value)
                except ValueError as error:
                    raise AuthFileError(f"{where}: roles.{role_name}: {error}") from None
            nodes.append(Node(node_id, role, tuple(own)))
    seen: set[str] = set()
    for node in nodes:
        if node.id in seen:
            raise AuthFileError(f"{where}: node {node.id!r} is listed twice (one role per identity)")
        seen.add(node.id)
    for node_id in sources:
        if node_id not in seen:
            raise AuthFileError(f"{where}: sources.{node_id}: no such node in [roles]")
    return AuthSpec(tuple(nodes), tuple(hosts))


def scenario_sources(scenario: Scenario) -> list[str]:
    """The source ids `rampart sim` publishes a scenario's observations under (one adapter each)."""
    ids = [radar.id for radar in scenario.radars]
    ids += [f"{drone.id}.{suffix}" for drone in scenario.drones for suffix in ("video", "gps")]
    for vehicle in scenario.vehicles:
        ids.append(f"{vehicle.id}.gps")
        if vehicle.sensor is not None:
            ids.append(f"{vehicle.id}.sensor")
    return ids


def stack_auth(
    scenario: Scenario,
    vehicle_ids: Iterable[str],
    *,
    fusion_id: str = "fusion",
    extra: Iterable[Node] = (),
    hosts: Iterable[str] = DEFAULT_HOSTS,
) -> AuthSpec:
    """The identities of a stack: fusion, the scenario's simulator and adapters, vehicles (`ID.nav`)."""
    adapters = [Node(source, Role.ADAPTER, (source,)) for source in scenario_sources(scenario)]
    vehicles = [Node(f"{vehicle}.nav", Role.VEHICLE, (f"{vehicle}.nav",)) for vehicle in vehicle_ids]
    core = [Node(fusion_id, Role.FUSION, ()), Node(f"sim.{scenario.name}", Role.SIMULATOR, ())]
    return AuthSpec((*core, *adapters, *vehicles, *extra), tuple(hosts))


# --- the ACL -----------------------------------------------------------------------------------------


def acl_rules(node: Node) -> list[str]:
    """The `acl_file` topic rules of one identity (Mosquitto refuses whatever no rule grants)."""
    root = topics.ROOT
    own_state = f"topic readwrite {topics.node_state(node.id)}"  # read too: a node spots a twin by it
    match node.role:
        case Role.FUSION:
            rules = [f"topic read {topics.ALL_OBSERVATIONS}", f"topic readwrite {topics.PICTURE}"]
        case Role.SIMULATOR:
            rules = [f"topic write {topics.ALL_TRUTH}"]
        case Role.ADAPTER:
            rules = [f"topic write {root}/obs/+/{source}" for source in node.sources]
        case Role.VEHICLE:
            rules = [f"topic read {topics.PICTURE}"]
            rules += [f"topic write {topics.observation('position', source)}" for source in node.sources]
        case Role.RECORDER:
            rules = [f"topic read {topics.ALL}"]
        case Role.REPLAYER:
            # `rampart replay` republishes a recording's observations under their own sources' ids,
            # so it may write observations of every source (or only of those in [sources]), and
            # ground truth. Never the picture or node states: a replay feeds the live fusion as its
            # sources did, and cannot forge the fusion's output or anyone's health.
            observations = [f"{root}/obs/+/{source}" for source in node.sources] or [topics.ALL_OBSERVATIONS]
            rules = [*(f"topic write {topic}" for topic in observations), f"topic write {topics.ALL_TRUTH}"]
        case Role.MONITOR:  # and the broker's own figures, for a broker health check
            rules = [f"topic read {topics.ALL}", "topic read $SYS/#"]
        case Role.GATEWAY:
            rules = [f"topic read {topics.PICTURE}", f"topic read {topics.ALL_NODE_STATES}"]
            # A TAK gateway publishes its clients' PLIs as PositionReports under its own source id
            # (platform ids `<id>.<TAK uid>`): one identity, one source, nobody else's.
            rules += [f"topic write {topics.observation('position', source)}" for source in node.sources]
    if node.role in (Role.FUSION, Role.VEHICLE, Role.GATEWAY):
        # A node that decodes what it receives republishes what fails to decode, under the offending
        # source's id (bus/client.py `_reject`); nobody acts on dead letters.
        rules.append(f"topic write {topics.ALL_DEAD_LETTERS}")
    return [*rules, own_state]


def acl_file_text(spec: AuthSpec) -> str:
    lines = ["# Generated by `rampart provision` from the auth file: do not edit, edit the auth file."]
    for node in spec.nodes:
        lines += ["", f"# {node.role.value}: {ROLE_HELP[node.role]}", f"user {node.id}", *acl_rules(node)]
    return "\n".join(lines) + "\n"


def mosquitto_password_line(user: str, password: str, salt: bytes | None = None, iterations: int = 101) -> str:
    """One `password_file` line in Mosquitto 2's format: PBKDF2-SHA512 (`$7$`), as `mosquitto_passwd`
    writes it."""
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations, 64)
    b64 = base64.b64encode
    return f"{user}:$7${iterations}${b64(salt).decode()}${b64(digest).decode()}"


# --- certificates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issuer:
    """A CA: its certificate and key."""

    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_ca(name: str = "Rampart deployment CA", days: int = 3650) -> Issuer:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    public = key.public_key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_now() - dt.timedelta(minutes=5))
        .not_valid_after(_now() + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issuer(certificate, key)


def _key_usage(cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def issue(
    ca: Issuer,
    common_name: str,
    *,
    server_hosts: Iterable[str] = (),
    valid_from: dt.datetime | None = None,
    days: int = 825,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A leaf certificate: a server one when `server_hosts` are given (its SANs), else a client one
    whose common name is the identity the broker uses as user name and client id."""
    key = ec.generate_private_key(ec.SECP256R1())
    start = valid_from or _now() - dt.timedelta(minutes=5)
    hosts = list(server_hosts)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if hosts else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([_san(host) for host in hosts]), critical=False)
    return builder.sign(ca.key, hashes.SHA256()), key


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def write_certificate(path: Path, certificate: x509.Certificate) -> None:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def write_key(path: Path, key: ec.EllipticCurvePrivateKey, mode: int = 0o600) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write_secret(path, pem, mode)


def _write_secret(path: Path, data: bytes, mode: int) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)


def load_issuer(directory: Path) -> Issuer:
    certificate = x509.load_pem_x509_certificate((directory / CA_FILE).read_bytes())
    key = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{directory / CA_KEY_FILE}: not an EC private key")
    return Issuer(certificate, key)


# --- a deployment on disk ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """A provisioned directory: `ca.crt`, `ca.key`, `broker/` (server certificate, key, acl, passwd),
    `nodes/` (one identity per node: `ID.crt` + `ID.key`, or `ID.password`)."""

    root: Path
    passwords: bool = False

    @property
    def ca_file(self) -> Path:
        return self.root / CA_FILE

    @property
    def broker_dir(self) -> Path:
        return self.root / BROKER_DIR

    @property
    def identity_dir(self) -> Path:
        return self.root / NODES_DIR

    def client_env(self) -> dict[str, str]:
        """What a node's environment needs to connect with its own identity (see bus/client.py)."""
        return {"RAMPART_CA_FILE": str(self.ca_file), "RAMPART_IDENTITY_DIR": str(self.identity_dir)}

    def broker_settings(self, broker_dir: str | None = None) -> dict[str, str]:
        """The Mosquitto settings of a TLS listener with these identities; `broker_dir` is where the
        broker sees `broker/` and `ca.crt` (e.g. a container's mount point), default where they are
        (an absolute path: the broker may be started from any directory)."""
        where = broker_dir or str(self.broker_dir.absolute())
        settings = {
            "allow_anonymous": "false",
            "cafile": f"{where}/{CA_FILE}",
            "certfile": f"{where}/server.crt",
            "keyfile": f"{where}/server.key",
            "tls_version": "tlsv1.2",
            "acl_file": f"{where}/acl",
            # The identity becomes the client id: no client can take over another node's session.
            "use_username_as_clientid": "true",
        }
        if self.passwords:
            settings["password_file"] = f"{where}/passwd"
        else:
            settings |= {"require_certificate": "true", "use_identity_as_username": "true"}
        return settings


def provision(
    spec: AuthSpec,
    out: Path,
    *,
    passwords: bool = False,
    ca: Issuer | None = None,
    days: int = 825,
    key_mode: int = 0o600,
) -> Deployment:
    """Write a deployment for `spec` into `out`: a CA (or `ca`, e.g. `load_issuer` of an earlier one),
    the broker's certificate for `spec.hosts`, its ACL (and password file), and one identity per node.
    `key_mode` applies to the broker's key and password file (0o640 when the broker runs as another
    user in the files' group)."""
    deployment = Deployment(out, passwords)
    for directory in (out, deployment.broker_dir, deployment.identity_dir):
        directory.mkdir(parents=True, exist_ok=True)
    if ca is None:
        ca = make_ca()
        write_key(out / CA_KEY_FILE, ca.key)
    write_certificate(deployment.ca_file, ca.certificate)
    write_certificate(deployment.broker_dir / CA_FILE, ca.certificate)
    server, server_key = issue(ca, spec.hosts[0], server_hosts=spec.hosts, days=days)
    write_certificate(deployment.broker_dir / "server.crt", server)
    write_key(deployment.broker_dir / "server.key", server_key, key_mode)
    (deployment.broker_dir / "acl").write_text(acl_file_text(spec))
    (out / "rampart-auth.toml").write_text(spec.to_toml())
    password_lines = []
    for node in spec.nodes:
        if passwords:
            password = secrets.token_urlsafe(24)
            _write_secret(deployment.identity_dir / f"{node.id}.password", password.encode(), 0o600)
            password_lines.append(mosquitto_password_line(node.id, password))
        else:
            certificate, key = issue(ca, node.id, days=days)
            write_certificate(deployment.identity_dir / f"{node.id}.crt", certificate)
            write_key(deployment.identity_dir / f"{node.id}.key", key)
    if passwords:
        _write_secret(deployment.broker_dir / "passwd", ("\n".join(password_lines) + "\n").encode(), key_mode)
    return deployment
