"""The track table: every track's numbers in column arrays, one row per track, in creation order.

Rows stay in creation order (new tracks are appended, dropped ones compacted away), so iteration
order — and with it every output — is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from bus.schema import MAX_SOURCES_PER_TRACK, SourceKind, TrackStatus
from fusion.identity import CLASSES, LAND, NO_REPORT, UNKNOWN
from fusion.kalman import DIM

TENTATIVE = 0
CONFIRMED = 1
COASTING = 2
STATUSES = (TrackStatus.TENTATIVE, TrackStatus.CONFIRMED, TrackStatus.COASTING)

Sources = dict[str, tuple[SourceKind, int]]
"""Contributing source id -> (its kind, the time of its last contribution in microseconds)."""


_Scalar = TypeVar("_Scalar", bound=np.generic)


def _f(*shape: int) -> NDArray[np.float64]:
    return np.zeros(shape)


def _i(n: int, dtype: type[_Scalar], value: int = 0) -> NDArray[_Scalar]:
    return np.full(n, value, dtype=dtype)


@dataclass
class TrackTable:
    """Column arrays over N tracks; the list columns hold what is not a number."""

    x: NDArray[np.float64] = field(default_factory=lambda: _f(0, DIM))
    p: NDArray[np.float64] = field(default_factory=lambda: _f(0, DIM, DIM))
    time_us: NDArray[np.int64] = field(default_factory=lambda: _i(0, np.int64))
    """Time of the state, which is also the time of the last update."""
    first_us: NDArray[np.int64] = field(default_factory=lambda: _i(0, np.int64))
    changed_us: NDArray[np.int64] = field(default_factory=lambda: _i(0, np.int64))
    """Time of the last observation that changed the track in any way (state, sources, identity)."""
    status: NDArray[np.int8] = field(default_factory=lambda: _i(0, np.int8))
    hits: NDArray[np.int32] = field(default_factory=lambda: _i(0, np.int32))
    misses: NDArray[np.int32] = field(default_factory=lambda: _i(0, np.int32))
    noise: NDArray[np.float64] = field(default_factory=lambda: _f(0))
    """Log of the track's process-noise density over the steady one: raised by large innovations."""
    score: NDArray[np.float64] = field(default_factory=lambda: _f(0))
    """Log-odds that the track is a real object: up with each detection, down with each miss where
    a sensor looked."""
    speed_prior: NDArray[np.float64] = field(default_factory=lambda: _f(0))
    """Variance per axis of the zero-mean velocity prior the state still carries (inf: none, as a
    platform's or an adopted track's), so that a narrower learned prior can replace it."""
    platform: NDArray[np.bool_] = field(default_factory=lambda: _i(0, np.bool_))
    environment: NDArray[np.int8] = field(default_factory=lambda: _i(0, np.int8))
    log_class: NDArray[np.float64] = field(default_factory=lambda: _f(0, len(CLASSES)))
    has_class: NDArray[np.bool_] = field(default_factory=lambda: _i(0, np.bool_))
    disposition: NDArray[np.int8] = field(default_factory=lambda: _i(0, np.int8))
    challenger: NDArray[np.int8] = field(default_factory=lambda: _i(0, np.int8))
    challenges: NDArray[np.int32] = field(default_factory=lambda: _i(0, np.int32))
    challenged_us: NDArray[np.int64] = field(default_factory=lambda: _i(0, np.int64))
    """Time of the first report of the current challenger's streak."""
    ids: list[str] = field(default_factory=list)
    platform_ids: list[str | None] = field(default_factory=list)
    sources: list[Sources] = field(default_factory=list)

    @classmethod
    def blank(cls, n: int) -> TrackTable:
        """n new tentative, unknown, land tracks with uniform class posteriors; the caller fills the rest."""
        return cls(
            x=_f(n, DIM),
            p=_f(n, DIM, DIM),
            time_us=_i(n, np.int64),
            first_us=_i(n, np.int64),
            changed_us=_i(n, np.int64),
            status=_i(n, np.int8, TENTATIVE),
            hits=_i(n, np.int32),
            misses=_i(n, np.int32),
            noise=_f(n),
            score=_f(n),
            speed_prior=np.full(n, np.inf),
            platform=_i(n, np.bool_),
            environment=_i(n, np.int8, LAND),
            log_class=np.full((n, len(CLASSES)), -np.log(len(CLASSES))),
            has_class=_i(n, np.bool_),
            disposition=_i(n, np.int8, UNKNOWN),
            challenger=_i(n, np.int8, NO_REPORT),
            challenges=_i(n, np.int32),
            challenged_us=_i(n, np.int64),
            ids=[""] * n,
            platform_ids=[None] * n,
            sources=[{} for _ in range(n)],
        )

    def __len__(self) -> int:
        return len(self.ids)

    def extend(self, other: TrackTable) -> None:
        """Append other's rows."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            setattr(self, f.name, mine + theirs if isinstance(mine, list) else np.concatenate([mine, theirs]))

    def copy(self) -> TrackTable:
        """An independent copy, for a checkpoint. The source maps are shared: nothing changes one in
        place (`touch` replaces it), and copying every track's map was most of a rewind's cost."""
        new = TrackTable()
        for f in fields(self):
            column = getattr(self, f.name)
            setattr(new, f.name, list(column) if isinstance(column, list) else column.copy())
        return new

    def keep(self, mask: NDArray[np.bool_]) -> None:
        """Drop the rows where mask is False."""
        rows = np.flatnonzero(mask).tolist()
        for f in fields(self):
            column = getattr(self, f.name)
            setattr(self, f.name, [column[i] for i in rows] if isinstance(column, list) else column[mask])

    def rows_equal(self, rows: NDArray[np.intp], other: TrackTable, other_rows: NDArray[np.intp]) -> NDArray[np.bool_]:
        """For each pair, whether `rows[k]` holds exactly what `other_rows[k]` of `other` holds, in every column."""
        same = np.ones(len(rows), dtype=bool)
        if not len(rows):
            return same
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, list):
                same &= [mine[a] == theirs[b] for a, b in zip(rows.tolist(), other_rows.tolist(), strict=True)]
            else:
                equal = mine[rows] == theirs[other_rows]
                same &= equal.reshape(len(rows), -1).all(axis=1)
        return same

    def touch(self, row: int, source_id: str, kind: SourceKind, time_us: int) -> None:
        """Record a source's contribution, keeping only the most recent MAX_SOURCES_PER_TRACK sources.
        The row gets a new map rather than a changed one: copies of the table share the maps."""
        sources = {**self.sources[row], source_id: (kind, time_us)}
        self.changed_us[row] = max(int(self.changed_us[row]), time_us)
        if len(sources) > MAX_SOURCES_PER_TRACK:
            del sources[min(sources, key=lambda s: (sources[s][1], s))]
        self.sources[row] = sources
