"""Rampart's fusion core against Stone Soup on the benchmark family: accuracy and rate in one run.

Each scenario of the family (`simulators/family.py`: 10, 100 and 500 targets, several seeds) is
written to a recording; both trackers read the same decoded messages (generation and decoding are
not timed). Rampart's `FusionCore` runs on its defaults, driven as `fusion.offline.OfflineFusion`
drives it: messages in arrival order, ticks of `tick_s`, a picture at every truth frame. Stone Soup
(EKF + GNN of stock components) runs twice: stock (CV process noise 0.5 m²/s³) and oracle (the best
of 0.1, 0.5 and 1.0 for that scenario); it processes observations in time order and its picture at
truth time T is causal: it holds the observations stamped up to T minus the family's largest
latency (so every one of them has arrived by T). Neither tracker is told the scenario's motion noise.

Both pictures are scored with Stone Soup's own GOSPA (`GOSPAMetric`, c=100 m, p=1, alpha=2, east and
north, tracks extrapolated to the truth time) and with `fusion.eval.evaluate` (the same GOSPA
figures, OSPA, id switches, fragmentations, time to confirm); friendly platforms are scored apart.

Usage: python bench/fusion_vs_stonesoup.py [--sizes 10 100 500] [--seeds 1 2 3] [--duration S]
       [--stonesoup-duration S]   (Stone Soup and Rampart side by side on a prefix of each scenario)
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # single-threaded numpy/scipy, before they are imported
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
import stonesoup
from scipy.spatial.transform import Rotation
from scipy.stats import chi2
from stonesoup.dataassociator.neighbour import GNNWith2DAssignment
from stonesoup.deleter.time import UpdateTimeDeleter
from stonesoup.hypothesiser.distance import DistanceHypothesiser
from stonesoup.initiator.simple import MultiMeasurementInitiator
from stonesoup.measures import Mahalanobis
from stonesoup.metricgenerator.ospametric import GOSPAMetric
from stonesoup.models.measurement.linear import LinearGaussian
from stonesoup.models.measurement.nonlinear import CartesianToElevationBearingRange
from stonesoup.models.transition.linear import CombinedLinearGaussianTransitionModel, ConstantVelocity
from stonesoup.predictor.kalman import ExtendedKalmanPredictor
from stonesoup.types.angle import Bearing, Elevation
from stonesoup.types.array import CovarianceMatrix, StateVector
from stonesoup.types.detection import Detection as SsDetection
from stonesoup.types.state import GaussianState, State
from stonesoup.types.track import Track as SsTrack
from stonesoup.updater.kalman import ExtendedKalmanUpdater

from bus import codec, topics
from bus.recording import open_recording
from bus.schema import (
    Envelope,
    GeoMeasurement,
    GeoPoint,
    GroundTruth,
    Observation,
    PositionReport,
    SensorReading,
    Track,
    TrackStatus,
    VideoMetadata,
)
from fusion import FusionConfig, FusionCore
from fusion.eval import CONFIRMED_STATUSES, EvalReport, enu_positions, evaluate, track_positions
from fusion.frame import LocalFrame
from nodes.sim import scenario_for, write_recording
from simulators import family

Message = tuple[int, Observation | GroundTruth]
"""A decoded recording record: receive time in microseconds and the message."""

STOCK_Q = 0.5
ORACLE_QS = (0.1, 0.5, 1.0)
"""Stone Soup's CV process noise (m²/s³ per axis): stock, and the candidates of the oracle."""
CAUSAL_DELAY_S = 0.25
"""The family's largest latency (radar 0.15 s + 0.1 s jitter): what Stone Soup's picture waits for."""
GOSPA_C, GOSPA_P = 100.0, 1.0
POS = [0, 2, 4]
VEL = [1, 3, 5]
"""Position and velocity rows of Stone Soup's state [e, ve, n, vn, u, vu]."""
_MIN_GEO_VARIANCE_M2 = 1e-2  # as fusion.scan: geolocated covariances may be singular
_MIN_REPORT_SIGMA_M = 0.1  # as fusion.core

clock = time.perf_counter


# --- The recording ---------------------------------------------------------------------------------


