"""Accuracy evaluation of the fused picture against ground truth: GOSPA/OSPA, continuity, latency.

Pure and deterministic: no I/O and no clock reads; every time comes in with the data, so the same
recording always gives the same report.

Metrics
-------
* **GOSPA** (Rahmathullah, García-Fernández, Svensson, "Generalized optimal sub-pattern assignment
  metric", FUSION 2017) with cut-off ``c``, order ``p`` and ``alpha``. With ``alpha = 2`` (the
  default) it splits into localisation error of the assigned pairs plus ``c**p / 2`` per missed
  truth object and per false track, which is why it is the headline number: it penalises exactly
  the three ways a picture can be wrong. The parts are in p-th power units
  (``total**p == localisation + missed + false``), as in Stone Soup; with ``p = 1`` all are metres.
* **OSPA** (Schuhmacher, Vo, Vo 2008) for comparison with older literature: normalised by
  ``max(n, m)``, so it is a per-object figure that does not grow with the number of objects.
* **Continuity** from the per-frame GOSPA assignment (pairs closer than ``c``): track-id switches,
  fragmentations and the time each target took to be held by a confirmed track.
* **Identity** from the per-frame GOSPA assignment of every truth object, friendly platforms
  included, to every counted track: the time from an object's first detection to the first time a
  track held it as hostile, declarations that contradict truth, and friendly platforms shown as
  anything but friendly (blue on blue). See `IdentityStats`.
* **Latency** from (observation time, picture update time) pairs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pymap3d
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from bus.schema import Disposition, GeoPoint, GroundTruth, Track, TrackStatus, TruthObject

__all__ = [
    "EvalConfig",
    "EvalReport",
    "GospaResult",
    "IdentityEvent",
    "IdentityStats",
    "LatencyStats",
    "ObjectStats",
    "PlatformMode",
    "enu_positions",
    "evaluate",
    "gospa",
    "latency_stats",
    "ospa",
    "track_positions",
]

# Tracks that have passed confirmation. Coasting tracks count as estimates: they are still in the
# published picture that vehicles act on, so a coasting track left on a target that has gone is a
# false target and must cost as one. Tentative tracks are the fusion's private hypotheses.
CONFIRMED_STATUSES: frozenset[TrackStatus] = frozenset({TrackStatus.CONFIRMED, TrackStatus.COASTING})
DECLARED: frozenset[Disposition] = frozenset({Disposition.HOSTILE, Disposition.NEUTRAL, Disposition.FRIENDLY})
"""Dispositions that declare an identity; unknown (and the fusion's other values) declare none."""


# --- Set distances ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GospaResult:
    """A GOSPA value and its parts (p-th power units: ``total**p == localisation + missed + false``).

    `pairs` are the (truth index, estimate index) assignments closer than the cut-off ``c``; they are
    what the continuity metrics use, so that "assigned" means the same thing everywhere.
    """

    total: float
    localisation: float
    missed: float
    false: float
    pairs: tuple[tuple[int, int], ...] = ()


def _points(xy: np.ndarray, name: str) -> np.ndarray:
    """An (n, d) float array; an empty input of any shape is an empty set."""
    array = np.asarray(xy, dtype=float)
    if array.size == 0:
        return array.reshape(0, array.shape[-1] if array.ndim == 2 else 0)
    if array.ndim != 2:
        raise ValueError(f"{name} must be an (n, d) array of points, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has non-finite coordinates")
    return array


def _check_parameters(c: float, p: float, alpha: float) -> None:
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"c must be a positive finite distance, got {c}")
    if not (math.isfinite(p) and p >= 1):
        raise ValueError(f"p must be finite and >= 1, got {p}")
    if not 0 < alpha <= 2:
        raise ValueError(f"alpha must be in (0, 2], got {alpha}")


