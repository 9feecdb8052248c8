"""Motor-learning measures of a training program's trials (docs/grading.md, "Programs").

A session recorded with a training program (nmt_monitor.program) has its trials in the file:
each with its kind (practice with feedback, or a retention or transfer test with feedback
withheld), its target band and its target hold time. Each trial's hold is scored like any
other; beside that, its errors against the targets are summarised per kind with the three
classic measures (Schmidt & Lee):

    error  e_i = x_i - T_i            x: the hold's mean force (or its duration), T: the target
    CE = mean(e)                      constant error: the bias (signed)
    AE = mean(|e|)                    absolute error: overall accuracy
    VE = sqrt(mean((e - CE)^2))       variable error: consistency (needs 2 trials or more)

The force target is the centre of the trial's band; the time target its hold time.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

KINDS = ("practice", "retention", "transfer")
#: How reports name the kinds: practice trials are the guided ones.
KIND_LABELS = {"practice": "guided practice", "retention": "retention (blind)", "transfer": "transfer (blind)"}


@dataclass
class TrialGrade:
    trial: int
    block: int
    repetition: int
    site: str
    kind: str  # practice | retention | transfer
    feedback: str  # full | faded | blind
    target_band_N: tuple[float, float] | None
    target_hold_s: float | None
    outcome: str  # hold | skipped (as recorded)
    hold: int | None = None  # 1-based index of its hold among the session's graded holds
    force_N: float | None = None  # the hold's mean force
    duration_s: float | None = None
    score: float | None = None  # the hold's composite score

    @property
    def target_N(self) -> float | None:
        return None if self.target_band_N is None else 0.5 * (self.target_band_N[0] + self.target_band_N[1])

    @property
    def force_error_N(self) -> float | None:
        t = self.target_N
        return None if self.force_N is None or t is None else self.force_N - t

    @property
    def time_error_s(self) -> float | None:
        if self.duration_s is None or not self.target_hold_s:
            return None
        return self.duration_s - self.target_hold_s

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(target_N=self.target_N, force_error_N=self.force_error_N, time_error_s=self.time_error_s)
        return d


@dataclass
class MotorErrors:
    """CE, AE and VE of force (N) and of hold time (s) over the trials of one kind."""

    kind: str
    trials: int  # trials of this kind
    held: int  # ... with a hold to judge
    force_ce_N: float | None = None
    force_ae_N: float | None = None
    force_ve_N: float | None = None
    time_ce_s: float | None = None
    time_ae_s: float | None = None
    time_ve_s: float | None = None
    mean_score: float | None = None

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)


def errors(values) -> tuple[float | None, float | None, float | None]:
    """(CE, AE, VE) of a list of errors; VE needs two errors or more."""
    e = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if e.size == 0:
        return None, None, None
    ce = float(e.mean())
    ae = float(np.abs(e).mean())
    ve = float(np.sqrt(np.mean((e - ce) ** 2))) if e.size >= 2 else None
    return ce, ae, ve


def summarise(trials: list[TrialGrade]) -> list[MotorErrors]:
    """One ``MotorErrors`` per kind present, in the order practice, retention, transfer."""
    out = []
    kinds = [k for k in KINDS if any(t.kind == k for t in trials)]
    kinds += sorted({t.kind for t in trials} - set(KINDS))
    for kind in kinds:
        ts = [t for t in trials if t.kind == kind]
        held = [t for t in ts if t.force_N is not None]
        f = errors([t.force_error_N for t in held])
        d = errors([t.time_error_s for t in held])
        scores = [t.score for t in held if t.score is not None]
        out.append(MotorErrors(kind, len(ts), len(held), *f, *d, float(np.mean(scores)) if scores else None))
    return out


def matching_hold(holds, trial: dict) -> int | None:
    """Index (0-based) of the hold in ``holds`` (objects with start_s, end_s) that is this
    trial's: the one overlapping the hold recorded live the most, else the first that starts
    inside the trial; None when none."""
    h0, h1 = trial.get("hold_start_s"), trial.get("hold_end_s")
    best, best_overlap = None, 0.0
    if h0 is not None and h1 is not None:
        for i, h in enumerate(holds):
            overlap = min(h.end_s, h1) - max(h.start_s, h0)
            if overlap > best_overlap:
                best, best_overlap = i, overlap
        if best is not None:
            return best
    t0, t1 = trial.get("start_s"), trial.get("end_s")
    if t0 is not None and t1 is not None:
        for i, h in enumerate(holds):
            if t0 <= h.start_s <= t1:
                return i
    return None


def grade_trials(recorded: list[dict], holds, hold_grades) -> list[TrialGrade]:
    """The session's recorded trials (``Session.trials``) judged on its holds (``holds``: the
    analysis's, ``hold_grades``: their grades, same order)."""
    out = []
    for tr in recorded:
        band = tr.get("target_band_N")
        g = TrialGrade(trial=int(tr.get("trial") or 0), block=int(tr.get("block") or 0),
                       repetition=int(tr.get("repetition") or 0), site=str(tr.get("site") or ""),
                       kind=str(tr.get("kind") or ""), feedback=str(tr.get("feedback") or ""),
                       target_band_N=None if band is None else (float(band[0]), float(band[1])),
                       target_hold_s=tr.get("target_hold_s"), outcome=str(tr.get("outcome") or ""))
        i = matching_hold(holds, tr) if tr.get("outcome") == "hold" else None  # a skipped trial is not judged
        if i is not None:
            h, hg = holds[i], hold_grades[i]
            g.hold, g.force_N, g.duration_s, g.score = i + 1, float(h.mean_N), float(h.duration_s), hg.composite
        out.append(g)
    return out
