"""The fusion core: observations in, a picture of tracks out. Pure: no I/O, no clock reads.

There is no reorder window. `ingest` converts an accepted observation once and files it in a log
sorted by (time, source, msg_id); `advance(now)` applies whatever is not applied yet, in that order
— a scan is associated and filtered as a whole — and shows the picture at `now`. An observation
older than what is already applied (but inside the horizon) rewinds the state to the last
checkpoint before it and the log is reprocessed from there, so the picture is a function of the set
of observations, whatever their arrival order. Checkpoints are taken at fixed observation-time
boundaries (`checkpoint_s`) and kept for `horizon_s` behind the receiver's clock.

Track management that changes state (deletion) happens inside that ordered processing, at
observation times; what depends on `now` (coasting, staleness) is decided when the picture is shown.
Schema `Track` models are only built when `tracks()` / `track()` ask for them.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from bus.schema import (
    Environment,
    GeoPoint,
    Observation,
    PositionReport,
    SensorReading,
    SourceContribution,
    Track,
)
from fusion import identity, prior
from fusion.association import assign, candidate_pairs
from fusion.config import FusionConfig
from fusion.frame import LocalFrame
from fusion.intake import Intake, Verdict, VerdictKind, from_us, to_us
from fusion.kalman import (
    DIM,
    H_STATE,
    innovation_covariance,
    mahalanobis2,
    polar_from_local,
    position_variance_trace,
    predict,
    update,
    wrap_angle,
)
from fusion.resume import table_from_tracks
from fusion.scan import Region, Scan, from_sensor, from_video
from fusion.store import COASTING, CONFIRMED, STATUSES, TENTATIVE, TrackTable

Array = NDArray[np.float64]
Rows = NDArray[np.intp]

_PREFILTER_MARGIN = 1.25
"""Slack on the Euclidean pre-filter, which bounds a gate linearised around the prediction."""
_EARTH_RADIUS_M = 6_371_000.0
_TENTATIVE_COST = 1000.0
"""Added to a tentative track's association cost: far above any gated d², so confirmed tracks take
their detections first and tentative ones get what is left."""
_MIN_REPORT_SIGMA_M = 0.1
_HIT_SCORE = float(np.log(10.0))
"""Log-odds of existence gained by a detection from a scan that does not state its clutter (a
likelihood ratio of 10 against it), and by the first detection of every track."""
_MAX_SCORE = float(np.log(1000.0))
"""Cap of the log-odds, so that a long-lived track still goes after a few misses in a row; a track
that reaches it is confirmed, whatever its number of hits."""
_NOISE_GAIN = 0.3
"""Step of a track's log process noise per unit of excess normalised innovation."""
_MAX_PD = 0.999
"""A claimed detection probability of 1 would delete a track on its first miss."""
_ORIGIN_GRID_DEG = 0.1
"""Without a configured origin the frame is anchored at the first observation's position snapped to
this grid (on the ground), so that which observation arrives first does not move the frame."""
_BEFORE_ALL = -(2**62)
"""Boundary of the checkpoint of the empty picture."""

_LEARN_EVERY_US = 1_000_000
"""Observation time between two estimates of the velocity prior (`_learn_speed_prior`)."""
_LEARN_MIN_TRACKS = 10
"""Confirmed tracks needed to learn the prior from: 20 velocity components give its variance to ±30%."""
_NARROW_RATIO = 1.5
"""A track's prior is narrowed once it is this much wider than the learned one, so that the
estimate's second-to-second wobble does not pull every young track again and again."""

_RECENT_CHECKPOINTS = 10
"""Checkpoints kept at every `checkpoint_s` boundary behind the newest; older ones at one in ten."""

Key = tuple[int, str, str]
"""Order of the log: observation time (µs), source id, msg_id."""


@dataclass(frozen=True)
class PictureChange:
    """What one `advance` did to the picture: track ids created, updated (state or status) and dropped."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    applied: int = 0
    """Observations applied for the first time in this advance (reprocessed ones are not counted)."""


@dataclass(frozen=True)
class FusionFigures:
    """Counters since the core was made, and the current track census."""

    accepted: int
    duplicates: int
    late: int
    future: int
    absurd: int
    rewinds: int
    """Times a late arrival rewound the picture to a checkpoint."""
    reprocessed: int
    """Observations applied again after a rewind."""
    scans: int
    position_reports: int
    detections: int
    detections_unlocated: int
    tracks_created: int
    """Tracks that appeared in the picture shown by `advance`."""
    tracks_dropped: int
    """Tracks that left it."""
    tracks_live: int
    tracks_tentative: int
    tracks_confirmed: int
    tracks_coasting: int


@dataclass(frozen=True)
class _Entry:
    """One accepted observation, converted once: a scan, or a position report with its takeover flag."""

    scan: Scan | None
    report: PositionReport | None
    takeover: bool = False


@dataclass
class _State:
    """Everything that applying observations changes: what a checkpoint holds."""

    table: TrackTable
    next_id: int
    counts: dict[str, int]
    speed_var: float
    """Velocity variance per axis that a new track starts with: learned from the confirmed tracks."""
    learn_due_us: int = _BEFORE_ALL
    """Observation time from which the next scan learns `speed_var` again."""

    def copy(self) -> _State:
        return _State(self.table.copy(), self.next_id, dict(self.counts), self.speed_var, self.learn_due_us)


def platform_track_id(platform_id: str) -> str:
    """The track id a platform's own reports own; hashed when the platform id is too long to prefix."""
    tid = f"P-{platform_id}"
    return tid if len(tid) <= 64 else "P-" + hashlib.sha256(platform_id.encode()).hexdigest()[:62]