def _gospa_parts(truth_xy: np.ndarray, est_xy: np.ndarray, c: float, p: float, alpha: float) -> GospaResult:
    """GOSPA before the final root (`total` is the p-th power sum), so OSPA can reuse it exactly.

    The optimal assignment of the smaller set into the larger one on ``min(d, c)**p`` costs gives the
    GOSPA optimum for every alpha in (0, 2]: for alpha = 2 a pair at the cut-off costs
    ``c**p = c**p/2 + c**p/2``, the same as leaving both unassigned.
    """
    _check_parameters(c, p, alpha)
    truth, est = _points(truth_xy, "truth_xy"), _points(est_xy, "est_xy")
    n, m = len(truth), len(est)
    cutoff = c**p
    if n and m:
        if truth.shape[1] != est.shape[1]:
            raise ValueError(f"truth has {truth.shape[1]} coordinates, estimates {est.shape[1]}")
        distances = cdist(truth, est)
        rows, cols = linear_sum_assignment(np.minimum(distances, c) ** p)
        assigned = distances[rows, cols]
    else:
        rows = cols = np.empty(0, dtype=int)
        assigned = np.empty(0)
    within = assigned < c
    localisation = float(np.sum(assigned[within] ** p))
    n_within = int(within.sum())
    if alpha == 2:
        n_missed, n_false = n - n_within, m - n_within
    else:
        # Without the alpha = 2 split a pair beyond c stays assigned, at the cut-off.
        localisation += cutoff * (len(rows) - n_within)
        n_missed, n_false = n - len(rows), m - len(rows)
    pairs = tuple((int(i), int(j)) for i, j in zip(rows[within], cols[within], strict=True))
    return GospaResult(
        total=localisation + cutoff / alpha * (n_missed + n_false),
        localisation=localisation,
        missed=cutoff / alpha * n_missed,
        false=cutoff / alpha * n_false,
        pairs=pairs,
    )


def gospa(truth_xy: np.ndarray, est_xy: np.ndarray, c: float = 100.0, p: float = 1, alpha: float = 2) -> GospaResult:
    """The GOSPA distance between two point sets, (n, d) and (m, d) arrays, with its parts."""
    parts = _gospa_parts(truth_xy, est_xy, c, p, alpha)
    return GospaResult(
        total=parts.total ** (1 / p),
        localisation=parts.localisation,
        missed=parts.missed,
        false=parts.false,
        pairs=parts.pairs,
    )


def ospa(truth_xy: np.ndarray, est_xy: np.ndarray, c: float = 100.0, p: float = 1) -> float:
    """The OSPA distance: GOSPA with alpha = 1 normalised by max(n, m); 0 when both sets are empty."""
    parts = _gospa_parts(truth_xy, est_xy, c, p, alpha=1)
    size = max(len(_points(truth_xy, "truth_xy")), len(_points(est_xy, "est_xy")))
    return (parts.total / size) ** (1 / p) if size else 0.0


# --- Positions -------------------------------------------------------------------------------------


def enu_positions(points: Sequence[GeoPoint], origin: GeoPoint) -> np.ndarray:
    """(n, 3) east/north/up metres of `points` in the tangent plane at `origin`.

    ENU is a rigid transform of ECEF, so 3-D distances are exact wherever the origin is; east/north
    alone (horizontal evaluation) stays accurate within a few tens of km of it.
    """
    count = len(points)
    lat = np.fromiter((point.lat for point in points), float, count)
    lon = np.fromiter((point.lon for point in points), float, count)
    hae = np.fromiter((point.hae_m for point in points), float, count)
    east, north, up = pymap3d.geodetic2enu(lat, lon, hae, origin.lat, origin.lon, origin.hae_m)
    return np.column_stack((east, north, up)).reshape(count, 3)


def track_positions(tracks: Sequence[Track], origin: GeoPoint, at: datetime | None = None) -> np.ndarray:
    """(n, 3) ENU positions of `tracks`, predicted with their velocity to `at` when it is given.

    A picture is sampled just before the truth time; dead-reckoning to the truth time, as a vehicle
    showing the picture would, keeps the sampling offset from being counted as tracking error.
    Velocities are rotated from each track's own ENU frame into the origin's.
    """
    positions = enu_positions([track.position for track in tracks], origin)
    if at is None or not tracks:
        return positions
    velocity = np.array([track.velocity_enu_mps for track in tracks], dtype=float)
    lat = np.array([track.position.lat for track in tracks])
    lon = np.array([track.position.lon for track in tracks])
    ecef = pymap3d.enu2uvw(velocity[:, 0], velocity[:, 1], velocity[:, 2], lat, lon)
    velocity = np.column_stack(pymap3d.uvw2enu(*ecef, origin.lat, origin.lon))
    dt = np.array([(at - track.updated).total_seconds() for track in tracks])
    predicted: np.ndarray = positions + velocity * dt[:, None]
    return predicted


# --- Evaluation over a run -------------------------------------------------------------------------


