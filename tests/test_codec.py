"""The codec: every model round-trips through both encodings; bad input gets its exact reason."""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus import codec, schema, topics
from tests.strategies import MESSAGES

NOW = datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def report(**changes: object) -> dict:
    """A valid PositionReport as plain data, with `changes` applied (dotted keys reach inside)."""
    data: dict = {
        "schema": "PositionReport/1",
        "msg_id": "m1",
        "source": {"id": "gps-1", "kind": "position", "integration": "acme"},
        "seq": 7,
        "session": 1,
        "time": NOW,
        "platform_id": "ifv-1",
        "position": {"lat": 54.1, "lon": 10.2, "hae_m": 40.0},
    }
    for key, value in changes.items():
        *path, last = key.split(".")
        target = data
        for part in path:
            target = target[part]
        target[last] = value
    return data


def packed(data: object) -> bytes:
    return msgpack.packb(data, datetime=True)


def reason(payload: bytes, content_type: str | None = None) -> str:
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode(payload, content_type)
    return str(caught.value)


@pytest.mark.parametrize("model", list(MESSAGES), ids=lambda m: m.NAME)
@pytest.mark.parametrize("content_type", codec.CONTENT_TYPES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_model_round_trips(model: type[schema.Envelope], content_type: str, data: st.DataObject) -> None:
    message = data.draw(MESSAGES[model])
    payload = codec.encode(message, content_type)
    assert codec.decode(payload, content_type) == message
    assert codec.decode(payload) == message  # no content type: sniffed (MQTT 3.1.1)


def test_time_travels_as_msgpack_timestamp_and_rfc3339() -> None:
    message = schema.PositionReport.model_validate(report())
    raw = msgpack.unpackb(codec.encode(message), timestamp=0)
    assert raw["time"] == msgpack.Timestamp.from_datetime(NOW)
    assert b'"time":"2026-11-28T12:00:00.123456Z"' in codec.encode(message, codec.JSON)


def test_unknown_fields_are_ignored() -> None:
    message = codec.decode(packed(report(added_in_a_later_minor="x")))
    assert isinstance(message, schema.PositionReport)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (packed(report())[:-5], "payload: truncated msgpack"),
        (
            packed(report(seq="seven")),
            "seq: Input should be a valid integer, unable to parse string as an integer",
        ),
        (packed(report(**{"position.lat": math.nan})), "position.lat: Input should be a finite number"),
        (packed(report(**{"position.lon": math.inf})), "position.lon: Input should be a finite number"),
        (packed(report(**{"position.lat": 91.2})), "position.lat: 91.2 is not in [-90, 90]"),
        (
            packed(report(time="2026-11-28T12:00:00")),
            "time: 2026-11-28T12:00:00 has no time zone; times must be timezone-aware UTC",
        ),
        (
            packed(report(schema="Rumour/1")),
            "schema: unknown schema 'Rumour/1'; known: DeadLetter, GroundTruth, "
            "NodeState, PictureSnapshot, PositionReport, SensorReading, TrackUpdate, VideoMetadata",
        ),
        (
            packed(report(schema="PositionReport/2")),
            "schema: unsupported major version in 'PositionReport/2'; this reader reads /1",
        ),
        (
            packed({"no": "schema"}),
            "schema: missing: every message names its schema, e.g. 'PositionReport/1'",
        ),
        (packed([1, 2]), "payload: neither a JSON object nor a msgpack map (no content type given)"),
        (b"\x00garbage", "payload: neither a JSON object nor a msgpack map (no content type given)"),
        (packed(report(platform_id=None)), "platform_id: Input should be a valid string"),
    ],
)
def test_bad_input_has_an_exact_reason(payload: bytes, expected: str) -> None:
    assert reason(payload) == expected


