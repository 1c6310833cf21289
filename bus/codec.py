"""Bytes <-> schema models: msgpack (the default) and JSON, one typed error for every failure.

The encoding is named by the MQTT 5 content-type property. Rampart's own publishers leave it out
for msgpack, the default (building and parsing the property cost more than encoding the message),
and MQTT 3.1.1 has no properties at all; so when the content type is missing the first byte
decides: a JSON object starts with `{` (after optional
whitespace), a msgpack map with 0x80-0x8f, 0xde or 0xdf; nothing else is accepted.

msgpack carries times as the standard Timestamp extension (type -1); JSON carries them as RFC 3339.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import msgpack
from pydantic import ValidationError

from bus import schema, topics
from bus.errors import BusError
from bus.schema import MODELS_BY_NAME, SCHEMA_MAJOR, Envelope, validation_failure

MSGPACK = "application/msgpack"
JSON = "application/json"
CONTENT_TYPES = (MSGPACK, JSON)
MAX_PAYLOAD_BYTES = 1024 * 1024
"""Payloads above this are refused before parsing (mosquitto.conf's message_size_limit matches)."""

M = TypeVar("M", bound=Envelope)

MODEL_BY_TOPIC_KIND: dict[topics.Kind, type[Envelope]] = {
    topics.Kind.TRACK: schema.TrackUpdate,
    topics.Kind.SNAPSHOT: schema.PictureSnapshot,
    topics.Kind.NODE_STATE: schema.NodeState,
    topics.Kind.DEAD_LETTER: schema.DeadLetter,
    topics.Kind.TRUTH: schema.GroundTruth,
}


class DecodeError(BusError, ValueError):
    """A payload that cannot become a model. `field` is a dotted path (or a pseudo-field such as
    `payload` or `schema`), `reason` says what is wrong; str() is `"field: reason"`."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def encode(message: Envelope, content_type: str = MSGPACK, update: Mapping[str, Any] | None = None) -> bytes:
    """Serialise a model in the named encoding; `update` overrides fields (unaliased, not validated)
    as `model_copy(update=...)` would, without the copy when encoding msgpack."""
    if content_type == MSGPACK:
        fields = message.model_dump(by_alias=True, exclude_none=True)
        if update:
            fields.update(update)
        return msgpack.packb(fields, datetime=True)
    if content_type == JSON:
        if update:
            message = message.model_copy(update=dict(update))
        return message.model_dump_json(by_alias=True, exclude_none=True).encode()
    raise ValueError(f"unsupported content type {content_type!r}; use one of {', '.join(CONTENT_TYPES)}")


def sniff_content_type(payload: bytes | bytearray) -> str:
    """The encoding of a payload that came without a content type (MQTT 3.1.1 publishers)."""
    stripped = payload.lstrip(b" \t\r\n")
    if stripped[:1] == b"{":
        return JSON
    if payload[:1] and (0x80 <= payload[0] <= 0x8F or payload[0] in (0xDE, 0xDF)):
        return MSGPACK
    raise DecodeError("payload", "neither a JSON object nor a msgpack map (no content type given)")


def decode(payload: bytes | bytearray, content_type: str | None = None, expect: type[M] | None = None) -> M | Envelope:
    """Parse and validate a payload; `expect` restricts which message type is acceptable."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError("payload", f"{len(payload)} bytes is over the limit of {MAX_PAYLOAD_BYTES}")
    if not payload:
        raise DecodeError("payload", "empty (only a retained value's clear may be empty)")
    content_type = content_type or sniff_content_type(payload)
    data = _parse(payload, content_type)
    model = _model_for(data)
    if expect is not None and model is not expect:
        raise DecodeError("schema", f"expected {expect.wire_name()}, got {model.wire_name()}")
    try:
        if content_type == JSON:  # JSON-mode validation: RFC 3339 times, base64 bytes
            return model.model_validate_json(payload)
        return model.model_validate(data)
    except ValidationError as error:
        field, reason = validation_failure(error)
        raise DecodeError(field or "message", reason) from None


def decode_on_topic(topic: str, payload: bytes | bytearray, content_type: str | None = None) -> Envelope:
    """Decode a message and check it belongs on `topic`: the right schema for the topic's kind,
    and (for observations) the topic's source id equal to the message's own."""
    try:
        address = topics.parse(topic)
    except ValueError as error:
        raise DecodeError("topic", str(error)) from None
    expected = expected_model(address)
    message = decode(payload, content_type)
    if not isinstance(message, expected):
        raise DecodeError(
            "schema", f"topic kind {address.kind_label} carries {expected.NAME}, got {message.wire_name()}"
        )
    if address.sender_id is not None and message.source.id != address.sender_id:
        raise DecodeError("source.id", f"{message.source.id!r} does not match the topic's source {address.sender_id!r}")
    return message


def expected_model(address: topics.Address) -> type[Envelope]:
    """The one message type a topic of this kind carries."""
    if address.observation_kind is not None:
        return schema.OBSERVATION_MODELS[address.observation_kind]
    return MODEL_BY_TOPIC_KIND[address.kind]


def _parse(payload: bytes | bytearray, content_type: str) -> Mapping[str, Any]:
    if content_type == MSGPACK:
        try:
            data = msgpack.unpackb(payload, timestamp=3, raw=False, strict_map_key=True)
        except msgpack.ExtraData:
            raise DecodeError("payload", "extra bytes after the msgpack message") from None
        except msgpack.StackError:  # its message is empty
            raise DecodeError("payload", "msgpack nested deeper than the unpacker's limit") from None
        except msgpack.FormatError:  # its message is empty too
            raise DecodeError("payload", "bad msgpack (a byte that starts no msgpack value)") from None
        except (ValueError, msgpack.UnpackException, TypeError) as error:
            reason = "truncated msgpack" if "incomplete" in str(error).lower() else f"bad msgpack ({error})"
            raise DecodeError("payload", reason) from None
    elif content_type == JSON:
        try:
            data = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as error:
            raise DecodeError("payload", f"bad JSON ({error})") from None
        except RecursionError:  # not a ValueError: uncaught, it would kill the thread that decodes
            raise DecodeError("payload", "JSON nested deeper than the parser's recursion limit") from None
    else:
        raise DecodeError("content_type", f"{content_type!r} is not one of {', '.join(CONTENT_TYPES)}")
    if not isinstance(data, dict):
        raise DecodeError("payload", f"a message is a map, got {type(data).__name__}")
    return data


def _model_for(data: Mapping[str, Any]) -> type[Envelope]:
    wire = data.get("schema")
    if not isinstance(wire, str):
        raise DecodeError("schema", "missing: every message names its schema, e.g. 'PositionReport/1'")
    name, _, major = wire.partition("/")
    model = MODELS_BY_NAME.get(name)
    if model is None:
        raise DecodeError("schema", f"unknown schema {wire!r}; known: {', '.join(sorted(MODELS_BY_NAME))}")
    if major != str(SCHEMA_MAJOR):
        reason = f"unsupported major version in {wire!r}; this reader reads /{SCHEMA_MAJOR}"
        raise DecodeError("schema", reason)
    return model