class PlatformMode(StrEnum):
    """How to treat friendly platforms (truth objects and tracks that carry a `platform_id`).

    Platforms report their own position, so they are tracked almost for free and would flatter the
    score of the hard part, the non-cooperative targets. A sensor-made track on a platform has no
    `platform_id` and still counts as false: the fusion should have attached it to the platform.
    """

    INCLUDE = "include"
    """Evaluate everything together."""
    EXCLUDE = "exclude"
    """Leave platforms out."""
    SEPARATE = "separate"
    """Leave platforms out of the main report and evaluate them on their own in `report.platforms`."""


@dataclass(frozen=True, slots=True)
class EvalConfig:
    """How a run is scored; the defaults suit land targets tracked to tens of metres."""

    c: float = 100.0
    """GOSPA/OSPA cut-off, m: also the farthest a track may be from an object and still hold it."""
    p: float = 1.0
    alpha: float = 2.0
    statuses: frozenset[TrackStatus] = CONFIRMED_STATUSES
    """Track statuses that count as estimates."""
    platforms: PlatformMode = PlatformMode.SEPARATE
    origin: GeoPoint | None = None
    """ENU origin; default: the first object of the first non-empty truth frame."""
    horizontal: bool = True
    """Score east/north only: many sensors (2-D radars, ground video) give no useful height."""
    extrapolate: bool = True
    """Dead-reckon tracks from their `updated` time to the truth time."""

    def __post_init__(self) -> None:
        _check_parameters(self.c, self.p, self.alpha)


@dataclass(frozen=True, slots=True)
class ObjectStats:
    """Continuity of one truth object over the frames in which it exists."""

    object_id: str
    first_seen: datetime
    first_detectable: datetime
    """From the caller's detection times, else the first frame the object appears in."""
    first_confirmed: datetime | None
    """First frame in which a confirmed (or coasting) track held the object."""
    frames: int
    """Frames in which the object existed in truth; frames without it do not count as gaps."""
    frames_assigned: int
    id_switches: int
    """Times a track other than the last one to hold the object took it, even after a gap (as CLEAR
    MOT counts them): a target dropped and re-initiated under a new id has changed identity."""
    fragmentations: int
    """Times the object was held again after a frame in which it was not; a final loss is not one."""

    @property
    def time_to_confirm_s(self) -> float | None:
        if self.first_confirmed is None:
            return None
        return (self.first_confirmed - self.first_detectable).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "object_id": self.object_id,
            "first_seen": self.first_seen.isoformat(),
            "first_detectable": self.first_detectable.isoformat(),
            "first_confirmed": self.first_confirmed.isoformat() if self.first_confirmed else None,
            "time_to_confirm_s": self.time_to_confirm_s,
            "frames": self.frames,
            "frames_assigned": self.frames_assigned,
            "id_switches": self.id_switches,
            "fragmentations": self.fragmentations,
        }


def _mean(values: np.ndarray | Sequence[float]) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _max(values: np.ndarray | Sequence[float]) -> float | None:
    return float(np.max(values)) if len(values) else None