def test_asymmetric_covariance() -> None:
    reading = {
        **report(schema="SensorReading/1", source={"id": "radar-1", "kind": "sensor"}),
        "sensor_position": {"lat": 54.0, "lon": 10.0},
        "detections": [
            {
                "geo": {
                    "position": {"lat": 54.0, "lon": 10.0},
                    "covariance_enu_m2": [[4.0, 1.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 9.0]],
                }
            }
        ],
    }
    expected = "detections.0.geo.covariance_enu_m2: not symmetric: [0][1]=1 but [1][0]=0"
    assert reason(packed(reading)) == expected


def test_covariance_not_positive_semidefinite() -> None:
    cov = [[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    with pytest.raises(ValueError, match="not positive semi-definite: smallest eigenvalue -1"):
        schema.GeoMeasurement(position=schema.GeoPoint(lat=0, lon=0), covariance_enu_m2=cov)


def test_probabilities_may_not_sum_over_one() -> None:
    with pytest.raises(ValueError, match=r"probabilities sum to 1\.3, more than 1"):
        schema.Detection(polar=None, geo=None, class_probabilities={"vehicle": 0.8, "person": 0.5})


def test_oversized_payload_is_refused_before_parsing() -> None:
    payload = b"{" + b" " * codec.MAX_PAYLOAD_BYTES
    expected = f"payload: {codec.MAX_PAYLOAD_BYTES + 1} bytes is over the limit of 1048576"
    assert reason(payload, codec.JSON) == expected


def test_bad_json_and_unknown_content_type() -> None:
    assert reason(b'{"schema": ', codec.JSON).startswith("payload: bad JSON (")
    expected = "content_type: 'text/plain' is not one of application/msgpack, application/json"
    assert reason(b"{}", "text/plain") == expected


def test_payload_on_the_wrong_topic_kind() -> None:
    payload = packed(report())
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode_on_topic(topics.observation("sensor", "gps-1"), payload)
    assert str(caught.value) == "schema: topic kind obs/sensor carries SensorReading, got PositionReport/1"
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode_on_topic(topics.track("T1"), payload)
    assert str(caught.value) == "schema: topic kind track carries TrackUpdate, got PositionReport/1"


def test_topic_source_must_match_the_message_source() -> None:
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode_on_topic(topics.observation("position", "someone-else"), packed(report()))
    assert str(caught.value) == "source.id: 'gps-1' does not match the topic's source 'someone-else'"


def test_decode_on_topic_accepts_the_right_kind() -> None:
    message = codec.decode_on_topic(topics.observation("position", "gps-1"), packed(report()), codec.MSGPACK)
    assert isinstance(message, schema.PositionReport)
    assert message.position.lat == 54.1


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_arbitrary_bytes_raise_only_decode_error(payload: bytes) -> None:
    for content_type in (None, codec.MSGPACK, codec.JSON):
        with contextlib.suppress(codec.DecodeError):
            codec.decode(payload, content_type)


DEEP = 1_500


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        # 9 kB of JSON 1,500 levels deep: json.loads raises RecursionError, which is not a ValueError
        (('{"a":' * DEEP + "1" + "}" * DEEP).encode(), "payload: JSON nested deeper than the parser's recursion limit"),
        # deep, but under Python's limit: the validator's own JSON parser refuses it
        (
            ('{"schema":"PositionReport/1","x":' + '{"a":' * 300 + "1" + "}" * 300 + "}").encode(),
            "message: Invalid JSON: recursion limit exceeded at line 1 column 1034",
        ),
        # msgpack's StackError and FormatError carry empty messages: the reason is ours
        (b"\x81\xa1x" + b"\x91" * DEEP + b"\x01", "payload: msgpack nested deeper than the unpacker's limit"),
        (b"\x81\xa1x\xc1", "payload: bad msgpack (a byte that starts no msgpack value)"),
    ],
)
def test_nesting_bombs_are_decode_errors_with_a_reason(payload: bytes, expected: str) -> None:
    with pytest.raises(codec.DecodeError) as caught:
        codec.decode_on_topic(topics.observation("position", "x"), payload)
    assert str(caught.value) == expected