def read_messages(path: Path, seconds: float | None) -> Iterator[Message]:
    """Observations and truth frames of the recording's first `seconds` (all if None), ending with
    its last truth frame in that span, so that both trackers are scored on the same frames."""
    pending: list[Message] = []
    start: int | None = None
    for record in open_recording(path):
        start = record.time_us if start is None else start
        if seconds is not None and record.time_us - start >= seconds * 1e6:
            break
        if topics.parse(record.topic).kind not in (topics.Kind.OBSERVATION, topics.Kind.TRUTH):
            continue
        message = codec.decode_on_topic(record.topic, record.payload, record.content_type)
        assert isinstance(message, Observation | GroundTruth), f"{record.topic} carries a {message.NAME}"
        pending.append((record.time_us, message))
        if isinstance(message, GroundTruth):
            yield from pending
            pending.clear()


def detection_count(message: Envelope) -> int:
    """Detections a tracker can use: sensor plots and geolocated video detections."""
    if isinstance(message, SensorReading):
        return len(message.detections)
    if isinstance(message, VideoMetadata):
        return sum(d.geo is not None for d in message.detections)
    return 0


@dataclass
class Result:
    """One tracker's run: the evaluation, what it processed and how long fusion took."""

    name: str
    report: EvalReport
    gospa: StoneSoupGospa
    observations: int = 0
    detections: int = 0
    fusion_s: float = 0.0
    """Wall time in the tracker itself (not generation, decoding, picture building or evaluation)."""
    cpu_s: float = 0.0
    picture_s: float = 0.0
    """Building `Track` models for evaluation (Rampart: `FusionCore.tracks()`), not in the rates."""

    @property
    def detections_per_s(self) -> float:
        """Per CPU second of the tracker: on a shared machine wall time measures the neighbours."""
        return self.detections / self.cpu_s if self.cpu_s else math.nan


class Stopwatch:
    """Accumulates wall and CPU time of the sections it is entered for."""

    def __init__(self) -> None:
        self.wall = self.cpu = 0.0

    def __enter__(self) -> None:
        self._wall, self._cpu = clock(), time.process_time()

    def __exit__(self, *_: object) -> None:
        self.wall += clock() - self._wall
        self.cpu += time.process_time() - self._cpu


# --- Rampart ---------------------------------------------------------------------------------------


def run_rampart(messages: Iterable[Message], config: FusionConfig, name: str = "Rampart") -> Result:
    """The core over the messages as `OfflineFusion.run` drives it; the picture at every truth frame."""
    core = FusionCore(config)
    fusion, picture = Stopwatch(), Stopwatch()
    tick = timedelta(seconds=config.tick_s)

    def frames() -> Iterator[tuple[GroundTruth, list[Track]]]:
        now_clock: datetime | None = None
        for time_us, message in messages:
            now = datetime.fromtimestamp(time_us / 1e6, UTC)
            with fusion:
                now_clock = now if now_clock is None else now_clock
                while now_clock + tick <= now:
                    now_clock += tick
                    core.advance(now_clock)
                if isinstance(message, GroundTruth):
                    core.advance(now)
                else:
                    core.ingest(message, now=now)
            if isinstance(message, GroundTruth):
                with picture:
                    tracks = core.tracks()
                yield message, tracks

    pictures = list(frames())
    figures = core.figures
    return Result(
        name=name,
        report=evaluate(pictures),
        gospa=stonesoup_gospa(pictures),
        observations=figures.scans + figures.position_reports,
        detections=figures.detections,
        fusion_s=fusion.wall,
        cpu_s=fusion.cpu,
        picture_s=picture.wall,
    )


# --- Stone Soup ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoneSoupParams:
    """Stone Soup's tuning: stock choices, fixed here (not taken from Rampart's config)."""

    q: float = STOCK_Q
    """ConstantVelocity noise_diff_coeff per axis (m²/s³)."""
    gate: float = math.sqrt(float(chi2.ppf(0.999, 3)))
    """DistanceHypothesiser missed_distance: a 99.9 % Mahalanobis gate (3 dof)."""
    initial_speed_sigma_mps: float = 40.0
    """Prior velocity spread of a new track."""
    min_points: int = 3
    """Detections to confirm a track (MultiMeasurementInitiator)."""
    tentative_delete_s: float = 3.0
    """A tentative (holding) track without an update for this long is deleted."""
    delete_s: float = 10.0
    """A confirmed track without an update for this long is deleted."""
    coast_s: float = 2.0
    """A track not updated for this long is reported as coasting (scored the same as confirmed)."""
    report_ce_m: float = 10.0
    report_le_m: float = 15.0
    """1-sigma errors of a position report that gives none."""

    def describe(self) -> str:
        return (
            f"EKF, CV q={self.q:g} m²/s³ per axis (3-D), prior speed sigma {self.initial_speed_sigma_mps:g} m/s; "
            f"DistanceHypothesiser(Mahalanobis, missed_distance={self.gate:.3f}) + GNNWith2DAssignment; "
            f"MultiMeasurementInitiator(min_points={self.min_points}, UpdateTimeDeleter "
            f"{self.tentative_delete_s:g} s); UpdateTimeDeleter {self.delete_s:g} s"
        )


