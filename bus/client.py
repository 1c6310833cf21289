"""The Rampart MQTT client: paho-mqtt 2.x, MQTT 5, typed publish and subscribe, dead-lettering.

What it adds to paho, and why:
* configuration by URL (`mqtt://user:pass@host:1883`, `mqtts://...`) and `RAMPART_*` variables;
* one network thread owns the paho client and its socket: paho is not thread-safe, and a publish
  from another thread while the network thread reads breaks TLS connections. Publishers hand their
  encoded messages over through a bounded queue and a wake-up socket;
* handlers run on a dispatcher thread, fed by a bounded inbox, so a slow handler never stalls the
  network thread (keepalives, acknowledgements, publishing). When the inbox is full the network
  thread stops reading (the broker queues for us) and QoS 0 messages that still arrive are dropped
  and counted;
* reconnection with exponential backoff and jitter, so a fleet of nodes does not hammer a restarted
  broker in lock step;
* a retained birth `NodeState` carrying the client's and the node's figures, and a last will that
  marks it offline; `session` increments at every connect (like Sparkplug's bdSeq), and every
  message the client stamps numbers `seq` consecutively within it;
* flow control: QoS 1/2 publishes wait for a free slot in a bounded window of unacknowledged
  messages, and raise `BackpressureError` when none frees up in time (paho alone would refuse
  silently with a return code once 65,535 are pending);
* `subscribe` returns once the broker granted the subscription and raises `SubscribeError` with
  the broker's reason code when it did not;
* inbound messages that fail to decode never reach a handler: they are counted per source, logged
  once per source with the reason, and republished to `rampart/v1/deadletter/{source_id}`; a
  handler that raises is contained the same way: the message is dead-lettered with the exception's
  type and text, counted, and the dispatcher goes on. A passive node (`dead_letters=False`: a
  monitor, whose role may publish nothing but its state) counts and logs, and republishes nothing.
  Tables keyed by source ids are bounded;
* liveness comes from the loops that do the work: the dispatcher and every loop that registered a
  `Heartbeat` must show progress (or be waiting for work), else the periodic state says offline;
* a message over the broker's size limit is refused before sending (`MessageTooLargeError`): the
  broker would drop the connection and paho would resend it at every reconnect;
* `persistent_session_s`: an MQTT 5 session (clean start off, a session expiry) that the broker
  keeps, with its subscriptions and queued QoS 1 messages, while the node is away;
* another process connecting with the same node id is named as such and not fought: the client
  watches its own state topic (Mosquitto 2.0.11 closes a taken-over connection without the MQTT 5
  reason "Session taken over", which is also understood); the older process stops, and its
  `failure` says why.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import random
import select
import socket
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field, replace
from importlib.metadata import version
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from bus import codec, topics
from bus.envelope import Stamper
from bus.errors import (
    BackpressureError,
    BrokerConfigError,
    BusError,
    ConnectError,
    MessageTooLargeError,
    SessionTakenOverError,
    SubscribeError,
)
from bus.schema import DeadLetter, Envelope, NodeState, Source, SourceKind, utc_now

__all__ = [
    "BackpressureError",
    "BrokerConfig",
    "BrokerConfigError",
    "BusClient",
    "BusError",
    "ClientFigures",
    "ConnectError",
    "Delivery",
    "Heartbeat",
    "MessageTooLargeError",
    "SessionTakenOverError",
    "SubscribeError",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a message arrived: its topic, whether it is a retained copy sent because we subscribed
    (a late joiner's catch-up, not live traffic), and when the network thread read it
    (`time.monotonic()`), so that time spent waiting in the inbox counts as latency."""

    topic: str
    retained: bool
    received_at: float


Handler = Callable[[Envelope, Delivery], None]
RawHandler = Callable[[mqtt.MQTTMessage], None]
_Route = Callable[[mqtt.MQTTMessage, float], None]
_Outgoing = tuple[str, bytes, int, bool, Properties | None]
_Control = Callable[[], None]

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
_FILE_VARIABLES = ("RAMPART_CA_FILE", "RAMPART_CERT_FILE", "RAMPART_KEY_FILE", "RAMPART_IDENTITY_DIR")
MAX_DEAD_LETTER_PAYLOAD = 64 * 1024
MAX_REASON_CHARS = 1024
"""DeadLetter.reason's limit: an exception's text may be longer."""
RECV_CHUNK = 64 * 1024
WRITE_BUDGET = 512
"""Messages handed to paho per turn of the network loop, so reads and acknowledgements interleave."""
ROUTE_CACHE_SIZE = 4096
"""Topics whose matching subscriptions are remembered; emptied when full, because track topics never
come back once their track is dropped (about 1,300 new ones a minute under `stress`). A few minutes of
them: matching one again costs microseconds."""
MISC_PERIOD_S = 0.5
"""How often the network loop runs paho's keepalive bookkeeping and the periodic node state."""
MAX_TRACKED_SOURCES = 1024
"""Source ids counted (and logged) one by one; rejections from further ids count under OTHER_SOURCES.
Topics name sources, and anyone who may publish chooses them: per-source tables must not grow
without bound."""
OTHER_SOURCES = "(other)"
PERSISTENT_SESSION_S = 300
"""How long the broker keeps the session of a node that must not miss messages (the fusion, the
recorder, vehicles) while it is away: a broker restart, a reconnect. A clean stop ends it at once."""
STALL_INTERVALS = 3
"""A work loop that shows no progress for this many state intervals is stalled (by default)."""
SESSION_TAKEN_OVER = 0x8E


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """Where and how to connect. Built from a URL; secrets may come from the environment."""

    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    mqtt5: bool = True
    keepalive_s: int = 30
    identity_dir: str | None = None
    """A provisioned `nodes/` directory (`rampart provision`): each node connects with its own
    `<node id>.crt` + `<node id>.key`, or `<node id>.password`."""

    @classmethod
    def from_url(cls, url: str) -> BrokerConfig:
        """`mqtt://[user[:password]@]host[:port][?protocol=3.1.1]`, or `mqtts://` for TLS (port 8883)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError(f"broker URL {url!r}: scheme must be mqtt:// or mqtts://")
        if not parts.hostname:
            raise ValueError(f"broker URL {url!r}: no host")
        tls = parts.scheme == "mqtts"
        query = dict(item.split("=", 1) for item in parts.query.split("&") if "=" in item)
        protocol = query.get("protocol", "5")
        if protocol not in ("5", "3.1.1"):
            raise ValueError(f"broker URL {url!r}: protocol must be 5 or 3.1.1")
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            mqtt5=protocol == "5",
        )

    @classmethod
    def from_env(cls, url: str | None = None) -> BrokerConfig:
        """The URL given, else `RAMPART_BROKER`, else the local default; then `RAMPART_USERNAME`,
        `RAMPART_PASSWORD`, `RAMPART_CA_FILE`, `RAMPART_CERT_FILE`, `RAMPART_KEY_FILE`,
        `RAMPART_IDENTITY_DIR` fill in. A file variable that is set must name a file."""
        config = cls.from_url(url or os.environ.get("RAMPART_BROKER") or DEFAULT_BROKER)
        env = os.environ.get
        for name in _FILE_VARIABLES:
            if name in os.environ and not os.environ[name].strip():
                raise BrokerConfigError(f"{name} is set but empty: give a path, or unset it")
        return replace(
            config,
            username=config.username or env("RAMPART_USERNAME"),
            password=config.password or env("RAMPART_PASSWORD"),
            ca_file=env("RAMPART_CA_FILE"),
            cert_file=env("RAMPART_CERT_FILE"),
            key_file=env("RAMPART_KEY_FILE"),
            identity_dir=env("RAMPART_IDENTITY_DIR"),
            tls=config.tls or bool(env("RAMPART_CA_FILE")),
        )

    def for_node(self, node_id: str) -> BrokerConfig:
        """This configuration with `node_id`'s own identity from `identity_dir`, if there is one."""
        if not self.identity_dir:
            return self
        base = os.path.join(self.identity_dir, node_id)
        if os.path.exists(f"{base}.crt"):
            return replace(self, cert_file=f"{base}.crt", key_file=f"{base}.key")
        if os.path.exists(f"{base}.password"):
            with open(f"{base}.password") as file:
                return replace(self, username=node_id, password=file.read().strip())
        raise BrokerConfigError(
            f"no identity for node {node_id!r} in {self.identity_dir} (expected {node_id}.crt + {node_id}.key "
            f"or {node_id}.password): add it to the auth file and run `rampart provision`"
        )

    def check_files(self) -> None:
        """Raise BrokerConfigError naming the first TLS file that is missing, unreadable or not
        what it should be (before paho would raise a bare `ssl.SSLError` or `FileNotFoundError`)."""
        if not self.tls:
            return
        if (self.cert_file is None) != (self.key_file is None):
            raise BrokerConfigError("a client certificate needs its key and a key its certificate: give both")
        for what, path in (("CA file", self.ca_file), ("certificate", self.cert_file), ("key", self.key_file)):
            if path is not None and not os.access(path, os.R_OK):
                reason = "does not exist" if not os.path.exists(path) else "is not readable"
                raise BrokerConfigError(f"{what} {path} {reason}")
        context = ssl.create_default_context()
        try:
            if self.ca_file:
                context.load_verify_locations(cafile=self.ca_file)
        except ssl.SSLError as error:
            raise BrokerConfigError(f"CA file {self.ca_file} holds no usable certificate: {error}") from None
        try:
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
        except ssl.SSLError as error:
            raise BrokerConfigError(
                f"certificate {self.cert_file} with key {self.key_file} cannot be used: {error}"
            ) from None

    def describe_tls(self) -> str:
        """The files and identity a TLS connection uses, for error messages."""
        if not self.tls:
            return ""
        identity = self.cert_file or (f"user {self.username}" if self.username else "no client identity")
        return f" (CA file {self.ca_file or 'system default'}, identity {identity})"

    @property
    def url(self) -> str:
        """The URL without the password, for logs."""
        user = f"{self.username}@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"


