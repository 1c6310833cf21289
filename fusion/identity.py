"""Identity: class probabilities combined across reports, disposition with hysteresis, CoT types.

Class evidence is combined as a naive-Bayes product of per-report likelihoods held as log
probabilities per track (N, C): each report's missing mass is spread over the classes it does not
list and every likelihood is floored, so several weak consistent reports outweigh one confident
wrong one and no report can drive a class to zero for good.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import NDArray

from bus.schema import Disposition, Environment, ObjectClass

Array = NDArray[np.float64]
Codes = NDArray[np.int8]

CLASSES: tuple[ObjectClass, ...] = tuple(ObjectClass)
DISPOSITIONS: tuple[Disposition, ...] = tuple(Disposition)
ENVIRONMENTS: tuple[Environment, ...] = tuple(Environment)
NO_REPORT = -1
"""Disposition code of a detection that makes no identity call."""
UNKNOWN = DISPOSITIONS.index(Disposition.UNKNOWN)
FRIENDLY = DISPOSITIONS.index(Disposition.FRIENDLY)
LAND = ENVIRONMENTS.index(Environment.LAND)
AIR = ENVIRONMENTS.index(Environment.AIR)

_CLASS_INDEX = {c: i for i, c in enumerate(CLASSES)}
_AIR_CLASSES = np.array([c in (ObjectClass.UAV, ObjectClass.AIRCRAFT) for c in CLASSES])
_SURFACE_CLASSES = np.array([c is ObjectClass.VESSEL for c in CLASSES])
_LOG_SPAN = np.log(1e-6)
"""Log posteriors are kept within this of the best class, so an identity can still change."""
_AFFILIATION = {
    Disposition.UNKNOWN: "u",
    Disposition.PENDING: "p",
    Disposition.ASSUMED_FRIEND: "a",
    Disposition.FRIENDLY: "f",
    Disposition.NEUTRAL: "n",
    Disposition.SUSPECT: "s",
    Disposition.HOSTILE: "h",
}
_DIMENSION = {
    Environment.UNKNOWN: "Z",
    Environment.AIR: "A",
    Environment.LAND: "G",
    Environment.SURFACE: "S",
    Environment.SUBSURFACE: "U",
    Environment.SPACE: "P",
}


def class_log_likelihoods(
    reports: Sequence[Mapping[ObjectClass, float]], floor: float
) -> tuple[Array, NDArray[np.bool_]]:
    """Log likelihoods (M, C) of many class reports at once, and which reports carry any evidence.

    A report's missing mass is spread over the classes it does not list; every likelihood is floored
    so that one confident wrong report cannot veto a class for good.
    """
    m = len(reports)
    prob = np.zeros((m, len(CLASSES)))
    listed = np.zeros((m, len(CLASSES)), dtype=bool)
    for row, report in enumerate(reports):
        for cls, p in report.items():
            col = _CLASS_INDEX[cls]
            prob[row, col] = p
            listed[row, col] = True
    n_listed = listed.sum(axis=1)
    has = n_listed > 0
    unlisted = len(CLASSES) - n_listed
    missing = np.maximum(0.0, 1.0 - prob.sum(axis=1)) / np.maximum(unlisted, 1)
    prob = np.where(listed, prob, missing[:, None])
    prob = np.maximum(prob / np.maximum(prob.sum(axis=1, keepdims=True), 1e-12), floor)
    log_like = np.log(prob / prob.sum(axis=1, keepdims=True))
    return np.where(has[:, None], log_like, 0.0), has


def combine(log_post: Array, log_like: Array) -> Array:
    """Bayes update of log posteriors (N, C) with log likelihoods (N, C), renormalised and bounded."""
    out = log_post + log_like
    out -= out.max(axis=1, keepdims=True)
    out = np.maximum(out, _LOG_SPAN)
    normalised: Array = out - np.log(np.exp(out).sum(axis=1, keepdims=True))
    return normalised


def disposition_step(
    current: Codes,
    candidate: Codes,
    count: NDArray[np.int32],
    since_us: NDArray[np.int64],
    report: Codes,
    time_us: int,
    k: int,
    within_us: int,
) -> tuple[Codes, Codes, NDArray[np.int32], NDArray[np.int64]]:
    """Hysteresis: a disposition changes only after k consecutive reports agree on the new one, all
    within `within_us` of the first of them (`since_us`): an identity is called again and again, while
    sporadic wrong calls, however many over a long life, seldom line up so closely.

    Reports equal to the current disposition reset the challenger; NO_REPORT leaves everything as is;
    a challenger older than `within_us` is replaced by the report that finds it so.
    """
    has = report != NO_REPORT
    agrees = has & (report == current)
    challenges = has & ~agrees
    same = challenges & (report == candidate) & (time_us - since_us <= within_us)
    count = np.where(agrees, 0, np.where(same, count + 1, np.where(challenges, 1, count))).astype(np.int32)
    since_us = np.where(challenges & ~same, time_us, since_us).astype(np.int64)
    candidate = np.where(challenges, report, np.where(agrees, NO_REPORT, candidate)).astype(np.int8)
    flip = challenges & (count >= k)
    current = np.where(flip, report, current).astype(np.int8)
    count = np.where(flip, 0, count).astype(np.int32)
    candidate = np.where(flip, NO_REPORT, candidate).astype(np.int8)
    return current, candidate, count, since_us


def infer_environment(
    height_m: Array, sigma_height_m: Array, log_post: Array, has_class: NDArray[np.bool_], air_height_m: float
) -> Codes:
    """Air when surely above `air_height_m` or most likely an air class; surface for vessels; else land."""
    best = np.argmax(log_post, axis=1)
    confident = has_class & (np.exp(log_post.max(axis=1)) > 0.5)
    air = (height_m - 2.0 * sigma_height_m > air_height_m) | (confident & _AIR_CLASSES[best])
    surface = confident & _SURFACE_CLASSES[best]
    return np.where(air, AIR, np.where(surface, ENVIRONMENTS.index(Environment.SURFACE), LAND)).astype(np.int8)


def cot_type(disposition: Disposition, environment: Environment) -> str:
    """CoT type of an atom, e.g. `a-h-G` for a hostile ground object."""
    return f"a-{_AFFILIATION[disposition]}-{_DIMENSION[environment]}"