def _origin_of(obs: Observation) -> GeoPoint | None:
    if isinstance(obs, PositionReport):
        return obs.position
    if isinstance(obs, SensorReading):
        return obs.sensor_position
    geos = [d.geo.position for d in obs.detections if d.geo is not None]
    return obs.sensor_position or obs.frame_center or (geos[0] if geos else None)


def _snapped(p: GeoPoint) -> GeoPoint:
    grid = _ORIGIN_GRID_DEG
    return GeoPoint(lat=round(p.lat / grid) * grid, lon=round(p.lon / grid) * grid, hae_m=0.0)


class FusionCore:
    """Multi-sensor, multi-target tracker over a local ENU frame; see the module docstring."""

    def __init__(self, config: FusionConfig | None = None) -> None:
        self.config = config or FusionConfig()
        self._intake = Intake(self.config)
        self._frame = LocalFrame(self.config.origin) if self.config.origin is not None else None
        self._state = _State(
            TrackTable(),
            1,
            dict.fromkeys(("scans", "position_reports", "detections", "detections_unlocated"), 0),
            self.config.initial_speed_sigma_mps**2,
        )
        self._table = self._state.table
        self._gate = self.config.gate_threshold
        self._merge_gate = self.config.merge_threshold
        self._checkpoint_us = round(self.config.checkpoint_s * 1e6)
        self._max_noise = 2.0 * float(np.log(max(self.config.max_accel_sigma_mps2 / self.config.accel_sigma_mps2, 1.0)))
        p = self.config.delete_existence
        self._delete_score = float(np.log(p / (1.0 - p)))
        self._keys: list[Key] = []
        self._log: list[_Entry] = []
        self._applied = 0
        self._dirty_us: int | None = None
        self._checkpoints: list[tuple[int, _State]] = [(_BEFORE_ALL, self._state.copy())]
        self._new = 0
        self._rewinds = 0
        self._appeared = 0
        self._left = 0
        self._reprocessed = 0
        self._now_us: int | None = None
        self._updated: set[str] = set()
        self._rewound: tuple[TrackTable, dict[str, int]] | None = None
        """The table a rewind replaced, and the rows of the tracks changed since its checkpoint."""
        self._row_of: dict[str, int] | None = None
        """Row of each track id, rebuilt after rows move (a drop, a rewind)."""
        self._shown: dict[str, int] = {}
        self._shown_status: dict[str, int] = {}
        self._models: dict[str, Track] = {}
        """Track models `tracks` built, each kept until its track changes: a snapshot rebuilt whole
        every second cost ~4 ms at 200 tracks and ~100 ms at 5,000, though few change in between."""
        self._shown_ids: list[str] | None = None
        """The table's ids list when `_show` last built its maps: a table whose rows move (extend,
        keep, copy) gets a new list, never one changed in place, so while it is the same list and
        the same rows are shown the maps still hold, and only statuses can have changed."""
        self._shown_rows: Rows = np.zeros(0, dtype=np.intp)
        self._shown_codes: NDArray[np.int8] = np.zeros(0, dtype=np.int8)

    # --- the API -------------------------------------------------------------------------------

    def ingest(self, observation: Observation, now: datetime | None = None) -> Verdict:
        """Judge an observation and file it in the log; the next `advance` applies it in time order.

        `now` (the receiver's clock) bounds how far in the future an observation may be stamped and
        how far in the past (the horizon); without it the last `advance` time is used, and before any
        advance neither bound applies.
        """
        now_us = to_us(now) if now is not None else self._now_us
        verdict = self._intake.admit(observation, now_us)
        if not verdict.accepted:
            return verdict
        if self._frame is None:
            origin = _origin_of(observation)
            if origin is None:
                return verdict
            self._frame = LocalFrame(_snapped(origin))
        key = (to_us(observation.time), observation.source.id, observation.msg_id)
        entry = self._entry(observation)
        pos = bisect.bisect_right(self._keys, key)
        self._keys.insert(pos, key)
        self._log.insert(pos, entry)
        if pos < self._applied:
            self._applied += 1
            self._dirty_us = key[0] if self._dirty_us is None else min(self._dirty_us, key[0])
        self._new += 1
        return verdict

    def adopt(self, tracks: list[Track], next_number: int) -> None:
        """Carry on an earlier fusion's tracks under their ids (a restart resuming the retained
        picture, see `fusion.resume`); new tracks are numbered from `next_number` on, or later.
        Called before any observation: the adopted rows become the state every rewind starts from."""
        if tracks and self._frame is None:
            self._frame = LocalFrame(_snapped(tracks[0].position))
        if self._frame is not None:
            adopted = table_from_tracks(tracks, self._frame, self.config.confirm_m)
            adopted.score[:] = _MAX_SCORE  # they were shown: as sure as a track gets
            adopted.changed_us[:] = adopted.time_us
            self._table.extend(adopted)
            self._row_of = None
            t = self._table  # shown as they were until the first advance judges them
            self._shown = {t.ids[row]: row for row in range(len(t))}
            self._shown_status = {t.ids[row]: int(t.status[row]) for row in range(len(t))}
            self._models.clear()
        self._state.next_id = max(self._state.next_id, next_number)
        self._checkpoints = [(_BEFORE_ALL, self._state.copy())]

    def advance(self, now: datetime) -> PictureChange:
        """Apply every observation not applied yet (rewinding first if one arrived late), show the picture at `now`."""
        now_us = to_us(now)
        self._now_us = now_us
        if self._dirty_us is not None:
            self._rewind(self._dirty_us)
            self._dirty_us = None
        self._catch_up()
        self._settle_rewind()
        self._forget()
        applied, self._new = self._new, 0
        created, dropped, changed = self._show(now_us)
        if not (created or dropped or changed or self._updated):
            return PictureChange(applied=applied)
        touched = (self._updated | changed) & self._shown.keys()
        self._updated = set()
        for track_id in touched | created | dropped:
            self._models.pop(track_id, None)
        self._appeared += len(created)
        self._left += len(dropped)
        return PictureChange(
            created=tuple(sorted(created)),
            updated=tuple(sorted(touched - created)),
            dropped=tuple(sorted(dropped)),
            applied=applied,
        )

    def tracks(self, ids: Iterable[str] | None = None) -> list[Track]:
        """The picture shown by the last `advance` (or the named tracks in it), sorted by track id.

        Each track's state is as of its last update (`updated`). Building models costs far more than
        fusing, so a shell publishing changes passes `change.created + change.updated`; each model
        is built once per change and kept, so a whole picture costs only what changed since.
        """
        rows, models = self._shown, self._models
        wanted = sorted(rows) if ids is None else sorted({i for i in ids if i in rows})
        missing = [i for i in wanted if i not in models]
        models.update(zip(missing, self._build(missing), strict=True))
        return [models[i] for i in wanted]

    def track(self, track_id: str) -> Track | None:
        """One track of the picture, or None if there is no such track."""
        found = self.tracks([track_id])
        return found[0] if found else None

    @property
    def figures(self) -> FusionFigures:
        c, v = self._state.counts, self._intake.counts
        shown = list(self._shown_status.values())
        return FusionFigures(
            accepted=v[VerdictKind.ACCEPTED],
            duplicates=v[VerdictKind.DUPLICATE],
            late=v[VerdictKind.LATE],
            future=v[VerdictKind.FUTURE],
            absurd=v[VerdictKind.ABSURD],
            rewinds=self._rewinds,
            reprocessed=self._reprocessed,
            scans=c["scans"],
            position_reports=c["position_reports"],
            detections=c["detections"],
            detections_unlocated=c["detections_unlocated"],
            tracks_created=self._appeared,
            tracks_dropped=self._left,
            tracks_live=len(shown),
            tracks_tentative=shown.count(TENTATIVE),
            tracks_confirmed=shown.count(CONFIRMED),
            tracks_coasting=shown.count(COASTING),
        )

    # --- time: the log, checkpoints and rewinds ---------------------------------------------------

    def _entry(self, obs: Observation) -> _Entry:
        assert self._frame is not None
        floor, ground = self.config.class_likelihood_floor, self.config.ground_hae_m
        if isinstance(obs, PositionReport):
            return _Entry(None, obs, self._intake.took_over(obs))
        if isinstance(obs, SensorReading):
            return _Entry(from_sensor(obs, self._frame, floor, ground), None)
        return _Entry(from_video(obs, self._frame, floor, ground), None)

    def _catch_up(self) -> None:
        """Apply the log from the first unapplied entry, checkpointing at each boundary crossed."""
        step = self._checkpoint_us
        last = self._checkpoints[-1][0]
        i = self._applied
        while i < len(self._log):
            boundary = self._keys[i][0] // step * step
            if boundary > last:
                self._checkpoints.append((boundary, self._state.copy()))
                self._thin_checkpoints()
                last = boundary
            scan = self._log[i].scan
            if scan is not None:
                self._apply_scan(scan)
                end = i + 1
            else:
                end = self._report_run(i, boundary + step)
                self._apply_reports([self._log[k] for k in range(i, end)])
            self._expire(self._keys[end - 1][0])
            i = end
        self._applied = len(self._log)

    def _thin_checkpoints(self) -> None:
        """Keep the last `_RECENT_CHECKPOINTS` checkpoints, and older ones only on every tenth
        boundary (the first, the empty picture's, always): a late arrival rewinds a short way when it
        is late by a little, as most are, and the table is held a few dozen times, not a hundred."""
        cps = self._checkpoints
        if len(cps) <= _RECENT_CHECKPOINTS + 1:
            return
        boundary, _ = cps[-_RECENT_CHECKPOINTS - 1]
        if boundary % (_RECENT_CHECKPOINTS * self._checkpoint_us) and boundary != cps[0][0]:
            del cps[-_RECENT_CHECKPOINTS - 1]

    def _report_run(self, start: int, until_us: int) -> int:
        """End of the run of position reports from `start` that `_apply_reports` may take at once with
        the same result as one by one: consecutive in the log, before `until_us` (the next checkpoint
        boundary), each platform once, and no track expiring before the run's last one (expiry is
        judged after each observation, so one falling due mid-run would end differently)."""
        platforms: set[str] = set()
        end = start
        while end < len(self._log) and self._keys[end][0] < until_us:
            report = self._log[end].report
            if report is None or report.platform_id in platforms:
                break
            platforms.add(report.platform_id)
            end += 1
        if end - start > 1 and len(self._table):
            age = np.maximum(self._keys[end - 1][0] - self._table.time_us, 0) / 1e6
            if self._expired(age).any():
                return start + 1
        return end

    def _rewind(self, time_us: int) -> None:
        """Back to the last checkpoint at or before `time_us`; the log after it is to be applied again."""
        k = bisect.bisect_right([b for b, _ in self._checkpoints], time_us) - 1
        assert k >= 0, "the intake refuses what no checkpoint covers"
        boundary, state = self._checkpoints[k]
        t = self._table
        # Tracks changed since the checkpoint may end differently, or not be touched again: compared
        # once the log is applied again (`_settle_rewind`), and republished if they differ.
        since = np.flatnonzero(t.changed_us >= boundary).tolist()
        self._rewound = (t, {t.ids[i]: i for i in since})
        del self._checkpoints[k + 1 :]
        self._state = state.copy()
        self._table = self._state.table
        self._row_of = None
        start = bisect.bisect_left(self._keys, (boundary, "", ""))
        self._reprocessed += self._applied - start - 1
        self._applied = start
        self._rewinds += 1

    def _settle_rewind(self) -> None:
        """After a rewind and the log applied again: a track is an update only if it now differs from
        where it stood before the rewind. Two sources' streams interleave out of time order all the
        time; each late arrival rewinds up to a checkpoint, and republishing every track touched
        since it made 12 updates per observation at 2k reports/s (a late report changes one track)."""
        if self._rewound is None:
            return
        before, rows = self._rewound
        self._rewound = None
        now = [self._row(track_id) for track_id in rows]
        kept = [k for k, row in enumerate(now) if row is not None]
        same = self._table.rows_equal(
            np.array([now[k] for k in kept], dtype=np.intp), before, np.array(list(rows.values()), dtype=np.intp)[kept]
        )
        ids = list(rows)
        self._updated.difference_update(ids[k] for k, equal in zip(kept, same.tolist(), strict=True) if equal)
        self._updated.update(ids[k] for k, equal in zip(kept, same.tolist(), strict=True) if not equal)

    def _forget(self) -> None:
        """Drop checkpoints and log entries no late observation can reach any more (behind the floor)."""
        floor = self._intake.floor_us
        if floor is None:
            return
        cps = self._checkpoints
        k = bisect.bisect_right([b for b, _ in cps], floor) - 1
        if k > 0:
            del cps[:k]
            cut = bisect.bisect_left(self._keys, (cps[0][0], "", ""))
            del self._keys[:cut], self._log[:cut]
            self._applied -= cut

    def _show(self, now_us: int) -> tuple[set[str], set[str], set[str]]:
        """The picture at `now_us`: tracks not stale, coasting once not updated for `coast_after_s`.
        Returns the ids that appeared, those that left, and those still shown whose status changed.
        While the rows shown are the same (see `_shown_ids`) only the changed statuses are looked
        up: most steps move no row, and rebuilding the maps of every track each step was 40% of
        the core's time on the 500-target scenario (and at 2k reports/s, an O(tracks) cost per step)."""
        t, cfg = self._table, self.config
        age = np.maximum(now_us - t.time_us, 0) / 1e6
        rows = np.flatnonzero(~self._expired(age))
        status = np.where((t.status == CONFIRMED) & (age > cfg.coast_after_s), COASTING, t.status)[rows]
        if self._shown_ids is t.ids and np.array_equal(rows, self._shown_rows):
            moved = np.flatnonzero(status != self._shown_codes)
            ids = [t.ids[row] for row in rows[moved].tolist()]
            self._shown_status.update(zip(ids, status[moved].tolist(), strict=True))
            self._shown_codes = status
            return set(), set(), set(ids)
        before, before_status = self._shown, self._shown_status
        self._shown_ids, self._shown_rows, self._shown_codes = t.ids, rows, status
        ids = [t.ids[i] for i in rows.tolist()]
        self._shown = dict(zip(ids, rows.tolist(), strict=True))
        self._shown_status = dict(zip(ids, status.tolist(), strict=True))
        changed = {tid for tid, code in self._shown_status.items() if before_status.get(tid, code) != code}
        return self._shown.keys() - before.keys(), before.keys() - self._shown.keys(), changed

    # --- applying observations -------------------------------------------------------------------

    def _apply_scan(self, scan: Scan) -> None:
        """Associate one scan's detections to tracks (gate + GNN), update, and start tracks from the rest."""
        if scan.time_us >= self._state.learn_due_us:
            self._learn_speed_prior(scan.time_us)
        counts = self._state.counts
        counts["scans"] += 1
        counts["detections"] += scan.size
        counts["detections_unlocated"] += scan.unlocated
        t, cfg = self._table, self.config
        dt = np.maximum(scan.time_us - t.time_us, 0) / 1e6
        q = self._noise_density(np.arange(len(t)))
        reach = _PREFILTER_MARGIN * np.sqrt(self._gate * position_variance_trace(t.p, dt, q))
        det_reach = _PREFILTER_MARGIN * np.sqrt(self._gate * np.trace(scan.cov, axis1=1, axis2=2))
        pos_pred = t.x[:, :3] + dt[:, None] * t.x[:, 3:]
        pair_t, pair_d = candidate_pairs(pos_pred, reach, scan.pos, det_reach)

        rows, inv = np.unique(pair_t, return_inverse=True)
        xp, pp = predict(t.x[rows], t.p[rows], dt[rows], q[rows])
        y, h, r = _innovations(scan, xp[inv], pair_d)
        d2 = mahalanobis2(y, innovation_covariance(pp[inv], h, r))
        gated = d2 <= self._gate
        pair_t, pair_d, inv = pair_t[gated], pair_d[gated], inv[gated]
        y, h, r, d2 = y[gated], h[gated], r[gated], d2[gated]

        # Established tracks choose first: a new track's wide covariance makes its d² small, and
        # without this it steals detections from the confirmed track on the same target, confirms
        # as a duplicate and the two trade ids (bench/fusion_vs_stonesoup.py showed 417 id switches
        # on baltic-patrol before, 5 after).
        cost = d2 + _TENTATIVE_COST * (t.status[pair_t] == TENTATIVE)
        got_t, got_d = assign(len(t), scan.size, pair_t, pair_d, cost)
        pair = np.searchsorted(pair_d * len(t) + pair_t, got_d * len(t) + got_t)
        t.x[got_t], t.p[got_t] = update(xp[inv[pair]], pp[inv[pair]], y[pair], h[pair], r[pair])
        # Adaptive process noise: d² averages its degrees of freedom on a track whose motion model
        # fits; larger ones (a manoeuvre) raise the noise, smaller ones let it settle back.
        dof = 3.0 - scan.no_height[got_d]
        t.noise[got_t] = np.clip(t.noise[got_t] + _NOISE_GAIN * (d2[pair] / dof - 1.0), 0.0, self._max_noise)
        t.time_us[got_t] = scan.time_us
        t.hits[got_t] += 1
        hit_scores = self._hit_scores(scan, pos_pred[got_t], pp[inv[pair]], got_d)
        t.score[got_t] = np.minimum(t.score[got_t] + hit_scores, _MAX_SCORE)
        sure = (t.hits[got_t] >= cfg.confirm_m) | (t.score[got_t] >= _MAX_SCORE)
        t.status[got_t] = np.where(sure, CONFIRMED, t.status[got_t])
        self._identify(got_t, got_d, scan)
        for row in got_t.tolist():
            t.touch(row, scan.source_id, scan.kind, scan.time_us)
            self._updated.add(t.ids[row])

        free = np.ones(scan.size, dtype=bool)
        free[got_d] = False
        free &= ~self._attach_to_friends(scan, pair_t, pair_d, d2, free)

        if scan.looked is not None:
            # Not reported where the sensor looked: a miss, and the odds of existing fall by (1 - Pd).
            missed = scan.looked.contains(pos_pred) & (t.time_us < scan.time_us) & ~t.platform
            t.misses[missed] += 1
            t.score[missed] += np.log1p(-self._detection_probability(scan.looked))
            gone = (t.status == TENTATIVE) & (t.misses > cfg.confirm_n - cfg.confirm_m)
            self._drop(gone | (t.score < self._delete_score))
        self._start(scan, np.flatnonzero(free))

    def _detection_probability(self, looked: Region) -> float:
        stated = looked.detection_probability
        return min(self.config.detection_probability if stated is None else stated, _MAX_PD)

    def _hit_scores(self, scan: Scan, predicted: Array, predicted_cov: Array, dets: Rows) -> Array:
        """Log-odds of existing that each detection adds to the track it updates: where the scan
        states its clutter, the odds ratio of integrated PDA, 1 - Pd + Pd g / κ, with g the density
        of the detection on the ground under the track's prediction and κ the clutter's; else
        `_HIT_SCORE`. Sparse clutter makes a second hit near-proof; dense clutter asks for more."""
        looked = scan.looked
        if looked is None or (density := looked.clutter_density) is None:
            return np.full(dets.size, _HIT_SCORE)
        pd = self._detection_probability(looked)
        s = predicted_cov[:, :2, :2] + scan.cov[dets, :2, :2]
        d2 = mahalanobis2(scan.pos[dets, :2] - predicted[:, :2], s)
        g = np.exp(-0.5 * d2) / (2.0 * np.pi * np.sqrt(np.linalg.det(s)))
        with np.errstate(divide="ignore"):  # a stated clutter of 0: every hit is proof
            scores: Array = np.log1p(pd * (g / density - 1.0))
        return scores

    def _learn_speed_prior(self, time_us: int) -> None:
        """Learn the velocity spread of new tracks from the confirmed ones (see `fusion.prior`), and
        narrow the prior of the tracks that still carry a much wider one."""
        state, t, cfg = self._state, self._table, self.config
        state.learn_due_us = (time_us // _LEARN_EVERY_US + 1) * _LEARN_EVERY_US
        # Two detections at different times fix a velocity; a confirmed track has at least that.
        rows = np.flatnonzero((t.status == CONFIRMED) & ~t.platform & (t.time_us > t.first_us))
        if rows.size >= _LEARN_MIN_TRACKS:
            velocity, variance = prior.data_velocities(t.x[rows], t.p[rows], t.speed_prior[rows])
            known = np.isfinite(variance).all(axis=1)
            if known.sum() >= _LEARN_MIN_TRACKS:
                spread = prior.velocity_spread(velocity[known], variance[known], state.speed_var)
                low, high = cfg.min_initial_speed_sigma_mps**2, cfg.initial_speed_sigma_mps**2
                state.speed_var = min(max(spread, low), high)
        narrow = np.flatnonzero(np.isfinite(t.speed_prior) & (t.speed_prior > _NARROW_RATIO * state.speed_var))
        if narrow.size == 0:
            return
        t.x[narrow], t.p[narrow] = prior.narrowed(t.x[narrow], t.p[narrow], t.speed_prior[narrow], state.speed_var)
        t.speed_prior[narrow] = state.speed_var
        t.changed_us[narrow] = np.maximum(t.changed_us[narrow], time_us)
        self._updated.update(t.ids[row] for row in narrow.tolist())

    def _attach_to_friends(
        self, scan: Scan, pair_t: Rows, pair_d: Rows, d2: Array, free: NDArray[np.bool_]
    ) -> NDArray[np.bool_]:
        """Detections left over inside a friendly platform's gate: credited to it, never a new track."""
        t = self._table
        friendly = t.platform[pair_t] & free[pair_d]
        attached = np.zeros(scan.size, dtype=bool)
        if not friendly.any():
            return attached
        ft, fd, fd2 = pair_t[friendly], pair_d[friendly], d2[friendly]
        order = np.lexsort((fd2, fd))
        _, first = np.unique(fd[order], return_index=True)
        best = order[first]
        for row in np.unique(ft[best]).tolist():
            t.touch(row, scan.source_id, scan.kind, scan.time_us)
            self._updated.add(t.ids[row])
        attached[fd[best]] = True
        return attached

    def _start(self, scan: Scan, dets: Rows) -> None:
        """Tentative tracks from unassigned detections: their position, zero velocity, wide velocity spread."""
        if dets.size == 0:
            return
        new = TrackTable.blank(dets.size)
        new.x[:, :3] = scan.pos[dets]
        new.p[:, :3, :3] = scan.cov[dets]
        new.p[:, 3:, 3:] = np.eye(3) * self._state.speed_var
        new.speed_prior[:] = self._state.speed_var
        new.time_us[:] = scan.time_us
        new.first_us[:] = scan.time_us
        new.hits[:] = 1
        new.score[:] = _HIT_SCORE
        new.changed_us[:] = scan.time_us
        state = self._state
        new.ids = [f"T{n:06d}" for n in range(state.next_id, state.next_id + dets.size)]
        new.sources = [{scan.source_id: (scan.kind, scan.time_us)} for _ in range(dets.size)]
        state.next_id += dets.size
        first = len(self._table)
        self._table.extend(new)
        self._row_of = None
        self._identify(np.arange(first, first + dets.size), dets, scan)
        self._updated.update(new.ids)

    def _identify(self, rows: Rows, dets: Rows, scan: Scan) -> None:
        """Fold the detections' class and disposition evidence into their tracks, then re-infer environment."""
        t, cfg = self._table, self.config
        evidence = scan.has_class[dets]
        er = rows[evidence]
        t.log_class[er] = identity.combine(t.log_class[er], scan.class_log_like[dets[evidence]])
        t.has_class[er] = True
        own = ~t.platform[rows]
        rows, dets = rows[own], dets[own]
        step = identity.disposition_step(
            t.disposition[rows],
            t.challenger[rows],
            t.challenges[rows],
            t.challenged_us[rows],
            scan.disposition[dets],
            scan.time_us,
            cfg.disposition_confirm_k,
            round(cfg.disposition_within_s * 1e6),
        )
        t.disposition[rows], t.challenger[rows], t.challenges[rows], t.challenged_us[rows] = step
        self._infer_environment(rows)

    def _infer_environment(self, rows: Rows) -> None:
        """Air, land or surface from height above the ground and the class evidence."""
        assert self._frame is not None
        cfg, t = self.config, self._table
        x = t.x[rows]
        height = x[:, 2] + (x[:, 0] ** 2 + x[:, 1] ** 2) / (2.0 * _EARTH_RADIUS_M)
        height += self._frame.origin.hae_m - cfg.ground_hae_m
        t.environment[rows] = identity.infer_environment(
            height, np.sqrt(t.p[rows, 2, 2]), t.log_class[rows], t.has_class[rows], cfg.air_height_m
        )

    def _apply_reports(self, entries: list[_Entry]) -> None:
        """Platforms' own positions (and velocities), each platform at most once: each updates the
        track its platform owns, created on first sight, restarted from the fix when another source
        took the platform over. Vectorised over the run: a platform-only picture of 200 reports a
        tick costs a few µs a report rather than the ~300 µs one at a time."""
        assert self._frame is not None
        reports = [entry.report for entry in entries if entry.report is not None]
        n = len(reports)
        self._state.counts["position_reports"] += n
        cfg, frame = self.config, self._frame
        lat = np.array([r.position.lat for r in reports])
        lon = np.array([r.position.lon for r in reports])
        time_us = np.array([to_us(r.time) for r in reports], dtype=np.int64)
        rot = frame.from_local(lat, lon)
        ce = np.array([cfg.default_ce_m if r.ce_m is None else r.ce_m for r in reports])
        le = np.array([cfg.default_le_m if r.le_m is None else r.le_m for r in reports])
        sigma = np.maximum(np.stack([ce, ce, le], axis=-1), _MIN_REPORT_SIGMA_M)
        has_velocity = np.array([r.velocity_enu_mps is not None for r in reports])
        velocity = np.array([r.velocity_enu_mps or (0.0, 0.0, 0.0) for r in reports], dtype=float)
        z = np.zeros((n, DIM))
        z[:, :3] = frame.to_enu(lat, lon, np.array([r.position.hae_m for r in reports]))
        z[:, 3:] = (rot @ velocity[:, :, None])[..., 0]
        r = np.zeros((n, DIM, DIM))
        r[:, :3, :3] = (rot * sigma[:, None, :] ** 2) @ np.swapaxes(rot, 1, 2)
        speed_sigma = np.where(has_velocity, cfg.report_velocity_sigma_mps, cfg.initial_speed_sigma_mps)
        r[:, 3:, 3:] = np.eye(3) * (speed_sigma**2)[:, None, None]

        t = self._table
        tids = [platform_track_id(report.platform_id) for report in reports]
        found = [self._row(tid) for tid in tids]
        new = np.array([row is None for row in found])
        if new.any():
            self._create_platforms(reports, tids, new, z, r, time_us)
            t = self._table
        rows = np.array([self._row(tid) for tid in tids], dtype=np.intp)
        restart = ~new & np.array([entry.takeover for entry in entries])
        t.x[rows[restart]], t.p[rows[restart]] = z[restart], r[restart]
        filtered = ~new & ~restart
        if filtered.any():
            one = rows[filtered]
            dt = np.maximum(time_us[filtered] - t.time_us[one], 0) / 1e6
            xp, pp = predict(t.x[one], t.p[one], dt, self._noise_density(one))
            # A report without velocity measures position only: its velocity rows of H are zero,
            # with a zero innovation and unit noise, which carries no information.
            h = np.repeat(H_STATE[None], one.size, axis=0)
            blind = ~has_velocity[filtered]
            h[blind, 3:] = 0.0
            r_update = r[filtered]
            r_update[blind, 3:, 3:] = np.eye(3)
            y = z[filtered] - xp
            y[blind, 3:] = 0.0
            t.x[one], t.p[one] = update(xp, pp, y, h, r_update)
        t.time_us[rows] = time_us
        t.status[rows] = CONFIRMED
        t.hits[rows[~new]] += 1
        unknown = np.array([report.environment == Environment.UNKNOWN for report in reports])
        self._infer_environment(rows[unknown])  # e.g. a bare GPS: judge by height and class
        for row, report, tid, when in zip(rows.tolist(), reports, tids, time_us.tolist(), strict=True):
            if report.environment != Environment.UNKNOWN:
                t.environment[row] = identity.ENVIRONMENTS.index(report.environment)
            t.touch(row, report.source.id, report.source.kind, when)
            self._updated.add(tid)
        if not t.platform.all():
            for tid in tids:
                row = self._row(tid)
                assert row is not None
                self._absorb(row)

    def _create_platforms(
        self,
        reports: list[PositionReport],
        tids: list[str],
        new: NDArray[np.bool_],
        z: Array,
        r: Array,
        time_us: NDArray[np.int64],
    ) -> None:
        """Tracks for platforms heard for the first time, started from their own fix, confirmed and friendly."""
        rows = TrackTable.blank(int(new.sum()))
        rows.x[:], rows.p[:] = z[new], r[new]
        rows.time_us[:] = rows.first_us[:] = time_us[new]
        rows.status[:] = CONFIRMED
        rows.hits[:] = 1
        rows.platform[:] = True
        rows.disposition[:] = identity.FRIENDLY
        rows.ids = [tid for tid, is_new in zip(tids, new, strict=True) if is_new]
        rows.platform_ids = [report.platform_id for report, is_new in zip(reports, new, strict=True) if is_new]
        self._table.extend(rows)
        self._row_of = None

    def _absorb(self, row: int) -> None:
        """Merge into a platform's track every other (non-platform) track that is the same object.

        A sensor may have started a track on a friendly platform before its first report arrived;
        the platform's own track then takes over that track's sources and the duplicate goes.
        """
        t = self._table
        others = np.flatnonzero(~t.platform)
        dt = np.maximum(t.time_us[row] - t.time_us[others], 0) / 1e6
        q = self._noise_density(others)
        # Cheap bound first (as in association), then the full 6-D test on the few left.
        reach = position_variance_trace(t.p[others], dt, q) + np.trace(t.p[row, :3, :3])
        gap = t.x[others, :3] + dt[:, None] * t.x[others, 3:] - t.x[row, :3]
        near = np.einsum("ij,ij->i", gap, gap) <= _PREFILTER_MARGIN**2 * self._merge_gate * reach
        others, dt, q = others[near], dt[near], q[near]
        if others.size == 0:
            return
        xo, po = predict(t.x[others], t.p[others], dt, q)
        d2 = mahalanobis2(xo - t.x[row], po + t.p[row])
        same = others[d2 <= self._merge_gate]
        if same.size == 0:
            return
        for other in same.tolist():
            for sid, (kind, last) in t.sources[other].items():
                known = t.sources[row].get(sid)
                if known is None or known[1] < last:
                    t.touch(row, sid, kind, last)
        t.first_us[row] = min(int(t.first_us[row]), int(t.first_us[same].min()))
        self._updated.add(t.ids[row])
        mask = np.zeros(len(t), dtype=bool)
        mask[same] = True
        self._drop(mask)

    # --- track management and output -------------------------------------------------------------

    def _expired(self, age: Array) -> NDArray[np.bool_]:
        """Tracks stale after `age` seconds without an update, tentative ones too old to confirm, and
        ones whose position is no longer known."""
        t, cfg = self._table, self.config
        stale = age > np.where(t.platform, cfg.platform_delete_after_s, cfg.delete_after_s)
        young: NDArray[np.bool_] = age + (t.time_us - t.first_us) / 1e6 <= cfg.confirm_within_s
        unconfirmed = (t.status == TENTATIVE) & ~young
        q = self._noise_density(np.arange(len(t)))
        p, a, pos, vel = t.p, age[:, None], (0, 1), (3, 4)  # east and north
        east_north = p[:, pos, pos] + 2 * a * p[:, pos, vel] + a**2 * p[:, vel, vel] + (q * age**3 / 3)[:, None]
        lost: NDArray[np.bool_] = east_north.max(axis=1) > self.config.max_position_sigma_m**2
        expired: NDArray[np.bool_] = stale | lost | unconfirmed
        return expired

    def _expire(self, time_us: int) -> None:
        """Drop, once an observation at `time_us` is applied, the tracks expired by then."""
        if len(self._table):
            self._drop(self._expired(np.maximum(time_us - self._table.time_us, 0) / 1e6))

    def _drop(self, mask: NDArray[np.bool_]) -> None:
        if mask.any():
            self._table.keep(~mask)
            self._row_of = None

    def _row(self, track_id: str) -> int | None:
        """The row of a track id, from a map rebuilt after rows move."""
        if self._row_of is None:
            self._row_of = {tid: row for row, tid in enumerate(self._table.ids)}
        return self._row_of.get(track_id)

    def _noise_density(self, rows: Rows) -> Array:
        """Process-noise density per track: the steady one, scaled by what the track's innovations said."""
        q: Array = self.config.accel_sigma_mps2**2 * np.exp(self._table.noise[rows])
        return q

    def _build(self, ids: list[str]) -> list[Track]:
        """Schema Tracks of shown tracks; velocities and covariances go back into each track's local ENU."""
        if not ids or self._frame is None:
            return []
        t, cfg = self._table, self.config
        rows = np.array([self._shown[i] for i in ids], dtype=np.intp)
        lat, lon, hae = self._frame.to_geodetic(t.x[rows, :3])
        rot = self._frame.from_local(lat, lon)
        rot_t = np.swapaxes(rot, 1, 2)
        vel = (rot_t @ t.x[rows, 3:, None])[..., 0]
        pos_cov = rot_t @ t.p[rows, :3, :3] @ rot
        vel_cov = rot_t @ t.p[rows, 3:, 3:] @ rot
        pos_cov = 0.5 * (pos_cov + np.swapaxes(pos_cov, 1, 2))
        vel_cov = 0.5 * (vel_cov + np.swapaxes(vel_cov, 1, 2))
        post = np.exp(t.log_class[rows])
        best = np.argmax(post, axis=1)
        stale_us = np.where(t.platform[rows], cfg.platform_delete_after_s, cfg.delete_after_s) * 1e6
        columns = zip(
            rows.tolist(),
            lat.tolist(),
            lon.tolist(),
            hae.tolist(),
            vel.tolist(),
            pos_cov.tolist(),
            vel_cov.tolist(),
            post.tolist(),
            best.tolist(),
            np.round(stale_us).astype(np.int64).tolist(),
            strict=True,
        )
        out = []
        for row, lat_k, lon_k, hae_k, vel_k, pos_cov_k, vel_cov_k, post_k, best_k, stale_k in columns:
            disposition = identity.DISPOSITIONS[t.disposition[row]]
            environment = identity.ENVIRONMENTS[t.environment[row]]
            has_class = bool(t.has_class[row])
            updated_us = int(t.time_us[row])
            sources = t.sources[row]
            out.append(
                Track(
                    track_id=t.ids[row],
                    status=STATUSES[self._shown_status[t.ids[row]]],
                    position=GeoPoint(lat=lat_k, lon=lon_k, hae_m=hae_k),
                    velocity_enu_mps=tuple(vel_k),
                    position_cov_enu_m2=tuple(map(tuple, pos_cov_k)),
                    velocity_cov_enu_m2s2=tuple(map(tuple, vel_cov_k)),
                    disposition=disposition,
                    environment=environment,
                    class_probabilities=dict(zip(identity.CLASSES, post_k, strict=True)) if has_class else {},
                    classification=identity.CLASSES[best_k] if has_class else None,
                    classification_confidence=post_k[best_k] if has_class else 0.0,
                    cot_type=identity.cot_type(disposition, environment),
                    platform_id=t.platform_ids[row],
                    sources=[
                        SourceContribution(source_id=sid, kind=sources[sid][0], last_time=from_us(sources[sid][1]))
                        for sid in sorted(sources)
                    ],
                    first_seen=from_us(int(t.first_us[row])),
                    updated=from_us(updated_us),
                    stale_at=from_us(updated_us + stale_k),
                )
            )
        return out


def _innovations(scan: Scan, xp: Array, dets: Rows) -> tuple[Array, Array, Array]:
    """Innovations (K, 3), measurement Jacobians (K, 3, 6) and noise (K, 3, 3) of predicted states vs detections.

    Polar rows use the EKF linearisation in the sensor's own ENU frame; geolocated rows are linear.
    Rows without a measured height (or elevation) leave that coordinate out.
    """
    k = dets.size
    y = np.empty((k, 3))
    h = np.zeros((k, 3, DIM))
    polar = scan.polar[dets]
    if polar.any():
        rel = (xp[polar, :3] - scan.sensor_pos) @ scan.sensor_rot
        z_pred, jac = polar_from_local(rel)
        dy = scan.z[dets[polar]] - z_pred
        dy[:, 1] = wrap_angle(dy[:, 1])
        y[polar] = dy
        h[polar, :, :3] = jac @ scan.sensor_rot.T
    geo = ~polar
    y[geo] = scan.z[dets[geo]] - xp[geo, :3]
    h[geo, :, :3] = np.eye(3)
    r = scan.r[dets]
    # An unmeasured third coordinate: a zero row of H with a zero innovation and unit noise carries
    # no information, and the gate and the update ignore it exactly.
    flat = scan.no_height[dets]
    if flat.any():
        y[flat, 2] = 0.0
        h[flat, 2] = 0.0
        r = r.copy()
        r[flat, 2, :] = r[flat, :, 2] = 0.0
        r[flat, 2, 2] = 1.0
    return y, h, r
