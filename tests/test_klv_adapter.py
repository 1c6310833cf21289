"""The video (KLV) adapter: real MISB ST 0601 bytes become VideoMetadata, and onto the bus."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.errors import NativeFormatError
from adapters.klv import KlvError, decode_stream
from adapters.video import VideoAdapter
from bus import codec, topics
from bus.client import BrokerConfig
from bus.schema import DeadLetter, VideoMetadata
from tests.bus_helpers import Collector, client, unique

DATA = Path(__file__).parent / "data" / "klv"


def packets(name: str) -> list[bytes]:
    """The stream split into packets at each occurrence of the UAS Local Set key (the samples have none in values)."""
    data = (DATA / name).read_bytes()
    key = data[:16]
    starts = [index for index in range(len(data)) if data.startswith(key, index)]
    return [data[start:end] for start, end in zip(starts, [*starts[1:], len(data)], strict=True)]


def test_the_cheyenne_flight_becomes_a_plausible_video_metadata_track() -> None:
    adapter = VideoAdapter("cheyenne-uav.video", BrokerConfig(), platform_id="cheyenne-uav")
    frames = [item for item in decode_stream((DATA / "Cheyenne.bin").read_bytes()) if not isinstance(item, KlvError)]
    messages = [adapter.translate(packet) for packet in packets("Cheyenne.bin")]
    assert len(messages) == len(frames) == 407
    assert all(isinstance(m, VideoMetadata) and m.platform_id == "cheyenne-uav" for m in messages)
    assert all(m.sensor_position and 40.9 < m.sensor_position.lat < 41.3 for m in messages)
    assert all(m.frame_center is not None for m in messages)
    times = [m.time for m in messages]
    assert times == sorted(times) and (times[-1] - times[0]).total_seconds() == pytest.approx(85, abs=2)
    # The metadata survives the wire in both encodings.
    assert codec.decode(codec.encode(messages[0], codec.JSON)) == messages[0]


def test_out_of_range_markers_become_missing_fields() -> None:
    adapter = VideoAdapter("tekever.video", BrokerConfig())
    [first, *_] = [adapter.translate(packet) for packet in packets("realflight.bin")]
    assert first.frame_center is None  # tags 23/24 carry the 0x80000000 "out of range" marker
    assert first.sensor_relative_elevation_deg is None
    assert first.sensor_position is None  # tag 15 (altitude) is absent: no half-known point
    assert first.platform_heading_deg == pytest.approx(104.399, abs=1e-3)
    assert first.platform_designation == "AR5"


def test_a_bad_checksum_is_rejected_with_its_reason() -> None:
    adapter = VideoAdapter("test.video", BrokerConfig())
    with pytest.raises(NativeFormatError, match="ST 0601 checksum mismatch: expected 0xAA43, computed 0x3E1E"):
        adapter.translate((DATA / "DynamicConstantMISMMSPacketData.bin").read_bytes())


def test_klv_stream_onto_the_bus_with_the_bad_packet_dead_lettered(rampart_broker) -> None:
    source_id = unique("klv")
    received, dead = Collector(), Collector()
    with client(rampart_broker.url, "sub") as subscriber:
        subscriber.subscribe(topics.observation("video", source_id), received)
        subscriber.subscribe(topics.dead_letter(source_id), dead)
        with VideoAdapter(source_id, BrokerConfig.from_url(rampart_broker.url)) as adapter:
            for packet in packets("realflight.bin"):
                adapter.submit(packet)
            adapter.submit((DATA / "DynamicConstantMISMMSPacketData.bin").read_bytes())
            assert adapter.flush()
        assert received.wait_for(lambda messages: len(messages) == 19)
        assert dead.wait_for(lambda messages: len(messages) == 1)
    letter = dead.messages[0]
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "ST 0601 checksum mismatch: expected 0xAA43, computed 0x3E1E"