def stonesoup_rotation(rotation: np.ndarray) -> StateVector:
    """Stone Soup's rotation_offset [roll, pitch, yaw] whose matrix is `rotation` (frame -> sensor)."""
    # Stone Soup builds rotx(-roll) @ roty(pitch) @ rotz(-yaw); scipy's intrinsic XYZ is Rx @ Ry @ Rz.
    a, b, c = Rotation.from_matrix(rotation).as_euler("XYZ")
    return StateVector([-a, b, -c])


class StoneSoupTracker:
    """A multi-target EKF tracker of Stone Soup components over the common ENU frame, one scan per message.

    State [e, ve, n, vn, u, vu]. Polar plots use CartesianToElevationBearingRange at the sensor's
    position, turned from the sensor's own ENU into the frame; geolocated detections and position
    reports use LinearGaussian on the position. Each track keeps only its latest state: the time-sliced
    deleter walks a track's whole history, which would make the cost grow with the run's length.
    """

    def __init__(self, frame: LocalFrame, params: StoneSoupParams) -> None:
        self.frame = frame
        self.params = params
        transition = CombinedLinearGaussianTransitionModel([ConstantVelocity(params.q)] * 3)
        predictor = ExtendedKalmanPredictor(transition)
        self.updater = ExtendedKalmanUpdater(measurement_model=None)
        hypothesiser = DistanceHypothesiser(predictor, self.updater, Mahalanobis(), missed_distance=params.gate)
        self.associator = GNNWith2DAssignment(hypothesiser)
        self.deleter = UpdateTimeDeleter(timedelta(seconds=params.delete_s))
        speed_var = params.initial_speed_sigma_mps**2
        prior = GaussianState(StateVector([0.0] * 6), CovarianceMatrix(np.diag([0, speed_var] * 3)))
        self.initiator = MultiMeasurementInitiator(
            prior_state=prior,
            deleter=UpdateTimeDeleter(timedelta(seconds=params.tentative_delete_s)),
            data_associator=GNNWith2DAssignment(hypothesiser),
            updater=self.updater,
            min_points=params.min_points,
        )
        self.tracks: set[SsTrack] = set()
        self._ids: dict[str, str] = {}

    def process(self, obs: Observation) -> None:
        """One scan: associate to confirmed tracks, update, delete stale tracks, initiate from the rest."""
        detections = self._detections(obs)
        timestamp = obs.time
        used = set()
        for track, hypothesis in self.associator.associate(self.tracks, detections, timestamp).items():
            if hypothesis:
                track.append(self.updater.update(hypothesis))
                used.add(hypothesis.measurement)
                _trim(track)
        self.delete_stale(timestamp)
        for track in self.initiator.initiate(detections - used, timestamp):
            _trim(track)
            self.tracks.add(track)

    def delete_stale(self, timestamp: datetime) -> None:
        self.tracks -= self.deleter.delete_tracks(self.tracks, timestamp=timestamp)

    def _detections(self, obs: Observation) -> set[SsDetection]:
        frame, t = self.frame, obs.time
        if isinstance(obs, PositionReport):
            p = obs.position
            rot = frame.from_local(np.array([p.lat]), np.array([p.lon]))[0]
            ce = max(obs.ce_m if obs.ce_m is not None else self.params.report_ce_m, _MIN_REPORT_SIGMA_M)
            le = max(obs.le_m if obs.le_m is not None else self.params.report_le_m, _MIN_REPORT_SIGMA_M)
            model = LinearGaussian(6, POS, CovarianceMatrix(rot @ np.diag([ce**2, ce**2, le**2]) @ rot.T))
            z = StateVector(frame.point(p))
            return {SsDetection(z, timestamp=t, measurement_model=model, metadata={"platform_id": obs.platform_id})}
        if isinstance(obs, VideoMetadata):
            return {self._geo(d.geo, t) for d in obs.detections if d.geo is not None}
        out: set[SsDetection] = set()
        sp = obs.sensor_position
        offset = StateVector(frame.point(sp))
        rotation = stonesoup_rotation(frame.from_local(np.array([sp.lat]), np.array([sp.lon]))[0].T)
        models: dict[tuple[float, float, float], CartesianToElevationBearingRange] = {}
        for det in obs.detections:
            if det.geo is not None:
                out.add(self._geo(det.geo, t))
                continue
            assert det.polar is not None
            m = det.polar
            sigmas = (m.sigma_elevation_deg, m.sigma_bearing_deg, m.sigma_range_m)
            model = models.get(sigmas)
            if model is None:
                noise = np.diag([math.radians(sigmas[0]) ** 2, math.radians(sigmas[1]) ** 2, sigmas[2] ** 2])
                model = models[sigmas] = CartesianToElevationBearingRange(
                    6, POS, CovarianceMatrix(noise), translation_offset=offset, rotation_offset=rotation
                )
            # Rampart: bearing clockwise from north; Stone Soup: counter-clockwise from east (the x axis).
            bearing = Bearing(math.pi / 2 - math.radians(m.bearing_deg))
            z = StateVector([Elevation(math.radians(m.elevation_deg)), bearing, m.range_m])
            out.add(SsDetection(z, timestamp=t, measurement_model=model))
        return out

    def _geo(self, geo: GeoMeasurement, t: datetime) -> SsDetection:
        p = geo.position
        rot = self.frame.from_local(np.array([p.lat]), np.array([p.lon]))[0]
        cov = np.asarray(geo.covariance_enu_m2, dtype=float) + np.eye(3) * _MIN_GEO_VARIANCE_M2
        model = LinearGaussian(6, POS, CovarianceMatrix(rot @ cov @ rot.T))
        return SsDetection(StateVector(self.frame.point(p)), timestamp=t, measurement_model=model)

    def picture(self, now: datetime) -> list[Track]:
        """The confirmed tracks as schema Tracks (velocity and covariances in each track's own ENU)."""
        tracks = sorted(self.tracks, key=lambda track: track.timestamp)
        if not tracks:
            return []
        x = np.array([np.asarray(track.state_vector, dtype=float).ravel() for track in tracks])
        p = np.array([np.asarray(track.covar, dtype=float) for track in tracks])
        lat, lon, hae = self.frame.to_geodetic(x[:, POS])
        rot_t = np.swapaxes(self.frame.from_local(lat, lon), 1, 2)
        vel = (rot_t @ x[:, VEL, None])[..., 0]
        pos_cov = rot_t @ p[:, POS][:, :, POS] @ np.swapaxes(rot_t, 1, 2)
        vel_cov = rot_t @ p[:, VEL][:, :, VEL] @ np.swapaxes(rot_t, 1, 2)
        out = []
        for k, track in enumerate(tracks):
            updated = track.timestamp
            tid = self._ids.setdefault(track.id, f"S{len(self._ids) + 1:06d}")
            coasting = (now - updated).total_seconds() > self.params.coast_s
            out.append(
                Track(
                    track_id=tid,
                    status=TrackStatus.COASTING if coasting else TrackStatus.CONFIRMED,
                    position=GeoPoint(lat=float(lat[k]), lon=float(lon[k]), hae_m=float(hae[k])),
                    velocity_enu_mps=tuple(vel[k].tolist()),
                    position_cov_enu_m2=_psd(pos_cov[k]),
                    velocity_cov_enu_m2s2=_psd(vel_cov[k]),
                    platform_id=track.metadata.get("platform_id"),
                    first_seen=updated,
                    updated=updated,
                    stale_at=updated + timedelta(seconds=self.params.delete_s),
                )
            )
        return out


