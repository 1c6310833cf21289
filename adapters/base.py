"""The adapter SDK: subclass `Adapter`, declare the source kind, implement `translate`.

The base class does the rest: the connection (birth and last will through `BusClient`, which also
stamps each message's `seq`, `session` and `msg_id`), batching, backpressure with a bounded queue
and a counted drop policy, dead-lettering of native records that fail to translate (whatever
`translate` raised: a bug in it costs the record, never the publishing thread), and clean shutdown.
While the broker is unreachable the records wait in that queue (bounded: the oldest are dropped and
counted) and go out once the client is connected again; the publishing loop's heartbeat keeps the
node's state online, so a stuck loop turns the node unhealthy.

    class AcmeRadar(Adapter[bytes]):
        kind = "sensor"
        integration = "acme-radar"

        def translate(self, native: bytes) -> SensorReading:
            ...                       # parse the maker's bytes; raise NativeFormatError if malformed

    with AcmeRadar("acme-radar-1", BrokerConfig.from_url("mqtt://127.0.0.1:1883")) as adapter:
        adapter.submit(scan_bytes)    # never blocks; returns False if the oldest record was dropped

`SourceTranslator` is the one step from a native record to envelopes (or a rejection): the
publishing thread runs it, and so does anything that turns native data into messages without a
broker (`rampart sim --out`, `nodes.sim.scenario_messages`). Stamping is the publisher's: the
client's live, a `bus.envelope.Stamper` per source offline.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import ClassVar, Generic, TypeVar

from adapters.errors import NativeFormatError
from bus import topics
from bus.client import BrokerConfig, BusClient
from bus.errors import BackpressureError, BusError, MessageTooLargeError, SessionTakenOverError
from bus.schema import DeadLetter, Envelope, ObservationKind, Source, SourceKind, utc_now

log = logging.getLogger(__name__)

N = TypeVar("N")


@dataclass
class AdapterFigures:
    submitted: int = 0
    published: int = 0
    dropped: int = 0
    """Native records dropped because the queue was full (the oldest go first: fresh data matters)."""
    rejected: int = 0
    """Native records that failed to translate, or whose observation the broker would refuse as
    too large (each dead-lettered with its reason)."""
    offline_waits: int = 0
    """Times publishing paused until the broker was reachable again (records wait in the queue)."""
    unpublished: int = 0
    """Records given up after the broker left a publish unacknowledged for the client's timeout."""
    queued: int = 0
    """Records waiting in the queue now."""


@dataclass(frozen=True, slots=True)
class Translation:
    """What one native record became: its observations, or the reason it was rejected."""

    envelopes: tuple[Envelope, ...] = ()
    rejection: str | None = None


class SourceTranslator(Generic[N]):
    """Translate one source's native records, pure (no I/O, no clock): every observation the
    adapter's `translate` returned (one or several), moved by `time_shift`, or the reason of its
    NativeFormatError (or of whatever else `translate` raised, named with its type). `time_shift`
    makes a simulation or a replay look live."""

    def __init__(
        self, translate: Callable[[N], Envelope | Iterable[Envelope]], time_shift: timedelta = timedelta(0)
    ) -> None:
        self.translate = translate
        self.time_shift = time_shift

    def __call__(self, native: N) -> Translation:
        try:
            translated = self.translate(native)
            observations = [translated] if isinstance(translated, Envelope) else list(translated)
        except NativeFormatError as error:
            return Translation(rejection=str(error))
        except Exception as error:  # a bug in translate, not malformed input: the record is lost, not the caller
            return Translation(rejection=f"translate failed: {type(error).__name__}: {error}")
        if self.time_shift:
            shift = self.time_shift
            observations = [o.model_copy(update={"time": o.time + shift}) for o in observations]
        return Translation(tuple(observations))