FIGURE_PREFIX = "bus_"
"""A node state's figures from its client (`bus_published`...), beside the node's own."""


@dataclass
class ClientFigures:
    """What a client counts; every field goes into the node's state as `bus_<name>`."""

    published: int = 0
    received: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    """Messages that failed to decode, per source (dead-lettered, unless passive); at most MAX_TRACKED_SOURCES
    sources, the rest under OTHER_SOURCES."""
    handler_errors: int = 0
    """Messages a handler raised on (dead-lettered with the exception's type and text)."""
    dead_letters_lost: int = 0
    """Dead letters that could not be published (the bus was unreachable for too long)."""
    oversize: int = 0
    """Messages refused before sending: over the broker's size limit."""
    stalls: int = 0
    """Times a work loop was found stalled (the node then reports itself offline)."""
    taken_over: int = 0
    """Times another process connected with our node id."""
    connects: int = 0
    disconnects: int = 0
    """Connections lost without our asking."""
    backpressure_waits: int = 0
    refused_by_broker: int = 0
    publish_errors: int = 0
    """Messages paho would not take (logged): the publisher has already returned."""
    subscribe_refused: int = 0
    dropped_offline: int = 0
    """QoS 0 messages published while disconnected (QoS 1/2 ones are queued and resent)."""
    inbox_peak: int = 0
    inbox_peak_bytes: int = 0
    """The most payload bytes the inbox held at once."""
    inbox_dropped: int = 0
    """QoS 0 messages that arrived while the inbox was full."""
    not_admitted: int = 0
    """Messages the node's `admit` policy refused on the network thread, before decoding."""
    read_pauses: int = 0
    """Times the network thread stopped reading because the inbox was full."""

    def as_state(self, inbox_depth: int, unacknowledged: int) -> dict[str, float]:
        """The counters, and two gauges of backlog: messages received and not yet handled, and
        messages published and not yet acknowledged by the broker."""
        figures = {f"{FIGURE_PREFIX}{name}": value for name, value in asdict(self).items() if name != "rejected"}
        figures[f"{FIGURE_PREFIX}rejected"] = sum(self.rejected.values())
        figures[f"{FIGURE_PREFIX}inbox_depth"] = inbox_depth
        figures[f"{FIGURE_PREFIX}unacknowledged"] = unacknowledged
        return figures

    def count_rejected(self, source_id: str) -> bool:
        """Count a rejection from `source_id`; True if the source is counted on its own (not under
        OTHER_SOURCES), so it may be logged once."""
        if source_id not in self.rejected and len(self.rejected) >= MAX_TRACKED_SOURCES:
            self.rejected[OTHER_SOURCES] += 1
            return False
        self.rejected[source_id] += 1
        return True


class Heartbeat:
    """A work loop's sign of life (`BusClient.heartbeat`). The loop calls `beat()` whenever it
    makes progress and runs its waits for work inside `waiting()`: a loop waiting for work is idle,
    not stalled. One that neither beats nor waits for `stall_s` (hung, or its thread died) is
    stalled, and the node's state says offline until it beats again."""

    def __init__(self, name: str, stall_s: float) -> None:
        self.name = name
        self.stall_s = stall_s
        self._last = time.monotonic()
        self._waiting = False

    def beat(self) -> None:
        self._last = time.monotonic()

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        self._waiting = True
        try:
            yield
        finally:
            self._waiting = False
            self._last = time.monotonic()

    def stalled(self, now: float) -> bool:
        return not self._waiting and now - self._last > self.stall_s