@dataclass(frozen=True, eq=False)
class EvalReport:
    """Per-frame metrics of a run and their summaries; summaries of an empty run are None."""

    config: EvalConfig
    times: tuple[datetime, ...]
    gospa: np.ndarray
    gospa_localisation: np.ndarray
    gospa_missed: np.ndarray
    gospa_false: np.ndarray
    ospa: np.ndarray
    n_truth: np.ndarray
    n_tracks: np.ndarray
    """Estimates per frame: tracks with a counted status."""
    position_errors_m: np.ndarray
    """Distance of every assigned (truth, track) pair in every frame."""
    objects: Mapping[str, ObjectStats]
    platforms: EvalReport | None = None
    identity: IdentityStats | None = None
    """Identity over all objects, platforms included (on the top-level report only)."""

    @property
    def mean_gospa(self) -> float | None:
        return _mean(self.gospa)

    @property
    def mean_ospa(self) -> float | None:
        return _mean(self.ospa)

    @property
    def mean_position_error_m(self) -> float | None:
        return _mean(self.position_errors_m)

    @property
    def id_switches(self) -> int:
        return sum(stats.id_switches for stats in self.objects.values())

    @property
    def fragmentations(self) -> int:
        return sum(stats.fragmentations for stats in self.objects.values())

    @property
    def times_to_confirm_s(self) -> dict[str, float]:
        """Time to confirm of every object that was confirmed at all."""
        return {
            object_id: stats.time_to_confirm_s
            for object_id, stats in self.objects.items()
            if stats.time_to_confirm_s is not None
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict: ISO times, lists for arrays, None for undefined figures."""
        config = self.config
        confirm = list(self.times_to_confirm_s.values())
        return {
            "config": {
                "c": config.c,
                "p": config.p,
                "alpha": config.alpha,
                "statuses": sorted(status.value for status in config.statuses),
                "platforms": config.platforms.value,
                "horizontal": config.horizontal,
                "extrapolate": config.extrapolate,
            },
            "frames": len(self.times),
            "times": [time.isoformat() for time in self.times],
            "gospa": self.gospa.tolist(),
            "gospa_localisation": self.gospa_localisation.tolist(),
            "gospa_missed": self.gospa_missed.tolist(),
            "gospa_false": self.gospa_false.tolist(),
            "ospa": self.ospa.tolist(),
            "n_truth": self.n_truth.tolist(),
            "n_tracks": self.n_tracks.tolist(),
            "mean_gospa": self.mean_gospa,
            "mean_ospa": self.mean_ospa,
            "mean_truth": _mean(self.n_truth),
            "max_truth": _max(self.n_truth),
            "mean_tracks": _mean(self.n_tracks),
            "max_tracks": _max(self.n_tracks),
            "mean_position_error_m": self.mean_position_error_m,
            "id_switches": self.id_switches,
            "fragmentations": self.fragmentations,
            "mean_time_to_confirm_s": _mean(confirm),
            "max_time_to_confirm_s": _max(confirm),
            "objects": {object_id: stats.to_dict() for object_id, stats in self.objects.items()},
            "platforms": self.platforms.to_dict() if self.platforms else None,
            "identity": self.identity.to_dict() if self.identity else None,
        }

    def summary(self) -> str:
        """A human-readable table of the run's figures (and of the platforms', if separate)."""
        text = self._table("Targets" if self.platforms else "All objects")
        if self.platforms is not None:
            text += "\n\n" + self.platforms._table("Friendly platforms")
        if self.identity is not None:
            text += "\n\n" + "\n".join(["Identity (all objects, platforms included):", *_lines(self.identity.rows())])
        return text

    def _table(self, title: str) -> str:
        config = self.config
        power = "m" if config.p == 1 else f"m^{config.p:g}"
        confirm = list(self.times_to_confirm_s.values())
        rows = [
            ("frames", f"{len(self.times)}"),
            ("GOSPA mean / max (m)", _pair(self.mean_gospa, _max(self.gospa))),
            (f"  localisation, mean ({power})", _fmt(_mean(self.gospa_localisation))),
            (f"  missed, mean ({power})", _fmt(_mean(self.gospa_missed))),
            (f"  false, mean ({power})", _fmt(_mean(self.gospa_false))),
            ("OSPA mean / max (m)", _pair(self.mean_ospa, _max(self.ospa))),
            ("truth objects mean / max", _pair(_mean(self.n_truth), _max(self.n_truth))),
            ("tracks mean / max", _pair(_mean(self.n_tracks), _max(self.n_tracks))),
            ("position error mean (m)", _fmt(self.mean_position_error_m)),
            ("track-id switches", f"{self.id_switches}"),
            ("fragmentations", f"{self.fragmentations}"),
            ("time to confirm mean / max (s)", _pair(_mean(confirm), _max(confirm))),
            ("objects confirmed", f"{len(confirm)} of {len(self.objects)}"),
        ]
        span = f"{self.times[0].isoformat()} .. {self.times[-1].isoformat()}" if self.times else "no frames"
        header = (
            f"{title}: {span} (c={config.c:g} m, p={config.p:g}, alpha={config.alpha:g},"
            f" {'horizontal' if config.horizontal else '3-D'})"
        )
        return "\n".join([header, *_lines(rows)])


def _lines(rows: Sequence[tuple[str, str]]) -> list[str]:
    """Name and value rows, indented, the values aligned."""
    width = max(len(name) for name, _ in rows)
    return [f"  {name:<{width}}  {value}" for name, value in rows]


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _pair(first: float | None, second: float | None) -> str:
    return f"{_fmt(first)} / {_fmt(second)}"


@dataclass(frozen=True, slots=True)
class IdentityEvent:
    """A truth object shown by a track with a disposition that is wrong for it, from `time` on."""

    time: datetime
    object_id: str
    track_id: str
    truth: Disposition
    shown: Disposition

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "object_id": self.object_id,
            "track_id": self.track_id,
            "truth": self.truth.value,
            "shown": self.shown.value,
        }


@dataclass(frozen=True, slots=True)
class IdentityStats:
    """How the picture identified what it held, against truth, over the frames of a run.

    "Held" means assigned to a counted track by the frame's GOSPA assignment of all truth objects
    (friendly platforms included) to all counted tracks, so a sensor-made track that takes a
    platform's place is scored as what it shows.
    """

    duration_s: float
    """From the first truth frame to the last."""
    time_to_hostile_s: Mapping[str, float | None]
    """Per truly hostile object that was held: from the first frame a track held it to the first
    frame a track held it as hostile; None when that never happened."""
    wrong_declarations: tuple[IdentityEvent, ...]
    """Each time an object came to be held by a track declaring (`DECLARED`) a disposition other
    than its true one: a new track, or the same track changing to a wrong declaration."""
    blue_on_blue: tuple[IdentityEvent, ...]
    """Each time a friendly platform came to be held by a track showing anything but friendly."""
    blue_on_blue_frames: int
    """(friendly platform, frame) pairs in which a track held the platform showing anything but friendly."""

    @property
    def hostile_declared(self) -> int:
        return sum(seconds is not None for seconds in self.time_to_hostile_s.values())

    @property
    def median_time_to_hostile_s(self) -> float | None:
        """Median over the hostile objects that were declared hostile (see `hostile_declared`)."""
        times = [seconds for seconds in self.time_to_hostile_s.values() if seconds is not None]
        return float(np.median(times)) if times else None

    @property
    def wrong_declarations_per_hour(self) -> float | None:
        return 3600.0 * len(self.wrong_declarations) / self.duration_s if self.duration_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration_s": self.duration_s,
            "hostile_held": len(self.time_to_hostile_s),
            "hostile_declared": self.hostile_declared,
            "median_time_to_hostile_s": self.median_time_to_hostile_s,
            "time_to_hostile_s": dict(self.time_to_hostile_s),
            "wrong_declarations": len(self.wrong_declarations),
            "wrong_declarations_per_hour": self.wrong_declarations_per_hour,
            "wrong_declaration_events": [event.to_dict() for event in self.wrong_declarations],
            "blue_on_blue": len(self.blue_on_blue),
            "blue_on_blue_frames": self.blue_on_blue_frames,
            "blue_on_blue_events": [event.to_dict() for event in self.blue_on_blue],
        }

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("time to hostile median (s)", _fmt(self.median_time_to_hostile_s)),
            ("hostiles declared", f"{self.hostile_declared} of {len(self.time_to_hostile_s)} held"),
            (
                "wrong declarations (per hour)",
                f"{len(self.wrong_declarations)} ({_fmt(self.wrong_declarations_per_hour)})",
            ),
            ("blue on blue (platform frames)", f"{len(self.blue_on_blue)} ({self.blue_on_blue_frames})"),
        ]


_Pairs = tuple[tuple[int, int], ...]


@dataclass(slots=True)
class _IdentityLog:
    """Running identity state of one truth object."""

    first_held: datetime | None = None
    first_hostile: datetime | None = None
    last_shown: tuple[str, Disposition] | None = None
    """The (track, disposition) that last held the object; a gap in assignment does not clear it."""


@dataclass(slots=True)
class _IdentityRun:
    """Accumulates `IdentityStats` frame by frame from the frame's assignment."""

    start: datetime | None = None
    end: datetime | None = None
    hostile: set[str] = field(default_factory=set)
    logs: dict[str, _IdentityLog] = field(default_factory=dict)
    wrong: list[IdentityEvent] = field(default_factory=list)
    blue_on_blue: list[IdentityEvent] = field(default_factory=list)
    blue_on_blue_frames: int = 0

    def add(self, time: datetime, objects: Sequence[TruthObject], tracks: Sequence[Track], pairs: _Pairs) -> None:
        self.start = self.start or time
        self.end = time
        for i, j in pairs:
            obj, track = objects[i], tracks[j]
            log = self.logs.setdefault(obj.object_id, _IdentityLog())
            shown = (track.track_id, track.disposition)
            changed = shown != log.last_shown
            log.last_shown = shown
            log.first_held = log.first_held or time
            if obj.disposition is Disposition.HOSTILE:
                self.hostile.add(obj.object_id)
                if log.first_hostile is None and track.disposition is Disposition.HOSTILE:
                    log.first_hostile = time
            event = IdentityEvent(time, obj.object_id, track.track_id, obj.disposition, track.disposition)
            if track.disposition in DECLARED and track.disposition != obj.disposition and changed:
                self.wrong.append(event)
            if obj.platform_id is not None and track.disposition is not Disposition.FRIENDLY:
                self.blue_on_blue_frames += 1
                if changed:
                    self.blue_on_blue.append(event)

    def stats(self) -> IdentityStats:
        to_hostile: dict[str, float | None] = {}
        for object_id in sorted(self.hostile):
            log = self.logs[object_id]
            assert log.first_held is not None
            to_hostile[object_id] = (
                None if log.first_hostile is None else (log.first_hostile - log.first_held).total_seconds()
            )
        return IdentityStats(
            duration_s=(self.end - self.start).total_seconds() if self.start and self.end else 0.0,
            time_to_hostile_s=to_hostile,
            wrong_declarations=tuple(self.wrong),
            blue_on_blue=tuple(self.blue_on_blue),
            blue_on_blue_frames=self.blue_on_blue_frames,
        )


