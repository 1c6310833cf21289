"""The fusion core: observations in, a picture of tracks out. Pure: no I/O, no clock reads.

Observations wait in the reorder window (see `intake`), then `advance(now)` applies them in time
order — a scan is associated and filtered as a whole — and manages tracks at `now`. Schema `Track`
models are only built when `tracks()` / `track()` ask for them.
"""

from __future__ import annotations

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
    VideoMetadata,
)
from fusion import identity
from fusion.association import assign, candidate_pairs
from fusion.config import FusionConfig
from fusion.frame import LocalFrame
from fusion.intake import Intake, Verdict, VerdictKind, from_us, to_us
from fusion.kalman import (
    DIM,
    H_POSITION,
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
from fusion.scan import Scan, from_sensor, from_video
from fusion.store import COASTING, CONFIRMED, STATUSES, TENTATIVE, TrackTable

Array = NDArray[np.float64]
Rows = NDArray[np.intp]

_PREFILTER_MARGIN = 1.25
"""Slack on the Euclidean pre-filter, which bounds a gate linearised around the prediction."""
_EARTH_RADIUS_M = 6_371_000.0
_TENTATIVE_COST = 1000.0
"""Added to a tentative track's association cost: far above any gated d², so confirmed and coasting
tracks take their detections first and tentative ones get what is left."""
_MIN_REPORT_SIGMA_M = 0.1


@dataclass(frozen=True)
class PictureChange:
    """What one `advance` did to the picture: track ids created, updated (state or status) and dropped."""

    created: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    applied: int = 0
    """Observations applied in this advance."""


@dataclass(frozen=True)
class FusionFigures:
    """Counters since the core was made, and the current track census."""

    accepted: int
    duplicates: int
    late: int
    future: int
    absurd: int
    pending: int
    scans: int
    position_reports: int
    detections: int
    detections_unlocated: int
    tracks_created: int
    tracks_dropped: int
    tracks_live: int
    tracks_tentative: int
    tracks_confirmed: int
    tracks_coasting: int


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


class FusionCore:
    """Multi-sensor, multi-target tracker over a local ENU frame; see the module docstring."""

    def __init__(self, config: FusionConfig | None = None) -> None:
        self.config = config or FusionConfig()
        self._intake = Intake(self.config)
        self._frame = LocalFrame(self.config.origin) if self.config.origin is not None else None
        self._table = TrackTable()
        self._row_of: dict[str, int] | None = None
        self._sensors: dict[str, int] = {}
        self._next_id = 1
        self._gate = self.config.gate_threshold
        self._merge_gate = self.config.merge_threshold
        self._now_us: int | None = None
        self._created: set[str] = set()
        self._updated: set[str] = set()
        self._dropped: set[str] = set()
        self._counts = dict.fromkeys(
            ("scans", "position_reports", "detections", "detections_unlocated", "created", "dropped"), 0
        )

    # --- the API -------------------------------------------------------------------------------

    def ingest(self, observation: Observation, now: datetime | None = None) -> Verdict:
        """Judge an observation and hold it in the reorder window.

        `now` (the receiver's clock) bounds how far in the future an observation may be stamped;
        without it the last `advance` time is used, and before any advance nothing is too far ahead.
        """
        now_us = to_us(now) if now is not None else self._now_us
        return self._intake.admit(observation, now_us)

    def adopt(self, tracks: list[Track], next_number: int) -> None:
        """Carry on an earlier fusion's tracks under their ids (a restart resuming the retained
        picture, see `fusion.resume`); new tracks are numbered from `next_number` on, or later."""
        if tracks and self._frame is None:
            self._frame = LocalFrame(tracks[0].position)
        if self._frame is not None:
            self._table.extend(table_from_tracks(tracks, self._frame, self.config.confirm_m))
            self._row_of = None
        self._next_id = max(self._next_id, next_number)

    def advance(self, now: datetime) -> PictureChange:
        """Apply held observations stamped at or before `now - reorder_window`, then manage tracks at `now`."""
        now_us = to_us(now)
        self._now_us = now_us
        self._created, self._updated, self._dropped = set(), set(), set()
        released = self._intake.release(now_us - round(self.config.reorder_window_s * 1e6))
        for obs in released:
            self._apply(obs)
        self._manage(now_us)
        return PictureChange(
            created=tuple(sorted(self._created - self._dropped)),
            updated=tuple(sorted(self._updated - self._created - self._dropped)),
            dropped=tuple(sorted(self._dropped - self._created)),
            applied=len(released),
        )

    def tracks(self, ids: Iterable[str] | None = None) -> list[Track]:
        """The current picture (or the named tracks that exist), sorted by track id.

        Each track's state is as of its last update (`updated`). Building models costs far more than
        fusing, so a shell publishing changes passes `change.created + change.updated`.
        """
        rows = self._rows()
        wanted = sorted(rows) if ids is None else sorted({i for i in ids if i in rows})
        return self._build(np.array([rows[i] for i in wanted], dtype=np.intp))

    def track(self, track_id: str) -> Track | None:
        """One track of the picture, or None if there is no such track."""
        found = self.tracks([track_id])
        return found[0] if found else None

    @property
    def figures(self) -> FusionFigures:
        status = self._table.status
        c, v = self._counts, self._intake.counts
        return FusionFigures(
            accepted=v[VerdictKind.ACCEPTED],
            duplicates=v[VerdictKind.DUPLICATE],
            late=v[VerdictKind.LATE],
            future=v[VerdictKind.FUTURE],
            absurd=v[VerdictKind.ABSURD],
            pending=self._intake.pending,
            scans=c["scans"],
            position_reports=c["position_reports"],
            detections=c["detections"],
            detections_unlocated=c["detections_unlocated"],
            tracks_created=c["created"],
            tracks_dropped=c["dropped"],
            tracks_live=len(self._table),
            tracks_tentative=int(np.count_nonzero(status == TENTATIVE)),
            tracks_confirmed=int(np.count_nonzero(status == CONFIRMED)),
            tracks_coasting=int(np.count_nonzero(status == COASTING)),
        )

    # --- applying observations -------------------------------------------------------------------

    def _apply(self, obs: Observation) -> None:
        if self._frame is None:
            origin = _origin_of(obs)
            if origin is None:
                return
            self._frame = LocalFrame(origin)
        floor = self.config.class_likelihood_floor
        if isinstance(obs, PositionReport):
            self._apply_report(obs)
        elif isinstance(obs, SensorReading):
            self._apply_scan(from_sensor(obs, self._frame, floor))
        elif isinstance(obs, VideoMetadata):
            scan, unlocated = from_video(obs, self._frame, floor)
            self._counts["detections_unlocated"] += unlocated
            self._apply_scan(scan)

    def _apply_scan(self, scan: Scan) -> None:
        """Associate one scan's detections to tracks (gate + GNN), update, and start tracks from the rest."""
        self._counts["scans"] += 1
        self._counts["detections"] += scan.size
        t, cfg = self._table, self.config
        sensor = self._sensors.setdefault(scan.source_id, len(self._sensors))
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
        t.time_us[got_t] = scan.time_us
        t.hits[got_t] += 1
        t.status[got_t] = np.where(
            (t.status[got_t] == COASTING) | (t.hits[got_t] >= cfg.confirm_m), CONFIRMED, t.status[got_t]
        )
        self._identify(got_t, got_d, scan)
        for row in got_t.tolist():
            t.touch(row, scan.source_id, scan.kind, scan.time_us)
            self._updated.add(t.ids[row])

        free = np.ones(scan.size, dtype=bool)
        free[got_d] = False
        free &= ~self._attach_to_friends(scan, pair_t, pair_d, d2, free)

        missed = (
            (t.status == TENTATIVE)
            & (t.time_us < scan.time_us)
            & ((t.origin_sensor == sensor) | _within_reach(scan, pos_pred))
        )
        t.misses[missed] += 1
        self._drop((t.status == TENTATIVE) & (t.misses > cfg.confirm_n - cfg.confirm_m))
        self._start(scan, np.flatnonzero(free), sensor)

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

    def _start(self, scan: Scan, dets: Rows, sensor: int) -> None:
        """Tentative tracks from unassigned detections: their position, zero velocity, wide velocity spread."""
        if dets.size == 0:
            return
        new = TrackTable.blank(dets.size)
        new.x[:, :3] = scan.pos[dets]
        new.p[:, :3, :3] = scan.cov[dets]
        new.p[:, 3:, 3:] = np.eye(3) * self.config.initial_speed_sigma_mps**2
        new.time_us[:] = scan.time_us
        new.first_us[:] = scan.time_us
        new.hits[:] = 1
        new.origin_sensor[:] = sensor
        new.ids = [f"T{n:06d}" for n in range(self._next_id, self._next_id + dets.size)]
        new.sources = [{scan.source_id: (scan.kind, scan.time_us)} for _ in range(dets.size)]
        self._next_id += dets.size
        first = len(self._table)
        self._table.extend(new)
        self._row_of = None
        self._identify(np.arange(first, first + dets.size), dets, scan)
        self._created.update(new.ids)
        self._counts["created"] += dets.size

    def _identify(self, rows: Rows, dets: Rows, scan: Scan) -> None:
        """Fold the detections' class and disposition evidence into their tracks, then re-infer environment."""
        t, cfg = self._table, self.config
        evidence = scan.has_class[dets]
        er = rows[evidence]
        t.log_class[er] = identity.combine(t.log_class[er], scan.class_log_like[dets[evidence]])
        t.has_class[er] = True
        own = ~t.platform[rows]
        rows, dets = rows[own], dets[own]
        t.disposition[rows], t.challenger[rows], t.challenges[rows] = identity.disposition_step(
            t.disposition[rows],
            t.challenger[rows],
            t.challenges[rows],
            scan.disposition[dets],
            cfg.disposition_confirm_k,
        )
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

    def _apply_report(self, report: PositionReport) -> None:
        """A platform's own position (and velocity) updates the track it owns, created on first sight."""
        assert self._frame is not None
        self._counts["position_reports"] += 1
        cfg, t = self.config, self._table
        tid = platform_track_id(report.platform_id)
        time_us = to_us(report.time)
        p = report.position
        rot = self._frame.from_local(np.array([p.lat]), np.array([p.lon]))[0]
        ce = max(report.ce_m if report.ce_m is not None else cfg.default_ce_m, _MIN_REPORT_SIGMA_M)
        le = max(report.le_m if report.le_m is not None else cfg.default_le_m, _MIN_REPORT_SIGMA_M)
        z = np.zeros(DIM)
        r = np.zeros((DIM, DIM))
        z[:3] = self._frame.point(p)
        r[:3, :3] = rot @ np.diag([ce**2, ce**2, le**2]) @ rot.T
        has_velocity = report.velocity_enu_mps is not None
        speed_sigma = cfg.report_velocity_sigma_mps if has_velocity else cfg.initial_speed_sigma_mps
        if report.velocity_enu_mps is not None:
            z[3:] = rot @ np.asarray(report.velocity_enu_mps, dtype=float)
        r[3:, 3:] = np.eye(3) * speed_sigma**2
        row = self._rows().get(tid)
        taken_over = self._intake.took_over(report)
        if row is not None and taken_over:
            t.x[row], t.p[row] = z, r  # a new owner: restart from its fix rather than filter towards it
            t.time_us[row] = time_us
            t.hits[row] += 1
            self._updated.add(tid)
        elif row is None:
            new = TrackTable.blank(1)
            new.x[0], new.p[0] = z, r
            new.time_us[:] = new.first_us[:] = time_us
            new.status[:] = CONFIRMED
            new.hits[:] = 1
            new.platform[:] = True
            new.disposition[:] = identity.FRIENDLY
            new.ids, new.platform_ids = [tid], [report.platform_id]
            row = len(t)
            t.extend(new)
            self._row_of = None
            self._created.add(tid)
            self._counts["created"] += 1
        else:
            one = np.array([row])
            dt = np.maximum(time_us - t.time_us[one], 0) / 1e6
            xp, pp = predict(t.x[one], t.p[one], dt, self._noise_density(one))
            h = H_STATE if has_velocity else H_POSITION
            m = h.shape[0]
            t.x[one], t.p[one] = update(xp, pp, (z[:m] - h @ xp[0])[None], h[None], r[None, :m, :m])
            t.time_us[row] = time_us
            t.status[row] = CONFIRMED
            t.hits[row] += 1
            self._updated.add(tid)
        if report.environment == Environment.UNKNOWN:  # e.g. a bare GPS: judge by height and class
            self._infer_environment(np.array([row]))
        else:
            t.environment[row] = identity.ENVIRONMENTS.index(report.environment)
        t.touch(row, report.source.id, report.source.kind, time_us)
        self._absorb(row)

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
        sources = t.sources[row]
        for other in same.tolist():
            for sid, (kind, last) in t.sources[other].items():
                if sid not in sources or sources[sid][1] < last:
                    t.touch(row, sid, kind, last)
        t.first_us[row] = min(int(t.first_us[row]), int(t.first_us[same].min()))
        self._updated.add(t.ids[row])
        mask = np.zeros(len(t), dtype=bool)
        mask[same] = True
        self._drop(mask)

    # --- track management and output -------------------------------------------------------------

    def _manage(self, now_us: int) -> None:
        """Coast tracks without recent updates; drop stale ones and ones whose position is no longer known."""
        t, cfg = self._table, self.config
        if not len(t):
            return
        age = np.maximum(now_us - t.time_us, 0) / 1e6
        stale = age > np.where(t.platform, cfg.platform_delete_after_s, cfg.delete_after_s)
        q = self._noise_density(np.arange(len(t)))
        p = t.p
        horiz = [p[:, i, i] + 2 * age * p[:, i, i + 3] + age**2 * p[:, i + 3, i + 3] + q * age**3 / 3 for i in (0, 1)]
        lost = np.maximum(*horiz) > cfg.max_position_sigma_m**2
        drop = stale | lost
        coast = (t.status == CONFIRMED) & (age > cfg.coast_after_s) & ~drop
        t.status[coast] = COASTING
        self._updated.update(t.ids[i] for i in np.flatnonzero(coast).tolist())
        self._drop(drop)

    def _drop(self, mask: NDArray[np.bool_]) -> None:
        if not mask.any():
            return
        t = self._table
        gone = [t.ids[i] for i in np.flatnonzero(mask).tolist()]
        self._dropped.update(gone)
        self._counts["dropped"] += len(gone)
        t.keep(~mask)
        self._row_of = None

    def _rows(self) -> dict[str, int]:
        if self._row_of is None:
            self._row_of = {tid: i for i, tid in enumerate(self._table.ids)}
        return self._row_of

    def _noise_density(self, rows: Rows) -> Array:
        """Process-noise density per track: air tracks manoeuvre harder than land ones."""
        cfg = self.config
        air = self._table.environment[rows] == identity.AIR
        return np.where(air, cfg.air_accel_sigma_mps2, cfg.accel_sigma_mps2) ** 2

    def _build(self, rows: Rows) -> list[Track]:
        """Schema Tracks for the given rows; velocities and covariances go back into each track's local ENU."""
        if rows.size == 0 or self._frame is None:
            return []
        t, cfg = self._table, self.config
        lat, lon, hae = self._frame.to_geodetic(t.x[rows, :3])
        rot = self._frame.from_local(lat, lon)
        rot_t = np.swapaxes(rot, 1, 2)
        vel = (rot_t @ t.x[rows, 3:, None])[..., 0]
        pos_cov = rot_t @ t.p[rows, :3, :3] @ rot
        vel_cov = rot_t @ t.p[rows, 3:, 3:] @ rot
        pos_cov = 0.5 * (pos_cov + np.swapaxes(pos_cov, 1, 2))
        vel_cov = 0.5 * (vel_cov + np.swapaxes(vel_cov, 1, 2))
        post = np.exp(t.log_class[rows])
        out = []
        for k, row in enumerate(rows.tolist()):
            disposition = identity.DISPOSITIONS[t.disposition[row]]
            environment = identity.ENVIRONMENTS[t.environment[row]]
            has_class = bool(t.has_class[row])
            best = int(np.argmax(post[k]))
            stale_s = cfg.platform_delete_after_s if t.platform[row] else cfg.delete_after_s
            updated_us = int(t.time_us[row])
            sources = t.sources[row]
            out.append(
                Track(
                    track_id=t.ids[row],
                    status=STATUSES[t.status[row]],
                    position=GeoPoint(lat=float(lat[k]), lon=float(lon[k]), hae_m=float(hae[k])),
                    velocity_enu_mps=tuple(vel[k].tolist()),
                    position_cov_enu_m2=tuple(map(tuple, pos_cov[k].tolist())),
                    velocity_cov_enu_m2s2=tuple(map(tuple, vel_cov[k].tolist())),
                    disposition=disposition,
                    environment=environment,
                    class_probabilities=dict(zip(identity.CLASSES, post[k].tolist(), strict=True)) if has_class else {},
                    classification=identity.CLASSES[best] if has_class else None,
                    classification_confidence=float(post[k, best]) if has_class else 0.0,
                    cot_type=identity.cot_type(disposition, environment),
                    platform_id=t.platform_ids[row],
                    sources=[
                        SourceContribution(source_id=sid, kind=sources[sid][0], last_time=from_us(sources[sid][1]))
                        for sid in sorted(sources)
                    ],
                    first_seen=from_us(int(t.first_us[row])),
                    updated=from_us(updated_us),
                    stale_at=from_us(updated_us + round(stale_s * 1e6)),
                )
            )
        return out


def _innovations(scan: Scan, xp: Array, dets: Rows) -> tuple[Array, Array, Array]:
    """Innovations (K, 3), measurement Jacobians (K, 3, 6) and noise (K, 3, 3) of predicted states vs detections.

    Polar rows use the EKF linearisation in the sensor's own ENU frame; geolocated rows are linear.
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
    return y, h, scan.r[dets]


def _within_reach(scan: Scan, pos: Array) -> NDArray[np.bool_]:
    """Which positions a polar scan could have seen: no farther from the sensor than its farthest plot.

    A tentative track inside that range that the scan did not update counts a miss, whichever
    sensor started it; geolocating scans say nothing about where they did not look.
    """
    if not scan.polar.any():
        return np.zeros(pos.shape[0], dtype=bool)
    farthest = float(scan.z[scan.polar, 0].max())
    seen: NDArray[np.bool_] = np.linalg.norm(pos - scan.sensor_pos, axis=1) <= farthest
    return seen
