"""The Rampart MQTT client: paho-mqtt 2.x, MQTT 5, typed publish and subscribe, dead-lettering.

What it adds to paho, and why:
* configuration by URL (`mqtt://user:pass@host:1883`, `mqtts://...`) and `RAMPART_*` variables;
* its own network thread that reconnects with exponential backoff and jitter, so a fleet of nodes
  does not hammer a restarted broker in lock step;
* a retained birth `NodeState` on the node's state topic, and a last will that marks it offline;
  `session` increments at every connect (like Sparkplug's bdSeq);
* flow control: QoS 1/2 publishes wait for a free slot in a bounded window of unacknowledged
  messages, and raise `BackpressureError` when none frees up in time (paho alone would refuse
  silently with a return code once 65,535 are pending);
* inbound messages that fail to decode never reach a handler: they are counted per source, logged
  once per source with the reason, and republished to `rampart/v1/deadletter/{source_id}`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import random
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from typing import TypeVar
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from bus import codec, topics
from bus.schema import DeadLetter, Envelope, NodeState, Source, SourceKind, utc_now

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Envelope)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How a message arrived: its topic, whether it is a retained copy sent because we subscribed
    (a late joiner's catch-up, not live traffic), and when it was received (`time.monotonic()`)."""

    topic: str
    retained: bool
    received_at: float


Handler = Callable[[Envelope, Delivery], None]
RawHandler = Callable[[mqtt.MQTTMessage], None]

DEFAULT_BROKER = "mqtt://127.0.0.1:1883"
_FILE_VARIABLES = ("RAMPART_CA_FILE", "RAMPART_CERT_FILE", "RAMPART_KEY_FILE", "RAMPART_IDENTITY_DIR")
MAX_DEAD_LETTER_PAYLOAD = 64 * 1024


class BrokerConfigError(ValueError):
    """The connection settings cannot work (a missing, empty or unreadable TLS file, no identity for
    a node); the message is one line naming the setting or file."""


class BackpressureError(RuntimeError):
    """A QoS 1/2 publish found the window of unacknowledged messages full for too long."""


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


@dataclass
class ClientFigures:
    """What a client counts; services publish these in their NodeState."""

    published: int = 0
    received: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    handler_errors: int = 0
    connects: int = 0
    backpressure_waits: int = 0
    refused_by_broker: int = 0
    dropped_offline: int = 0
    """QoS 0 messages published while disconnected (QoS 1/2 ones are queued and resent)."""


