"""The same recording through the live stack and offline, with the same (default) settings, gives
the same picture, within tolerance."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bus import topics
from bus.client import BrokerConfig
from bus.recording import open_recording
from fusion.eval import EvalConfig
from nodes.evaluate import evaluate_file
from nodes.fusion import FusionService
from nodes.recorder import Recorder
from nodes.replayer import DEFAULT_FILTERS, matching, replay
from tests.bus_helpers import client
from tests.recordings import DATA


def test_live_replay_matches_offline_replay(rampart_own_broker, tmp_path: Path) -> None:
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    live_run = tmp_path / "live.rec"
    messages = matching(open_recording(DATA / "smoke.rec"), DEFAULT_FILTERS)
    with (
        FusionService(broker, snapshot_rate_hz=4.0).start_in_background(),
        Recorder(live_run, [topics.PICTURE, topics.ALL_TRUTH], broker),
        client(rampart_own_broker.url, "replay") as replayer,
    ):
        time.sleep(0.3)
        replay(replayer, messages, speed=3.0, live_times=True)
        assert replayer.wait_acknowledged(10)
        time.sleep(1.0)

    offline_result = evaluate_file(DATA / "smoke.rec", EvalConfig())
    live_result = evaluate_file(live_run, EvalConfig())
    assert live_result.fusion_settings == offline_result.fusion_settings  # both from FusionConfig's defaults
    offline, live, latency = offline_result.report, live_result.report, live_result.latency
    assert len(live.times) >= 28  # one frame per truth message, less the first ones before a snapshot
    assert live.mean_gospa == pytest.approx(offline.mean_gospa, abs=10.0)
    assert float(live.n_tracks.mean()) == pytest.approx(float(offline.n_tracks.mean()), abs=1.0)
    assert latency is not None and latency.count > 0