def _trim(track: SsTrack) -> None:
    """Keep only the latest state (and its metadata, which accumulates over the whole history)."""
    del track[:-1]
    del track.metadatas[:-1]


def _psd(matrix: np.ndarray) -> tuple[tuple[float, float, float], ...]:
    """A covariance the schema accepts: Stone Soup's default (non-Joseph) EKF update can leave one
    slightly indefinite; only the evaluation's `Track` model is clipped, not the tracker's state."""
    values, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    return tuple(map(tuple, (vectors @ np.diag(np.maximum(values, 0.0)) @ vectors.T).tolist()))


def run_stonesoup(messages: list[Message], origin: GeoPoint, params: StoneSoupParams, window_s: float) -> Result:
    """Stone Soup over the observations in time order; at each truth time T the picture holds the
    observations stamped up to T - `window_s` (what Rampart's reorder window has released by then)."""
    tracker = StoneSoupTracker(LocalFrame(origin), params)
    observations = sorted(
        (message for _, message in messages if not isinstance(message, GroundTruth)), key=lambda obs: obs.time
    )
    truths = [message for _, message in messages if isinstance(message, GroundTruth)]
    fusion, picture = Stopwatch(), Stopwatch()
    window = timedelta(seconds=window_s)
    done = 0

    def frames() -> Iterator[tuple[GroundTruth, list[Track]]]:
        nonlocal done
        for truth in truths:
            with fusion:
                while done < len(observations) and observations[done].time <= truth.time - window:
                    tracker.process(observations[done])
                    done += 1
                tracker.delete_stale(truth.time)
            with picture:
                tracks = tracker.picture(truth.time)
            yield truth, tracks

    pictures = list(frames())
    applied = observations[:done]
    return Result(
        name=f"Stone Soup q={params.q:g}",
        report=evaluate(pictures),
        gospa=stonesoup_gospa(pictures),
        observations=len(applied),
        detections=sum(map(detection_count, applied)),
        fusion_s=fusion.wall,
        cpu_s=fusion.cpu,
        picture_s=picture.wall,
    )


