"""Words for the report: each student's written feedback from their sub-scores, and the class
overview by sub-skill (which skill the class is weakest on, and who needs help with it).

Both read only the graded sessions. A student "needs help" with a sub-skill when their mean
score for it (over the holds of their graded sessions) is below
``feedback.needs_help_below_pct`` of the rubric (default 70 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmt_monitor.grading.rubric import SUBSKILLS, Rubric
from nmt_monitor.grading.scoring import SUBSKILL_LABELS, StudentGrade


def _median(values) -> float | None:
    vals = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.median(vals)) if vals else None


def _holds(st: StudentGrade):
    return [h for s in st.graded_sessions for h in s.holds]


def _advice(key: str, st: StudentGrade, rubric: Rubric) -> str:
    """One sentence on a sub-skill, with the student's own numbers."""
    holds = _holds(st)
    if key == "drift":
        drift = _median(h.drift_pct for h in holds)
        dur = _median(h.duration_s for h in holds)
        if drift is None:
            return "work on drift: keep the pressure where the hold started"
        verb = "lose" if drift < 0 else "gain"
        return (f"work on drift: your holds {verb} {abs(drift):.0f} % over {dur:.0f} s "
                f"(keep within {rubric.drift.limit_pct:g} % of the starting level)")
    if key == "duration":
        dur = _median(h.duration_s for h in holds)
        lo, hi = _median(h.hold_window_s[0] for h in holds), _median(h.hold_window_s[1] for h in holds)
        if dur is not None and lo is not None and dur < lo:
            return f"work on hold time: your holds last {dur:.0f} s; hold for at least {lo:.0f} s"
        if dur is not None and hi is not None and dur > hi:
            return f"work on hold time: your holds last {dur:.0f} s; release by {hi:.0f} s"
        return "work on hold time: some holds end too early or run too long"
    if key == "steadiness":
        cv = _median(h.cv_pct for h in holds)
        lim = rubric.steadiness.cv_limit_pct
        if cv is None:
            return "work on steadiness: keep the pressure even during the hold"
        return f"work on steadiness: your pressure varies by {cv:.1f} % (CV) during a hold; aim for {lim:g} % or less"
    if key == "target":
        bands = [h.band_N for h in holds if h.band_N is not None]
        mean = _median(h.mean_N for h in holds)
        if not bands or mean is None:
            return "work on the target band: hold inside it"
        lo, hi = float(np.median([b[0] for b in bands])), float(np.median([b[1] for b in bands]))
        where = "above" if mean > hi else "below" if mean < lo else "near the edge of"
        return f"work on the target band: your holds average {mean:.0f} N, {where} the band {lo:g}–{hi:g} N"
    if key == "ramp":
        ramp = _median(h.ramp_in_s for h in holds)
        over = _median(h.overshoot_pct for h in holds)
        r = rubric.ramp_in
        if over is not None and over > r.max_overshoot_pct:
            return f"work on the approach: you overshoot the hold level by {over:.0f} % (at most {r.max_overshoot_pct:g} %)"
        if ramp is not None and ramp < r.min_s:
            return f"work on the approach: you reach the level in {ramp:.1f} s; sink in over {r.min_s:g}–{r.max_s:g} s"
        if ramp is not None and ramp > r.max_s:
            return f"work on the approach: you take {ramp:.1f} s to reach the level; {r.min_s:g}–{r.max_s:g} s is enough"
        return "work on the approach: a smooth ramp onto the hold level"
    raise KeyError(key)


def student_feedback(st: StudentGrade, rubric: Rubric, limit: int = 2) -> list[str]:
    """Short written feedback: safety first, then the (at most ``limit``) weakest sub-skills
    below the help mark, then what is strong. Sentences, plain text."""
    if not st.graded_sessions:
        return ["no graded session yet (no holds were found in the recordings)"]
    out = []
    holds = _holds(st)
    over = [h for h in holds if h.time_over_tolerance_s > 0]
    if over:
        total = sum(h.time_over_tolerance_s for h in over)
        out.append(f"stay under the client's tolerance: {len(over)} of your {len(holds)} holds went over it "
                   f"({total:.1f} s in all)")
    means = st.subskill_means()
    mark = rubric.feedback.needs_help_below_pct / 100.0
    weak = sorted((v, k) for k, v in means.items() if v is not None and v < mark)
    for _v, k in weak[:limit]:
        out.append(_advice(k, st, rubric))
    strong = [SUBSKILL_LABELS[k] for k in SUBSKILLS if means.get(k) is not None and means[k] >= 0.9]
    if not weak and not over:
        if len(strong) == sum(v is not None for v in means.values()):
            out.append("every sub-skill on target: practise with faded or blind feedback to check the skill "
                       "holds without the screen")
        else:
            k = min((v, k) for k, v in means.items() if v is not None)[1]
            out.append(f"no sub-skill below {rubric.feedback.needs_help_below_pct:g} %; the most room is in "
                       f"{SUBSKILL_LABELS[k]} ({100 * means[k]:.0f} %)")
    if strong and (weak or over):
        out.append("strong: " + ", ".join(strong))
    return out


@dataclass
class SkillRow:
    key: str
    label: str
    class_mean: float | None  # 0..100, mean of the students' means
    needs_help: list[tuple[StudentGrade, float]]  # (student, their mean 0..100), weakest first


def class_overview(students: list[StudentGrade], rubric: Rubric) -> list[SkillRow]:
    """One row per sub-skill, the class's weakest first."""
    mark = rubric.feedback.needs_help_below_pct / 100.0
    rows = []
    for k in SUBSKILLS:
        per = [(st, st.subskill_means()[k]) for st in students]
        per = [(st, v) for st, v in per if v is not None]
        mean = 100.0 * float(np.mean([v for _, v in per])) if per else None
        help_ = sorted(((st, 100.0 * v) for st, v in per if v < mark), key=lambda x: x[1])
        rows.append(SkillRow(k, SUBSKILL_LABELS[k], mean, help_))
    rows.sort(key=lambda r: (r.class_mean is None, r.class_mean if r.class_mean is not None else 0.0))
    return rows
