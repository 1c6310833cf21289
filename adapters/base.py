"""The adapter SDK: subclass `Adapter`, declare the source kind, implement `translate`.

The base class does the rest: the connection (birth and last will through `BusClient`, whose
stamper numbers `seq` within each `session`), batching, backpressure with a bounded queue and a counted drop policy,
dead-lettering of native records that fail to translate, and clean shutdown.

    class AcmeRadar(Adapter[AcmeScan]):
        kind = "sensor"
        integration = "acme-radar"

        def translate(self, native: AcmeScan) -> SensorReading:
            ...

    with AcmeRadar("acme-radar-1", BrokerConfig.from_url("mqtt://127.0.0.1:1883")) as adapter:
        adapter.submit(scan)          # never blocks; returns False if the oldest record was dropped
"""

from __future__ import annotations

import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import ClassVar, Generic, Literal, TypeVar

from adapters.errors import NativeFormatError
from bus import topics
from bus.client import BrokerConfig, BusClient
from bus.schema import DeadLetter, Envelope, Source, SourceKind, utc_now

log = logging.getLogger(__name__)

N = TypeVar("N")
ObservationKind = Literal["video", "sensor", "position"]


@dataclass
class AdapterFigures:
    submitted: int = 0
    published: int = 0
    dropped: int = 0
    """Native records dropped because the queue was full (the oldest go first: fresh data matters)."""
    rejected: int = 0
    """Native records that failed to translate (each dead-lettered with its reason)."""


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
    ) -> None:
        """`time_shift` is added to every observation time (a simulation or replay made to look live)."""
        self.source = Source(id=source_id, kind=SourceKind(self.kind), integration=self.integration)
        self.topic = topics.observation(self.kind, source_id)
        self.figures = AdapterFigures()
        self.client = BusClient(
            source_id, self.source.kind, broker, role=f"adapter:{self.integration}", state_figures=self._state_figures
        )
        self._time_shift = time_shift
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
        oldest queued record was dropped to make room."""
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
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    return
                batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
                self._busy = True
            for native in batch:
                self._publish_one(native)
            with self._ready:
                self._busy = False
                self._ready.notify_all()

    def _publish_one(self, native: N) -> None:
        try:
            translated = self.translate(native)
        except NativeFormatError as error:
            self._reject(native, str(error))
            return
        observations = [translated] if isinstance(translated, Envelope) else list(translated)
        for observation in observations:
            if self._time_shift:
                observation = observation.model_copy(update={"time": observation.time + self._time_shift})
            self.client.publish(self.topic, observation)  # the client stamps seq, session, msg_id
            self.figures.published += 1

    def _reject(self, native: N, reason: str) -> None:
        self.figures.rejected += 1
        if self.figures.rejected == 1:
            log.warning("%s: rejected a native record: %s (further rejections are counted)", self.source.id, reason)
        payload = repr(native).encode()[:65536]
        letter = DeadLetter(
            source=self.source,
            time=utc_now(),
            original_topic=self.topic,
            reason=reason,
            content_type="text/x-python-repr",
            payload=payload,
            payload_size=len(payload),
            payload_sha256=hashlib.sha256(payload).hexdigest(),
        )
        self.client.publish(topics.dead_letter(self.source.id), letter)

    def _state_figures(self) -> dict[str, float]:
        return asdict(self.figures)
