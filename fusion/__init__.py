"""The pure fusion core: observations in, a track picture out (no I/O, no clock reads).

    core = FusionCore(FusionConfig(origin=...))
    verdict = core.ingest(observation, now=received_at)   # held in the reorder window, or rejected
    change = core.advance(now)                            # apply what the window released, manage tracks
    publish(core.tracks(change.created + change.updated)); retract(change.dropped)

Modules: `frame` (geodesy), `kalman` (filter maths), `association` (gating + GNN), `identity`
(class, disposition, CoT), `scan` (messages -> arrays), `store` (the track table), `intake`
(verdicts and the reorder window), `core` (the orchestration).
"""

from fusion.config import FusionConfig
from fusion.core import FusionCore, FusionFigures, PictureChange, platform_track_id
from fusion.intake import Verdict, VerdictKind

__all__ = [
    "FusionConfig",
    "FusionCore",
    "FusionFigures",
    "PictureChange",
    "Verdict",
    "VerdictKind",
    "platform_track_id",
]