@dataclass(slots=True)
class _ObjectLog:
    """Running continuity state of one truth object."""

    first_seen: datetime
    first_confirmed: datetime | None = None
    last_track: str | None = None
    """The last track that held the object; a gap in assignment does not clear it."""
    held: bool = False
    """Whether a track held the object in the last frame in which it existed."""
    frames: int = 0
    frames_assigned: int = 0
    id_switches: int = 0
    fragmentations: int = 0

    def update(self, time: datetime, track: Track | None) -> None:
        """Score one frame. A frame without the object leaves it alone: it is not a tracking gap."""
        self.frames += 1
        if track is not None:
            self.frames_assigned += 1
            if self.last_track is not None and track.track_id != self.last_track:
                self.id_switches += 1
            if self.last_track is not None and not self.held:
                self.fragmentations += 1
            self.last_track = track.track_id
            if self.first_confirmed is None and track.status in CONFIRMED_STATUSES:
                self.first_confirmed = time
        self.held = track is not None


@dataclass(slots=True)
class _Run:
    """Accumulates one report frame by frame, so `evaluate` reads its frames only once."""

    config: EvalConfig
    times: list[datetime] = field(default_factory=list)
    results: list[GospaResult] = field(default_factory=list)
    ospa: list[float] = field(default_factory=list)
    n_truth: list[int] = field(default_factory=list)
    n_tracks: list[int] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)
    logs: dict[str, _ObjectLog] = field(default_factory=dict)

    def add(self, time: datetime, objects: list[TruthObject], tracks: list[Track], origin: GeoPoint) -> GospaResult:
        config = self.config
        truth_xy, est_xy, result = _assignment(config, time, objects, tracks, origin)
        self.times.append(time)
        self.results.append(result)
        self.ospa.append(ospa(truth_xy, est_xy, config.c, config.p))
        self.n_truth.append(len(objects))
        self.n_tracks.append(len(tracks))
        holder = dict(result.pairs)
        for i, obj in enumerate(objects):
            log = self.logs.setdefault(obj.object_id, _ObjectLog(first_seen=time))
            j = holder.get(i)
            log.update(time, None if j is None else tracks[j])
            if j is not None:
                self.errors.append(float(np.linalg.norm(truth_xy[i] - est_xy[j])))
        return result

    def report(
        self,
        first_detectable: Mapping[str, datetime],
        platforms: EvalReport | None,
        identity: IdentityStats | None = None,
    ) -> EvalReport:
        objects = {
            object_id: ObjectStats(
                object_id=object_id,
                first_seen=log.first_seen,
                first_detectable=first_detectable.get(object_id, log.first_seen),
                first_confirmed=log.first_confirmed,
                frames=log.frames,
                frames_assigned=log.frames_assigned,
                id_switches=log.id_switches,
                fragmentations=log.fragmentations,
            )
            for object_id, log in sorted(self.logs.items())
        }
        return EvalReport(
            config=self.config,
            times=tuple(self.times),
            gospa=np.array([result.total for result in self.results], dtype=float),
            gospa_localisation=np.array([result.localisation for result in self.results], dtype=float),
            gospa_missed=np.array([result.missed for result in self.results], dtype=float),
            gospa_false=np.array([result.false for result in self.results], dtype=float),
            ospa=np.array(self.ospa, dtype=float),
            n_truth=np.array(self.n_truth, dtype=int),
            n_tracks=np.array(self.n_tracks, dtype=int),
            position_errors_m=np.array(self.errors, dtype=float),
            objects=objects,
            platforms=platforms,
            identity=identity,
        )


