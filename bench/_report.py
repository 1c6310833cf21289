"""Shared printing for the benchmarks (run as scripts: `bench/` is on their import path)."""

from __future__ import annotations

import math
import statistics


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """One figure, or the median and range of repeated runs; non-finite runs are left out."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return "n/a"
    if len(finite) == 1:
        return fmt.format(finite[0])
    median, low, high = (fmt.format(v) for v in (statistics.median(finite), min(finite), max(finite)))
    return f"median {median} (min {low}, max {high})"