# --- Scoring ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoneSoupGospa:
    """Means over the truth frames of Stone Soup's GOSPA and its split (metres, p = 1)."""

    distance: float
    localisation: float
    missed: float
    false: float


def stonesoup_gospa(frames: list[tuple[GroundTruth, list[Track]]]) -> StoneSoupGospa:
    """Stone Soup's `GOSPAMetric` on every frame: confirmed and coasting tracks against the truth
    objects that are not friendly platforms, east and north, tracks extrapolated to the truth time
    (as `fusion.eval` scores them)."""
    metric = GOSPAMetric(c=GOSPA_C, p=GOSPA_P)  # alpha = 2 is built in
    origin = next(t.objects[0].position for t, _ in frames if t.objects)
    parts = []
    for truth, picture in frames:
        objects = [obj for obj in truth.objects if obj.platform_id is None]
        tracks = [t for t in picture if t.status in CONFIRMED_STATUSES and t.platform_id is None]
        if not objects and not tracks:
            parts.append((0.0, 0.0, 0.0, 0.0))
            continue
        truth_xy = enu_positions([obj.position for obj in objects], origin)[:, :2]
        est_xy = track_positions(tracks, origin, truth.time)[:, :2]
        at = truth.time

        def states(xy: np.ndarray, at: datetime = at) -> list[State]:
            return [State(StateVector(row), timestamp=at) for row in xy]

        value, _ = metric.compute_gospa_metric(states(est_xy), states(truth_xy))
        v = value.value
        parts.append((v["distance"], v["localisation"], v["missed"], v["false"]))
    mean = np.mean(np.array(parts), axis=0)
    return StoneSoupGospa(*(float(x) for x in mean))


# --- Output ----------------------------------------------------------------------------------------