class _BufferedClient(mqtt.Client):
    """paho's client with buffered socket I/O and a fast path for plain PUBLISH packets.

    paho reads each packet with three or more `recv` calls and writes each with its own `send`;
    every system call releases the GIL and may wait a switch interval to get it back. paho also
    builds a `Properties` object (~13 us) for every MQTT 5 PUBLISH it parses, and a message-info
    object with its own `Condition` for every publish. Here one 64 KiB `recv` serves hundreds of
    packets and one `send` per turn of the network loop carries everything written meanwhile.
    PUBLISH packets at QoS 0/1 without properties, the bulk of the traffic, are framed here
    (incoming: parsed and acknowledged; outgoing QoS 0: built); everything else (CONNACK, SUBACK,
    PUBACKs for our QoS 1 messages, pings, QoS 2, packets with properties) goes through paho,
    which keeps the session state. paho is handed whole packets only, so it is never left half way
    through one.

    `_sock_recv`, `_sock_send` and `_sock_close` are paho 2.x's only socket paths (private, hence
    paho pinned below 3)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._mqtt5 = kwargs.get("protocol") == mqtt.MQTTv5
        self._rx = b""
        self._rx_pos = 0
        self._rx_end: int | None = None  # while paho reads one packet: where it ends
        self._tx = bytearray()

    def _sock_recv(self, bufsize: int) -> bytes:
        end = len(self._rx) if self._rx_end is None else self._rx_end
        if self._rx_pos >= end:
            if self._rx_end is not None:
                raise BlockingIOError  # paho has its packet; the next is ours
            data = super()._sock_recv(RECV_CHUNK)
            if not data:
                return data
            self._rx, self._rx_pos, end = data, 0, len(data)
        start = self._rx_pos
        self._rx_pos = min(start + bufsize, end)
        return self._rx[start : self._rx_pos]

    def _sock_send(self, buf: bytes | bytearray) -> int:
        self._tx += buf
        return len(buf)

    @property
    def whole_packet_buffered(self) -> bool:
        """A whole packet waits in the buffer (left when the inbox filled up): select() cannot see it."""
        size = len(self._rx)
        return self._rx_pos < size and _frame(self._rx, self._rx_pos, size)[1] <= size

    @property
    def unsent(self) -> int:
        return len(self._tx)

    def drop_buffers(self) -> None:
        """Forget what a dead connection left unread or unsent."""
        self._rx, self._rx_pos, self._rx_end = b"", 0, None
        self._tx.clear()

    def read(self, deliver: Callable[[mqtt.MQTTMessage], None], room: Callable[[], bool]) -> MQTTErrorCode:
        """Read what the socket has and handle every whole packet, while `room()`: plain PUBLISH
        packets go to `deliver` (QoS 1 acknowledged), others through paho (whose `on_message`
        delivers the rest). A failing socket is left to paho, which handles the loss."""
        # While a whole packet waits in the buffer, take nothing more from the socket: a node that
        # frees one inbox slot at a time would otherwise add a chunk per packet it takes, and the
        # buffer, not the bounded inbox, would hold the backlog (seen: 70 MB in a slow replica).
        try:
            data = None if self.whole_packet_buffered else super()._sock_recv(RECV_CHUNK)
        except BlockingIOError:
            data = None
        except OSError:
            return self.loop_read()
        if data == b"":
            return self.loop_read()
        if data:
            self._rx = self._rx[self._rx_pos :] + data if self._rx_pos < len(self._rx) else data
            self._rx_pos = 0
        rx, pos = self._rx, self._rx_pos
        size = len(rx)
        while pos < size and room():
            body, end = _frame(rx, pos, size)
            if end > size:
                break  # the rest of this packet is still on its way
            command = rx[pos]
            if command >> 4 == 3 and (command >> 1) & 3 < 2:
                message = self._parse_publish(rx, command, body, end)
                if message is not None:
                    pos = self._rx_pos = end
                    if message.qos == 1:
                        self._tx += b"\x40\x02" + message.mid.to_bytes(2, "big")
                    deliver(message)
                    continue
            self._rx_pos, self._rx_end = pos, min(end, size)
            try:
                rc = self.loop_read()
            finally:
                self._rx_end = None
            pos = self._rx_pos
            if rc != mqtt.MQTT_ERR_SUCCESS or self._sock is None:
                return rc
        self._rx_pos = pos
        return mqtt.MQTT_ERR_SUCCESS

    def _parse_publish(self, rx: bytes, command: int, start: int, end: int) -> mqtt.MQTTMessage | None:
        """A PUBLISH body as a message, or None when paho should parse it (properties, oddities)."""
        qos = (command >> 1) & 3
        topic_end = start + 2 + int.from_bytes(rx[start : start + 2], "big")
        pos = topic_end
        mid = 0
        if qos:
            mid = int.from_bytes(rx[pos : pos + 2], "big")
            pos += 2
        if self._mqtt5:
            if pos >= end or rx[pos] != 0:
                return None  # properties (a content type, a topic alias, ...): paho's job
            pos += 1
        if topic_end == start + 2 or pos > end:
            return None
        message = mqtt.MQTTMessage(mid, rx[start + 2 : topic_end])
        message.payload = rx[pos:end]
        message.qos = qos
        message.retain = bool(command & 1)
        message.dup = bool(command & 8)
        return message

    def publish_plain(self, topic: str, payload: bytes, retain: bool) -> None:
        """A QoS 0 PUBLISH without properties, built here; paho's queued packets go first."""
        if self.want_write():
            self.loop_write()
        name = topic.encode()
        length = 2 + len(name) + self._mqtt5 + len(payload)
        header = bytearray((0x31 if retain else 0x30,))
        while True:
            byte, length = length & 0x7F, length >> 7
            header.append(byte | 0x80 if length else byte)
            if not length:
                break
        tx = self._tx
        tx += header
        tx += len(name).to_bytes(2, "big")
        tx += name
        if self._mqtt5:
            tx.append(0)
        tx += payload

    def flush(self) -> None:
        """Send what was written, as far as the socket takes it. A failing socket is left for the
        next read to discover, so that paho handles the loss as it always does."""
        while self._tx:
            try:
                sent = super()._sock_send(self._tx)
            except BlockingIOError:
                return
            except OSError:
                self._tx.clear()
                return
            del self._tx[:sent]

    def _sock_close(self) -> None:
        """paho closes right after writing a DISCONNECT: send what is gathered first."""
        sock = self._sock
        if isinstance(sock, socket.socket) and self._tx:
            with contextlib.suppress(OSError):
                sock.settimeout(1.0)
                sock.sendall(self._tx)
        self._tx.clear()
        super()._sock_close()


def _frame(rx: bytes, pos: int, size: int) -> tuple[int, int]:
    """Where the body of the packet at `pos` starts and where the packet ends (beyond `size`:
    not all here yet)."""
    length, shift, index = 0, 0, pos + 1
    while index < size and shift <= 21:
        byte = rx[index]
        index += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return index, index + length
        shift += 7
    if shift > 21:
        return index, index  # malformed length: paho reports the protocol error
    return index, size + 1


@dataclass
class _Subscription:
    topic_filter: str
    qos: int
    route: _Route
    granted: Future[ReasonCode] = field(default_factory=Future)


