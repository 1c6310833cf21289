"""An attacker on the same network, against a real TLS Mosquitto configured from the generated ACL.

One broker with client certificates (the default) and one with passwords, each started once for the
module; identities are made by the provisioning code. The attacker side uses raw paho clients, and
every refusal is asserted with the broker's exact MQTT 5 reason code.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from bus import codec, topics
from bus.client import BrokerConfig, BrokerConfigError, BusClient
from bus.recording import read_all
from bus.schema import NodeState, Source, SourceKind, utc_now
from nodes import health
from nodes.broker import LocalMosquitto, find_mosquitto
from nodes.cli import EXIT_INTERRUPTED, main
from nodes.provision import stack_spec
from nodes.security import (
    AuthFileError,
    Deployment,
    acl_rules,
    issue,
    load_auth_file,
    load_issuer,
    make_ca,
    parse_auth,
    provision,
    scenario_sources,
    write_certificate,
    write_key,
)
from nodes.sim import scenario_for, scenario_messages
from nodes.stack import MONITOR_ID, secure_broker
from simulators import load_scenario

pytestmark = pytest.mark.skipif(find_mosquitto() is None, reason="needs the mosquitto binary")

NOT_AUTHORIZED = 135
ALLOWED = (0, 16)  # Success, No matching subscribers
VEHICLES = ("ifv-7", "ifv-8")


@dataclass
class Secured:
    broker: LocalMosquitto
    deployment: Deployment

    @property
    def port(self) -> int:
        return self.broker.port

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"

    def config(self) -> BrokerConfig:
        return BrokerConfig(
            host="127.0.0.1",
            port=self.port,
            tls=True,
            ca_file=str(self.deployment.ca_file),
            identity_dir=str(self.deployment.identity_dir),
        )


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    deployment = provision(stack_spec("smoke", list(VEHICLES)), tmp_path_factory.mktemp("deployment"))
    with LocalMosquitto(overrides=deployment.broker_settings()) as broker:
        yield Secured(broker, deployment)


@pytest.fixture(scope="module")
def with_passwords(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    deployment = provision(stack_spec("smoke", list(VEHICLES)), tmp_path_factory.mktemp("passwords"), passwords=True)
    with LocalMosquitto(overrides=deployment.broker_settings()) as broker:
        yield Secured(broker, deployment)


@dataclass
class Raw:
    """A raw paho client that records its CONNACK, disconnects, PUBACK and SUBACK reason codes."""

    client: mqtt.Client
    connack: list[ReasonCode] = field(default_factory=list)
    disconnects: list[ReasonCode] = field(default_factory=list)
    pubacks: dict[int, int] = field(default_factory=dict)
    subacks: dict[int, list[ReasonCode]] = field(default_factory=dict)
    connected: threading.Event = field(default_factory=threading.Event)
    answered: threading.Condition = field(default_factory=threading.Condition)
    """Notified at every CONNACK, PUBACK and SUBACK."""

    def note(self, record: Callable[[], None]) -> None:
        """Record an answer of the broker (on paho's thread) and wake whoever waits for one."""
        with self.answered:
            record()
            self.answered.notify_all()

    def wait(self, condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
        with self.answered:
            return self.answered.wait_for(condition, timeout_s)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> int:
        """The broker's PUBACK reason code for a QoS 1 publish."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        assert self.wait(lambda: info.mid in self.pubacks), f"no PUBACK for {topic}"
        return self.pubacks[info.mid]

    def subscribe(self, topic: str) -> list[ReasonCode]:
        """Subscribe at QoS 0 and return the broker's SUBACK; the retained messages of any earlier
        subscription of this client have been delivered by then (the broker sends them in order)."""
        _, mid = self.client.subscribe(topic, qos=0)
        assert mid is not None
        assert self.wait(lambda: mid in self.subacks), f"no SUBACK for {topic}"
        return self.subacks[mid]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def raw(
    secured: Secured,
    identity: str | None,
    client_id: str | None = None,
    *,
    password: str | None = None,
    with_certificate: bool = True,
) -> Raw:
    """Connect as `identity` (its certificate, or its password in password mode) with `client_id`."""
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or identity or "", protocol=mqtt.MQTTv5)
    nodes = secured.deployment.identity_dir
    if secured.deployment.passwords:
        paho.tls_set(ca_certs=str(secured.deployment.ca_file))
        if identity is not None:
            secret = password or (nodes / f"{identity}.password").read_text()
            paho.username_pw_set(identity, secret)
    elif identity is not None and with_certificate:
        paho.tls_set(str(secured.deployment.ca_file), str(nodes / f"{identity}.crt"), str(nodes / f"{identity}.key"))
    else:
        paho.tls_set(ca_certs=str(secured.deployment.ca_file))
    state = Raw(paho)

    def on_connect(c: mqtt.Client, u: object, f: object, rc: ReasonCode, p: Properties | None) -> None:
        state.note(lambda: state.connack.append(rc))
        if not rc.is_failure:
            state.connected.set()

    paho.on_connect = on_connect
    paho.on_disconnect = lambda c, u, f, rc, p: state.disconnects.append(rc)
    paho.on_publish = lambda c, u, mid, rc, p: state.note(lambda: state.pubacks.__setitem__(mid, rc.value))
    paho.on_subscribe = lambda c, u, mid, codes, p: state.note(lambda: state.subacks.__setitem__(mid, codes))
    paho.connect("127.0.0.1", secured.port)
    paho.loop_start()
    return state


def connected(secured: Secured, identity: str, client_id: str | None = None) -> Raw:
    state = raw(secured, identity, client_id)
    assert state.connected.wait(5), f"{identity} could not connect: {state.connack}"
    return state


def node_state(node_id: str, age_s: float = 0.0) -> bytes:
    """An online NodeState of `node_id`, stamped `age_s` ago."""
    stamp = utc_now() - dt.timedelta(seconds=age_s)
    source = Source(id=node_id, kind=SourceKind.FUSION)
    return codec.encode(NodeState(source=source, session=1, time=stamp, sent_at=stamp, online=True, role="fusion"))


# --- identities and anonymous clients --------------------------------------------------------------------


def test_an_anonymous_client_is_refused(secured: Secured) -> None:
    """No client certificate: the broker ends the TLS handshake (require_certificate)."""
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="anonymous", protocol=mqtt.MQTTv5)
    paho.tls_set(ca_certs=str(secured.deployment.ca_file))
    connack: list[ReasonCode] = []
    paho.on_connect = lambda c, u, f, rc, p: connack.append(rc)
    outcome = paho.connect("127.0.0.1", secured.port)
    for _ in range(20):  # under TLS 1.3 the broker's refusal may arrive with a later read
        if outcome != mqtt.MQTT_ERR_SUCCESS:
            break
        outcome = paho.loop(timeout=0.05)
    assert outcome == mqtt.MQTT_ERR_CONN_LOST
    assert connack == []
    assert "peer did not return a certificate" in secured.broker.log_path.read_text()


def test_plain_mqtt_is_refused_on_the_tls_port(secured: Secured) -> None:
    paho = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain", protocol=mqtt.MQTTv5)
    paho.connect("127.0.0.1", secured.port)
    outcome = [paho.loop(timeout=0.5) for _ in range(4)]
    assert not paho.is_connected()
    assert any(rc != mqtt.MQTT_ERR_SUCCESS for rc in outcome)


def test_passwords_anonymous_and_wrong_password_are_refused_not_authorized(with_passwords: Secured) -> None:
    """Mosquitto 2.0.11 answers both with CONNACK 135 (not 134 "Bad user name or password")."""
    anonymous = raw(with_passwords, None, "anonymous")
    wrong = raw(with_passwords, "fusion", password="guessed")
    right = raw(with_passwords, "fusion")
    try:
        assert right.connected.wait(5), right.connack
        assert anonymous.wait(lambda: bool(anonymous.connack)) and wrong.wait(lambda: bool(wrong.connack))
        assert [rc.value for rc in anonymous.connack] == [NOT_AUTHORIZED]
        assert [rc.value for rc in wrong.connack] == [NOT_AUTHORIZED]
        assert right.publish(topics.track("T1"), b"x", retain=True) in ALLOWED
        assert right.publish(topics.observation("sensor", "radar-north"), b"x") == NOT_AUTHORIZED
    finally:
        for state in (anonymous, wrong, right):
            state.close()


# --- what each role may not do -----------------------------------------------------------------------------

FORBIDDEN: dict[str, list[tuple[str, str, bool]]] = {
    # identity: (what, topic, retained)
    "ifv-7.nav": [
        ("forged hostile track", topics.track("T999"), True),
        ("retained clear of a track", topics.track("T000001"), True),
        ("forged snapshot", topics.snapshot(), True),
        ("forged node state of the fusion", topics.node_state("fusion"), True),
        ("position under another vehicle's source id", topics.observation("position", "ifv-8.nav"), False),
        ("sensor observation under its own id", topics.observation("sensor", "ifv-7.nav"), False),
        ("truth", topics.truth("smoke"), False),
    ],
    "radar-north": [
        ("forged track", topics.track("T999"), True),
        ("observation under another source id", topics.observation("sensor", "ifv-1.sensor"), False),
        ("forged node state of another node", topics.node_state("ifv-1.sensor"), True),
        ("truth", topics.truth("smoke"), False),
    ],
    "sim.smoke": [
        ("forged track", topics.track("T999"), True),
        ("observation under an adapter's source id", topics.observation("sensor", "radar-north"), False),
        ("forged node state of the fusion", topics.node_state("fusion"), True),
    ],
    "fusion": [
        ("observation under an adapter's source id", topics.observation("sensor", "radar-north"), False),
        ("truth", topics.truth("smoke"), False),
        ("forged node state of a vehicle", topics.node_state("ifv-7.nav"), True),
    ],
    "recorder": [
        ("forged track", topics.track("T999"), True),
        ("retained clear of the snapshot", topics.snapshot(), True),
        ("observation", topics.observation("position", "ifv-7.nav"), False),
        ("forged node state of the fusion", topics.node_state("fusion"), True),
    ],
    "replayer": [
        ("forged track", topics.track("T999"), True),
        ("forged snapshot", topics.snapshot(), True),
        ("forged node state of the fusion", topics.node_state("fusion"), True),
        ("forged node state of the source it replays", topics.node_state("radar-north"), True),
        ("dead letter", topics.dead_letter("radar-north"), False),
    ],
    "health.fusion": [
        ("forged node state of the node it checks", topics.node_state("fusion"), True),
        ("forged track", topics.track("T999"), True),
    ],
}


@pytest.mark.parametrize("identity", sorted(FORBIDDEN))
def test_every_forbidden_publish_is_refused_not_authorized(secured: Secured, identity: str) -> None:
    attacker = connected(secured, identity)
    try:
        refused = {
            what: attacker.publish(topic, b"" if "clear" in what else node_state("x"), retain)
            for what, topic, retain in FORBIDDEN[identity]
        }
        assert refused == {what: NOT_AUTHORIZED for what, _, _ in FORBIDDEN[identity]}
        assert attacker.publish(topics.node_state(identity), node_state(identity), retain=True) in ALLOWED
    finally:
        attacker.close()


def test_what_each_role_is_for_is_allowed(secured: Secured) -> None:
    """The controls: the refusals above are the ACL's, not a broker that refuses everything."""
    allowed = {
        "fusion": [(topics.track("T1"), True), (topics.track("T1"), True), (topics.snapshot(), True)],
        "ifv-7.nav": [(topics.observation("position", "ifv-7.nav"), False)],
        "radar-north": [(topics.observation("sensor", "radar-north"), False)],
        "sim.smoke": [(topics.truth("smoke"), False)],
        "replayer": [
            (topics.observation("sensor", "radar-north"), False),
            (topics.observation("position", "ifv-7.nav"), False),
            (topics.truth("smoke"), False),
        ],
    }
    for identity, publishes in allowed.items():
        node = connected(secured, identity)
        try:
            assert [node.publish(topic, b"x", retain) for topic, retain in publishes] == [16] * len(publishes)
        finally:
            node.close()
    fusion = connected(secured, "fusion")
    try:  # clean up the retained values
        assert fusion.publish(topics.track("T1"), b"", retain=True) in ALLOWED
        assert fusion.publish(topics.snapshot(), b"", retain=True) in ALLOWED
    finally:
        fusion.close()


def test_a_forged_retained_track_never_reaches_a_late_joiner(secured: Secured) -> None:
    fusion, attacker = connected(secured, "fusion"), connected(secured, "ifv-7.nav")
    try:
        assert fusion.publish(topics.track("T665"), b"real", retain=True) in ALLOWED  # the control
        assert attacker.publish(topics.track("T666"), b"hostile", retain=True) == NOT_AUTHORIZED
    finally:
        attacker.close()
    late = connected(secured, "ifv-8.nav")
    seen: list[str] = []
    late.client.on_message = lambda c, u, msg: seen.append(msg.topic)
    try:
        assert not late.subscribe(topics.PICTURE)[0].is_failure
        late.subscribe(topics.snapshot())  # its SUBACK follows the retained messages of the first
        assert topics.track("T665") in seen
        assert topics.track("T666") not in seen
    finally:
        late.close()
        assert fusion.publish(topics.track("T665"), b"", retain=True) in ALLOWED
        fusion.close()


# --- client ids are bound to identities ---------------------------------------------------------------------


def test_no_identity_can_take_over_the_fusions_session(secured: Secured) -> None:
    """The attack from the issue: connect with client id `fusion` again and again. The broker renames
    the attacker to its own identity (use_username_as_clientid), so the fusion keeps its connection:
    after each attempt, a publish of the fusion's is still acknowledged on its first connection."""
    fusion = connected(secured, "fusion")
    attempts = []
    try:
        for _ in range(4):
            attacker = connected(secured, "ifv-7.nav", client_id="fusion")
            attempts.append(attacker.publish(topics.track("T999"), b"x", retain=True))
            attacker.close()
            assert fusion.publish(topics.snapshot(), b"", retain=True) in ALLOWED
        assert fusion.connack == [fusion.connack[0]] and fusion.disconnects == []
        assert fusion.client.is_connected()
        assert attempts == [NOT_AUTHORIZED] * 4  # it is still only ifv-7.nav
        assert fusion.publish(topics.snapshot(), b"", retain=True) in ALLOWED
    finally:
        fusion.close()
    log = secured.broker.log_path.read_text()
    assert "as ifv-7.nav (p5" in log
    assert "Client fusion already connected" not in log


def test_the_password_identity_is_bound_to_its_client_id_too(with_passwords: Secured) -> None:
    fusion = raw(with_passwords, "fusion")
    assert fusion.connected.wait(5), fusion.connack
    try:
        attacker = raw(with_passwords, "ifv-7.nav", client_id="fusion")
        assert attacker.connected.wait(5), attacker.connack
        assert attacker.publish(topics.track("T999"), b"x", retain=True) == NOT_AUTHORIZED
        attacker.close()
        assert fusion.publish(topics.snapshot(), b"", retain=True) in ALLOWED
        assert len(fusion.connack) == 1 and fusion.disconnects == []
    finally:
        fusion.close()


# --- health cannot be forged ----------------------------------------------------------------------------------


def test_health_fails_on_a_stale_online_state_and_passes_on_a_fresh_one(secured: Secured) -> None:
    fusion = connected(secured, "fusion")
    try:
        assert fusion.publish(topics.node_state("fusion"), node_state("fusion", age_s=300), retain=True) in ALLOWED
        healthy, said = health.check("fusion", secured.config(), timeout_s=1.5, max_age_s=20)
        assert not healthy
        assert re.fullmatch(r"node fusion is stale: its online state is 30\d s old \(max 20\)", said)
        assert fusion.publish(topics.node_state("fusion"), node_state("fusion"), retain=True) in ALLOWED
        healthy, said = health.check("fusion", secured.config(), timeout_s=3, max_age_s=20)
        assert healthy, said
        assert fusion.publish(topics.node_state("fusion"), b"", retain=True) in ALLOWED
    finally:
        fusion.close()


# --- the legitimate stack under the same ACL -----------------------------------------------------------------


def test_the_stack_runs_the_smoke_scenario_under_the_acl_with_zero_refusals(secured: Secured, tmp_path: Path) -> None:
    env = {**os.environ, **secured.deployment.client_env(), "RAMPART_BROKER": secured.url}
    rampart = [sys.executable, "-m", "nodes.cli"]
    recording = tmp_path / "run.rec"
    commands = {
        "fusion": [*rampart, "fusion"],
        "recorder": [*rampart, "record", "--out", str(recording)],
        **{vehicle: [*rampart, "vehicle", "--id", vehicle, "--headless", "--clock", "picture"] for vehicle in VEHICLES},
    }
    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in [*commands, "sim"]}
    processes = {
        name: subprocess.Popen(command, env=env, stdout=logs[name], stderr=subprocess.STDOUT)
        for name, command in commands.items()
    }
    try:
        # The simulator runs once the others are online (their retained states), and they stop
        # (Ctrl-C) once it has finished.
        for node in ("fusion", "recorder", *(f"{vehicle}.nav" for vehicle in VEHICLES)):
            healthy, said = health.check(node, secured.config(), timeout_s=30)
            assert healthy, said
        sim = [*rampart, "sim", "--scenario", "smoke", "--speed", "4", "--duration", "40"]
        processes["sim"] = subprocess.Popen(sim, env=env, stdout=logs["sim"], stderr=subprocess.STDOUT)
        codes = {"sim": processes["sim"].wait(timeout=60)}
        for name in commands:
            processes[name].send_signal(signal.SIGINT)
        codes |= {name: processes[name].wait(timeout=20) for name in commands}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
        for file in logs.values():
            file.close()
    output = {name: (tmp_path / f"{name}.log").read_text() for name in logs}
    assert {name: text.count("the broker refused") for name, text in output.items()} == dict.fromkeys(output, 0)
    # Ctrl-C is the recorder's normal end; the nodes say they were interrupted.
    assert codes == {**dict.fromkeys(commands, EXIT_INTERRUPTED), "sim": 0, "recorder": 0}, output
    recorded = {record.topic for record in read_all(recording)[1]}
    assert topics.observation("sensor", "radar-north") in recorded
    assert topics.truth("smoke") in recorded
    assert any(topic.startswith(f"{topics.ROOT}/picture/tracks/") for topic in recorded)
    assert {topics.node_state(f"{v}.nav") for v in VEHICLES} <= recorded


def test_a_recording_replays_as_the_replayer_with_zero_refusals(secured: Secured) -> None:
    """`rampart replay` connects as `replayer` by default and republishes other sources' observations
    and the truth: exactly what its role may write."""
    env = {**os.environ, **secured.deployment.client_env(), "RAMPART_BROKER": secured.url}
    recording = Path(__file__).parent / "data" / "smoke.rec"
    command = [sys.executable, "-m", "nodes.cli", "replay", str(recording), "--max-speed"]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "the broker refused" not in result.stderr
    assert "as replayer (p5" in secured.broker.log_path.read_text()


# --- clear errors for every TLS/auth misconfiguration ----------------------------------------------------------


def rampart(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str
) -> tuple[int, str]:
    """`rampart record` with `env`: its exit code and what it said on stderr."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    code = main(["record", "--out", os.devnull, "--force", "--duration", "1", *args])
    return code, capsys.readouterr().err.strip()


def test_an_empty_ca_path_is_one_line_and_exit_3(monkeypatch, capsys) -> None:
    code, said = rampart(monkeypatch, capsys, {"RAMPART_CA_FILE": ""})
    assert (code, said) == (3, "rampart record: RAMPART_CA_FILE is set but empty: give a path, or unset it")


def test_a_missing_ca_file_is_named(monkeypatch, capsys, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "ca.crt"
    code, said = rampart(monkeypatch, capsys, {"RAMPART_CA_FILE": str(missing)})
    assert (code, said) == (3, f"rampart record: CA file {missing} does not exist")


def test_a_ca_file_that_is_no_certificate_is_named(monkeypatch, capsys, tmp_path: Path) -> None:
    junk = tmp_path / "ca.crt"
    junk.write_text("not a certificate\n")
    code, said = rampart(monkeypatch, capsys, {"RAMPART_CA_FILE": str(junk)})
    assert code == 3
    assert said.startswith(f"rampart record: CA file {junk} holds no usable certificate")
    assert "\n" not in said


def test_a_node_without_an_identity_is_named(monkeypatch, capsys, secured: Secured) -> None:
    env = {**secured.deployment.client_env(), "RAMPART_BROKER": secured.url}
    code, said = rampart(monkeypatch, capsys, env, "--id", "intruder")
    assert code == 3
    assert said.startswith(f"rampart record: no identity for node 'intruder' in {env['RAMPART_IDENTITY_DIR']}")


def _connect_error(config: BrokerConfig, node_id: str = "fusion") -> str:
    with pytest.raises(ConnectionError) as refused:
        BusClient(node_id, SourceKind.TOOL, config, announce=False).start(timeout_s=1.5)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_a_wrong_ca_is_named(secured: Secured, tmp_path: Path) -> None:
    other = tmp_path / "other-ca.crt"
    write_certificate(other, make_ca("someone else").certificate)
    message = _connect_error(replace(secured.config(), ca_file=str(other)))
    assert "certificate verify failed" in message
    assert f"CA file {other}" in message


def test_an_expired_certificate_is_named(secured: Secured, tmp_path: Path) -> None:
    ca = load_issuer(secured.deployment.root)
    certificate, key = issue(ca, "fusion", valid_from=utc_now() - dt.timedelta(days=30), days=1)
    write_certificate(tmp_path / "fusion.crt", certificate)
    write_key(tmp_path / "fusion.key", key)
    config = replace(secured.config(), identity_dir=str(tmp_path))
    message = _connect_error(config)
    assert "expired" in message
    assert f"identity {tmp_path / 'fusion.crt'}" in message


def test_a_certificate_from_another_ca_is_refused_and_named(secured: Secured, tmp_path: Path) -> None:
    certificate, key = issue(make_ca("rogue"), "fusion")
    write_certificate(tmp_path / "fusion.crt", certificate)
    write_key(tmp_path / "fusion.key", key)
    message = _connect_error(replace(secured.config(), identity_dir=str(tmp_path)))
    assert f"identity {tmp_path / 'fusion.crt'}" in message


def test_a_refused_password_names_the_identity(with_passwords: Secured, tmp_path: Path) -> None:
    (tmp_path / "fusion.password").write_text("guessed")
    message = _connect_error(replace(with_passwords.config(), identity_dir=str(tmp_path)))
    assert "broker refused the connection: Not authorized" in message
    assert "identity user fusion" in message


def test_a_certificate_without_its_key_is_refused_before_connecting(tmp_path: Path) -> None:
    with pytest.raises(BrokerConfigError, match="needs its key"):
        BrokerConfig(tls=True, cert_file=str(tmp_path / "a.crt")).check_files()


# --- the auth file --------------------------------------------------------------------------------------------


def test_the_scenario_sources_are_those_the_simulator_publishes() -> None:
    scenario = scenario_for("smoke", 5)
    published = {message.source.id for _, _, message in scenario_messages(scenario, scenario.seed)}
    assert set(scenario_sources(scenario)) == published - {f"sim.{scenario.name}"}


def test_the_auth_file_round_trips_and_names_what_is_wrong(tmp_path: Path) -> None:
    spec = stack_spec("smoke", list(VEHICLES))
    path = tmp_path / "auth.toml"
    path.write_text(spec.to_toml())
    assert load_auth_file(path) == spec
    relay = parse_auth({"version": 1, "roles": {"adapter": ["relay"]}, "sources": {"relay": ["a", "b"]}})
    trials = parse_auth({"version": 1, "roles": {"replayer": ["any", "some"]}, "sources": {"some": ["a"]}})
    assert acl_rules(trials.node("any")) == [
        "topic write rampart/v1/obs/#",
        "topic write rampart/v1/truth/#",
        "topic readwrite rampart/v1/node/any/state",
    ]
    assert acl_rules(trials.node("some")) == [
        "topic write rampart/v1/obs/+/a",
        "topic write rampart/v1/truth/#",
        "topic readwrite rampart/v1/node/some/state",
    ]
    assert acl_rules(relay.node("relay")) == [
        "topic write rampart/v1/obs/+/a",
        "topic write rampart/v1/obs/+/b",
        "topic readwrite rampart/v1/node/relay/state",
    ]
    cases: list[tuple[dict[str, object], str]] = [
        ({"version": 1, "roles": {"pilot": ["x"]}}, "roles.pilot: not a role"),
        ({"version": 1, "roles": {"adapter": ["a/b"]}}, "roles.adapter: node id 'a/b' is not a valid topic segment"),
        ({"version": 1, "roles": {"fusion": ["x"], "vehicle": ["x"]}}, "node 'x' is listed twice"),
        ({"version": 1, "roles": {}, "sources": {"y": ["a"]}}, "sources.y: no such node"),
        ({"roles": {}}, "version must be 1"),
    ]
    for data, message in cases:
        with pytest.raises(AuthFileError, match=message):
            parse_auth(data)


def test_the_shipped_auth_file_is_valid_and_provisions(tmp_path: Path, capsys, monkeypatch) -> None:
    shipped = Path(__file__).resolve().parents[1] / "deploy" / "rampart-auth.toml"
    spec = load_auth_file(shipped)
    assert {"fusion", "sim.baltic-patrol", "ifv-7.nav", "ifv-8.nav", "health.fusion"} <= {n.id for n in spec.nodes}
    monkeypatch.chdir(tmp_path)
    assert main(["provision", "--out", "d", "--auth", str(shipped)]) == 0
    assert "--broker mqtts://HOST:8883, HOST one of mosquitto, localhost, 127.0.0.1" in capsys.readouterr().out
    assert (tmp_path / "d" / "nodes" / "fusion.crt").exists()
    config = (tmp_path / "d" / "broker" / "mosquitto.conf").read_text()
    assert "use_identity_as_username true" in config
    assert f"acl_file {tmp_path / 'd' / 'broker' / 'acl'}\n" in config, "absolute: mosquitto runs from anywhere"
    assert main(["provision", "--out", str(tmp_path / "d"), "--auth", str(shipped)]) == 2
    assert "already provisioned" in capsys.readouterr().err
    assert main(["provision", "--out", str(tmp_path / "d"), "--auth", str(shipped), "--skip-existing"]) == 0


def test_rampart_up_starts_its_broker_with_tls_and_the_stacks_identities(tmp_path: Path) -> None:
    broker, env = secure_broker(load_scenario("smoke"), 1, tmp_path / "deployment")
    try:
        config = BrokerConfig(
            port=broker.port, tls=True, ca_file=env["RAMPART_CA_FILE"], identity_dir=env["RAMPART_IDENTITY_DIR"]
        )
        for node_id in ("fusion", "sim.smoke", "radar-north", "vehicle-1.nav", MONITOR_ID):
            BusClient(node_id, SourceKind.TOOL, config, announce=False).start(timeout_s=5).stop()
        plain = BusClient("fusion", SourceKind.TOOL, BrokerConfig(port=broker.port), announce=False)
        with pytest.raises(ConnectionError):
            plain.start(timeout_s=1)
    finally:
        broker.close()
