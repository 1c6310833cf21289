"""`rampart tak` on a real Mosquitto: the picture goes out as CoT to a TAK server (here a loopback TCP
listener the test reads with lxml) and to a UDP mesh address (read with takproto); TAK clients' PLIs
come back as friendly platforms; bad input is dead-lettered with its reason and the gateway goes on;
under the provisioned ACL the gateway may publish its own position source and nothing else."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import takproto
import trustme
from cryptography import x509
from cryptography.x509.oid import NameOID
from lxml import etree

from bus import codec, topics
from bus.client import BrokerConfig, BusClient
from bus.replica import PictureReplica
from bus.schema import DeadLetter, Disposition, PositionReport, SourceKind, Track, TrackStatus, TrackUpdate, utc_now
from nodes import cot
from nodes.broker import LocalMosquitto
from nodes.cli import main
from nodes.security import AuthSpec, Node, Role, provision
from nodes.tak import Link, MeshLink, ServerLink, TakGateway, tls_context
from tests.bus_helpers import Collector, client
from tests.test_tak_cot import TAKV, track

GATEWAY = "tak-gw"


class TakServerStub:
    """The TAK server's side of one TCP connection: collects the events the gateway sends (cut at
    `</event>` and parsed by lxml) and sends the gateway whatever a test writes."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.peer_name: str | None = None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.events: list[etree._Element] = []
        self._changed = threading.Condition()
        self._conn: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        if self.tls is not None:
            conn = self.tls.wrap_socket(conn, server_side=True)
            der = conn.getpeercert(binary_form=True)
            assert der is not None
            names = x509.load_der_x509_certificate(der).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            self.peer_name = str(names[0].value)
        with self._changed:
            self._conn = conn
            self._changed.notify_all()
        buffer = b""
        while data := conn.recv(65536):
            buffer += data
            *whole, buffer = buffer.split(b"</event>")
            with self._changed:
                self.events += [etree.fromstring(part + b"</event>") for part in whole]
                self._changed.notify_all()

    def wait_for(self, condition: Callable[[list[etree._Element]], bool], timeout_s: float = 10.0) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: condition(self.events), timeout_s)

    def send(self, data: bytes) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._conn is not None, 10.0)
            assert self._conn is not None
            self._conn.sendall(data)

    def uids(self) -> list[str]:
        with self._changed:
            return [event.get("uid") for event in self.events]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self.listener.close()