class Adapter(ABC, Generic[N]):
    """Turns one source's native records into observations on the bus."""

    kind: ClassVar[ObservationKind]
    integration: ClassVar[str] = "custom"

    def __init__(
        self,
        source_id: str,
        broker: BrokerConfig | None = None,
        *,
        queue_size: int = 10_000,
        batch_size: int = 256,
        time_shift: timedelta = timedelta(0),
        persistent_session_s: int | None = None,
    ) -> None:
        """`time_shift` is added to every observation time (a simulation or replay made to look live);
        `persistent_session_s` as BusClient's (for an adapter that also subscribes, e.g. a vehicle)."""
        self.source = Source(id=source_id, kind=SourceKind(self.kind), integration=self.integration)
        self.topic = topics.observation(self.kind, source_id)
        self.figures = AdapterFigures()
        self.client = BusClient(
            source_id,
            self.source.kind,
            broker,
            role=f"adapter:{self.integration}",
            state_figures=self._state_figures,
            persistent_session_s=persistent_session_s,
        )
        self._heartbeat = self.client.heartbeat(f"the publishing loop of {source_id}")
        self.translator = SourceTranslator(self.translate, time_shift)
        self._queue: deque[N] = deque()
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._ready = threading.Condition()
        self._closing = False
        self._busy = False
        self._worker = threading.Thread(target=self._publish_loop, name=f"adapter-{source_id}", daemon=True)

    @abstractmethod
    def translate(self, native: N) -> Envelope | Iterable[Envelope]:
        """The maker's record as one or more observations; raise NativeFormatError to reject it."""

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout_s: float = 10.0) -> Adapter[N]:
        self.client.start(timeout_s)
        self._worker.start()
        return self

    def stop(self, drain_timeout_s: float = 10.0) -> None:
        """Publish what is queued (up to the timeout), then disconnect cleanly."""
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        if self._worker.is_alive():
            self._worker.join(drain_timeout_s)
        self.client.stop()

    def __enter__(self) -> Adapter[N]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- intake ------------------------------------------------------------------------------------

    def submit(self, native: N) -> bool:
        """Queue a record for publishing without blocking; False if the queue was full and the
        oldest queued record was dropped to make room. Raises the client's `failure` (another
        process took this source id over): the process should end."""
        if self.client.failure is not None:
            raise self.client.failure
        with self._ready:
            self.figures.submitted += 1
            dropped = len(self._queue) >= self._queue_size
            if dropped:
                self._queue.popleft()
                self.figures.dropped += 1
            self._queue.append(native)
            self._ready.notify()
        return not dropped

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until everything submitted so far is published and acknowledged."""
        with self._ready:
            if not self._ready.wait_for(lambda: not self._queue and not self._busy, timeout_s):
                return False
        return self.client.wait_acknowledged(timeout_s)

    # --- publishing --------------------------------------------------------------------------------

    def _publish_loop(self) -> None:
        heartbeat = self._heartbeat
        while self.client.failure is None:
            with self._ready, heartbeat.waiting():
                self._ready.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    return
            self._wait_for_broker()
            with self._ready:
                batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
                self._busy = True
            try:
                for native in batch:
                    heartbeat.beat()
                    self._publish_one(native)
            except SessionTakenOverError:
                return  # the client has logged it; submit() raises it to the node
            finally:
                with self._ready:
                    self._busy = False
                    self._ready.notify_all()

    def _wait_for_broker(self) -> None:
        """While the broker is unreachable, records wait in the bounded queue (not in the client's
        outbox, where a full window would end in BackpressureError)."""
        if self.client.connected or self._closing:
            return
        self.figures.offline_waits += 1
        log.warning(
            "%s: the broker is unreachable; records wait in the queue (up to %d)", self.source.id, self._queue_size
        )
        with self._heartbeat.waiting():
            while not self.client.wait_connected(0.5) and not self._closing and self.client.failure is None:
                pass

    def _publish_one(self, native: N) -> None:
        translation = self.translator(native)
        if translation.rejection is not None:
            self._reject(native, translation.rejection)
            return
        for observation in translation.envelopes:
            try:
                self.client.publish(self.topic, observation)  # the client stamps seq, session, msg_id
            except MessageTooLargeError as error:
                self._reject(native, str(error))
                return
            except BackpressureError as error:
                self.figures.unpublished += 1
                log.error("%s: gave a record up: %s", self.source.id, error)
                return
            self.figures.published += 1

    def _reject(self, native: N, reason: str) -> None:
        self.figures.rejected += 1
        if self.figures.rejected == 1:
            log.warning("%s: rejected a native record: %s (further rejections are counted)", self.source.id, reason)
        if isinstance(native, bytes | bytearray):
            original, content_type = bytes(native), "application/octet-stream"
        elif isinstance(native, str):
            original, content_type = native.encode(), "text/plain; charset=utf-8"
        else:
            original, content_type = repr(native).encode(), "text/x-python-repr"
        payload = original[:65536]  # the schema's limit; size and digest are of the whole record
        letter = DeadLetter(
            source=self.source,
            time=utc_now(),
            original_topic=self.topic,
            reason=reason,
            content_type=content_type,
            payload=payload,
            payload_size=len(original),
            payload_sha256=hashlib.sha256(original).hexdigest(),
        )
        try:
            self.client.publish(topics.dead_letter(self.source.id), letter)
        except BusError as error:
            log.error("%s: could not dead-letter a record: %s", self.source.id, error)

    def _state_figures(self) -> dict[str, float]:
        self.figures.queued = len(self._queue)
        return asdict(self.figures)
