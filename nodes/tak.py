"""`rampart tak`: the gateway between the Rampart picture and TAK (ATAK, WinTAK, TAK Server, FreeTAKServer).

Outbound, it holds the picture like a vehicle (passively: it adds nothing to it) and sends one CoT
event per confirmed or coasting track to a TAK server over TCP or TLS (with its own client
certificate) and/or to the mesh SA multicast group over UDP; a dropped track is withdrawn at once.
Each link has its own `LinkScheduler` (byte budget, minimum interval per track, urgency by identity
and distance to friendly units). Inbound, TAK clients' position reports (PLI) become
`PositionReport`s of platforms `<gateway id>.<TAK uid>`, published under the gateway's own source
id; whatever cannot be used is dead-lettered with its reason, and the gateway keeps going.

The CoT mapping and the scheduling are `nodes/cot.py` (pure); this module is the shell: one thread
per link owns its socket (reads, and sends what its scheduler releases), the bus client's
dispatcher offers picture changes. docs/tak.md is the user's guide.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from adapters.base import Adapter
from adapters.errors import NativeFormatError
from bus.client import BrokerConfig
from bus.replica import PictureReplica
from bus.schema import PositionReport, Track, TrackStatus, utc_now
from nodes import cot
from nodes.options import OptionError, add_broker_option, broker_from

log = logging.getLogger(__name__)

DEFAULT_MESH = "udp://239.2.3.1:6969"
TICK_S = 0.05
PRESENCE_PERIOD_S = 30.0
RECONNECT_MAX_S = 30.0
RECV_CHUNK = 64 * 1024
FORMATS = ("xml", "protobuf")


class Received(bytes):
    """Bytes read from a TAK link: one event, or what was refused before parsing (`refusal`)."""

    link: str
    refusal: str | None

    def __new__(cls, data: bytes, link: str, refusal: str | None = None) -> Received:
        received = super().__new__(cls, data)
        received.link, received.refusal = link, refusal
        return received


@dataclass
class InboundFigures:
    pli: int = 0
    """Position reports published."""
    ignored: int = 0
    """Events that are not a PLI (chat, pings, markers), or our own echoed back."""


class TakInbound(Adapter[Received]):
    """Inbound CoT -> PositionReports of the TAK clients' platforms, under the gateway's own source
    id; every refusal is dead-lettered by the adapter base with the original bytes and the reason."""

    kind = "position"
    integration = "rampart-tak"

    def __init__(self, gateway_id: str, picture: str, broker: BrokerConfig | None = None) -> None:
        super().__init__(gateway_id, broker)
        self.gateway_id, self.picture = gateway_id, picture
        self.inbound = InboundFigures()
        self.origin: dict[str, str] = {}
        """Platform id -> the link its PLIs arrive on (its track is not echoed back there)."""
        self.callsigns: dict[str, str] = {}
        self.link_figures: Callable[[], dict[str, float]] = dict

    def translate(self, native: Received) -> list[PositionReport]:
        if native.refusal is not None:
            raise NativeFormatError(f"{native.link}: {native.refusal}")
        try:
            report = cot.position_report(cot.parse_event(native), self.source, self.gateway_id, self.picture)
        except cot.CotError as error:
            raise NativeFormatError(f"{native.link}: {error}") from None
        if report is None:
            self.inbound.ignored += 1
            return []
        self.inbound.pli += 1
        self.origin[report.platform_id] = native.link
        if report.callsign:
            self.callsigns[report.platform_id] = report.callsign
        return [report]

    def _state_figures(self) -> dict[str, float]:
        return {
            **super()._state_figures(),
            **{f"tak_{k}": v for k, v in asdict(self.inbound).items()},
            **self.link_figures(),
        }


class Link:
    """One TAK destination. Its thread owns the socket: it reads, and sends what the scheduler
    releases; `scheduler` is shared with the dispatcher under `lock`."""

    def __init__(self, name: str, wire_format: str, scheduler: cot.LinkScheduler) -> None:
        self.name, self.wire_format, self.scheduler = name, wire_format, scheduler
        self.lock = threading.Lock()
        self.up = threading.Event()
        self.sent_bytes = 0

    def serve(self, gateway: TakGateway, stop: threading.Event) -> None:
        raise NotImplementedError

    def pump(self, gateway: TakGateway, send: Callable[[bytes], None]) -> None:
        """Send what the scheduler releases now."""
        with self.lock:
            batch = self.scheduler.next_batch(
                time.monotonic(),
                lambda track: gateway.encode(self, track),
                lambda track_id: gateway.encode_delete(self, track_id),
            )
        for _, data in batch:
            send(data)
            self.sent_bytes += len(data)


class ServerLink(Link):
    """A TAK server (TAK Server, FreeTAKServer): a TCP stream, or TLS with the gateway's own
    certificate; XML or TAK protocol v1 stream frames. Reconnects with backoff; on each connect it
    announces itself and sends the whole picture again."""

    def __init__(self, url: str, wire_format: str, scheduler: cot.LinkScheduler, tls: ssl.SSLContext | None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
            raise OptionError(f"--server {url!r}: expected tcp://HOST:PORT or tls://HOST:PORT")
        if parts.scheme == "tls" and tls is None:
            raise OptionError(f"--server {url!r}: TLS needs --tak-ca (and --tak-cert/--tak-key for the gateway's own)")
        super().__init__(f"{parts.scheme}://{parts.hostname}:{parts.port}", wire_format, scheduler)
        self.host, self.port, self.tls = parts.hostname, parts.port, tls if parts.scheme == "tls" else None
        self.connects = 0

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=10.0)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.tls is not None:
            sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        return sock

    def serve(self, gateway: TakGateway, stop: threading.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            try:
                sock = self._connect()
            except OSError as error:
                log.warning("%s: cannot connect (%s); again in %.1f s", self.name, error, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, RECONNECT_MAX_S)
                continue
            backoff = 0.5
            self.connects += 1
            log.info("%s: connected", self.name)
            try:
                self._session(sock, gateway, stop)
            except OSError as error:
                log.warning("%s: connection lost (%s)", self.name, error)
            finally:
                self.up.clear()
                sock.close()

    def _session(self, sock: socket.socket, gateway: TakGateway, stop: threading.Event) -> None:
        splitter = cot.StreamSplitter()
        gateway.link_up(self)
        sock.sendall(gateway.presence(self))
        announced = time.monotonic()
        self.up.set()
        while not stop.is_set():
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            if pending or select.select([sock], [], [], TICK_S)[0]:
                data = _read(sock)
                if data == b"":
                    raise ConnectionResetError("closed by the server")
                for item in splitter.feed(data or b""):
                    if isinstance(item, cot.CotError):
                        gateway.deliver(Received(b"", self.name, str(item)))
                    else:
                        gateway.deliver(Received(item, self.name))
            if time.monotonic() - announced > PRESENCE_PERIOD_S:
                sock.sendall(gateway.presence(self))
                announced = time.monotonic()
            self.pump(gateway, sock.sendall)


def _read(sock: socket.socket) -> bytes | None:
    """What a readable socket holds, without blocking: b"" when the peer closed, None when a TLS
    socket was readable for records that carry no data (TLS 1.3 session tickets)."""
    timeout = sock.gettimeout()
    sock.settimeout(0.0)
    try:
        return sock.recv(RECV_CHUNK)
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    finally:
        sock.settimeout(timeout)


class MeshLink(Link):
    """The mesh SA group (UDP, one event per datagram; TAK protocol v1 mesh frames by default). A
    multicast address is joined, so the gateway hears the clients' PLIs too."""

    def __init__(self, url: str, wire_format: str, scheduler: cot.LinkScheduler, interface: str = "0.0.0.0") -> None:
        parts = urlsplit(url)
        if parts.scheme != "udp" or not parts.hostname or not parts.port:
            raise OptionError(f"--mesh {url!r}: expected udp://GROUP:PORT")
        super().__init__(f"udp://{parts.hostname}:{parts.port}", wire_format, scheduler)
        self.address = (parts.hostname, parts.port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if ipaddress.ip_address(parts.hostname).is_multicast:
            self.sock.bind(("", parts.port))
            membership = struct.pack("4s4s", socket.inet_aton(parts.hostname), socket.inet_aton(interface))
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        else:
            self.sock.bind(("", 0))

    def serve(self, gateway: TakGateway, stop: threading.Event) -> None:
        gateway.link_up(self)
        self.up.set()
        while not stop.is_set():
            if select.select([self.sock], [], [], TICK_S)[0]:
                data = self.sock.recv(RECV_CHUNK)
                gateway.deliver(Received(data, self.name))
            self.pump(gateway, self._send)
        self.sock.close()

    def _send(self, data: bytes) -> None:
        self.sock.sendto(data, self.address)


class TakGateway:
    """The picture out to TAK links, TAK clients' PLIs in."""

    def __init__(
        self,
        gateway_id: str,
        links: list[Link],
        broker: BrokerConfig | None = None,
        picture: str = "main",
        policy: cot.StalePolicy | None = None,
    ) -> None:
        self.gateway_id, self.picture, self.links = gateway_id, picture, links
        self.policy = policy or cot.StalePolicy()
        self.inbound = TakInbound(gateway_id, picture, broker)
        self.inbound.link_figures = self.link_figures
        self.replica: PictureReplica | None = None
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=link.serve, args=(self, self._stop), name=f"tak-{link.name}", daemon=True)
            for link in links
        ]

    def start(self, timeout_s: float = 10.0) -> TakGateway:
        self.inbound.start(timeout_s)
        self.replica = PictureReplica(
            self.inbound.client, on_created=self._offer, on_updated=self._offer, on_dropped=self._withdraw
        )
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)
        self.inbound.stop()

    def __enter__(self) -> TakGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the picture out ---------------------------------------------------------------------------

    def _wanted(self, link: Link, track: Track) -> bool:
        """Confirmed and coasting tracks, except a TAK client's own on the link it came from."""
        if track.status is TrackStatus.TENTATIVE:
            return False
        return track.platform_id is None or self.inbound.origin.get(track.platform_id) != link.name

    def _offer(self, track: Track) -> None:
        for link in self.links:
            if self._wanted(link, track):
                with link.lock:
                    link.scheduler.offer(track)

    def _withdraw(self, track_id: str) -> None:
        for link in self.links:
            with link.lock:
                link.scheduler.withdraw(track_id)

    def link_up(self, link: Link) -> None:
        """A link (re)connected: nothing has gone out on it yet, so the whole picture waits."""
        tracks = self.replica.tracks().values() if self.replica is not None else ()
        with link.lock:
            link.scheduler.forget()
            for track in tracks:
                if self._wanted(link, track):
                    link.scheduler.offer(track)

    def encode(self, link: Link, track: Track) -> bytes:
        callsign = None
        if track.platform_id is not None:
            callsign = self.inbound.callsigns.get(track.platform_id, track.platform_id)
        fields = cot.track_fields(track, self.picture, self.gateway_id, self.policy, callsign)
        return cot.track_wire(fields, self._format(link))

    def encode_delete(self, link: Link, track_id: str) -> bytes:
        uid = cot.event_uid(self.picture, track_id)
        return self._wire(link, cot.delete_event(uid, self.gateway_id, utc_now()))

    def presence(self, link: Link) -> bytes:
        event = cot.presence_event(self.gateway_id, self.picture, utc_now(), 3 * PRESENCE_PERIOD_S)
        return self._wire(link, event)

    def _wire(self, link: Link, event: str) -> bytes:
        return cot.to_wire(event, self._format(link))

    @staticmethod
    def _format(link: Link) -> str:
        if link.wire_format == "xml":
            return "xml"
        return "mesh" if isinstance(link, MeshLink) else "stream"

    # --- TAK clients in ----------------------------------------------------------------------------

    def deliver(self, received: Received) -> None:
        self.inbound.submit(received)

    def link_figures(self) -> dict[str, float]:
        """Each link's figures, `link<N>_<name>` (N in the order of the command line)."""
        figures: dict[str, float] = {}
        for index, link in enumerate(self.links):
            for name, value in asdict(link.scheduler.figures).items():
                figures[f"link{index}_{name}"] = value
            figures[f"link{index}_up"] = float(link.up.is_set())
        return figures


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", default="tak-gw", help="gateway id: its identity, source id and platform namespace")
    add_broker_option(parser)
    parser.add_argument("--server", help="a TAK server: tcp://HOST:PORT (8087 on FreeTAKServer) or tls://HOST:PORT")
    parser.add_argument("--server-format", choices=FORMATS, default="xml", help="CoT encoding to the server (xml)")
    parser.add_argument("--tak-ca", help="TLS: the TAK server's CA certificate (PEM)")
    parser.add_argument("--tak-cert", help="TLS: the gateway's own client certificate (PEM)")
    parser.add_argument("--tak-key", help="TLS: the key of --tak-cert (PEM)")
    parser.add_argument(
        "--mesh", nargs="?", const=DEFAULT_MESH, help=f"the mesh SA group, udp://GROUP:PORT (default {DEFAULT_MESH})"
    )
    parser.add_argument("--mesh-format", choices=FORMATS, default="protobuf", help="CoT encoding on the mesh")
    parser.add_argument("--mesh-interface", default="0.0.0.0", help="address of the interface for multicast")
    parser.add_argument("--link-rate", type=float, help="bits per second each link may use (default: unlimited)")
    parser.add_argument("--min-interval", type=float, default=1.0, help="seconds between two events of one track")
    parser.add_argument("--stale", type=float, default=30.0, help="seconds a confirmed track's event stays fresh")
    parser.add_argument("--picture", default="main", help="the picture's name in event uids (rampart.NAME.TRACK)")
    parser.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")


