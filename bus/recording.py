"""Rampart recording files: a stream of MQTT messages on disk (format described in docs/recording-format.md).

The recorded unit is an MQTT message, so one format serves both a recorder attached to a live broker and
a simulator writing a scenario straight to disk. The module is pure: no network, and no clock reads
(the caller passes every time, so a scenario written twice with the same inputs is byte-identical).
"""

from __future__ import annotations

import importlib.metadata
import os
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import msgpack

from bus.errors import BusError

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "RecordedMessage",
    "Recording",
    "RecordingError",
    "RecordingHeader",
    "RecordingWarning",
    "RecordingWriter",
    "open_recording",
    "read_all",
]

MAGIC = b"RAMPREC\0"
FORMAT_VERSION = 1

# Prelude: magic + format version. Fixed and outside any frame, so a reader can pick the
# right format reader before it interprets anything else.
_PRELUDE = struct.Struct(">8sI")
# Frame head: body length, CRC32 of the body.
_FRAME = struct.Struct(">II")
# No MQTT message exceeds 256 MiB (the protocol's maximum packet size); a longer frame is corruption.
_MAX_BODY = 1 << 28
# A 1 MiB read buffer reads ~8% faster than the 8 KiB default.
_READ_BUFFER = 1 << 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

StrPath = str | os.PathLike[str]


class RecordingError(BusError, ValueError):
    """A file is not a readable Rampart recording; the message names the file and, if known, the offset."""


class RecordingWarning(UserWarning):
    """A recording was readable but its tail was not (expected after the writer crashed)."""


@dataclass(frozen=True, slots=True)
class RecordedMessage:
    """One MQTT message as received (or as a simulator would have published it).

    time_us is the receive time in integer microseconds since the Unix epoch (UTC): integers keep
    replay exact and deterministic. user_properties is the MQTT 5 list of (name, value) pairs, in
    order; names may repeat, so it is not a dict.
    """

    time_us: int
    topic: str
    payload: bytes
    content_type: str | None = None
    qos: int = 0
    retain: bool = False
    user_properties: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RecordingHeader:
    """What a recording is: written once at the start of the file."""

    format_version: int
    created_at: datetime
    rampart_version: str
    recorded: dict[str, Any]