def _f(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return float(np.mean(items)) if items else None


def line(result: Result) -> str:
    """One tracker on one scenario, in one row of the table."""
    r, g = result.report, result.gospa
    confirm = list(r.times_to_confirm_s.values())
    return (
        f"    {result.name:<22} {g.distance:8.2f} {g.localisation:7.1f} {g.missed:7.1f} {g.false:7.1f}"
        f" {_f(r.mean_ospa, 2):>7} {r.id_switches:5d} {r.fragmentations:6d}"
        f" {_f(_mean(confirm)):>6} {len(confirm):4d}/{len(r.objects):<4d} {_f(result.detections_per_s, 0):>10}"
    )


HEADER = (
    f"    {'tracker':<22} {'GOSPA':>8} {'loc':>7} {'missed':>7} {'false':>7} {'OSPA':>7} {'idsw':>5} {'frag':>6}"
    f" {'t_conf':>6} {'confirmed':>9} {'det/s':>10}"
)


@dataclass
class Outcome:
    """One scenario: Rampart, stock Stone Soup and the oracle (best q)."""

    scenario: str
    rampart: Result
    stock: Result
    oracle: Result


def goal(ok: bool) -> str:
    return "met" if ok else "MISSED"


def run_scenario(name: str, duration: float | None, prefix: float | None, tmp: Path) -> Outcome:
    scenario = scenario_for(name, duration)
    path = tmp / f"{scenario.name}.rec"
    started = clock()
    written = write_recording(scenario, scenario.seed, path)
    origin = GeoPoint(lat=scenario.origin.lat, lon=scenario.origin.lon, hae_m=scenario.origin.alt)
    messages = list(read_messages(path, prefix))
    span = f"first {prefix:g} s" if prefix else f"{scenario.duration_s:g} s"
    print(
        f"\n{scenario.name}: {len(scenario.targets)} targets, {span}, {written:,} messages "
        f"(generated in {clock() - started:.1f} s, not timed)"
    )
    print(HEADER)
    rampart = run_rampart(messages, FusionConfig())
    print(line(rampart))
    soups = []
    for q in ORACLE_QS:
        soups.append(run_stonesoup(messages, origin, StoneSoupParams(q=q), CAUSAL_DELAY_S))
        print(line(soups[-1]))
    stock = next(r for r, q in zip(soups, ORACLE_QS, strict=True) if q == STOCK_Q)
    oracle = min(soups, key=lambda r: r.gospa.distance)
    return Outcome(scenario.name, rampart, stock, oracle)


def summary(outcomes: list[Outcome]) -> None:
    print("\ngoals (Rampart on its defaults; Stone Soup stock q=0.5, oracle = best q per scenario):")
    print(f"    {'scenario':<16} {'Rampart':>8} {'stock':>8} {'oracle':>8} {'R/stock':>8} {'R/oracle':>8}  det/s R/SS")
    ok_stock = ok_oracle = True
    for o in outcomes:
        r, s, b = o.rampart.gospa.distance, o.stock.gospa.distance, o.oracle.gospa.distance
        ok_stock &= r <= 0.90 * s
        ok_oracle &= r <= 1.00 * b
        speed = o.rampart.detections_per_s / o.stock.detections_per_s
        print(f"    {o.scenario:<16} {r:8.2f} {s:8.2f} {b:8.2f} {r / s:8.3f} {r / b:8.3f}  {speed:,.0f}x")
    print(f"  mean GOSPA <= 0.90 x stock Stone Soup's on every scenario -> {goal(ok_stock)}")
    print(f"  mean GOSPA <= 1.00 x oracle Stone Soup's on every scenario -> {goal(ok_oracle)}")
    ours = sum(o.rampart.report.id_switches for o in outcomes)
    theirs = sum(o.stock.report.id_switches for o in outcomes)
    print(f"  id switches in total no more than stock Stone Soup's: {ours} vs {theirs} -> {goal(ours <= theirs)}")
    big = [o for o in outcomes if o.scenario.startswith("family-500-")]
    for o in big:
        speedup = o.rampart.detections_per_s / o.stock.detections_per_s
        rate = o.rampart.detections_per_s
        print(f"  {o.scenario}: core >= 100x Stone Soup's rate: {speedup:,.0f}x -> {goal(speedup >= 100)}")
        print(f"  {o.scenario}: core >= 25,000 detections/s: {rate:,.0f} -> {goal(rate >= 25_000)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(family.SIZES), help="targets per scenario")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(family.SEEDS))
    parser.add_argument("--duration", type=float, help="shorten every scenario to this many seconds")
    parser.add_argument("--stonesoup-duration", type=float, help="score both trackers on this prefix only")
    args = parser.parse_args()
    print(
        f"Rampart: FusionCore, FusionConfig() defaults; "
        f"Stone Soup {stonesoup.__version__}: {StoneSoupParams().describe()}"
    )
    print(
        f"  Stone Soup's picture at truth time T: observations stamped <= T - {CAUSAL_DELAY_S:g} s, in time order; "
        "single-threaded; GOSPA = Stone Soup's GOSPAMetric(c=100, p=1, alpha=2), mean over truth frames (m)"
    )
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="fusion-vs-ss-") as tmp:
        for size in args.sizes:
            for seed in args.seeds:
                outcomes.append(
                    run_scenario(f"family-{size}-{seed}", args.duration, args.stonesoup_duration, Path(tmp))
                )
    summary(outcomes)


if __name__ == "__main__":
    main()