def _assignment(
    config: EvalConfig, time: datetime, objects: Sequence[TruthObject], tracks: Sequence[Track], origin: GeoPoint
) -> tuple[np.ndarray, np.ndarray, GospaResult]:
    """Truth and track positions in the frame, and their GOSPA result (whose pairs are the assignment)."""
    dims = 2 if config.horizontal else 3
    truth_xy = enu_positions([obj.position for obj in objects], origin)[:, :dims]
    est_xy = track_positions(tracks, origin, time if config.extrapolate else None)[:, :dims]
    return truth_xy, est_xy, gospa(truth_xy, est_xy, config.c, config.p, config.alpha)


def evaluate(
    frames: Iterable[tuple[GroundTruth, list[Track]]],
    config: EvalConfig | None = None,
    first_detectable: Mapping[str, datetime] | None = None,
) -> EvalReport:
    """Score a run: each frame pairs a truth message with the picture at (or just before) its time.

    Frames must come in time order. `first_detectable` gives, per truth object id, the time from
    which it could have been detected (e.g. when it first entered a sensor's coverage); time to
    confirm counts from there, else from the object's first appearance in truth.
    """
    config = config or EvalConfig()
    main, platform_run, identity = _Run(config), _Run(config), _IdentityRun()
    origin = config.origin
    previous: datetime | None = None
    for truth, picture in frames:
        if previous is not None and truth.time < previous:
            raise ValueError(f"frames out of order: {truth.time.isoformat()} after {previous.isoformat()}")
        previous = truth.time
        ids = [obj.object_id for obj in truth.objects]
        if len(set(ids)) != len(ids):
            raise ValueError(f"truth at {truth.time.isoformat()} repeats an object id")
        if origin is None and truth.objects:
            origin = truth.objects[0].position
        # Before any truth object exists every track is false wherever it is, so any origin will do.
        frame_origin = origin or GeoPoint(lat=0.0, lon=0.0)
        tracks = [track for track in picture if track.status in config.statuses]
        if config.platforms is PlatformMode.INCLUDE:
            result = main.add(truth.time, truth.objects, tracks, frame_origin)
            identity.add(truth.time, truth.objects, tracks, result.pairs)
            continue
        _, _, everything = _assignment(config, truth.time, truth.objects, tracks, frame_origin)
        identity.add(truth.time, truth.objects, tracks, everything.pairs)
        main.add(
            truth.time,
            [obj for obj in truth.objects if obj.platform_id is None],
            [track for track in tracks if track.platform_id is None],
            frame_origin,
        )
        if config.platforms is PlatformMode.SEPARATE:
            platform_run.add(
                truth.time,
                [obj for obj in truth.objects if obj.platform_id is not None],
                [track for track in tracks if track.platform_id is not None],
                frame_origin,
            )
    detectable = first_detectable or {}
    platforms = platform_run.report(detectable, None) if config.platforms is PlatformMode.SEPARATE else None
    return main.report(detectable, platforms, identity.stats())


# --- Latency ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Observation-to-picture latency in milliseconds; None when there were no samples."""

    count: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    max_ms: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean_ms": self.mean_ms,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
        }


def latency_stats(pairs: Iterable[tuple[datetime, datetime]]) -> LatencyStats:
    """Latency statistics from (observation time, picture update time) pairs.

    Negative latencies are kept, not clipped: they mean clocks disagree, which the caller must see.
    """
    one_ms = timedelta(milliseconds=1)
    latencies = np.array([(updated - observed) / one_ms for observed, updated in pairs], dtype=float)
    if not len(latencies):
        return LatencyStats(0, None, None, None, None, None)
    p50, p95, p99 = np.percentile(latencies, [50, 95, 99])
    return LatencyStats(
        count=len(latencies),
        mean_ms=float(latencies.mean()),
        p50_ms=float(p50),
        p95_ms=float(p95),
        p99_ms=float(p99),
        max_ms=float(latencies.max()),
    )