def _to_us(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError(f"created_at must be timezone-aware, got naive {t!r}")
    return (t - _EPOCH) // timedelta(microseconds=1)


def _check(msg: RecordedMessage) -> None:
    """Refuse what would not round-trip, at write time, so the reader can trust every CRC-valid record."""
    if type(msg.time_us) is not int:
        raise TypeError(f"time_us must be int microseconds, got {type(msg.time_us).__name__}")
    if not -(1 << 63) <= msg.time_us < 1 << 63:
        raise ValueError(f"time_us must fit in 64 signed bits, got {msg.time_us}")
    if not isinstance(msg.topic, str) or not msg.topic:
        raise ValueError(f"topic must be a non-empty str, got {msg.topic!r}")
    if not isinstance(msg.payload, bytes):
        raise TypeError(f"payload must be bytes, got {type(msg.payload).__name__}")
    if msg.content_type is not None and not isinstance(msg.content_type, str):
        raise TypeError(f"content_type must be str or None, got {type(msg.content_type).__name__}")
    if type(msg.qos) is not int or msg.qos not in (0, 1, 2):
        raise ValueError(f"qos must be 0, 1 or 2, got {msg.qos!r}")
    if type(msg.retain) is not bool:
        raise TypeError(f"retain must be bool, got {type(msg.retain).__name__}")
    if not isinstance(msg.user_properties, tuple):
        raise TypeError(f"user_properties must be a tuple, got {type(msg.user_properties).__name__}")
    for pair in msg.user_properties:
        if not (isinstance(pair, tuple) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
            raise TypeError(f"user_properties must be (str, str) pairs, got {pair!r}")


def _frame(body: bytes) -> bytes:
    return _FRAME.pack(len(body), zlib.crc32(body)) + body


class RecordingWriter:
    """Append messages to a new recording; each record is flushed so a crash loses at most the last one.

    `target` is a path (created, closed by close(); an existing file raises FileExistsError unless
    `overwrite`) or a binary file object positioned
    where the recording starts (flushed but left open: the caller owns it). `created_at` is passed in
    because this module never reads the clock. `flush_every=n` flushes every n records instead, for
    bulk writers (simulators) that accept losing up to n records on a crash.
    """

    def __init__(
        self,
        target: StrPath | BinaryIO,
        recorded: dict[str, Any],
        *,
        created_at: datetime,
        flush_every: int = 1,
        overwrite: bool = False,
    ) -> None:
        if flush_every < 1:
            raise ValueError(f"flush_every must be >= 1, got {flush_every}")
        header = msgpack.packb(
            {
                "created_at_us": _to_us(created_at),
                "rampart_version": importlib.metadata.version("rampart"),
                "recorded": recorded,
            }
        )
        if isinstance(target, str | os.PathLike):
            self._file: BinaryIO = open(target, "wb" if overwrite else "xb")  # noqa: SIM115 -- closed by close()
            self._owns_file = True
        else:
            self._file = target
            self._owns_file = False
        self._flush_every = flush_every
        self._unflushed = 0
        self._closed = False
        self._packer = msgpack.Packer()
        self._file.write(_PRELUDE.pack(MAGIC, FORMAT_VERSION) + _frame(header))
        self._file.flush()

    def write(self, msg: RecordedMessage) -> None:
        """Append one message (one write call per record, so a crash can only tear the last one)."""
        if self._closed:
            raise ValueError("write to a closed RecordingWriter")
        _check(msg)
        body = self._packer.pack(
            (
                msg.time_us,
                msg.topic,
                msg.payload,
                msg.content_type,
                msg.qos,
                msg.retain,
                msg.user_properties,
            )
        )
        self._file.write(_frame(body))
        self._unflushed += 1
        if self._unflushed >= self._flush_every:
            self._file.flush()
            self._unflushed = 0

    def close(self) -> None:
        """Flush, and close the file if this writer opened it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._file.flush()
        if self._owns_file:
            self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------- reading


def _read_header_v1(f: BinaryIO, name: str, size: int) -> RecordingHeader:
    offset = _PRELUDE.size
    head = f.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise RecordingError(f"{name}: truncated header (file is {size} bytes)")
    length, crc = _FRAME.unpack(head)
    if length > _MAX_BODY:
        raise RecordingError(f"{name}: corrupt header at offset {offset} (impossible length {length})")
    body = f.read(length)
    if len(body) < length:
        raise RecordingError(f"{name}: truncated header (file is {size} bytes)")
    if zlib.crc32(body) != crc:
        raise RecordingError(f"{name}: corrupt header at offset {offset} (CRC mismatch)")
    try:
        fields = msgpack.unpackb(body, strict_map_key=False)
        created_at = _EPOCH + timedelta(microseconds=fields["created_at_us"])
        return RecordingHeader(1, created_at, fields["rampart_version"], fields["recorded"])
    except (ValueError, TypeError, KeyError) as e:
        raise RecordingError(f"{name}: undecodable header at offset {offset} ({e!r})") from e


def _iter_records_v1(f: BinaryIO, name: str, offset: int) -> Iterator[RecordedMessage]:
    """Yield the records that follow the header (at `offset`); see docs/recording-format.md for the
    torn-tail versus corruption rules."""
    read = f.read
    unpack_head = _FRAME.unpack
    head_size = _FRAME.size
    unpackb = msgpack.unpackb
    crc32 = zlib.crc32
    message = RecordedMessage
    while True:
        head = read(head_size)
        if len(head) < head_size:
            if head:
                _warn_torn(name, offset, len(head))
            return
        length, crc = unpack_head(head)
        if length == 0:
            n = _zero_filled_tail(f, head)
            if n is None:
                raise RecordingError(f"{name}: corrupt record at offset {offset} (empty frame)")
            _warn_torn(name, offset, n, "zero-filled")
            return
        if length > _MAX_BODY:
            raise RecordingError(f"{name}: corrupt record at offset {offset} (impossible length {length})")
        body = read(length)
        if len(body) < length:
            _warn_torn(name, offset, head_size + len(body))
            return
        if crc32(body) != crc:
            raise RecordingError(f"{name}: corrupt record at offset {offset} (CRC mismatch)")
        try:
            msg = message(*unpackb(body, use_list=False))
        except (ValueError, TypeError) as e:
            raise RecordingError(f"{name}: undecodable record at offset {offset} ({e!r})") from e
        yield msg
        offset += head_size + length


def _zero_filled_tail(f: BinaryIO, rest: bytes) -> int | None:
    """Length of the tail if it is all zeros to EOF, else None.

    The writer never writes an empty frame, but a crash can leave zeros where the last records
    should be (the file size reached the disk before the data, as on XFS or ext4 delalloc):
    that is a torn tail, not corruption.
    """
    n = 0
    while rest:
        if rest.count(0) != len(rest):
            return None
        n += len(rest)
        rest = f.read(_READ_BUFFER)
    return n


def _warn_torn(name: str, offset: int, n: int, kind: str = "torn") -> None:
    warnings.warn(
        f"{name}: {kind} record at offset {offset}, ignoring the last {n} bytes "
        "(expected if the writer crashed; everything before it was read)",
        RecordingWarning,
        stacklevel=4,
    )


@dataclass(frozen=True)
class _Format:
    read_header: Callable[[BinaryIO, str, int], RecordingHeader]
    iter_records: Callable[[BinaryIO, str, int], Iterator[RecordedMessage]]


# Readers by format version. A new version adds an entry; old entries stay so old files stay readable.
_FORMATS: dict[int, _Format] = {1: _Format(_read_header_v1, _iter_records_v1)}


class Recording:
    """An opened recording: `.header` is read at open; iterating streams the messages from disk.

    Each iteration reopens the file, so a Recording holds no file handle and can be replayed
    several times.
    """

    def __init__(self, path: StrPath, header: RecordingHeader, records_offset: int) -> None:
        self.path = Path(path)
        self.header = header
        self._name = os.fspath(path)
        self._records_offset = records_offset

    def __iter__(self) -> Iterator[RecordedMessage]:
        with open(self.path, "rb", buffering=_READ_BUFFER) as f:
            f.seek(self._records_offset)
            yield from _FORMATS[self.header.format_version].iter_records(f, self._name, self._records_offset)


def open_recording(path: StrPath) -> Recording:
    """Check magic and version and read the header, so a bad file fails here, before any replay starts."""
    name = os.fspath(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        prelude = f.read(_PRELUDE.size)
        magic = prelude[: len(MAGIC)]
        if magic != MAGIC[: len(magic)]:
            raise RecordingError(f"{name} is not a Rampart recording (bad magic {magic!r})")
        if len(prelude) < _PRELUDE.size:
            raise RecordingError(f"{name}: truncated header (file is {size} bytes)")
        _, version = _PRELUDE.unpack(prelude)
        fmt = _FORMATS.get(version)
        if fmt is None:
            newest = max(_FORMATS)
            if version > newest:
                raise RecordingError(
                    f"{name} has format version {version}; this Rampart reads versions up to {newest}: upgrade rampart"
                )
            raise RecordingError(f"{name} has format version {version}, which no Rampart release wrote")
        header = fmt.read_header(f, name, size)
        return Recording(path, header, f.tell())


def read_all(path: StrPath) -> tuple[RecordingHeader, list[RecordedMessage]]:
    """Read a whole recording into memory (for tests and small files)."""
    rec = open_recording(path)
    return rec.header, list(rec)
