"""`rampart map` in a real browser: Debian's headless Chromium driven by Playwright, against a real
broker, the fusion service and the smoke scenario. The page must show one symbol per confirmed
track within 2 s, lose a dropped track, and turn its banner red within 3 s of the fusion stopping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from bus.client import BrokerConfig
from bus.replica import PictureReplica
from bus.schema import Track, TrackStatus
from fusion import FusionConfig
from nodes.fusion import FusionService
from nodes.map import MapServer
from tests.bus_helpers import client

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAST_AGEING = FusionConfig(delete_after_s=3.0, platform_delete_after_s=3.0)
SHOWS_EACH_ONCE = """ids => ids.every(id =>
    document.querySelectorAll(`.track-symbol[data-track-id="${id}"][data-status="confirmed"]`).length === 1)"""
HAS_NO_SYMBOL = 'id => document.querySelectorAll(`.track-symbol[data-track-id="${id}"]`).length === 0'
BANNER_STALE = "stale => document.getElementById('banner').dataset.stale === String(stale)"


def wait_for_banner(page: Page, stale: bool, timeout_ms: float) -> None:
    """Wait until the banner says stale (or live), or fail with what it says."""
    try:
        page.wait_for_function(BANNER_STALE, arg=stale, timeout=timeout_ms)
    except PlaywrightTimeout:
        pytest.fail(f"the banner did not turn {'stale' if stale else 'live'}: {page.inner_text('#banner')!r}")


def artefacts(tmp_path: Path) -> Path:
    """Where screenshots go: $RAMPART_ARTEFACTS (CI keeps it), else the test's own folder."""
    folder = Path(os.environ.get("RAMPART_ARTEFACTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must have Chromium: .ci/run installs Debian's chromium package")
        pytest.skip("no /usr/bin/chromium: apt-get install -y chromium")
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


def test_the_page_follows_the_picture_and_says_when_it_is_stale(
    rampart_own_broker, browser: Browser, tmp_path: Path
) -> None:
    broker = BrokerConfig.from_url(rampart_own_broker.url)
    fusion = FusionService(broker, FAST_AGEING).start_in_background()
    watcher = client(rampart_own_broker.url, "test-watcher")
    dropped: list[str] = []
    picture = PictureReplica(watcher, on_dropped=dropped.append)
    sim = [sys.executable, "-m", "nodes.cli", "sim", "--scenario", "smoke", "--speed", "4", "--duration", "40"]
    with watcher, MapServer(broker, "map", "127.0.0.1", 0) as server:
        assert json.loads(urllib.request.urlopen(server.url + "config.json").read())["stale_after_s"] == 2.5
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url)
        scenario = subprocess.Popen([*sim, "--broker", rampart_own_broker.url], stderr=subprocess.PIPE)
        try:

            def confirmed(tracks: dict[str, Track]) -> list[str]:
                return sorted(t.track_id for t in tracks.values() if t.status is TrackStatus.CONFIRMED)

            assert picture.wait_for(lambda tracks: len(confirmed(tracks)) >= 3, timeout_s=30)
            page.wait_for_function(SHOWS_EACH_ONCE, arg=confirmed(picture.tracks()), timeout=2000)
            wait_for_banner(page, stale=False, timeout_ms=2000)
            shown = page.eval_on_selector_all(".track-symbol", "els => els.map(e => e.dataset.trackId)")
            assert len(shown) == len(set(shown)), "a track has more than one symbol"

            chosen = next(t for t in picture.tracks().values() if t.platform_id is None and t.status == "confirmed")
            # Symbols of nearby tracks overlap: a click on the symbol itself, whatever lies above it.
            page.dispatch_event(f'.track-symbol[data-track-id="{chosen.track_id}"]', "click")
            sources = page.inner_text("#track-sources")
            assert all(source.source_id in sources for source in chosen.sources)
            assert chosen.track_id in page.inner_text("#track-details")
            page.screenshot(path=str(artefacts(tmp_path) / "map.png"))
            assert scenario.wait(timeout=60) == 0, scenario.stderr.read() if scenario.stderr else ""
        finally:
            scenario.kill()
            scenario.wait()

        assert picture.wait_for(lambda tracks: bool(dropped), timeout_s=15)  # the fusion ages them out
        page.wait_for_function(HAS_NO_SYMBOL, arg=dropped[0], timeout=2000)

        wait_for_banner(page, stale=False, timeout_ms=2000)
        fusion.stop()
        wait_for_banner(page, stale=True, timeout_ms=3000)
        assert "STALE" in page.inner_text("#banner")
        assert not errors
        page.screenshot(path=str(artefacts(tmp_path) / "map-stale.png"))


def test_the_server_refuses_paths_outside_its_page(rampart_own_broker) -> None:
    with MapServer(BrokerConfig.from_url(rampart_own_broker.url), "map", "127.0.0.1", 0) as server:
        assert b"<title>Rampart" in urllib.request.urlopen(server.url).read()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.url + "..%2f..%2fmap.py")
        assert refused.value.code == 404