class BusClient:
    """One node's connection to the bus. Use as a context manager, or `start()` / `stop()`.

    Thread-safe: `publish*` and `subscribe*` may be called from any thread; handlers run on the
    client's dispatcher thread, one at a time."""

    def __init__(
        self,
        node_id: str,
        kind: SourceKind,
        config: BrokerConfig | None = None,
        *,
        role: str = "",
        content_type: str = codec.MSGPACK,
        max_unacked: int = 10_000,
        publish_timeout_s: float = 10.0,
        subscribe_timeout_s: float = 10.0,
        inbox_size: int = 10_000,
        inbox_bytes: int = 64 * 1024 * 1024,
        outbox_size: int = 10_000,
        backoff_s: tuple[float, float] = (0.2, 10.0),
        state_figures: Callable[[], dict[str, float]] | None = None,
        session_base: int | None = None,
        state_interval_s: float = 5.0,
        announce: bool = True,
        persistent_session_s: int | None = None,
        max_payload_bytes: int = codec.MAX_PAYLOAD_BYTES,
        admit: Callable[[str, float], bool] | None = None,
        dead_letters: bool = True,
    ) -> None:
        """`announce=False` is for short-lived tools (health checks): no birth, no last will, no
        retained state left behind on the broker. `admit(topic, received_at)` runs on the network
        thread before a message is decoded or queued: a False drops it there, counted in
        `not_admitted`, so a node's admission policy costs a refused message almost nothing.
        `persistent_session_s` (MQTT 5): the broker keeps
        this node's session (subscriptions, QoS 1 messages queued for it) for that long while it is
        away, across a broker restart too when the broker persists; otherwise every connect starts
        clean. `max_payload_bytes` is the broker's `message_size_limit`. `dead_letters=False` is for
        passive nodes (`rampart watch`, `map`, `tail`, health checks: the monitor role may publish
        nothing but its own state): a message that does not decode, or that a handler raised on, is
        counted and logged, and not republished to the dead-letter topic. The inbox of received,
        unhandled messages holds at most `inbox_size` of them and `inbox_bytes` of payload (10,000
        messages at the broker's 1 MiB limit would be 10 GB); while it is full the network thread
        stops reading and the broker queues for this node."""
        self.node_id = node_id
        self.source = Source(id=node_id, kind=kind)
        self.config = (config or BrokerConfig.from_env()).for_node(node_id)
        self.config.check_files()
        self.role = role or kind.value
        self.content_type = content_type
        self.figures = ClientFigures()
        # Sessions count connects from a per-process base (milliseconds since the epoch by default),
        # so a restarted process never reuses a session number, and so never a derived msg_id.
        self.session = int(time.time() * 1000) if session_base is None else session_base
        self._stamper = Stamper(node_id, self.session)
        self._session_base = self.session
        self._started_at = utc_now()
        # Our own state topic, watched on the network thread for another process with our node id.
        self._own_state = _Subscription(topics.node_state(node_id), 1, _never_routed)
        self._own_state_routed = False  # ... and also delivered to a subscription of the node's
        self._publish_timeout_s = publish_timeout_s
        self._subscribe_timeout_s = subscribe_timeout_s
        self._backoff_s = backoff_s
        self._state_figures = state_figures or dict
        self._state_interval_s = state_interval_s
        self._announce = announce
        self._persistent_session_s = persistent_session_s
        self._max_payload_bytes = max_payload_bytes
        self._admit = admit
        self._dead_letters = dead_letters
        self._max_unacked = max_unacked
        self._outbox_size = outbox_size
        self._inbox_size = inbox_size
        self._inbox_bytes = inbox_bytes
        # Payload bytes taken into the inbox and taken out of it: each counter has one writer (the
        # network thread, the dispatcher), so neither needs a lock; the inbox holds their difference.
        self._bytes_in = 0
        self._bytes_out = 0
        self._batch_bytes = 0
        # Hand-over from any thread to the network thread, guarded by one condition.
        self._handoff = threading.Condition(threading.Lock())
        self._outbox: deque[_Outgoing | _Control] = deque()
        self._unacked = 0  # QoS 1/2 messages handed over and not yet acknowledged
        self._waiters = 0
        self._wake_sent = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        # Network thread only.
        self._writing: deque[_Outgoing | _Control] = deque()
        self._inflight_mids: set[int] = set()
        self._acked = 0
        self._suback_pending: dict[int, _Subscription] = {}
        self._received_batch: list[tuple[mqtt.MQTTMessage, float]] = []
        # Subscriptions are changed by the network thread (or before it starts); the dispatcher
        # reads immutable snapshots of them.
        self._subscriptions: dict[str, _Subscription] = {}
        self._routes: tuple[_Subscription, ...] = ()
        self._route_cache: dict[str, tuple[_Route, ...]] = {}
        # Inbox from the network thread to the dispatcher.
        self._inbox: deque[tuple[mqtt.MQTTMessage, float]] = deque()
        self._inbox_ready = threading.Condition()
        self._dispatcher_idle = False
        self._read_paused = False
        self._connected = threading.Event()  # the broker accepted us
        self._ready = threading.Event()  # ... and granted (or refused) every subscription again
        self._down = threading.Event()
        self._down.set()
        self._stopping = threading.Event()
        self._dispatch_stopping = False
        self._first_connect_error: str | None = None
        self.failure: BusError | None = None
        """Why the client gave up for good (another process took our node id over), else None."""
        self._logged_sources: set[str] = set()
        self._logged_errors: set[type[BaseException]] = set()
        # Liveness: the dispatcher's own heartbeat and the node's loops' (network thread reads them).
        self._stall_s = STALL_INTERVALS * state_interval_s
        self._dispatch_heartbeat = Heartbeat("the message dispatcher", self._stall_s)
        self._heartbeats: tuple[Heartbeat, ...] = (self._dispatch_heartbeat,)
        self._stalled: tuple[str, ...] = ()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{node_id}", daemon=True)
        self._dispatcher = threading.Thread(target=self._dispatch, name=f"dispatch-{node_id}", daemon=True)
        self._mqtt = self._make_paho_client()

    # --- lifecycle ---------------------------------------------------------------------------------

    def _make_paho_client(self) -> _BufferedClient:
        client = _BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.node_id,
            protocol=mqtt.MQTTv5 if self.config.mqtt5 else mqtt.MQTTv311,
            reconnect_on_failure=False,
        )
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        if self.config.tls:
            client.tls_set(
                ca_certs=self.config.ca_file,
                certfile=self.config.cert_file,
                keyfile=self.config.key_file,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        client.max_inflight_messages_set(100)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        # With a write callback registered, paho queues packets instead of writing each at once;
        # the network loop writes them in one go.
        client.on_socket_register_write = _ignore_socket
        return client

    def start(self, timeout_s: float = 10.0) -> BusClient:
        """Connect (retrying with backoff); return once the broker accepted us and granted the
        subscriptions made before. Raises `ConnectError`, or `SubscribeError`."""
        deadline = time.monotonic() + timeout_s
        requested = list(self._subscriptions.values())  # a refused one leaves this dict
        self._dispatcher.start()
        self._thread.start()
        try:
            if not self._ready.wait(timeout_s):
                reason = self._first_connect_error or "no answer"
                raise ConnectError(
                    f"could not connect to {self.config.url} within {timeout_s:g} s: {reason}"
                    f"{self.config.describe_tls()}"
                )
            for subscription in requested:
                self._await_grant(subscription, max(0.0, deadline - time.monotonic()))
        except BaseException:  # refused, no answer, or a Ctrl-C while waiting: a connection made ends cleanly, with
            # the offline state, not by the broker sending the will
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Mark the node offline (retained), disconnect cleanly, end both threads."""
        if not self._thread.is_alive():  # never started, or ended (another process took the node id)
            self._stop_dispatcher()
            self._wake_r.close()
            self._wake_w.close()
            return
        if self._connected.is_set() and self._announce:
            self._send(topics.node_state(self.node_id), self._state(online=False), 1, True, wait=False)
            self.wait_acknowledged(2.0)
        self._stopping.set()
        self._wake()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)
        self._stop_dispatcher()
        if not self._thread.is_alive():
            self._wake_r.close()
            self._wake_w.close()

    def _stop_dispatcher(self) -> None:
        with self._inbox_ready:
            self._dispatch_stopping = True
            self._inbox_ready.notify()
        if self._dispatcher.is_alive() and threading.current_thread() is not self._dispatcher:
            self._dispatcher.join(timeout=5.0)

    def __enter__(self) -> BusClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        """Connected, with every subscription renewed: what is published now reaches our handlers."""
        return self._ready.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        """Until `connected` (after a reconnect: once the broker answered every resubscription)."""
        return self._ready.wait(timeout_s)

    def wait_disconnected(self, timeout_s: float) -> bool:
        """Until the link is down (a broker stopped, a network cut)."""
        return self._down.wait(timeout_s)

    @property
    def inbox_depth(self) -> int:
        """Messages received and not yet handled."""
        return len(self._inbox)

    def heartbeat(self, name: str, stall_s: float | None = None) -> Heartbeat:
        """Register a work loop (named in logs) whose progress keeps this node online: when it has
        neither beaten nor waited for work for `stall_s` (default: three state intervals), the
        periodic state says offline until it beats again."""
        beat = Heartbeat(name, self._stall_s if stall_s is None else stall_s)
        self._heartbeats = (*self._heartbeats, beat)
        return beat

    def _check_failed(self) -> None:
        if self.failure is not None:
            raise self.failure

    # --- the network thread ------------------------------------------------------------------------

    def _run(self) -> None:
        """Connect, serve the connection until it drops, back off, repeat; until stopped."""
        delay = self._backoff_s[0]
        while not self._stopping.is_set():
            try:
                if self._announce:
                    self._set_will()
                self._mqtt.drop_buffers()
                self._connect()
                self._serve()
            except OSError as error:
                self._first_connect_error = self._first_connect_error or str(error)
                log.debug("%s: connect to %s failed: %s", self.node_id, self.config.url, error)
            if self._connected.is_set():
                delay = self._backoff_s[0]
            self._connected.clear()
            self._ready.clear()
            self._down.set()
            if self._stopping.is_set() or self.failure is not None:
                return
            # Full jitter in [delay/2, delay]: many nodes restarting together spread out.
            if self._stopping.wait(delay * random.uniform(0.5, 1.0)):
                return
            delay = min(delay * 2, self._backoff_s[1])

    def _connect(self) -> None:
        if self._persistent_session_s is None or not self.config.mqtt5:
            self._mqtt.connect(self.config.host, self.config.port, self.config.keepalive_s, clean_start=True)
            return
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._persistent_session_s
        self._mqtt.connect(
            self.config.host, self.config.port, self.config.keepalive_s, clean_start=False, properties=properties
        )

    def _ending_session(self) -> Properties | None:
        """DISCONNECT properties of a clean stop: a persistent session ends with it (nothing should
        queue up for a node that left on purpose)."""
        if self._persistent_session_s is None or not self.config.mqtt5:
            return None
        properties = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 0
        return properties

    def _serve(self) -> None:
        """One connection's life: hand queued messages to paho, read, write, keep alive."""
        paho = self._mqtt
        next_misc = time.monotonic() + MISC_PERIOD_S
        next_state = time.monotonic() + self._state_interval_s
        disconnecting = False
        while True:
            sock = paho.socket()
            if sock is None:
                return
            # What the last read gathered (acknowledgements) goes out first: the outbox is handed to
            # paho only when the socket took everything, and with acks always waiting after a read,
            # a node receiving a steady stream published only in the gaps (2k/s each way: 2 s behind).
            if not self._write():
                return
            if self._stopping.is_set() and not disconnecting:
                disconnecting = True
                while self._writing or self._outbox:  # what was published before stop() goes out
                    self._take_outbox()
                paho.disconnect(properties=self._ending_session())
            elif not disconnecting and not paho.unsent:
                self._take_outbox()
            if not self._write():
                return
            self._settle_acks()
            sock = paho.socket()
            if sock is None:  # the DISCONNECT went out
                return
            paused = not self._inbox_has_room()
            if paused and not self._read_paused:
                self.figures.read_pauses += 1
            self._read_paused = paused
            pending = not paused and (paho.whole_packet_buffered or _ssl_pending(sock))
            busy = pending or (self._writing and not paho.unsent)
            timeout = 0.0 if busy else (0.01 if paused else max(0.0, next_misc - time.monotonic()))
            readable, writable, _ = select.select(
                [self._wake_r] if paused else [sock, self._wake_r],
                [sock] if paho.unsent else [],
                [],
                timeout,
            )
            if self._wake_r in readable:
                _drain_socket(self._wake_r)
            if not paused and (sock in readable or pending):
                rc = paho.read(self._deliver, self._inbox_has_room)
                self._push_inbox()
                if rc != mqtt.MQTT_ERR_SUCCESS:
                    return
            if (writable or paho.want_write()) and not self._write():
                return
            now = time.monotonic()
            if now >= next_misc:
                next_misc = now + MISC_PERIOD_S
                if paho.loop_misc() != mqtt.MQTT_ERR_SUCCESS:
                    return
                if self._announce and self._connected.is_set() and now >= next_state:
                    next_state = now + self._state_interval_s
                    self._check_liveness(now)
                    self.publish_state()

    def _write(self) -> bool:
        """Let paho write its queued packets (into the gathering buffer), then send them. False
        when paho found the connection lost."""
        paho = self._mqtt
        if paho.want_write() and paho.loop_write() != mqtt.MQTT_ERR_SUCCESS:
            return False
        paho.flush()
        return True

    def _take_outbox(self) -> None:
        """Hand up to WRITE_BUDGET queued messages (and control requests) to paho."""
        if not self._writing:
            with self._handoff:
                self._writing, self._outbox = self._outbox, self._writing
                self._wake_sent = False
                if self._waiters and self._writing:
                    self._handoff.notify_all()
        paho = self._mqtt
        writing = self._writing
        for _ in range(min(WRITE_BUDGET, len(writing))):
            item = writing.popleft()
            if not isinstance(item, tuple):
                item()
                continue
            topic, payload, qos, retain, properties = item
            try:
                if qos == 0 and properties is None:
                    paho.publish_plain(topic, payload, retain)
                    continue
                info = paho.publish(topic, payload, qos=qos, retain=retain, properties=properties)
            except (ValueError, TypeError, OverflowError) as error:
                info = None
                log.error("%s: paho refused a publish to %s: %s", self.node_id, topic, error)
            if info is not None and info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                if qos > 0:
                    if not self._inflight_mids:
                        paho.on_publish = self._on_publish
                    self._inflight_mids.add(info.mid)
                elif info.rc == mqtt.MQTT_ERR_NO_CONN:
                    self.figures.dropped_offline += 1
                continue
            if info is not None:
                log.error("%s: paho refused a publish to %s: %s", self.node_id, topic, mqtt.error_string(info.rc))
            self.figures.publish_errors += 1
            if qos > 0:
                self._acked += 1  # its window slot is free again

    def _settle_acks(self) -> None:
        """Free the window slots of acknowledged messages; wake publishers waiting for one."""
        if not self._acked:
            return
        with self._handoff:
            self._unacked -= self._acked
            self._acked = 0
            if self._waiters:
                self._handoff.notify_all()

    def _wake(self) -> None:
        # BlockingIOError: the pipe is full, the network thread is awake anyway. OSError: it is gone.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    def _set_will(self) -> None:
        """The last will cannot take a place in the seq order (it is sent after everything else, if
        at all): it carries seq 0 and the session that this connect will start."""
        self._mqtt.will_set(
            topics.node_state(self.node_id),
            codec.encode(self._state(online=False, session=self.session + 1)),
            qos=1,
            retain=True,
        )

    def _state(self, online: bool, session: int | None = None) -> NodeState:
        now = utc_now()
        return NodeState(
            source=self.source,
            session=self.session if session is None else session,
            time=now,
            sent_at=now,
            online=online,
            role=self.role,
            version=version("rampart"),
            figures={**self.figures.as_state(len(self._inbox), self._unacked), **self._state_figures()},
        )

    def publish_state(self) -> None:
        """Republish the retained birth with fresh figures (the network thread does it every
        `state_interval_s`): online, unless a work loop is stalled."""
        online = not self._stalled
        with contextlib.suppress(MessageTooLargeError):  # counted and logged; the network thread goes on
            self._send(topics.node_state(self.node_id), self._state(online=online), 1, True, wait=False)

    def _check_liveness(self, now: float) -> None:
        """Network thread: which work loops are stalled; log each change once."""
        stalled = tuple(beat.name for beat in self._heartbeats if beat.stalled(now))
        if stalled and stalled != self._stalled:
            self.figures.stalls += 1
            log.error(
                "%s: %s made no progress for %g s: reporting the node offline",
                self.node_id,
                " and ".join(stalled),
                self._stall_s,
            )
        elif self._stalled and not stalled:
            log.warning(
                "%s: %s made progress again: reporting the node online", self.node_id, " and ".join(self._stalled)
            )
        self._stalled = stalled

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self._first_connect_error = f"broker refused the connection: {reason_code}"
            log.error("%s: %s", self.node_id, self._first_connect_error)
            return
        with self._handoff:
            self.session += 1
            self._stamper.new_session(self.session)
        self.figures.connects += 1
        self._suback_pending.clear()
        for subscription in list(self._subscriptions.values()):
            self._request_subscription(subscription)
        if self._announce:
            self._request_subscription(self._own_state)
        self._down.clear()
        self._connected.set()
        if self._announce:
            self.publish_state()
        log.debug("%s: connected to %s (session %d)", self.node_id, self.config.url, self.session)
        if not self._suback_pending:
            self._ready.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        self._ready.clear()
        if not self._stopping.is_set() and self.failure is None:
            self.figures.disconnects += 1
            if reason_code == SESSION_TAKEN_OVER:  # brokers that say so; Mosquitto 2.0.11 just closes
                self._give_way()
            else:
                log.warning("%s: lost %s (%s); reconnecting", self.node_id, self.config.url, reason_code)
        self._down.set()

    def _on_own_state(self, msg: mqtt.MQTTMessage) -> None:
        """Network thread: a state on our own topic. One stamped since we started (a birth, or the
        last will the broker sent when it closed the other's connection), from a session that is not
        ours, is another process with our node id: the broker gives the
        session to whichever connected last, so the two would knock each other off for ever (and
        Mosquitto 2.0.11 closes the loser's connection without a reason code). The older process
        gives way; the newer one says so once and stays."""
        try:
            state = codec.decode(bytes(msg.payload), _content_type(msg))
        except codec.DecodeError:
            return
        if (
            not isinstance(state, NodeState)
            or state.time < self._started_at
            or self._session_base < state.session <= self.session + 1
        ):
            return
        if state.session > self.session:  # a process started after this one
            self._give_way()
            self._mqtt.disconnect()  # a clean disconnect: no last will over the other's state
        elif not self.figures.taken_over:
            self.figures.taken_over += 1
            log.error(
                "%s: an older process was connected to %s as node %r: two processes share one node id; "
                "it gives way to this one",
                self.node_id,
                self.config.url,
                self.node_id,
            )

    def _give_way(self) -> None:
        self.figures.taken_over += 1
        self.failure = SessionTakenOverError(
            f"another process is connected to {self.config.url} as node {self.node_id!r}: two processes share "
            "one node id; this one stops rather than knock the other off in turn"
        )
        log.error("%s: %s", self.node_id, self.failure)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        # paho reports QoS 0 messages too, once written, at the cost of a ReasonCode and a Properties
        # each: the callback is set only while QoS 1/2 messages await their acknowledgement.
        if mid in self._inflight_mids:
            self._inflight_mids.discard(mid)
            self._acked += 1
            if not self._inflight_mids:
                client.on_publish = None
        if reason_code.is_failure:
            self.figures.refused_by_broker += 1
            log.error("%s: the broker refused publish %d: %s", self.node_id, mid, reason_code)

    # --- publishing --------------------------------------------------------------------------------

    def _properties(self, content_type: str | None) -> Properties | None:
        """The PUBLISH properties naming `content_type`, or None for msgpack (the default, which
        receivers recognise by its first byte): packing and parsing the property costs ~15 us a
        message, more than encoding it. Built once per content type."""
        if not self.config.mqtt5 or content_type in (None, codec.MSGPACK):
            return None
        return _publish_properties(content_type)

    def publish(self, topic: str, message: Envelope, qos: int = 1, retain: bool = False) -> None:
        """Stamp a message of this node (its seq, session, msg_id and sent_at), encode and publish
        it. QoS 1/2 waits for room in the unacknowledged window; raises `BackpressureError` after
        `publish_timeout_s`; `MessageTooLargeError` (before anything is sent) for a message over
        the broker's size limit; `SessionTakenOverError` once another process took the node id
        over. A message from another source is forwarded with `publish_raw`."""
        if message.source.id != self.node_id:
            raise ValueError(
                f"{self.node_id}: cannot stamp a message from {message.source.id!r}; forward it with publish_raw"
            )
        self._send(topic, message, qos, retain, wait=threading.current_thread() is not self._thread)

    def _send(self, topic: str, message: Envelope, qos: int, retain: bool, wait: bool) -> None:
        """Stamp, encode and queue under one lock, so that seq order is send order."""
        _check_topic(topic)
        self._check_failed()
        if qos == 0 and not self._connected.is_set():
            self.figures.dropped_offline += 1
            return
        properties = self._properties(self.content_type)
        with self._handoff:
            if wait:
                self._wait_for_room(qos)
            stamp = self._stamper.fields(sent_at=utc_now())
            payload = codec.encode(message, self.content_type, stamp)
            if len(payload) > self._max_payload_bytes:
                self._stamper.take_back()  # no gap in seq for a message that never left
                self._refuse_oversize(topic, len(payload))
            self._queue((topic, payload, qos, retain, properties))

    def publish_raw(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        content_type: str | None = codec.MSGPACK,
    ) -> None:
        """Publish bytes as they are: replays, messages of other sources, empty retained clears.
        Flow control and refusals as `publish`."""
        _check_topic(topic)
        self._check_failed()
        if len(payload) > self._max_payload_bytes:
            with self._handoff:
                self._refuse_oversize(topic, len(payload))
        if qos == 0 and not self._connected.is_set():
            self.figures.dropped_offline += 1
            return
        properties = self._properties(content_type)
        with self._handoff:
            if threading.current_thread() is not self._thread:
                self._wait_for_room(qos)
            self._queue((topic, payload, qos, retain, properties))

    def _refuse_oversize(self, topic: str, size: int) -> None:
        """With the hand-over lock held: count, log the first, raise."""
        self.figures.oversize += 1
        error = MessageTooLargeError(
            f"{self.node_id}: a message of {size} bytes to {topic} is over the broker's limit of "
            f"{self._max_payload_bytes} bytes; not sent"
        )
        if self.figures.oversize == 1:
            log.error("%s (further ones are counted in bus_oversize)", error)
        raise error

    def _queue(self, item: _Outgoing | _Control) -> None:
        """Append to the outbox (the hand-over lock held) and wake the network thread if it may sleep."""
        self._outbox.append(item)
        if isinstance(item, tuple):
            self.figures.published += 1
            if item[2] > 0:
                self._unacked += 1
        if not self._wake_sent:
            self._wake_sent = True
            self._wake()

    def _wait_for_room(self, qos: int) -> None:
        """With the hand-over lock held: wait until the outbox, and for QoS 1/2 the window of
        unacknowledged messages, have room."""

        def room() -> bool:
            return len(self._outbox) < self._outbox_size and (qos == 0 or self._unacked < self._max_unacked)

        if room():
            return
        self.figures.backpressure_waits += 1
        self._waiters += 1
        try:
            if not self._handoff.wait_for(room, self._publish_timeout_s):
                raise BackpressureError(
                    f"{self.node_id}: {self._unacked} messages unacknowledged for "
                    f"{self._publish_timeout_s:g} s; is {self.config.url} reachable?"
                )
        finally:
            self._waiters -= 1

    def wait_acknowledged(self, timeout_s: float) -> bool:
        """Wait until the broker acknowledged every QoS 1/2 message published so far."""
        with self._handoff:
            self._waiters += 1
            try:
                return self._handoff.wait_for(lambda: self._unacked == 0, timeout_s)
            finally:
                self._waiters -= 1

    @property
    def unacknowledged(self) -> int:
        """QoS 1/2 messages published and not yet acknowledged by the broker."""
        return self._unacked

    def clear_retained(self, topic: str) -> None:
        """An empty retained message removes the topic's retained value (a dropped track)."""
        self.publish_raw(topic, b"", qos=1, retain=True, content_type=None)

    # --- subscribing -------------------------------------------------------------------------------

    def subscribe(
        self,
        topic_filter: str,
        handler: Handler,
        qos: int = 1,
        on_cleared: Callable[[str], None] | None = None,
    ) -> None:
        """Deliver decoded, validated models from `topic_filter` to `handler(message, delivery)` on
        the dispatcher thread. Returns once the broker granted the subscription (or at once before
        `start()`, which then waits for it); raises `SubscribeError` with the broker's reason.

        An empty payload is a cleared retained value: it goes to `on_cleared(topic)` if given, else it
        is rejected like any message that does not decode. A handler that raises is contained: the
        message is dead-lettered with the exception's type and text, and counted."""

        def deliver(msg: mqtt.MQTTMessage, received_at: float) -> None:
            if not msg.payload and on_cleared is not None:
                self._guarded(msg, on_cleared, msg.topic)
                return
            try:
                message = codec.decode_on_topic(msg.topic, bytes(msg.payload), _content_type(msg))
            except codec.DecodeError as error:
                self._reject(msg, str(error))
                return
            self._guarded(msg, handler, message, Delivery(msg.topic, bool(msg.retain), received_at))

        self._add_subscription(_Subscription(topic_filter, qos, deliver))

    def subscribe_raw(self, topic_filter: str, handler: RawHandler, qos: int = 1) -> None:
        """Deliver paho messages as they are (the recorder keeps bytes and properties); otherwise
        as `subscribe`."""

        def deliver(msg: mqtt.MQTTMessage, received_at: float) -> None:
            self._guarded(msg, handler, msg)

        self._add_subscription(_Subscription(topic_filter, qos, deliver))

    def _add_subscription(self, subscription: _Subscription) -> None:
        if not self._thread.is_alive():
            self._register(subscription)  # start() subscribes and waits for the grant
            return

        def request() -> None:
            self._register(subscription)
            if self._connected.is_set():
                self._request_subscription(subscription)

        with self._handoff:
            self._queue(request)
        self._await_grant(subscription, self._subscribe_timeout_s)

    def _register(self, subscription: _Subscription) -> None:
        self._subscriptions[subscription.topic_filter] = subscription
        self._routes_changed()

    def _unregister(self, subscription: _Subscription) -> None:
        if self._subscriptions.get(subscription.topic_filter) is subscription:
            del self._subscriptions[subscription.topic_filter]
            self._routes_changed()

    def _routes_changed(self) -> None:
        self._routes = tuple(self._subscriptions.values())
        self._route_cache = {}
        own = self._own_state.topic_filter
        self._own_state_routed = any(topics.matches(s.topic_filter, own) for s in self._routes)

    def _request_subscription(self, subscription: _Subscription) -> None:
        """Network thread: send SUBSCRIBE; `_on_subscribe` settles the grant."""
        try:
            rc, mid = self._mqtt.subscribe(subscription.topic_filter, subscription.qos)
        except ValueError as error:  # an invalid filter: paho checks before sending
            self._refuse(subscription, str(error))
            return
        if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:
            self._refuse(subscription, mqtt.error_string(rc))
            return
        self._suback_pending[mid] = subscription

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        subscription = self._suback_pending.pop(mid, None)
        if subscription is None:
            return
        reason = reason_codes[0]
        if reason.is_failure:
            self._refuse(subscription, f"the broker answered {reason} (reason code {reason.value:#04x})")
        elif not subscription.granted.done():
            subscription.granted.set_result(reason)
        if not self._suback_pending and self._connected.is_set():
            self._ready.set()

    def _refuse(self, subscription: _Subscription, reason: str) -> None:
        self.figures.subscribe_refused += 1
        self._unregister(subscription)
        log.error("%s: subscription to %s refused: %s", self.node_id, subscription.topic_filter, reason)
        if not subscription.granted.done():
            subscription.granted.set_exception(SubscribeError(subscription.topic_filter, reason))

    def _await_grant(self, subscription: _Subscription, timeout_s: float) -> None:
        try:
            subscription.granted.result(timeout_s)
        except FutureTimeout:
            raise SubscribeError(subscription.topic_filter, f"no answer within {timeout_s:g} s") from None

    # --- receiving ---------------------------------------------------------------------------------

    def _on_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        """Network thread: collect; `_push_inbox` hands the batch over after the read."""
        if msg.topic == self._own_state.topic_filter:
            self._on_own_state(msg)
            if not self._own_state_routed:
                return
        self.figures.received += 1
        received_at = time.monotonic()
        if self._admit is not None and not self._admit(msg.topic, received_at):
            self.figures.not_admitted += 1
            return
        if msg.qos == 0 and not self._inbox_has_room():
            self.figures.inbox_dropped += 1
            return
        self._received_batch.append((msg, received_at))
        self._batch_bytes += len(msg.payload)

    def _inbox_held_bytes(self) -> int:
        """Payload bytes received and not yet taken by the dispatcher (the batch being read included)."""
        return self._bytes_in + self._batch_bytes - self._bytes_out

    def _inbox_has_room(self) -> bool:
        held = len(self._inbox) + len(self._received_batch)
        return held < self._inbox_size and self._inbox_held_bytes() < self._inbox_bytes

    def _deliver(self, msg: mqtt.MQTTMessage) -> None:
        """A PUBLISH the fast path parsed: as if paho had called `on_message`."""
        self._on_message(self._mqtt, None, msg)

    def _push_inbox(self) -> None:
        batch = self._received_batch
        if not batch:
            return
        self._inbox.extend(batch)
        batch.clear()
        self._bytes_in += self._batch_bytes
        self._batch_bytes = 0
        depth = len(self._inbox)
        if depth > self.figures.inbox_peak:
            self.figures.inbox_peak = depth
        held = self._inbox_held_bytes()
        if held > self.figures.inbox_peak_bytes:
            self.figures.inbox_peak_bytes = held
        if self._dispatcher_idle:
            with self._inbox_ready:
                self._inbox_ready.notify()

    def _dispatch(self) -> None:
        """The dispatcher thread: run handlers in arrival order until stopped and drained."""
        inbox = self._inbox
        resume_below, resume_below_bytes = self._inbox_size // 2, self._inbox_bytes // 2
        heartbeat = self._dispatch_heartbeat
        while True:
            try:
                msg, received_at = inbox.popleft()
            except IndexError:
                with self._inbox_ready, heartbeat.waiting():
                    self._dispatcher_idle = True  # before looking, so no push can slip by unseen
                    while not inbox and not self._dispatch_stopping:
                        self._inbox_ready.wait()
                    self._dispatcher_idle = False
                    if not inbox:
                        return
                continue
            heartbeat.beat()
            self._bytes_out += len(msg.payload)
            if self._read_paused and len(inbox) <= resume_below and self._inbox_held_bytes() <= resume_below_bytes:
                self._read_paused = False
                self._wake()
            routes = self._route_cache.get(msg.topic)
            if routes is None:
                if len(self._route_cache) >= ROUTE_CACHE_SIZE:  # track topics never repeat once dropped
                    self._route_cache = {}
                routes = self._route_cache[msg.topic] = tuple(
                    s.route for s in self._routes if topics.matches(s.topic_filter, msg.topic)
                )
                if not routes:
                    log.debug("%s: message on %s matches no subscription", self.node_id, msg.topic)
            for route in routes:
                route(msg, received_at)

    def _guarded(self, msg: mqtt.MQTTMessage, handler: Callable[..., None], *args: object) -> None:
        """Run a handler on `msg`; an exception in it never kills the dispatcher (see `contain`)."""
        try:
            handler(*args)
        except Exception as error:
            self.contain(error, msg.topic, bytes(msg.payload), _content_type(msg))

    def contain(self, error: Exception, topic: str, payload: bytes, content_type: str | None) -> None:
        """A failure in handling one message, in a handler or in a node's own worker: the message
        is dead-lettered with the exception's type and text (not by a passive node), counted, and
        logged (with the traceback the first time for each exception type); the caller goes on."""
        self.figures.handler_errors += 1
        reason = f"handler failed: {type(error).__name__}: {error}"
        first = type(error) not in self._logged_errors and len(self._logged_errors) < MAX_TRACKED_SOURCES
        if first:
            self._logged_errors.add(type(error))
        log.error(
            "%s: %s, on a message on %s (%s%s)",
            self.node_id,
            reason,
            topic,
            "dead-lettered" if self._dead_letters else "counted",
            "" if first else "; the traceback was logged the first time",
            exc_info=first,
        )
        self._dead_letter(topic, payload, content_type, reason)

    def _reject(self, msg: mqtt.MQTTMessage, reason: str) -> None:
        """Count, log once per source, and dead-letter a message that failed to decode."""
        source_id = _source_of(msg.topic)
        if self.figures.count_rejected(source_id) and source_id not in self._logged_sources:
            self._logged_sources.add(source_id)
            log.warning(
                "%s: rejected a message from %s on %s: %s (further rejections from it are counted)",
                self.node_id,
                source_id,
                msg.topic,
                reason,
            )
        self._dead_letter(msg.topic, bytes(msg.payload), _content_type(msg), reason)

    def _dead_letter(self, topic: str, payload: bytes, content_type: str | None, reason: str) -> None:
        """Republish a message to the dead-letter topic of its source with `reason` (not if passive)."""
        if not self._dead_letters:
            return
        source_id = _source_of(topic)
        now = utc_now()
        letter = DeadLetter(
            source=self.source,
            time=now,
            original_topic=topic,
            reason=reason[:MAX_REASON_CHARS],
            content_type=content_type,
            payload=payload if len(payload) <= MAX_DEAD_LETTER_PAYLOAD else None,
            payload_size=len(payload),
            payload_sha256=hashlib.sha256(payload).hexdigest(),
        )
        try:
            self.publish(topics.dead_letter(source_id), letter, qos=1)
        except BusError as error:
            self.figures.dead_letters_lost += 1
            log.error("%s: could not dead-letter a message on %s: %s", self.node_id, topic, error)


@functools.cache
def _publish_properties(content_type: str) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ContentType = content_type
    return properties


def _never_routed(msg: mqtt.MQTTMessage, received_at: float) -> None:
    """The route of the own-state subscription, which `_on_message` handles before routing."""


def _ignore_socket(client: mqtt.Client, userdata: object, sock: Any) -> None:
    """paho's write-registration hook: the network loop asks `want_write()` itself."""


def _check_topic(topic: str) -> None:
    """What paho would refuse on the network thread, refused here where the caller can see it."""
    if not topic or "+" in topic or "#" in topic:
        raise ValueError(f"cannot publish to {topic!r}: empty or wildcard")


def _ssl_pending(sock: Any) -> bool:
    """Decrypted bytes the SSL layer holds, which select() cannot see."""
    return isinstance(sock, ssl.SSLSocket) and sock.pending() > 0


def _drain_socket(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except BlockingIOError:
        pass


def _content_type(msg: mqtt.MQTTMessage) -> str | None:
    properties = msg.properties
    return getattr(properties, "ContentType", None) if properties is not None else None


def _source_of(topic: str) -> str:
    """Whom a rejected message is filed under: the source the topic names (an observation's or a
    node state's), else the topic's kind (`snapshot`, `track`, ...), so a page number or a track id
    is never taken for a source."""
    try:
        address = topics.parse(topic)
    except ValueError:
        return "unknown"
    return address.sender_id or address.kind.value
