"""Parameters of the hold engine: every threshold it uses, with its default and reason.

docs/metrics.md explains each one in prose; keep the two in step.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class HoldParams:
    """Thresholds of the hold engine (forces in N, times in s, percentages of the hold level)."""

    # -- what counts as a hold -------------------------------------------------------------
    #: A quasi-static plateau shorter than this is not a hold (design.md: default 5 s).
    min_hold_s: float = 5.0
    #: A plateau must sit at least this far above the zero (rest) level to be a hold.
    min_hold_level_n: float = 2.0
    #: ``drift`` flag and live warning when |drift_pct| reaches this (design.md: default 10 %).
    drift_limit_pct: float = 10.0
    #: Drift is slow: no faster than this (an exponential decay of 35 % with a time constant
    #: of 10 s begins at 3.5 %/s); a faster change is an approach, a step or a release.
    drift_max_pct_per_s: float = 4.0
    #: Length of the start and end windows of the drift formula (design.md: 2 s) ...
    drift_window_s: float = 2.0
    #: ... kept this far inside the hold (its boundaries are known to ~0.1-0.2 s).
    drift_guard_s: float = 0.2
    #: A live drift warning fires only once the drift has lasted this long (and no excursion
    #: is under way), so the start of a release is not reported as drift.
    drift_confirm_s: float = 0.5
    #: "short" flag when a hold is shorter than this target time (None: no target, no flag).
    target_hold_s: float | None = None
    #: A hold reaching this length is ended there (``ended_by: "max_duration"``, flag
    #: ``incomplete``) and no new hold starts until the force leaves that level (release,
    #: step or motion). Bounds memory: a hold's metrics need every bin since its ramp-in, so a
    #: load left on the sensor (or an untared idle offset above max_zero_offset_n, read as one
    #: endless hold) would grow without bound. 600 s is ten times the longest published
    #: ischemic-compression protocol (60-90 s): no therapeutic hold comes near it.
    max_hold_s: float = 600.0

    # -- the envelope every decision is made on -----------------------------------------------
    #: Samples are averaged into bins at this rate (any input rate 50-2000 Hz, non-uniform).
    envelope_rate_hz: float = 50.0
    #: Cut-off of the 2nd-order Butterworth that smooths the envelope for hold decisions;
    #: removes 8-12 Hz tremor (x1/25) and most sensor noise, ~0.11 s delay.
    smooth_cutoff_hz: float = 2.0
    #: Cut-off of the faster 2nd-order Butterworth used for tolerance and target band:
    #: ~40 ms group delay, so an alert fires well within 100 ms; tremor at 10 Hz x0.34.
    alert_cutoff_hz: float = 6.0
    #: Gaps (no samples) up to this long are bridged (filters hold the last value, the bins
    #: count for nothing in the metrics); a longer gap ends a hold and restarts the filters.
    max_gap_s: float = 1.0
    #: An interval between samples up to this many times the data's own typical interval is
    #: sampling, not missing data (a 10 Hz gauge leaves four of five 20 ms bins empty):
    #: those bins are interpolated and count in the metrics.
    sampling_gap_factor: float = 2.5

    # -- settling onto a plateau --------------------------------------------------------------
    #: The smoothed force must stay within a band over this window to count as settled.
    settle_window_s: float = 0.5
    #: Width of that band, relative to the level (above the zero).
    settle_band_pct: float = 5.0

    # -- bands near the noise: one rule for every band ----------------------------------------
    #: Every band (settle, exit, motion, edge) is relative to the level; near zero it is never
    #: narrower than this many SDs of the sensor's own noise in the smoothed force (measured on
    #: the unloaded sensor) ...
    noise_band_sd: float = 6.0
    #: ... nor than this (a 3 N face/jaw hold: 5 % is 0.15 N; a fixed 0.5-1 N floor would be
    #: 15-30 % of it and swallow slow ramps, releases and 33 % steps).
    band_floor_n: float = 0.05

    # -- zero (rest) level: docs/metrics.md "Zero" ---------------------------------------------
    #: The zero is learnt from windows of this length in which the force is quiet ...
    rest_window_s: float = 1.5
    #: ... moving less than this (an unloaded cell shows electronic noise only, tens of mN; a
    #: resting hand wanders 0.3-1 N with breathing; a 3 N hold with a CV of 1.7-5 % 0.1-0.4 N) ...
    quiet_range_n: float = 0.12
    #: ... for this long on end, with its straight line no steeper than this (thermal drift of
    #: the zero is 0.2-1 N over minutes; a hand's slowest ramp is several N/s).
    rest_confirm_s: float = 0.5
    zero_drift_max_n_per_s: float = 0.2
    #: After a hold, the first quiet stretch below half of that hold's level and at most this
    #: far above the zero is the unloaded sensor whose zero has wandered (thermal drift of the
    #: zero: 0.2-1 N over minutes, 1-3 N between rests; a dead weight is not a wandered zero).
    zero_wander_max_n: float = 5.0
    #: After a release, a plateau the force fell onto that is below half of the hold it left
    #: and below this is the hand resting on the sensor (2-4 N), not a new hold; a new light
    #: hold is approached from below.
    resting_contact_max_n: float = 5.0
    #: Before any zero is known, a quiet level within +-this of 0 N is the zero: a load
    #: cell's zero balance is up to +-10 % of full scale (+-20 N on a 200 N cell); pass 10 %
    #: of the sensor's full scale when it is known.
    max_zero_offset_n: float = 20.0

    # -- what ends a hold ------------------------------------------------------------------
    #: The smoothed force is compared with its own value this long ago (within the hold) ...
    exit_lookback_s: float = 2.0
    #: ... a change beyond this fraction of the level is an excursion ...
    exit_pct: float = 20.0
    #: ... and an excursion lasting longer than this ends the hold when it is a release (the
    #: force has fallen below release_pct of the level; a brief correction, design.md: < 0.5 s
    #: and < 20 %, does not) ...
    max_correction_s: float = 0.6
    release_pct: float = 50.0
    #: ... while a change to a new level ends it once it has lasted this long (a deeper dip or
    #: bump that comes back within 1.5 s is a correction: seen in real 7 s pulls).
    step_confirm_s: float = 1.5
    #: Motion (a gliding stroke, rocking): the smoothed force is "off level" when it is more
    #: than motion_pct from its mean over the last motion_level_s; when it has
    #: been off level for motion_fraction of the last motion_window_s, the force is not
    #: quasi-static and the hold ends. Brief corrections (< 0.5 s each) stay far below that;
    #: periodic strokes of any rate reach it (a fixed look-back alone is blind to strokes
    #: whose period divides it).
    motion_pct: float = 10.0
    motion_level_s: float = 2.0
    motion_window_s: float = 4.0
    motion_fraction: float = 0.5

    # -- where exactly a hold starts and ends -------------------------------------------------
    #: Start (end) is the first (last) point of the lightly smoothed force within a band
    #: around the plateau level: edge_pct of the level, or 3 SDs of the plateau's own
    #: fluctuation, whichever is wider.
    edge_pct: float = 3.0
    #: Centred moving average used for the edges and the ramp (not causal: runs on the
    #: buffered past only).
    edge_smooth_s: float = 0.1
    #: The start is decided again once this much of the plateau has been seen after it was
    #: detected (its level and wander are then known better than from the settle window);
    #: ``hold_started`` carries the first estimate, ``hold_progress`` and ``hold_ended`` the final.
    start_revision_s: float = 2.0
    #: How far back from the settle point the ramp-in is looked for.
    ramp_lookback_s: float = 5.0

    # -- live updates ------------------------------------------------------------------------
    #: A hold_progress event every this many seconds of hold.
    progress_interval_s: float = 1.0

    # -- tolerance --------------------------------------------------------------------------
    #: Over-tolerance ends when the filtered force is below tolerance - hysteresis (5 %: about
    #: 2-3 SDs of a steady hand, whose CV is 1.7-5 %, so wander at the limit is one episode) ...
    tolerance_hysteresis_pct: float = 5.0
    tolerance_hysteresis_n: float = 1.0
    #: ... for at least this long (so noise at the limit makes one event).
    tolerance_release_s: float = 0.3

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if not isinstance(value, (int, float)) or value != value or value < 0:
                raise ValueError(f"HoldParams.{f.name} must be a non-negative number, not {value!r}")
        if not 10.0 <= self.envelope_rate_hz <= 500.0:
            raise ValueError("HoldParams.envelope_rate_hz must be within 10..500 Hz")
        for name in ("smooth_cutoff_hz", "alert_cutoff_hz"):
            if not 0 < getattr(self, name) < self.envelope_rate_hz / 2:
                raise ValueError(f"HoldParams.{name} must be between 0 and half the envelope rate")
        if self.min_hold_s <= 0:
            raise ValueError("HoldParams.min_hold_s must be positive")
        if self.max_hold_s < self.min_hold_s:
            raise ValueError("HoldParams.max_hold_s must be at least min_hold_s")

    def to_dict(self) -> dict:
        return asdict(self)

    def replace(self, **changes) -> HoldParams:
        return replace(self, **changes)
