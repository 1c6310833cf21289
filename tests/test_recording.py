"""Recording files: round trip, crash tolerance (torn tail) and clear errors for bad files."""

from __future__ import annotations

import importlib.metadata
import io
import re
import struct
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bus.recording import (
    MAGIC,
    RecordedMessage,
    RecordingError,
    RecordingWarning,
    RecordingWriter,
    open_recording,
    read_all,
)

CREATED = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
RECORDED = {"source": "broker", "broker": "mqtt://localhost:1883", "topics": ["rampart/v1/#"]}

messages = st.builds(
    RecordedMessage,
    time_us=st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
    topic=st.text(min_size=1),
    payload=st.binary(),  # includes b"": an empty retained payload means "track dropped"
    content_type=st.none() | st.text(),
    qos=st.sampled_from([0, 1, 2]),
    retain=st.booleans(),
    user_properties=st.lists(st.tuples(st.text(), st.text()), max_size=3).map(tuple),
)
json_like = st.recursive(
    st.none() | st.booleans() | st.integers(-(1 << 63), (1 << 63) - 1) | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3),
    max_leaves=10,
)


def msg(i: int, payload: bytes = b"x" * 30) -> RecordedMessage:
    return RecordedMessage(1_700_000_000_000_000 + i, f"rampart/v1/obs/sensor/s{i}", payload, "application/msgpack")


def recording_bytes(msgs: list[RecordedMessage]) -> tuple[bytes, list[int]]:
    """The bytes of a recording of `msgs`, and the offset at which each record starts."""
    buf = io.BytesIO()
    offsets = []
    with RecordingWriter(buf, RECORDED, created_at=CREATED) as w:
        for m in msgs:
            offsets.append(buf.tell())
            w.write(m)
        return buf.getvalue(), offsets


def write_file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(msgs=st.lists(messages, max_size=20), recorded=st.dictionaries(st.text(), json_like, max_size=4))
def test_round_trip(tmp_path: Path, msgs: list[RecordedMessage], recorded: dict) -> None:
    path = tmp_path / "rt.rec"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an intact file must read without any warning
        with RecordingWriter(path, recorded, created_at=CREATED, overwrite=True) as w:
            for m in msgs:
                w.write(m)
        header, got = read_all(path)
    assert got == msgs
    assert header.format_version == 1
    assert header.created_at == CREATED
    assert header.rampart_version == importlib.metadata.version("rampart")
    assert header.recorded == recorded


def test_same_input_gives_same_bytes_from_path_or_file_object(tmp_path: Path) -> None:
    """No clock read inside: a simulator writing the same scenario twice gets an identical file."""
    msgs = [msg(i) for i in range(5)]
    data, _ = recording_bytes(msgs)
    path = tmp_path / "a.rec"
    with RecordingWriter(path, RECORDED, created_at=CREATED) as w:
        for m in msgs:
            w.write(m)
    assert path.read_bytes() == data
    assert data.startswith(MAGIC)


def test_created_at_is_stored_in_utc(tmp_path: Path) -> None:
    paris = CREATED.astimezone(ZoneInfo("Europe/Paris"))
    path = tmp_path / "tz.rec"
    RecordingWriter(path, {}, created_at=paris).close()
    created = open_recording(path).header.created_at
    assert created == CREATED and created.utcoffset() == timedelta(0)


def test_each_record_is_on_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "live.rec"
    with RecordingWriter(path, RECORDED, created_at=CREATED) as w:
        w.write(msg(0))
        w.write(msg(1))
        assert read_all(path)[1] == [msg(0), msg(1)]


def test_a_recording_can_be_iterated_twice(tmp_path: Path) -> None:
    msgs = [msg(i) for i in range(3)]
    rec = open_recording(write_file(tmp_path / "twice.rec", recording_bytes(msgs)[0]))
    assert list(rec) == msgs
    assert list(rec) == msgs


def test_file_cut_at_every_byte_of_the_last_record(tmp_path: Path) -> None:
    msgs = [msg(0), msg(1, b""), msg(2)]
    data, offsets = recording_bytes(msgs)
    last = offsets[-1]
    path = tmp_path / "cut.rec"
    assert read_all(write_file(path, data[:last]))[1] == msgs[:2]  # cut between records: clean
    for cut in range(last + 1, len(data)):
        write_file(path, data[:cut])
        expected = f"{path}: torn record at offset {last}, ignoring the last {cut - last} bytes"
        with pytest.warns(RecordingWarning, match=re.escape(expected)):
            assert read_all(path)[1] == msgs[:2]


def test_zero_filled_tail_is_a_torn_tail(tmp_path: Path) -> None:
    """After a power loss a file can end in zeros where its last records should be."""
    data, offsets = recording_bytes([msg(0), msg(1)])
    path = write_file(tmp_path / "zeros.rec", data[: offsets[1]] + bytes(5000))
    with pytest.warns(RecordingWarning, match=f"zero-filled record at offset {offsets[1]}, ignoring the last 5000"):
        assert read_all(path)[1] == [msg(0)]


def test_empty_frame_in_the_middle_is_an_error(tmp_path: Path) -> None:
    data, offsets = recording_bytes([msg(0), msg(1)])
    path = write_file(tmp_path / "hole.rec", data[: offsets[1]] + bytes(8) + data[offsets[1] :])
    with pytest.raises(RecordingError, match=f"corrupt record at offset {offsets[1]} \\(empty frame\\)"):
        read_all(path)


