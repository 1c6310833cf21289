"""The same recording through the live stack and offline, with the same (default) settings, gives
the same picture, within tolerance."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bus import codec, topics
from bus.client import BrokerConfig
from bus.recording import RecordedMessage, open_recording
from bus.schema import utc_now
from fusion.eval import EvalConfig
from nodes.evaluate import evaluate_file
from nodes.fusion import FusionService
from nodes.recorder import Recorder
from nodes.replayer import DEFAULT_FILTERS, matching, replay
from tests.bus_helpers import client
from tests.recordings import DATA


def _snapshot_sent_after(message: RecordedMessage, moment: datetime) -> bool:
    if message.topic != topics.snapshot():
        return False
    snapshot = codec.decode(message.payload, message.content_type)
    return snapshot.sent_at is not None and snapshot.sent_at >= moment


def test_live_replay_matches_offline_replay(rampart_own_broker, tmp_path: Path) -> None:
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    live_run = tmp_path / "live.rec"
    messages = matching(open_recording(DATA / "smoke.rec"), DEFAULT_FILTERS)
    with (
        FusionService(broker, snapshot_rate_hz=4.0).start_in_background(),
        Recorder(live_run, [topics.PICTURE, topics.ALL_TRUTH], broker) as recorder,
        client(rampart_own_broker.url, "replay") as replayer,
    ):
        replay(replayer, messages, speed=3.0, live_times=True)
        assert replayer.wait_acknowledged(10)
        # The picture as it stands a second after the last observation went out, in the recording.
        settled = utc_now() + timedelta(seconds=1)
        assert recorder.wait_for(lambda message: _snapshot_sent_after(message, settled), timeout_s=10)

    offline_result = evaluate_file(DATA / "smoke.rec", EvalConfig())
    live_result = evaluate_file(live_run, EvalConfig())
    assert live_result.fusion_settings == offline_result.fusion_settings  # both from FusionConfig's defaults
    offline, live, latency = offline_result.report, live_result.report, live_result.latency
    assert len(live.times) >= 28  # one frame per truth message, less the first ones before a snapshot
    assert live.mean_gospa == pytest.approx(offline.mean_gospa, abs=10.0)
    assert float(live.n_tracks.mean()) == pytest.approx(float(offline.n_tracks.mean()), abs=1.0)
    assert latency is not None and latency.count > 0
