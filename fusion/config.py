"""Tuning of the fusion core: one frozen record, so a run is reproducible from its config alone."""

from __future__ import annotations

from dataclasses import dataclass

from scipy.stats import chi2

from bus.schema import GeoPoint


@dataclass(frozen=True)
class FusionConfig:
    """Every knob of the fusion core. Times in seconds, distances in metres."""

    origin: GeoPoint | None = None
    """Origin of the local ENU frame; None takes the first applied observation's position."""
    reorder_window_s: float = 0.5
    """Observations are held this long so that slightly out-of-order arrivals are applied in order."""
    max_future_s: float = 5.0
    """An observation stamped further than this after `now` is rejected (a broken clock)."""
    max_platform_speed_mps: float = 400.0
    """A position report implying a faster move since the platform's previous report is absurd."""
    max_claimed_sigma_m: float = 100.0
    """The jump check believes a report's own `ce_m`/`le_m` only up to this: a source claiming to be
    vague (ce = 100 km) must not open the door to an arbitrary jump."""
    takeover_fixes: int = 3
    """This many consecutive, mutually consistent fixes of a platform that the jump check refused,
    with no consistent fix of the current position in between, take the platform over: a genuine
    receiver regains its track after an impostor stops, or after its own first fix was bad."""
    dedup_capacity: int = 65_536
    """How many recent (source id, msg id) pairs are remembered to spot duplicates."""

    accel_sigma_mps2: float = 1.0
    """Process noise (white acceleration) of land, surface and unknown tracks."""
    air_accel_sigma_mps2: float = 5.0
    """Process noise of air tracks, which manoeuvre harder."""
    initial_speed_sigma_mps: float = 40.0
    """Velocity uncertainty of a track started from one detection (zero initial velocity)."""
    report_velocity_sigma_mps: float = 1.0
    """Velocity error assumed for a position report's own velocity (the schema carries none)."""
    default_ce_m: float = 10.0
    """Horizontal 1-sigma of a position report that gives no `ce_m`."""
    default_le_m: float = 15.0
    """Vertical 1-sigma of a position report that gives no `le_m`."""

    gate_probability: float = 0.999
    """Probability that a true detection falls inside its track's gate (chi-square, 3 dof)."""
    confirm_m: int = 3
    confirm_n: int = 5
    """A tentative track is confirmed after M hits in its first N opportunities, deleted on N-M+1 misses."""
    coast_after_s: float = 2.0
    """A confirmed track not updated for this long is shown as coasting."""
    delete_after_s: float = 10.0
    """A track not updated for this long is dropped (its `stale_at` = updated + this)."""
    platform_delete_after_s: float = 30.0
    """Stale time of friendly platform tracks, which report less often than sensors scan."""
    max_position_sigma_m: float = 1_000.0
    """A track whose horizontal 1-sigma grows beyond this is dropped: it no longer says where."""

    class_likelihood_floor: float = 0.05
    """Smallest likelihood one report gives any class, so a single wrong report cannot veto one."""
    disposition_confirm_k: int = 3
    """Consecutive reports needed to change a track's disposition (hysteresis)."""
    air_height_m: float = 50.0
    """A track surely this far above the ground is an air track."""
    ground_hae_m: float = 0.0
    """Height of the ground in the area of operations above the ellipsoid, for the air test."""

    def __post_init__(self) -> None:
        if not 0 < self.confirm_m <= self.confirm_n:
            raise ValueError("need 0 < confirm_m <= confirm_n")
        if not 0.0 < self.gate_probability < 1.0:
            raise ValueError("gate_probability must be in (0, 1)")
        if self.dedup_capacity < 1 or self.disposition_confirm_k < 1 or self.takeover_fixes < 1:
            raise ValueError("dedup_capacity, disposition_confirm_k and takeover_fixes must be positive")
        if min(self.reorder_window_s, self.max_future_s, self.coast_after_s) < 0.0:
            raise ValueError("time windows cannot be negative")

    @property
    def gate_threshold(self) -> float:
        """Squared Mahalanobis distance bounding a 3-D gate."""
        return float(chi2.ppf(self.gate_probability, 3))

    @property
    def merge_threshold(self) -> float:
        """Squared Mahalanobis distance under which two 6-D track states are the same object."""
        return float(chi2.ppf(self.gate_probability, 6))