class MeshListener:
    """A UDP socket standing for the mesh: each datagram one TAK protocol v1 mesh message."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"udp://127.0.0.1:{self.sock.getsockname()[1]}"

    def wait_for_uid(self, uid: str, timeout_s: float = 10.0) -> takproto.proto.TakMessage:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            message = takproto.parse_proto(bytearray(data))
            if message.cotEvent.uid == uid:
                return message
        raise AssertionError(f"no mesh event for {uid}")


@pytest.fixture
def tak_server() -> Iterator[TakServerStub]:
    server = TakServerStub()
    yield server
    server.close()


def gateway_on(url: str, links: list[Link], config: BrokerConfig | None = None) -> TakGateway:
    return TakGateway(GATEWAY, links, config or BrokerConfig.from_url(url))


def server_link(server: TakServerStub) -> ServerLink:
    return ServerLink(f"tcp://127.0.0.1:{server.port}", "xml", cot.LinkScheduler(), None)


def publish_track(fusion: BusClient, item: Track, seq: int) -> None:
    update = TrackUpdate(source=fusion.source, time=item.updated, epoch=1, picture_seq=seq, track=item)
    fusion.publish(topics.track(item.track_id), update, retain=True)


def live(item: Track) -> Track:
    now = utc_now()
    return item.model_copy(update={"updated": now, "first_seen": now, "stale_at": now + timedelta(seconds=8)})


def test_the_picture_goes_out_and_a_dropped_track_is_withdrawn_at_once(rampart_own_broker, tak_server) -> None:
    url = rampart_own_broker.url
    mesh = MeshListener()
    hostile = live(track("T-1", lat=54.123456789, lon=10.987654321))
    platform = live(track("P-ifv-7", disposition=Disposition.FRIENDLY, platform_id="ifv-7"))
    tentative = live(track("T-2", status=TrackStatus.TENTATIVE))
    links = [server_link(tak_server), MeshLink(mesh.url, "protobuf", cot.LinkScheduler())]
    with client(url, "fusion", SourceKind.FUSION) as fusion, gateway_on(url, links):
        for seq, item in enumerate((hostile, platform, tentative), start=1):
            publish_track(fusion, item, seq)
        assert tak_server.wait_for(
            lambda events: {"rampart.main.T-1", "rampart.main.P-ifv-7"} <= {e.get("uid") for e in events}
        )
        sent = {e.get("uid"): e for e in tak_server.events}
        event = sent["rampart.main.T-1"]
        assert event.get("type") == "a-h-G-E-V"
        assert abs(float(event.find("point").get("lat")) - 54.123456789) < 1e-6
        assert abs(float(event.find("point").get("lon")) - 10.987654321) < 1e-6
        assert sent["rampart.main.P-ifv-7"].find("detail/contact").get("callsign") == "ifv-7"
        on_mesh = mesh.wait_for_uid("rampart.main.T-1").cotEvent
        assert (on_mesh.type, round(on_mesh.ce, 1), round(on_mesh.le, 1)) == ("a-h-G-E-V", 10.0, 3.0)
        fusion.clear_retained(topics.track("T-1"))
        assert tak_server.wait_for(lambda events: events[-1].get("type") == "t-x-d-d")
        assert tak_server.events[-1].find("detail/link").get("uid") == "rampart.main.T-1"
        assert mesh.wait_for_uid("rampart.main.T-1.delete").cotEvent.type == "t-x-d-d"
        assert "rampart.main.T-2" not in tak_server.uids()  # tentative tracks are not sent
        # the first event on the connection announces the gateway (servers route only to those)
        assert tak_server.events[0].get("uid") == f"rampart.main.{GATEWAY}"


def pli(uid: str, lat: float, extra: str = "") -> bytes:
    now = cot.cot_time(utc_now())
    stale = cot.cot_time(utc_now() + timedelta(minutes=2))
    return (
        f'<event version="2.0" uid="{uid}" type="a-f-G-U-C" how="m-g" time="{now}" start="{now}" stale="{stale}">'
        f'<point lat="{lat}" lon="10.14" hae="20" ce="5.0" le="9999999.0"/><detail>'
        f'<contact callsign="{uid}-cs" endpoint="*:-1:stcp"/>{TAKV}{extra}</detail></event>'
    ).encode()


def test_tak_plis_become_friendly_platforms_not_echoed_and_bad_input_is_dead_lettered(
    rampart_own_broker, rampart_fusion, tak_server
) -> None:
    url = rampart_own_broker.url
    mesh = MeshListener()
    dead = Collector()
    with (
        client(url, "watch") as watcher,
        gateway_on(url, [server_link(tak_server), MeshLink(mesh.url, "protobuf", cot.LinkScheduler())]) as gateway,
    ):
        watcher.subscribe(topics.ALL_DEAD_LETTERS, dead)
        picture = PictureReplica(watcher)
        tak_server.send(b"<event this is not xml</event>")
        tak_server.send(b"<event>" + b"x" * (cot.MAX_EVENT_BYTES + 10))
        tak_server.send(b"</event>")
        tak_server.send(pli("rampart.other.T-9", 54.3, '<__rampart gateway="tak-2"/>'))
        tak_server.send(pli("ANDROID-aa11", 54.32))
        platform = f"{GATEWAY}.ANDROID-aa11"
        assert picture.wait_for(lambda tracks: f"P-{platform}" in tracks, 15.0)
        friendly = picture.tracks()[f"P-{platform}"]
        assert (friendly.disposition, friendly.platform_id) == (Disposition.FRIENDLY, platform)
        assert friendly.sources[0].source_id == GATEWAY
        # out on the mesh (another audience), not back to the server it came from
        event = mesh.wait_for_uid(f"rampart.main.P-{platform}").cotEvent
        assert event.detail.contact.callsign == "ANDROID-aa11-cs"
        assert abs(event.lat - 54.32) < 1e-6
        # a second client as a sync point: once its track is on the mesh, the first one's decision is long made
        tak_server.send(pli("ANDROID-bb22", 54.33))
        mesh.wait_for_uid(f"rampart.main.P-{GATEWAY}.ANDROID-bb22")
        assert not [uid for uid in tak_server.uids() if "ANDROID" in uid]
        assert dead.wait_for(lambda letters: len(letters) >= 3)
        reasons = [letter.reason for letter in dead.messages if isinstance(letter, DeadLetter)]
        link = f"tcp://127.0.0.1:{tak_server.port}"
        assert reasons == [
            f"{link}: not XML: not well-formed (invalid token): line 1, column 12",
            f"{link}: oversized: more than {cot.MAX_EVENT_BYTES} bytes without </event>",
            f"{link}: uid 'rampart.other.T-9' claims another Rampart gateway's namespace (tak-2)",
        ]
        assert {letter.original_topic for letter in dead.messages if isinstance(letter, DeadLetter)} == {
            topics.observation("position", GATEWAY)
        }
        assert gateway.inbound.inbound.pli == 2


def test_under_the_acl_the_gateway_publishes_only_its_own_position_source(tmp_path) -> None:
    spec = AuthSpec((Node("fusion", Role.FUSION, ()), Node(GATEWAY, Role.GATEWAY, (GATEWAY,))))
    deployment = provision(spec, tmp_path / "deployment")
    with LocalMosquitto(overrides=deployment.broker_settings()) as broker:
        config = BrokerConfig(
            host="127.0.0.1",
            port=broker.port,
            tls=True,
            ca_file=str(deployment.ca_file),
            identity_dir=str(deployment.identity_dir),
        )
        gateway = BusClient(GATEWAY, SourceKind.POSITION, config.for_node(GATEWAY))
        with gateway:
            report = PositionReport(
                source=gateway.source, time=utc_now(), platform_id=f"{GATEWAY}.x", position={"lat": 54.0, "lon": 10.0}
            )
            gateway.publish(topics.observation("position", GATEWAY), report)
            assert gateway.wait_acknowledged(5.0)
            assert gateway.figures.refused_by_broker == 0
            forged = report.model_copy(update={"source": report.source.model_copy(update={"id": "ifv-7.nav"})})
            gateway.publish_raw(topics.observation("position", "ifv-7.nav"), codec.encode(forged))
            assert gateway.wait_acknowledged(5.0)
            assert gateway.figures.refused_by_broker == 1


def test_tls_to_the_tak_server_uses_the_gateways_own_certificate(rampart_own_broker, tmp_path) -> None:
    """A TAK server that requires a client certificate from its CA sees the gateway's, and the
    picture flows over TLS."""
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1")
    gateway_cert = ca.issue_cert("tak-gw.example", common_name=GATEWAY)
    paths = {name: tmp_path / name for name in ("ca.pem", "gw.pem", "gw.key")}
    ca.cert_pem.write_to_path(str(paths["ca.pem"]))
    gateway_cert.cert_chain_pems[0].write_to_path(str(paths["gw.pem"]))
    gateway_cert.private_key_pem.write_to_path(str(paths["gw.key"]))
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(server_side)
    ca.configure_trust(server_side)
    server_side.verify_mode = ssl.CERT_REQUIRED
    server = TakServerStub(server_side)
    try:
        tls = tls_context(str(paths["ca.pem"]), str(paths["gw.pem"]), str(paths["gw.key"]))
        link = ServerLink(f"tls://127.0.0.1:{server.port}", "xml", cot.LinkScheduler(), tls)
        url = rampart_own_broker.url
        with client(url, "fusion", SourceKind.FUSION) as fusion, gateway_on(url, [link]):
            publish_track(fusion, live(track("T-1")), 1)
            assert server.wait_for(lambda events: "rampart.main.T-1" in {e.get("uid") for e in events})
        assert server.peer_name == GATEWAY
    finally:
        server.close()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "rampart tak: give --server URL and/or --mesh [URL]"),
        (["--server", "http://x:1"], "rampart tak: --server 'http://x:1': expected tcp://HOST:PORT or tls://HOST:PORT"),
        (["--server", "tcp://x"], "rampart tak: --server 'tcp://x': expected tcp://HOST:PORT or tls://HOST:PORT"),
        (
            ["--server", "tls://x:8089"],
            "rampart tak: --server 'tls://x:8089': TLS needs --tak-ca (and --tak-cert/--tak-key for the gateway's own)",
        ),
        (["--mesh", "tcp://239.2.3.1:6969"], "rampart tak: --mesh 'tcp://239.2.3.1:6969': expected udp://GROUP:PORT"),
        (["--mesh", "--tak-cert", "a.pem"], "rampart tak: --tak-cert/--tak-key need --tak-ca (the TAK server's CA)"),
        (["--mesh", "--tak-ca", "ca.pem", "--tak-cert", "a.pem"], "rampart tak: --tak-cert and --tak-key go together"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(argv: list[str], message: str, capsys) -> None:
    assert main(["tak", *argv]) == 2
    assert capsys.readouterr().err.strip() == message


def test_an_unusable_tak_certificate_is_named_exit_3(tmp_path, capsys) -> None:
    ca = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    missing = tmp_path / "gw.pem"
    assert (
        main(
            [
                "tak",
                "--server",
                "tls://127.0.0.1:8089",
                "--tak-ca",
                str(ca),
                "--tak-cert",
                str(missing),
                "--tak-key",
                str(missing),
            ]
        )
        == 3
    )
    assert capsys.readouterr().err.strip() == (
        f"rampart tak: TAK client certificate {missing} with key {missing}: [Errno 2] No such file or directory"
    )
