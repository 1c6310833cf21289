"""Sensor models: what each sensor sees of the true world, with noise, misses, false alarms and labels.

Every function takes the sensor's own random Generator, so that the draws of one sensor never depend
on another's. Candidates are given as arrays (positions (n, 3) ENU, class indices into
`OBJECT_CLASSES`); the results are the devices' wire bytes (see `simulators.native`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from simulators import klv, nmea, polar_radar
from simulators.geometry import CameraAxes, LocalFrame, Polar, angle_diff_deg
from simulators.native import GpsOutput, RadarOutput, VideoOutput
from simulators.scenario import (
    CALLS,
    DISPOSITIONS,
    LABELS,
    OBJECT_CLASSES,
    Camera,
    DetectionRange,
    Gps,
    PolarSensor,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

# Apparent size (m) of each class in a video frame, for the detection boxes.
OBJECT_SIZE_M = np.array([6.0, 1.5, 2.0])
VERTICAL_SIGMA_FACTOR = 2.0
"""The video tracker's claimed vertical geolocation sigma, as a multiple of its horizontal one: the
height of a ground point comes from a terrain model and is less certain."""
NO_LABEL = LABELS.index("none")
NO_CALL = CALLS.index("none")


def detection_probability(range_m: FloatArray, model: DetectionRange) -> FloatArray:
    """pd = pd0 for r <= r0; pd0 * (max - r) / (max - r0) for r0 < r < max; 0 beyond max range."""
    return model.pd0 * np.clip((model.max_range_m - range_m) / (model.max_range_m - model.r0_m), 0.0, 1.0)


class Classifier:
    """Draws a reported label for each true value from a confusion matrix (rows: the true values
    `truths`, columns: the `labels`, the last of which means no call). The confidence attached to a
    label is the probability that it is right given that it was reported, with equal priors:
    M[l, l] / sum_c M[c, l]."""

    def __init__(
        self,
        rows: Mapping[Any, Mapping[Any, float]],
        truths: Sequence[str] = OBJECT_CLASSES,
        labels: Sequence[str] = LABELS,
    ) -> None:
        matrix = np.array([[rows[c].get(label, 0.0) for label in labels] for c in truths])
        self.cumulative = np.cumsum(matrix, axis=1)
        self.n_labels = len(labels)
        reported = matrix.sum(axis=0)
        correct = np.array(
            [matrix[truths.index(label), j] if label in truths else 0.0 for j, label in enumerate(labels)]
        )
        self.confidence = np.where(reported > 0.0, correct / np.where(reported > 0.0, reported, 1.0), 0.0)

    def draw(self, rng: np.random.Generator, true_value: IntArray) -> IntArray:
        u = rng.random(len(true_value))
        drawn = (u[:, None] >= self.cumulative[true_value]).sum(axis=1)
        labels: IntArray = np.minimum(drawn, self.n_labels - 1).astype(np.int64)
        return labels


def _label(index: int) -> str | None:
    return None if index == NO_LABEL else LABELS[index]


def _call(index: int) -> str | None:
    return None if index == NO_CALL else CALLS[index]


class RadarModel:
    """A scanning polar sensor: targets inside its sector are detected with pd(range), measured with
    Gaussian range/bearing/elevation noise; Poisson clutter falls uniformly over the covered ground area.
    A scan is treated as instantaneous."""

    def __init__(self, sensor_id: str, config: PolarSensor) -> None:
        self.sensor_id = sensor_id
        self.config = config
        self.classifier = Classifier(config.confusion)
        rows = config.identification
        self.identifier = None if rows is None else Classifier(rows, DISPOSITIONS, CALLS)

    def scan(
        self,
        rng: np.random.Generator,
        scan_index: int,
        time_us: int,
        sensor_pos: FloatArray,
        boresight_deg: float,
        positions: FloatArray,
        classes: IntArray,
        dispositions: IntArray,
        frame: LocalFrame,
    ) -> RadarOutput:
        cfg = self.config
        polar = Polar.of(positions - sensor_pos)
        in_sector = np.abs(angle_diff_deg(polar.bearing_deg, boresight_deg)) <= cfg.fov_width_deg / 2.0
        detected = in_sector & (rng.random(len(classes)) < detection_probability(polar.range_m, cfg))
        n = int(detected.sum())
        ranges = np.abs(polar.range_m[detected] + cfg.sigma_range_m * rng.standard_normal(n))
        bearings = np.mod(polar.bearing_deg[detected] + cfg.sigma_bearing_deg * rng.standard_normal(n), 360.0)
        elevations = polar.elevation_deg[detected] + cfg.sigma_elevation_deg * rng.standard_normal(n)
        labels = self.classifier.draw(rng, classes[detected])
        # A sensor that identifies draws its calls here; one that does not draws nothing, so its stream is unchanged.
        calls = np.full(n, NO_CALL) if self.identifier is None else self.identifier.draw(rng, dispositions[detected])

        n_clutter = int(rng.poisson(cfg.clutter_per_scan))
        ground_range = cfg.max_range_m * np.sqrt(rng.random(n_clutter))
        clutter_bearings = np.mod(boresight_deg + cfg.fov_width_deg * (rng.random(n_clutter) - 0.5), 360.0)
        ranges = np.concatenate([ranges, np.hypot(ground_range, sensor_pos[2])])
        bearings = np.concatenate([bearings, clutter_bearings])
        elevations = np.concatenate([elevations, np.degrees(np.arctan2(-sensor_pos[2], ground_range))])
        labels = np.concatenate([labels, np.full(n_clutter, NO_LABEL, dtype=np.int64)])
        calls = np.concatenate([calls, np.full(n_clutter, NO_CALL, dtype=np.int64)])
        snr = cfg.snr_1km_db - 40.0 * np.log10(np.maximum(ranges, 1.0) / 1000.0)

        order = np.argsort(bearings, kind="stable")
        plots = [
            polar_radar.Plot(
                range_m=r,
                azimuth_deg=b,
                elevation_deg=e,
                snr_db=s,
                label=_label(lab),
                label_confidence=conf,
                identity=_call(call),
            )
            for r, b, e, lab, conf, s, call in zip(
                ranges[order].tolist(),
                bearings[order].tolist(),
                elevations[order].tolist(),
                labels[order].tolist(),
                self.classifier.confidence[labels[order]].tolist(),
                snr[order].tolist(),
                calls[order].tolist(),
                strict=True,
            )
        ]
        lat, lon, alt = frame.to_geodetic(sensor_pos[None, :])
        accuracy = (cfg.sigma_range_m, cfg.sigma_bearing_deg, cfg.sigma_elevation_deg)
        # The sector announced is where pd holds its nominal value (half the maximum range if it falls
        # from 0); the clutter, even over the whole range, falls inside it in proportion to its area.
        half = cfg.fov_width_deg / 2.0
        reach = cfg.r0_m if cfg.r0_m > 0.0 else cfg.max_range_m / 2.0
        sector = (
            float(np.mod(boresight_deg - half, 360.0)),
            float(np.mod(boresight_deg + half, 360.0)),
            reach,
            cfg.pd0,
            cfg.clutter_per_scan * (reach / cfg.max_range_m) ** 2,
        )
        data = polar_radar.scan(self.sensor_id, scan_index, time_us, (lat[0], lon[0], alt[0]), accuracy, plots, sector)
        return RadarOutput(self.sensor_id, data)


class CameraModel:
    """A gimballed camera on a level-flying drone (pitch and roll 0, so the gimbal angles are also angles
    in the local level frame). Objects inside the pinhole frustum are detected with pd(slant range) and
    geolocated with Gaussian horizontal noise; false detections are uniform over the image, on the ground.
    """

    def __init__(self, drone_id: str, mission_id: str, config: Camera) -> None:
        self.drone_id = drone_id
        self.mission_id = mission_id
        self.config = config
        self.classifier = Classifier(config.confusion)

    def frame(
        self,
        rng: np.random.Generator,
        time_us: int,
        position: FloatArray,
        heading_deg: float,
        aim: FloatArray | None,
        positions: FloatArray,
        classes: IntArray,
        frame: LocalFrame,
    ) -> VideoOutput:
        cfg = self.config
        cam = CameraAxes.looking_at(position, aim, heading_deg, cfg.hfov_deg, cfg.vfov_deg)
        column, row, depth = cam.project(positions)
        in_view = (depth > 0.0) & (np.abs(column - 0.5) <= 0.5) & (np.abs(row - 0.5) <= 0.5)
        slant = np.linalg.norm(positions - position, axis=1)
        detected = in_view & (rng.random(len(classes)) < detection_probability(slant, cfg))
        n = int(detected.sum())
        located = positions[detected].copy()
        located[:, :2] += cfg.sigma_m * rng.standard_normal((n, 2))
        labels = self.classifier.draw(rng, classes[detected])
        sizes = OBJECT_SIZE_M[classes[detected]]
        column, row, depth = column[detected], row[detected], depth[detected]

        n_clutter = int(rng.poisson(cfg.clutter_per_frame))
        c_col, c_row = rng.random(n_clutter), rng.random(n_clutter)
        c_labels = rng.integers(0, len(OBJECT_CLASSES), n_clutter)
        c_points, c_hits = cam.ground_hits(cam.rays(c_col, c_row))
        c_points = c_points[c_hits]
        column = np.concatenate([column, c_col[c_hits]])
        row = np.concatenate([row, c_row[c_hits]])
        depth = np.concatenate([depth, (c_points - position) @ cam.forward])
        labels = np.concatenate([labels, c_labels[c_hits]])
        sizes = np.concatenate([sizes, OBJECT_SIZE_M[c_labels[c_hits]]])
        located = np.concatenate([located, c_points])

        half_w = sizes / depth / (4.0 * cam.tan_half_h)
        half_h = sizes / depth / (4.0 * cam.tan_half_v)
        boxes = np.clip(np.column_stack([column - half_w, row - half_h, column + half_w, row + half_h]), 0, 1)

        centre, centre_hit = cam.ground_hits(cam.forward[None, :])
        corners, corner_hits = cam.ground_hits(cam.rays(np.array([0.0, 1.0, 1.0, 0.0]), np.array([0.0, 0.0, 1.0, 1.0])))
        lat, lon, alt = frame.to_geodetic(np.vstack([position, centre, corners, located]))
        det_lat, det_lon, det_alt = lat[6:], lon[6:], alt[6:]
        box_list, label_list = boxes.tolist(), labels.tolist()
        confidence = self.classifier.confidence[labels].tolist()
        targets = tuple(
            klv.Target(
                box=(box_list[i][0], box_list[i][1], box_list[i][2], box_list[i][3]),
                label=_label(label_list[i]),
                confidence=confidence[i],
                latitude_deg=det_lat[i],
                longitude_deg=det_lon[i],
                hae_m=det_alt[i],  # the simulated world has no geoid: MSL is HAE
                sigma_horizontal_m=cfg.sigma_m,
                sigma_vertical_m=VERTICAL_SIGMA_FACTOR * cfg.sigma_m,
            )
            for i in np.argsort(boxes[:, 0], kind="stable").tolist()
        )
        looks_down = bool(centre_hit[0])
        all_corners = bool(corner_hits.all())
        bearing = Polar.of(cam.forward[None, :])
        fields = {
            2: time_us,
            3: self.mission_id,
            5: float(np.mod(heading_deg, 360.0)),
            6: 0.0,
            7: 0.0,
            10: self.drone_id,
            13: lat[0],
            14: lon[0],
            15: alt[0],
            16: cfg.hfov_deg,
            17: cfg.vfov_deg,
            18: float(np.mod(bearing.bearing_deg[0] - heading_deg, 360.0)),
            19: float(bearing.elevation_deg[0]),
            20: 0.0,
            21: float(np.linalg.norm(centre[0] - position)) if looks_down else None,
            23: lat[1] if looks_down else None,
            24: lon[1] if looks_down else None,
            25: alt[1] if looks_down else None,
        }
        if all_corners:  # tags 82-89: full corner points, upper-left, upper-right, lower-right, lower-left
            fields.update({82 + 2 * k + j: value for k in range(4) for j, value in enumerate((lat[2 + k], lon[2 + k]))})
        return VideoOutput(self.drone_id, f"{self.drone_id}.video", klv.packet(fields, targets))


def gps_fix(
    config: Gps,
    rng: np.random.Generator,
    platform_id: str,
    time_us: int,
    position: FloatArray,
    velocity: FloatArray,
    frame: LocalFrame,
) -> GpsOutput:
    """One fix: white Gaussian position error (horizontal per axis, vertical), true speed and course."""
    sigma = np.array([config.sigma_m, config.sigma_m, config.sigma_vertical_m])
    noisy = position + sigma * rng.standard_normal(3)
    lat, lon, alt = frame.to_geodetic(noisy[None, :])
    speed = float(np.hypot(velocity[0], velocity[1]))
    course = float(np.mod(np.degrees(np.arctan2(velocity[0], velocity[1])), 360.0))
    sentences = (nmea.gga(time_us, lat[0], lon[0], alt[0]), nmea.rmc(time_us, lat[0], lon[0], speed, course))
    return GpsOutput(platform_id, "".join(f"{sentence}\r\n" for sentence in sentences).encode("ascii"))
