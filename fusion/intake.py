"""The door of the fusion core: judges each observation on arrival.

Every rejection is decided here, once, with a reason (duplicate, future, late, absurd). Nothing is
held back: an accepted observation goes straight to the core, which applies it in its time order
(see `FusionCore`). Late means older than the horizon behind the receiver's clock, and nothing else.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TypeVar

import pymap3d

from bus.schema import MAX_TRACKS, Observation, PositionReport
from fusion.config import FusionConfig

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DEDUP_HORIZON_US = 60_000_000
"""Duplicates are remembered for this long behind the applied picture; an older copy is late anyway."""
_MICROSECOND = timedelta(microseconds=1)
_PLATFORM_CAPACITY = MAX_TRACKS
"""Platforms whose last fix (and pending challenge) the jump check remembers, the least recently
heard forgotten first: as many as the picture holds tracks, since each platform's reports make one.
Only a flood of made-up platform ids, which the picture could not show either, goes beyond it."""


def to_us(t: datetime) -> int:
    """UTC time -> integer microseconds since 1970 (exact, so times compare and sort without rounding)."""
    return (t - _EPOCH) // _MICROSECOND


def from_us(us: int) -> datetime:
    """Integer microseconds since 1970 -> UTC time."""
    return _EPOCH + timedelta(microseconds=int(us))


class VerdictKind(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"
    FUTURE = "future"
    ABSURD = "absurd"


@dataclass(frozen=True)
class Verdict:
    """What happened to one observation at the door, and why."""

    kind: VerdictKind
    reason: str = ""

    @property
    def accepted(self) -> bool:
        return self.kind is VerdictKind.ACCEPTED


@dataclass(frozen=True)
class _Fix:
    """A platform's last accepted position, to judge the next one's jump."""

    time_us: int
    ecef: tuple[float, float, float]
    sigma_m: float


@dataclass(frozen=True)
class _Challenge:
    """Fixes of a platform that the jump check refused but that agree with each other."""

    first_us: int
    last: _Fix
    count: int


class Intake:
    """Duplicate memory, time checks and the absurd-jump check."""

    def __init__(self, config: FusionConfig) -> None:
        self._config = config
        self._seen: OrderedDict[tuple[str, str], int] = OrderedDict()
        """(source id, msg id) -> observation time, in arrival order; bounded by `dedup_capacity` and
        by time: what falls `_DEDUP_HORIZON_US` behind the late floor is forgotten."""
        self._fixes: OrderedDict[str, _Fix] = OrderedDict()
        self._challenges: OrderedDict[str, _Challenge] = OrderedDict()
        self._takeovers: set[tuple[str, str]] = set()
        self.floor_us: int | None = None
        """The receiver's clock minus the horizon, never moving back: an observation stamped earlier is
        late (the core keeps no checkpoint to apply it from)."""
        self.counts: dict[VerdictKind, int] = dict.fromkeys(VerdictKind, 0)

    def admit(self, obs: Observation, now_us: int | None) -> Verdict:
        """Judge one observation against the receiver's clock `now_us` (None: no time check yet)."""
        if now_us is not None:
            floor = now_us - round(self._config.horizon_s * 1e6)
            self.floor_us = floor if self.floor_us is None else max(self.floor_us, floor)
            forget = self.floor_us - _DEDUP_HORIZON_US
            while self._seen and next(iter(self._seen.values())) < forget:
                self._seen.popitem(last=False)
        verdict = self._judge(obs, now_us)
        self.counts[verdict.kind] += 1
        if verdict.accepted:
            self._seen[(obs.source.id, obs.msg_id)] = to_us(obs.time)
            if len(self._seen) > self._config.dedup_capacity:
                self._seen.popitem(last=False)
        return verdict

    def took_over(self, report: PositionReport) -> bool:
        """Whether `report`, just admitted, took its platform over (the track must restart from it,
        not be filtered towards it); answered once, and the core keeps the answer with the report."""
        key = (report.source.id, report.msg_id)
        if key in self._takeovers:
            self._takeovers.remove(key)
            return True
        return False

    @property
    def remembered(self) -> int:
        """(source, msg id) pairs held for duplicate detection."""
        return len(self._seen)

    @property
    def platforms(self) -> int:
        """Platforms held for the jump check (with a last fix or a pending challenge)."""
        return len(self._fixes.keys() | self._challenges.keys())

    def _judge(self, obs: Observation, now_us: int | None) -> Verdict:
        if (obs.source.id, obs.msg_id) in self._seen:
            return Verdict(VerdictKind.DUPLICATE, f"msg_id {obs.msg_id} from {obs.source.id} seen already")
        t_us = to_us(obs.time)
        limit = self._config.max_future_s * 1e6
        if now_us is not None and t_us - now_us > limit:
            return Verdict(VerdictKind.FUTURE, f"stamped {(t_us - now_us) / 1e6:.3f} s after now")
        if self.floor_us is not None and t_us < self.floor_us:
            return Verdict(VerdictKind.LATE, f"stamped {(self.floor_us - t_us) / 1e6:.3f} s before the horizon")
        if isinstance(obs, PositionReport):
            return self._judge_jump(obs, t_us)
        return Verdict(VerdictKind.ACCEPTED)

    def _judge_jump(self, report: PositionReport, t_us: int) -> Verdict:
        """Accept a fix consistent with the platform's last one; refuse an absurd jump, unless the
        refused fixes agree among themselves for `takeover_fixes` in a row (see FusionConfig)."""
        cfg = self._config
        p = report.position
        ecef = tuple(float(v) for v in pymap3d.geodetic2ecef(p.lat, p.lon, p.hae_m))
        claimed = max(report.ce_m or cfg.default_ce_m, report.le_m or cfg.default_le_m)
        fix = _Fix(t_us, (ecef[0], ecef[1], ecef[2]), min(claimed, cfg.max_claimed_sigma_m))
        platform = report.platform_id
        last = self._fixes.get(platform)
        excess = None if last is None else self._excess(last, fix)
        if excess is None:
            _put(self._fixes, platform, fix)
            self._challenges.pop(platform, None)
            return Verdict(VerdictKind.ACCEPTED)
        challenge = self._challenges.get(platform)
        if challenge is not None and self._excess(challenge.last, fix) is None:
            challenge = _Challenge(challenge.first_us, fix, challenge.count + 1)
        else:
            challenge = _Challenge(t_us, fix, 1)
        if challenge.count >= cfg.takeover_fixes:
            _put(self._fixes, platform, fix)
            self._challenges.pop(platform, None)
            self._takeovers.add((report.source.id, report.msg_id))
            return Verdict(VerdictKind.ACCEPTED, f"takes platform {platform} over: {challenge.count} consistent fixes")
        _put(self._challenges, platform, challenge)
        return Verdict(VerdictKind.ABSURD, f"platform {platform} {excess}")

    def _excess(self, last: _Fix, fix: _Fix) -> str | None:
        """Why `fix` cannot follow `last` (a move faster than any platform), or None if it can."""
        distance = math.dist(last.ecef, fix.ecef)
        allowed = self._config.max_platform_speed_mps * abs(fix.time_us - last.time_us) / 1e6
        allowed += 4.0 * (last.sigma_m + fix.sigma_m)
        return f"moved {distance:.0f} m, at most {allowed:.0f} m is possible" if distance > allowed else None


_V = TypeVar("_V")


def _put(table: OrderedDict[str, _V], platform: str, value: _V) -> None:
    """Remember `value` as the platform's newest, forgetting the least recently heard beyond the capacity."""
    table[platform] = value
    table.move_to_end(platform)
    if len(table) > _PLATFORM_CAPACITY:
        table.popitem(last=False)
