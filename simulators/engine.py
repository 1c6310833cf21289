"""The scenario engine: runs the world forward and yields every source's native output in emit order.

Each source (truth, ground radar, vehicle sensor, drone camera, GPS receiver) observes on its own
periodic schedule; its output is emitted `latency` later on the simulation's true clock, while the
time stamp it writes is its own clock (true time + clock offset). Time zero is the scenario's
`start_time`. The same scenario and seed always give the same emissions; each source draws from its
own random stream keyed by its name, so adding a source leaves the others untouched.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from simulators.geometry import LocalFrame
from simulators.motion import FloatArray, IntArray, RngFactory, Snapshot, World
from simulators.native import NativeOutput, TruthFrame, TruthObject
from simulators.scenario import OBJECT_CLASSES, Drone, Follow, Gps, Orbit, Scenario, SourceTiming
from simulators.sensors import CameraModel, RadarModel, gps_fix


@dataclass(frozen=True, slots=True)
class Emission:
    """A native output and the moment (microseconds since 1970, true clock) the source emits it."""

    emit_time_us: int
    native: NativeOutput


def _us(seconds: float) -> int:
    return round(seconds * 1_000_000)


class _Source:
    """A periodic producer of native output; subclasses say what one observation yields.

    `timing` None means an ideal source (truth): no dropouts, no latency, no clock offset.
    """

    def __init__(self, name: str, rate_hz: float, timing: SourceTiming | None, rngs: RngFactory) -> None:
        self.name = name
        self.period_us = max(1, _us(1.0 / rate_hz))
        self.timing = timing
        self.rng = rngs(name)
        self.count = 0

    def observe(self, snap: Snapshot, stamp_us: int, index: int) -> NativeOutput:
        """The output of observation number `index` (counting dropped ones), stamped `stamp_us`."""
        raise NotImplementedError

    def emit(self, snap: Snapshot, true_us: int) -> Emission | None:
        """Observe at true time `true_us` unless this output drops out; stamp it with the source clock."""
        index, self.count = self.count, self.count + 1
        timing = self.timing
        if timing is None:
            return Emission(true_us, self.observe(snap, true_us, index))
        if self.rng.random() < timing.dropout_prob:
            return None
        latency_s = timing.latency_s + timing.latency_jitter_s * self.rng.random()
        native = self.observe(snap, true_us + _us(timing.clock_offset_s), index)
        return Emission(true_us + _us(latency_s), native)


class _TruthSource(_Source):
    def __init__(self, world: World, frame: LocalFrame, rate_hz: float, rngs: RngFactory) -> None:
        super().__init__("truth", rate_hz, None, rngs)
        self.world, self.frame = world, frame
        self.platform_ids = [w if world.is_platform(i) else None for i, w in enumerate(world.ids)]

    def observe(self, snap: Snapshot, stamp_us: int, index: int) -> TruthFrame:
        alive = np.flatnonzero(snap.alive)
        lat, lon, alt = self.frame.to_geodetic(snap.kin.pos[alive])
        velocities = snap.kin.vel[alive].tolist()
        w = self.world
        objects = tuple(
            TruthObject(
                object_id=w.ids[i],
                latitude_deg=lat[k],
                longitude_deg=lon[k],
                altitude_m=alt[k],
                velocity_enu_mps=(velocities[k][0], velocities[k][1], velocities[k][2]),
                object_class=OBJECT_CLASSES[w.object_class[i]],
                disposition=w.disposition[i],
                environment=w.environment[i],
                platform_id=self.platform_ids[i],
            )
            for k, i in enumerate(alive.tolist())
        )
        return TruthFrame(stamp_us, objects)


def _visible(snap: Snapshot, world: World, exclude: int | None) -> tuple[FloatArray, IntArray, IntArray]:
    """Positions, classes and true dispositions of every object a sensor could see: alive, and not the
    sensor's carrier."""
    mask = snap.alive.copy()
    if exclude is not None:
        mask[exclude] = False
    return snap.kin.pos[mask], world.object_class[mask], world.disposition_index[mask]


class _RadarSource(_Source):
    """A ground radar (`carrier` None: fixed at `position`) or a vehicle's onboard sensor (`carrier` =
    the vehicle's object index: it moves with it and its sector turns with the hull)."""

    def __init__(
        self,
        model: RadarModel,
        world: World,
        frame: LocalFrame,
        rngs: RngFactory,
        position: tuple[float, float] = (0.0, 0.0),
        carrier: int | None = None,
    ) -> None:
        super().__init__(f"radar:{model.sensor_id}", 1.0 / model.config.scan_period_s, model.config, rngs)
        self.model, self.world, self.frame, self.carrier = model, world, frame, carrier
        self.position = np.array([*position, 0.0])

    def observe(self, snap: Snapshot, stamp_us: int, index: int) -> NativeOutput:
        cfg = self.model.config
        if self.carrier is None:
            base, boresight = self.position, cfg.fov_center_deg
        else:
            base = snap.kin.pos[self.carrier]
            boresight = float(snap.kin.heading_deg[self.carrier]) + cfg.fov_center_deg
        sensor_pos = base + np.array([0.0, 0.0, cfg.height_m])
        positions, classes, dispositions = _visible(snap, self.world, self.carrier)
        return self.model.scan(
            self.rng, index, stamp_us, sensor_pos, boresight, positions, classes, dispositions, self.frame
        )


