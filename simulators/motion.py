"""Motion of every object, vectorised: state arrays over objects rather than one object per target.

Positions are ENU metres around the scenario origin (up = height above the flat ground), velocities
ENU m/s, headings degrees clockwise from true north. `World.at(t)` must be called with non-decreasing
times because random-motion targets are integrated forward lazily on a fixed grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from simulators.scenario import (
    DISPOSITIONS,
    ENVIRONMENT,
    OBJECT_CLASSES,
    Follow,
    Orbit,
    Patrol,
    Point2,
    RandomTargets,
    Scenario,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_Name = TypeVar("_Name", bound=str)


def heading_of(east: FloatArray, north: FloatArray) -> FloatArray:
    """Course in degrees clockwise from true north, in [0, 360)."""
    return np.mod(np.degrees(np.arctan2(east, north)), 360.0)


@dataclass(frozen=True, slots=True)
class Kinematics:
    """Positions (n, 3), velocities (n, 3) and headings (n,) of a set of objects at one instant."""

    pos: FloatArray
    vel: FloatArray
    heading_deg: FloatArray

    @staticmethod
    def empty() -> Kinematics:
        return Kinematics(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0))

    @staticmethod
    def concat(parts: Sequence[Kinematics]) -> Kinematics:
        if not parts:
            return Kinematics.empty()
        return Kinematics(
            np.concatenate([p.pos for p in parts]),
            np.concatenate([p.vel for p in parts]),
            np.concatenate([p.heading_deg for p in parts]),
        )


def _with_height(horizontal: FloatArray, height: FloatArray) -> FloatArray:
    return np.column_stack([horizontal, height])


class RouteSet:
    """Objects following waypoint routes at constant speed, starting at their own start times.

    Routes are padded into (n, max_points) arrays so one evaluation serves all of them. A looping route
    closes back to its first point; a non-looping one stops at its last point (heading kept).
    """

    def __init__(
        self,
        routes: Sequence[Sequence[Point2]],
        speeds: Sequence[float],
        heights: Sequence[float],
        loops: Sequence[bool],
        start_s: Sequence[float],
    ) -> None:
        self.n = len(routes)
        closed = [[*r, r[0]] if loop else list(r) for r, loop in zip(routes, loops, strict=True)]
        width = max((len(r) for r in closed), default=2)
        self.points = np.zeros((self.n, width, 2))
        self.cum = np.full((self.n, width), np.inf)
        self.dirs = np.zeros((self.n, width - 1, 2))
        self.n_seg = np.array([len(r) - 1 for r in closed], dtype=np.int64)
        for i, route in enumerate(closed):
            pts = np.asarray(route, dtype=np.float64)
            steps = np.diff(pts, axis=0)
            lengths = np.hypot(steps[:, 0], steps[:, 1])
            self.points[i, : len(pts)] = pts
            self.cum[i, : len(pts)] = np.concatenate([[0.0], np.cumsum(lengths)])
            safe = np.where(lengths > 0.0, lengths, 1.0)
            self.dirs[i, : len(steps)] = steps / safe[:, None]
        self.total = self.cum[np.arange(self.n), self.n_seg] if self.n else np.zeros(0)
        self.speed = np.asarray(speeds, dtype=np.float64)
        self.height = np.asarray(heights, dtype=np.float64)
        self.loop = np.asarray(loops, dtype=np.bool_)
        self.start = np.asarray(start_s, dtype=np.float64)

    def at(self, t: float) -> Kinematics:
        if self.n == 0:
            return Kinematics.empty()
        s = self.speed * np.maximum(t - self.start, 0.0)
        cycles = self.loop & (self.total > 0.0)
        s = np.where(cycles, np.mod(s, np.where(cycles, self.total, 1.0)), np.minimum(s, self.total))
        seg = np.minimum((self.cum[:, 1:] <= s[:, None]).sum(axis=1), self.n_seg - 1)
        rows = np.arange(self.n)
        direction = self.dirs[rows, seg]
        horizontal = self.points[rows, seg] + (s - self.cum[rows, seg])[:, None] * direction
        moving = cycles | (s < self.total)
        vel = direction * (self.speed * moving)[:, None]
        return Kinematics(
            _with_height(horizontal, self.height),
            _with_height(vel, np.zeros(self.n)),
            heading_of(direction[:, 0], direction[:, 1]),
        )


class NcvSet:
    """Near-constant-velocity objects: white-noise acceleration integrated exactly on a fixed time grid.

    The grid (not the sensors' event times) sets the random draws, so adding a sensor never changes the
    truth. Between grid points the state is interpolated linearly. Objects reflect off their box edges
    (infinite bounds = free) and hold still until their start time.
    """

    def __init__(
        self,
        pos: FloatArray,
        vel: FloatArray,
        heights: FloatArray,
        process_noise: FloatArray,
        lower: FloatArray,
        upper: FloatArray,
        start_s: FloatArray,
        step_s: float,
        rng: np.random.Generator,
    ) -> None:
        self.n = len(pos)
        self.step = step_s
        self.heights, self.lower, self.upper, self.start = heights, lower, upper, start_s
        self.sqrt_q = np.sqrt(process_noise)[:, None]
        self.rng = rng
        # Cholesky factor of the per-axis CV noise covariance [[dt³/3, dt²/2], [dt²/2, dt]].
        self.chol = np.linalg.cholesky(np.array([[step_s**3 / 3.0, step_s**2 / 2.0], [step_s**2 / 2.0, step_s]]))
        self.k = 0
        self.prev = (pos.astype(np.float64), vel.astype(np.float64))
        self.next = self._step(*self.prev, t_from=0.0)

    def _step(self, pos: FloatArray, vel: FloatArray, t_from: float) -> tuple[FloatArray, FloatArray]:
        a, b = self.rng.standard_normal((2, self.n, 2))
        active = (self.start <= t_from)[:, None]
        dp = vel * self.step + self.sqrt_q * self.chol[0, 0] * a
        dv = self.sqrt_q * (self.chol[1, 0] * a + self.chol[1, 1] * b)
        new_pos = np.where(active, pos + dp, pos)
        new_vel = np.where(active, vel + dv, vel)
        over, under = new_pos > self.upper, new_pos < self.lower
        new_pos = np.where(over, 2.0 * self.upper - new_pos, np.where(under, 2.0 * self.lower - new_pos, new_pos))
        new_vel = np.where(over | under, -new_vel, new_vel)
        return new_pos, new_vel

    def at(self, t: float) -> Kinematics:
        if self.n == 0:
            return Kinematics.empty()
        if t < self.k * self.step:
            raise ValueError(f"random motion runs forward only: asked for {t} s after {self.k * self.step} s")
        while t > (self.k + 1) * self.step:
            self.k += 1
            self.prev, self.next = self.next, self._step(*self.next, t_from=self.k * self.step)
        w = (t - self.k * self.step) / self.step
        pos = (1.0 - w) * self.prev[0] + w * self.next[0]
        vel = (1.0 - w) * self.prev[1] + w * self.next[1]
        return Kinematics(
            _with_height(pos, self.heights),
            _with_height(vel, np.zeros(self.n)),
            heading_of(vel[:, 0], vel[:, 1]),
        )


class OrbitSet:
    """Objects circling counter-clockwise around a centre at constant speed, starting due east of it."""

    def __init__(self, orbits: Sequence[Orbit], speeds: Sequence[float], heights: Sequence[float]) -> None:
        self.n = len(orbits)
        self.center = np.array([o.center for o in orbits], dtype=np.float64).reshape(self.n, 2)
        self.radius = np.array([o.radius_m for o in orbits], dtype=np.float64)
        self.speed = np.asarray(speeds, dtype=np.float64)
        self.height = np.asarray(heights, dtype=np.float64)

    def at(self, t: float) -> Kinematics:
        if self.n == 0:
            return Kinematics.empty()
        theta = self.speed / self.radius * t
        c, s = np.cos(theta), np.sin(theta)
        horizontal = self.center + self.radius[:, None] * np.column_stack([c, s])
        vel = self.speed[:, None] * np.column_stack([-s, c])
        return Kinematics(
            _with_height(horizontal, self.height),
            _with_height(vel, np.zeros(self.n)),
            heading_of(vel[:, 0], vel[:, 1]),
        )


def _weighted_choice(rng: np.random.Generator, weights: Mapping[_Name, float], n: int) -> list[_Name]:
    names = sorted(weights)
    p = np.array([weights[k] for k in names], dtype=np.float64)
    return [names[i] for i in rng.choice(len(names), size=n, p=p / p.sum())]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every object at one instant; `alive` is False for targets outside their appear/leave interval."""

    t: float
    kin: Kinematics
    alive: BoolArray


class World:
    """All objects of a scenario: targets first, then drones, then combat vehicles (platforms).

    Static per-object attributes are plain arrays/lists indexed like the snapshot arrays.
    """

    def __init__(self, scenario: Scenario, rng_for: RngFactory) -> None:
        listed = scenario.targets
        self.ids: list[str] = scenario.target_ids()
        classes = [t.object_class for t in listed]
        dispositions: list[str] = [t.disposition for t in listed]
        appear = [t.appear_s for t in listed]
        leave = [t.leave_s if t.leave_s is not None else np.inf for t in listed]

        route_idx = [i for i, t in enumerate(listed) if t.route is not None]
        self.target_routes = RouteSet(
            [listed[i].route or [] for i in route_idx],
            [listed[i].speed_mps for i in route_idx],
            [listed[i].height_m for i in route_idx],
            [listed[i].loop for i in route_idx],
            [listed[i].appear_s for i in route_idx],
        )
        ncv = [t for t in listed if t.start is not None]
        ncv_idx = [i for i, t in enumerate(listed) if t.start is not None]
        heading = np.radians([t.heading_deg for t in ncv])
        speed = np.array([t.speed_mps for t in ncv])
        parts = [
            (
                np.array([t.start for t in ncv], dtype=np.float64).reshape(-1, 2),
                np.column_stack([speed * np.sin(heading), speed * np.cos(heading)]),
                np.array([t.height_m for t in ncv]),
                np.array([t.process_noise for t in ncv]),
                np.full((len(ncv), 2), -np.inf),
                np.full((len(ncv), 2), np.inf),
            )
        ]
        start = [t.appear_s for t in ncv]
        setup_rng = rng_for("random_targets")
        for block in scenario.random_targets:
            block_classes = _weighted_choice(setup_rng, block.classes, block.count)
            parts.append(_random_block(block, block_classes, setup_rng))
            classes += block_classes
            block_dispositions = _weighted_choice(setup_rng, dict(block.dispositions), block.count)
            dispositions += block_dispositions
            appear += [0.0] * block.count
            leave += [np.inf] * block.count
            start += [0.0] * block.count
        n_listed = len(listed)
        self.ncv_index = np.array(ncv_idx + list(range(n_listed, len(self.ids))), dtype=np.int64)
        self.route_index = np.array(route_idx, dtype=np.int64)
        pos, vel, heights, q, lower, upper = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
        self.targets_ncv = NcvSet(
            pos, vel, heights, q, lower, upper, np.array(start), scenario.motion_step_s, rng_for("motion")
        )
        self.n_targets = len(self.ids)
        self.appear = np.array(appear, dtype=np.float64)
        self.leave = np.array(leave, dtype=np.float64)

        drones = scenario.drones
        self.orbit_idx = [i for i, d in enumerate(drones) if isinstance(d.behaviour, Orbit)]
        self.patrol_idx = [i for i, d in enumerate(drones) if isinstance(d.behaviour, Patrol)]
        self.follow = [
            (i, self.ids.index(d.behaviour.target), d.behaviour.offset_m, d.altitude_m)
            for i, d in enumerate(drones)
            if isinstance(d.behaviour, Follow)
        ]
        self.orbits = OrbitSet(
            [b for d in drones if isinstance(b := d.behaviour, Orbit)],
            [drones[i].speed_mps for i in self.orbit_idx],
            [drones[i].altitude_m for i in self.orbit_idx],
        )
        self.patrols = RouteSet(
            [b.route for d in drones if isinstance(b := d.behaviour, Patrol)],
            [drones[i].speed_mps for i in self.patrol_idx],
            [drones[i].altitude_m for i in self.patrol_idx],
            [b.loop for d in drones if isinstance(b := d.behaviour, Patrol)],
            [0.0] * len(self.patrol_idx),
        )
        vehicles = scenario.vehicles
        self.vehicles = RouteSet(
            [v.route for v in vehicles],
            [v.speed_mps for v in vehicles],
            [0.0] * len(vehicles),
            [v.loop for v in vehicles],
            [0.0] * len(vehicles),
        )
        self.n_drones = len(drones)
        self.drone_offset = self.n_targets
        self.vehicle_offset = self.n_targets + self.n_drones
        self.ids += [d.id for d in drones] + [v.id for v in vehicles]
        self.object_class = np.array(
            [OBJECT_CLASSES.index(c) for c in classes]
            + [OBJECT_CLASSES.index("uav")] * len(drones)
            + [OBJECT_CLASSES.index("vehicle")] * len(vehicles),
            dtype=np.int64,
        )
        self.disposition: list[str] = dispositions + ["friendly"] * (len(drones) + len(vehicles))
        self.disposition_index = np.array([DISPOSITIONS.index(d) for d in self.disposition], dtype=np.int64)
        self.environment: list[str] = [ENVIRONMENT[OBJECT_CLASSES[c]] for c in self.object_class]

    @property
    def n_objects(self) -> int:
        return len(self.ids)

    def is_platform(self, index: int) -> bool:
        return index >= self.n_targets

    def at(self, t: float) -> Snapshot:
        targets = _scatter(
            self.n_targets,
            [(self.route_index, self.target_routes.at(t)), (self.ncv_index, self.targets_ncv.at(t))],
        )
        followers = Kinematics(
            np.array([[*(targets.pos[j, :2] + off), alt] for _, j, off, alt in self.follow]).reshape(-1, 3),
            np.array([[*targets.vel[j, :2], 0.0] for _, j, _, _ in self.follow]).reshape(-1, 3),
            np.array([targets.heading_deg[j] for _, j, _, _ in self.follow]),
        )
        drones = _scatter(
            self.n_drones,
            [
                (np.array(self.orbit_idx, dtype=np.int64), self.orbits.at(t)),
                (np.array(self.patrol_idx, dtype=np.int64), self.patrols.at(t)),
                (np.array([i for i, _, _, _ in self.follow], dtype=np.int64), followers),
            ],
        )
        kin = Kinematics.concat([targets, drones, self.vehicles.at(t)])
        alive = np.ones(self.n_objects, dtype=np.bool_)
        alive[: self.n_targets] = (self.appear <= t) & (t < self.leave)
        return Snapshot(t, kin, alive)


def _scatter(n: int, parts: Sequence[tuple[IntArray, Kinematics]]) -> Kinematics:
    """Put subsets' kinematics back at their indices in a set of n objects."""
    pos, vel, heading = np.zeros((n, 3)), np.zeros((n, 3)), np.zeros(n)
    for index, kin in parts:
        pos[index], vel[index], heading[index] = kin.pos, kin.vel, kin.heading_deg
    return Kinematics(pos, vel, heading)


def _random_block(
    block: RandomTargets, classes: Sequence[str], rng: np.random.Generator
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Initial state of a random block: uniform position in the box, class speed range, any course."""
    n = block.count
    center = np.asarray(block.center, dtype=np.float64)
    pos = center + rng.uniform(-block.half_size_m, block.half_size_m, size=(n, 2))
    ranges = np.array([getattr(block.speeds_mps, c) for c in classes], dtype=np.float64).reshape(n, 2)
    speed = rng.uniform(ranges[:, 0], ranges[:, 1])
    course = rng.uniform(0.0, 2.0 * np.pi, size=n)
    vel = np.column_stack([speed * np.sin(course), speed * np.cos(course)])
    heights = np.array([block.uav_altitude_m if c == "uav" else 0.0 for c in classes])
    return (
        pos,
        vel,
        heights,
        np.full(n, block.process_noise),
        np.tile(center - block.half_size_m, (n, 1)),
        np.tile(center + block.half_size_m, (n, 1)),
    )


class RngFactory:
    """Independent numpy Generator streams keyed by name, so that adding a source never shifts another's."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def __call__(self, name: str) -> np.random.Generator:
        key = tuple(name.encode("utf-8"))
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(self.seed, spawn_key=key)))