class BusClient:
    """One node's connection to the bus. Use as a context manager, or `start()` / `stop()`."""

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
        backoff_s: tuple[float, float] = (0.2, 10.0),
        state_figures: Callable[[], dict[str, float]] | None = None,
        session_base: int | None = None,
        state_interval_s: float = 5.0,
        announce: bool = True,
    ) -> None:
        """`announce=False` is for short-lived tools (health checks): no birth, no last will, no
        retained state left behind on the broker."""
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
        self._publish_timeout_s = publish_timeout_s
        self._backoff_s = backoff_s
        self._state_figures = state_figures or dict
        self._state_interval_s = state_interval_s
        self._announce = announce
        self._max_unacked = max_unacked
        self._unacked: deque[mqtt.MQTTMessageInfo] = deque()
        self._unacked_lock = threading.Lock()
        self._subscriptions: dict[str, int] = {}
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._first_connect_error: str | None = None
        self._logged_sources: set[str] = set()
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{node_id}", daemon=True)
        self._mqtt = self._make_paho_client()

    # --- lifecycle ---------------------------------------------------------------------------------

    def _make_paho_client(self) -> mqtt.Client:
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
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
        client.on_publish = self._on_publish
        client.on_message = self._on_unrouted_message
        return client

    def start(self, timeout_s: float = 10.0) -> BusClient:
        """Connect (retrying with backoff) and return once the broker accepted us."""
        self._thread.start()
        if not self._connected.wait(timeout_s):
            self.stop()
            reason = self._first_connect_error or "no answer"
            raise ConnectionError(
                f"could not connect to {self.config.url} within {timeout_s:g} s: {reason}{self.config.describe_tls()}"
            )
        return self

    def stop(self) -> None:
        """Mark the node offline (retained), disconnect cleanly and end the network thread."""
        if self._connected.is_set() and self._announce:
            info = self.publish_raw(
                topics.node_state(self.node_id), codec.encode(self._state(online=False)), qos=1, retain=True
            )
            info.wait_for_publish(timeout=2.0)
        self._stopping.set()
        self._mqtt.disconnect()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5.0)

    def __enter__(self) -> BusClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def _run(self) -> None:
        """The network loop: paho's `loop()` until the link drops, then reconnect with backoff."""
        delay = self._backoff_s[0]
        while not self._stopping.is_set():
            try:
                if self._announce:
                    self._set_will()
                self._mqtt.connect(self.config.host, self.config.port, self.config.keepalive_s)
                next_state = time.monotonic() + self._state_interval_s
                while self._mqtt.loop(timeout=0.1) == mqtt.MQTT_ERR_SUCCESS:
                    if self._connected.is_set():
                        delay = self._backoff_s[0]
                        if self._announce and time.monotonic() >= next_state:
                            self.publish_state()
                            next_state = time.monotonic() + self._state_interval_s
                    if self._stopping.is_set():
                        return
            except OSError as error:
                self._first_connect_error = self._first_connect_error or str(error)
                log.debug("%s: connect to %s failed: %s", self.node_id, self.config.url, error)
            self._connected.clear()
            # Full jitter in [delay/2, delay]: many nodes restarting together spread out.
            if self._stopping.wait(delay * random.uniform(0.5, 1.0)):
                return
            delay = min(delay * 2, self._backoff_s[1])

    def _set_will(self) -> None:
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
            figures=self._state_figures(),
        )

    def publish_state(self) -> None:
        """Republish the retained birth with fresh figures (the network thread does it every
        `state_interval_s`)."""
        self.publish(topics.node_state(self.node_id), self._state(online=True), qos=1, retain=True)

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
        self.session += 1
        self.figures.connects += 1
        for topic_filter, qos in self._subscriptions.items():
            client.subscribe(topic_filter, qos)
        if self._announce:
            client.publish(topics.node_state(self.node_id), codec.encode(self._state(online=True)), qos=1, retain=True)
        log.debug("%s: connected to %s (session %d)", self.node_id, self.config.url, self.session)
        self._connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if not self._stopping.is_set():
            log.warning("%s: lost %s (%s); reconnecting", self.node_id, self.config.url, reason_code)

    # --- publishing --------------------------------------------------------------------------------

    def _properties(self, content_type: str | None) -> Properties | None:
        """The PUBLISH properties naming `content_type`, or None for msgpack (the default, which
        receivers recognise by its first byte): packing and parsing the property costs ~15 us a
        message, more than encoding it. Built once per content type."""
        if not self.config.mqtt5 or content_type in (None, codec.MSGPACK):
            return None
        return _publish_properties(content_type)

    def publish(self, topic: str, message: Envelope, qos: int = 1, retain: bool = False) -> None:
        """Encode and publish a model; QoS 1/2 waits for room in the unacknowledged window."""
        self.publish_raw(topic, codec.encode(message, self.content_type), qos, retain, self.content_type)

    def publish_raw(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        content_type: str | None = codec.MSGPACK,
    ) -> mqtt.MQTTMessageInfo:
        """Publish bytes as they are (dead letters, replays, empty retained clears)."""
        # The network thread must never wait for a slot: it is the one that processes the PUBACKs.
        windowed = qos > 0 and threading.current_thread() is not self._thread
        if windowed:
            self._acquire_slot()
        properties = self._properties(content_type)
        info = self._mqtt.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc == mqtt.MQTT_ERR_NO_CONN and qos == 0:
            self.figures.dropped_offline += 1
        elif info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"{self.node_id}: publish to {topic} refused: {mqtt.error_string(info.rc)}")
        if windowed:
            with self._unacked_lock:
                self._unacked.append(info)
        self.figures.published += 1
        return info

    def _acquire_slot(self) -> None:
        """Wait until fewer than `max_unacked` QoS 1/2 messages await their acknowledgement."""
        if self._window_has_room():
            return
        self.figures.backpressure_waits += 1
        deadline = time.monotonic() + self._publish_timeout_s
        while not self._window_has_room():
            if time.monotonic() > deadline:
                raise BackpressureError(
                    f"{self.node_id}: {self._max_unacked} messages unacknowledged for "
                    f"{self._publish_timeout_s:g} s; is {self.config.url} reachable?"
                )
            self._stopping.wait(0.001)

    def _window_has_room(self) -> bool:
        # Acknowledgements arrive in publish order on one connection, so the oldest goes first.
        with self._unacked_lock:
            while self._unacked and _acknowledged(self._unacked[0]):
                self._unacked.popleft()
            return len(self._unacked) < self._max_unacked

    def wait_acknowledged(self, timeout_s: float) -> bool:
        """Wait until the broker acknowledged every QoS 1/2 message published so far."""
        deadline = time.monotonic() + timeout_s
        while self.unacknowledged:
            if time.monotonic() > deadline:
                return False
            self._stopping.wait(0.005)
        return True

    @property
    def unacknowledged(self) -> int:
        """QoS 1/2 messages published and not yet acknowledged by the broker."""
        self._window_has_room()
        return len(self._unacked)

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            self.figures.refused_by_broker += 1
            log.error("%s: the broker refused publish %d: %s", self.node_id, mid, reason_code)

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
        """Deliver decoded, validated models from `topic_filter` to `handler(message, delivery)`.

        An empty payload is a cleared retained value: it goes to `on_cleared(topic)` if given."""

        def deliver(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            self.figures.received += 1
            if not msg.payload:
                if on_cleared is not None:
                    self._guarded(on_cleared, msg.topic)
                return
            try:
                message = codec.decode_on_topic(msg.topic, msg.payload, _content_type(msg))
            except codec.DecodeError as error:
                self._reject(msg, str(error))
                return
            self._guarded(handler, message, Delivery(msg.topic, bool(msg.retain), time.monotonic()))

        self._add_route(topic_filter, deliver, qos)

    def subscribe_raw(self, topic_filter: str, handler: RawHandler, qos: int = 1) -> None:
        """Deliver paho messages as they are (the recorder keeps bytes and properties)."""

        def deliver(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            self.figures.received += 1
            self._guarded(handler, msg)

        self._add_route(topic_filter, deliver, qos)

    def _add_route(self, topic_filter: str, deliver: Callable, qos: int) -> None:  # type: ignore[type-arg]
        self._mqtt.message_callback_add(topic_filter, deliver)
        self._subscriptions[topic_filter] = qos
        if self._connected.is_set():
            self._mqtt.subscribe(topic_filter, qos)

    def _guarded(self, handler: Callable[..., None], *args: object) -> None:
        """Run a handler; an exception in it is logged and counted, never kills the network loop."""
        try:
            handler(*args)
        except Exception:
            self.figures.handler_errors += 1
            log.exception("%s: handler failed on %s", self.node_id, args[-1])

    def _on_unrouted_message(self, client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
        log.debug("%s: message on %s matches no route", self.node_id, msg.topic)

    def _reject(self, msg: mqtt.MQTTMessage, reason: str) -> None:
        """Count, log once per source, and dead-letter a message that failed to decode."""
        source_id = _source_of(msg.topic)
        self.figures.rejected[source_id] += 1
        if source_id not in self._logged_sources:
            self._logged_sources.add(source_id)
            log.warning(
                "%s: rejected a message from %s on %s: %s (further rejections from it are counted)",
                self.node_id,
                source_id,
                msg.topic,
                reason,
            )
        payload = bytes(msg.payload)
        now = utc_now()
        letter = DeadLetter(
            source=self.source,
            session=self.session,
            time=now,
            sent_at=now,
            original_topic=msg.topic,
            reason=reason,
            content_type=_content_type(msg),
            payload=payload if len(payload) <= MAX_DEAD_LETTER_PAYLOAD else None,
            payload_size=len(payload),
            payload_sha256=hashlib.sha256(payload).hexdigest(),
        )
        self.publish(topics.dead_letter(source_id), letter, qos=1)


@functools.cache
def _publish_properties(content_type: str) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = content_type
    return properties


def _acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    """paho marks a message published on its PUBACK/PUBCOMP; `is_published()` would raise instead
    for a message queued while offline (its return code stays "not connected" after the resend)."""
    return bool(info._published)


def _content_type(msg: mqtt.MQTTMessage) -> str | None:
    properties = msg.properties
    return getattr(properties, "ContentType", None) if properties is not None else None


def _source_of(topic: str) -> str:
    try:
        return topics.parse(topic).name or "unknown"
    except ValueError:
        return "unknown"