def tls_context(ca: str | None, cert: str | None, key: str | None) -> ssl.SSLContext | None:
    if ca is None:
        if cert or key:
            raise OptionError("--tak-cert/--tak-key need --tak-ca (the TAK server's CA)")
        return None
    if (cert is None) != (key is None):
        raise OptionError("--tak-cert and --tak-key go together")
    context = ssl.create_default_context(cafile=None)
    try:
        context.load_verify_locations(cafile=ca)
    except (OSError, ssl.SSLError) as error:
        raise ConnectionError(f"TAK CA file {ca}: {error}") from None
    if cert and key:
        try:
            context.load_cert_chain(cert, key)
        except (OSError, ssl.SSLError) as error:
            raise ConnectionError(f"TAK client certificate {cert} with key {key}: {error}") from None
    return context


def build_links(args: argparse.Namespace) -> list[Link]:
    if not args.server and not args.mesh:
        raise OptionError("give --server URL and/or --mesh [URL]")

    def scheduler() -> cot.LinkScheduler:
        return cot.LinkScheduler(args.link_rate, args.min_interval)

    tls = tls_context(args.tak_ca, args.tak_cert, args.tak_key)
    links: list[Link] = []
    if args.server:
        links.append(ServerLink(args.server, args.server_format, scheduler(), tls))
    if args.mesh:
        links.append(MeshLink(args.mesh, args.mesh_format, scheduler(), args.mesh_interface))
    return links


def run(args: argparse.Namespace) -> int:
    links = build_links(args)
    gateway = TakGateway(args.id, links, broker_from(args), args.picture, cot.StalePolicy(confirmed_s=args.stale))
    deadline = time.monotonic() + args.duration if args.duration else None
    with gateway:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(min(10.0, deadline - time.monotonic()) if deadline else 10.0)
            log.info("tak %s: PLI %d, %s", args.id, gateway.inbound.inbound.pli, gateway.link_figures())
    return 0