@pytest.mark.parametrize("victim", [1, 2], ids=["middle", "last"])
def test_bad_crc_is_an_error_with_the_offset(tmp_path: Path, victim: int) -> None:
    """A complete record with a bad CRC is corruption, not a crash artifact: never skipped silently."""
    data, offsets = recording_bytes([msg(0), msg(1), msg(2)])
    corrupt = bytearray(data)
    corrupt[offsets[victim] + 20] ^= 0x01
    path = write_file(tmp_path / "bad.rec", bytes(corrupt))
    rec = open_recording(path)
    got: list[RecordedMessage] = []
    with pytest.raises(RecordingError) as err:
        got.extend(rec)
    assert str(err.value) == f"{path}: corrupt record at offset {offsets[victim]} (CRC mismatch)"
    assert got == [msg(i) for i in range(victim)]  # streaming: what precedes the damage was delivered


def test_impossible_length_is_an_error(tmp_path: Path) -> None:
    data, offsets = recording_bytes([msg(0), msg(1)])
    corrupt = bytearray(data)
    corrupt[offsets[1] : offsets[1] + 4] = struct.pack(">I", 0xFFFFFFFF)
    path = write_file(tmp_path / "len.rec", bytes(corrupt))
    with pytest.raises(RecordingError, match=f"offset {offsets[1]} \\(impossible length 4294967295\\)"):
        read_all(path)


def test_not_a_recording(tmp_path: Path) -> None:
    path = write_file(tmp_path / "x.rec", b"hello world, not a recording")
    with pytest.raises(RecordingError) as err:
        open_recording(path)
    assert str(err.value) == f"{path} is not a Rampart recording (bad magic b'hello wo')"


def test_future_format_version(tmp_path: Path) -> None:
    path = write_file(tmp_path / "x.rec", MAGIC + struct.pack(">I", 9) + b"anything")
    with pytest.raises(RecordingError) as err:
        open_recording(path)
    assert str(err.value) == f"{path} has format version 9; this Rampart reads versions up to 1: upgrade rampart"


def test_format_version_zero_never_existed(tmp_path: Path) -> None:
    path = write_file(tmp_path / "x.rec", MAGIC + struct.pack(">I", 0))
    with pytest.raises(RecordingError) as err:
        open_recording(path)
    assert str(err.value) == f"{path} has format version 0, which no Rampart release wrote"


def test_truncated_header_at_every_byte(tmp_path: Path) -> None:
    data, offsets = recording_bytes([msg(0)])
    path = tmp_path / "x.rec"
    for cut in range(offsets[0]):  # every cut inside magic, version or header frame, including 0 bytes
        write_file(path, data[:cut])
        with pytest.raises(RecordingError) as err:
            open_recording(path)
        assert str(err.value) == f"{path}: truncated header (file is {cut} bytes)"


def test_corrupt_header(tmp_path: Path) -> None:
    data, _ = recording_bytes([])
    corrupt = bytearray(data)
    corrupt[-1] ^= 0x01
    path = write_file(tmp_path / "x.rec", bytes(corrupt))
    with pytest.raises(RecordingError) as err:
        open_recording(path)
    assert str(err.value) == f"{path}: corrupt header at offset 12 (CRC mismatch)"


# Each TypeError case passes a value of the wrong type on purpose (what an untyped caller could do),
# hence its `type: ignore[arg-type]`: the writer must refuse it at run time.
@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (RecordedMessage(1.5, "t", b""), TypeError),  # type: ignore[arg-type]
        (RecordedMessage(1 << 63, "t", b""), ValueError),
        (RecordedMessage(1, "", b""), ValueError),
        (RecordedMessage(1, "t", "text"), TypeError),  # type: ignore[arg-type]
        (RecordedMessage(1, "t", b"", content_type=b"x"), TypeError),  # type: ignore[arg-type]
        (RecordedMessage(1, "t", b"", qos=3), ValueError),
        (RecordedMessage(1, "t", b"", retain=1), TypeError),  # type: ignore[arg-type]
        (RecordedMessage(1, "t", b"", user_properties=(("a",),)), TypeError),  # type: ignore[arg-type]
        (RecordedMessage(1, "t", b"", user_properties=[("a", "b")]), TypeError),  # type: ignore[arg-type]
    ],
)
def test_writer_refuses_what_would_not_round_trip(bad: RecordedMessage, error: type[Exception]) -> None:
    with RecordingWriter(io.BytesIO(), {}, created_at=CREATED) as w, pytest.raises(error):
        w.write(bad)


def test_writer_refuses_naive_time_and_write_after_close() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RecordingWriter(io.BytesIO(), {}, created_at=datetime(2025, 1, 1))
    w = RecordingWriter(io.BytesIO(), {}, created_at=CREATED)
    w.close()
    with pytest.raises(ValueError, match="closed"):
        w.write(msg(0))


def test_flush_every_batches_but_close_flushes_all(tmp_path: Path) -> None:
    path = tmp_path / "batch.rec"
    with RecordingWriter(path, RECORDED, created_at=CREATED, flush_every=100) as w:
        for i in range(10):
            w.write(msg(i))
    assert read_all(path)[1] == [msg(i) for i in range(10)]


def test_an_existing_recording_is_never_silently_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "kept.rec"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        RecordingWriter(path, RECORDED, created_at=CREATED)
    assert path.read_bytes() == b"precious"
    RecordingWriter(path, RECORDED, created_at=CREATED, overwrite=True).close()
    assert read_all(path)[1] == []
