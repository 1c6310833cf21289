"""How fresh a node's picture is: what the views (watch, map, `rampart up`) show as LIVE or STALE."""

from __future__ import annotations

from bus import topics
from bus.schema import Envelope, PictureSnapshot, utc_now
from nodes.freshness import PictureFreshness
from tests.bus_helpers import Collector, client


def test_a_cleared_snapshot_page_is_no_news_and_no_rejection(rampart_own_broker) -> None:
    """A starting fusion clears a probe page to find the end of the retained picture, and a picture
    that shrinks clears its extra pages: `rampart up`'s monitor rejected each as an empty message."""
    with client(rampart_own_broker.url, "watch") as watcher, client(rampart_own_broker.url, "fusion") as fusion:
        freshness = PictureFreshness(watcher, node_states=False)
        pages = Collector()  # handled after freshness's handler, in order: the clear was handled before the page
        watcher.subscribe(topics.snapshot(0), pages)
        fusion.clear_retained(topics.snapshot(2**31 - 1))
        fusion.publish(topics.snapshot(0), PictureSnapshot(source=fusion.source, time=utc_now(), picture_seq=0))

        def a_page(messages: list[Envelope]) -> bool:
            return any(isinstance(m, PictureSnapshot) for m in messages)

        assert pages.wait_for(a_page, timeout_s=5.0)
        assert sum(watcher.figures.rejected.values()) == 0
        assert freshness.now().reasons == ()