class _CameraSource(_Source):
    def __init__(
        self,
        model: CameraModel,
        carrier: int,
        aim: FloatArray | int | None,
        world: World,
        frame: LocalFrame,
        rngs: RngFactory,
    ) -> None:
        """`aim` is a fixed ENU point, a target's object index (tracked by the gimbal) or None (nadir)."""
        super().__init__(f"camera:{model.drone_id}", model.config.frame_rate_hz, model.config, rngs)
        self.model, self.carrier, self.aim, self.world, self.frame = model, carrier, aim, world, frame

    def observe(self, snap: Snapshot, stamp_us: int, index: int) -> NativeOutput:
        aim = snap.kin.pos[self.aim] if isinstance(self.aim, int) else self.aim
        positions, classes, _ = _visible(snap, self.world, self.carrier)
        return self.model.frame(
            self.rng,
            stamp_us,
            snap.kin.pos[self.carrier],
            float(snap.kin.heading_deg[self.carrier]),
            aim,
            positions,
            classes,
            self.frame,
        )


class _GpsSource(_Source):
    def __init__(self, platform_id: str, carrier: int, frame: LocalFrame, rngs: RngFactory, config: Gps) -> None:
        super().__init__(f"gps:{platform_id}", config.rate_hz, config, rngs)
        self.platform_id, self.carrier, self.frame, self.config = platform_id, carrier, frame, config

    def observe(self, snap: Snapshot, stamp_us: int, index: int) -> NativeOutput:
        return gps_fix(
            self.config,
            self.rng,
            self.platform_id,
            stamp_us,
            snap.kin.pos[self.carrier],
            snap.kin.vel[self.carrier],
            self.frame,
        )


def _camera_aim(drone: Drone, world: World) -> FloatArray | int | None:
    """Explicit pointing first, else the behaviour's natural aim: orbit centre, followed target, nadir."""
    cam, behaviour = drone.camera, drone.behaviour
    if cam.look_at is not None:
        return np.array([*cam.look_at, 0.0])
    if cam.look_at_target is not None:
        return world.ids.index(cam.look_at_target)
    if isinstance(behaviour, Orbit):
        return np.array([*behaviour.center, 0.0])
    if isinstance(behaviour, Follow):
        return world.ids.index(behaviour.target)
    return None


def _sources(scenario: Scenario, world: World, frame: LocalFrame, rngs: RngFactory) -> list[_Source]:
    """Truth first, so that at equal times the truth frame precedes what the sensors saw."""
    sources: list[_Source] = [_TruthSource(world, frame, scenario.truth_rate_hz, rngs)]
    for radar in scenario.radars:
        sources.append(_RadarSource(RadarModel(radar.id, radar), world, frame, rngs, position=radar.position))
    for i, drone in enumerate(scenario.drones):
        carrier = world.drone_offset + i
        camera = CameraModel(drone.id, scenario.name, drone.camera)
        sources.append(_CameraSource(camera, carrier, _camera_aim(drone, world), world, frame, rngs))
        sources.append(_GpsSource(drone.id, carrier, frame, rngs, drone.gps))
    for i, vehicle in enumerate(scenario.vehicles):
        carrier = world.vehicle_offset + i
        if vehicle.sensor is not None:
            sensor = RadarModel(f"{vehicle.id}.sensor", vehicle.sensor)
            sources.append(_RadarSource(sensor, world, frame, rngs, carrier=carrier))
        sources.append(_GpsSource(vehicle.id, carrier, frame, rngs, vehicle.gps))
    return sources


def _schedule(sources: list[_Source], duration_us: int) -> list[tuple[int, int]]:
    """Every (true time since start, source index) observation before the end, in time order; ties go
    to the earlier source."""
    times = [np.arange(0, duration_us, s.period_us, dtype=np.int64) for s in sources]
    owner = [np.full(len(t), i, dtype=np.int64) for i, t in enumerate(times)]
    all_times, all_owners = np.concatenate(times), np.concatenate(owner)
    order = np.lexsort((all_owners, all_times))
    return list(zip(all_times[order].tolist(), all_owners[order].tolist(), strict=True))


def simulate(scenario: Scenario, seed: int | None = None) -> Iterator[Emission]:
    """Run `scenario` (with `seed`, default the scenario's) and yield emissions in non-decreasing
    emit-time order (ties: in observation order)."""
    seed = scenario.seed if seed is None else seed
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    rngs = RngFactory(seed)
    world = World(scenario, rngs)
    frame = LocalFrame(scenario.origin)
    sources = _sources(scenario, world, frame, rngs)
    start_us = scenario.start_time_us
    pending: list[tuple[int, int, NativeOutput]] = []
    snap: Snapshot | None = None
    for sequence, (t_us, source) in enumerate(_schedule(sources, math.ceil(scenario.duration_s * 1e6))):
        now_us = start_us + t_us
        while pending and pending[0][0] <= now_us:
            emit_us, _, native = heapq.heappop(pending)
            yield Emission(emit_us, native)
        if snap is None or snap.t != t_us / 1e6:
            snap = world.at(t_us / 1e6)
        emission = sources[source].emit(snap, now_us)
        if emission is not None:
            heapq.heappush(pending, (emission.emit_time_us, sequence, emission.native))
    while pending:
        emit_us, _, native = heapq.heappop(pending)
        yield Emission(emit_us, native)
