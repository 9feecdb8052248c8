"""Scoring holds, sessions and students against a rubric (docs/grading.md).

Every sub-skill is a number from 0 to 1: the share of the hold (or, for per-hold quantities
such as the duration, of the holds) in target, where a near miss earns partial credit::

    credit(x) = 1                                   x within the limit
              = 1 - (distance past the limit) / m   past it by less than the margin m
              = 0                                   further out
    m = near_miss_pct / 100 x the limit

    composite = 100 x sum(w_i x s_i) / sum(w_i)  -  over-tolerance penalty,  clipped to 0..100

over the sub-skills that apply to the hold (no target band: no 'target'; a hold that starts at
the beginning of the data has no ramp-in). ``over_tolerance.mode = "fail"`` makes any hold
with time over tolerance (beyond ``grace_s``) score 0.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field

import numpy as np

from nmt_monitor.grading.rubric import SUBSKILLS, Rubric

SUBSKILL_LABELS = {"target": "target", "duration": "duration", "steadiness": "steadiness", "drift": "drift",
                   "ramp": "ramp-in"}
#: Column names of the sub-skill scores (CSV files, tables): never a measurement's name
#: (``drift_pct`` is the measured drift; ``drift_score`` the sub-skill score, 0-100).
SCORE_COLUMNS = {k: f"{k}_score" for k in SUBSKILLS}
#: Headers of the sub-skill scores in the HTML and the terminal tables.
SCORE_HEADERS = {k: f"{SUBSKILL_LABELS[k]} score" for k in SUBSKILLS}


# ---- credit functions ----------------------------------------------------------------------

def band_credit(x, lo: float, hi: float, near_miss_pct: float):
    """1 inside [lo, hi]; falling linearly to 0 at lo - m_lo and hi + m_hi (m = near % of the edge)."""
    x = np.asarray(x, dtype=np.float64)
    m_lo = near_miss_pct / 100.0 * abs(lo)
    m_hi = near_miss_pct / 100.0 * abs(hi)
    below = np.clip(lo - x, 0.0, None)
    above = np.clip(x - hi, 0.0, None)
    c = np.ones_like(x)
    c = np.where(below > 0, (1.0 - below / m_lo) if m_lo > 0 else 0.0, c)
    c = np.where(above > 0, (1.0 - above / m_hi) if m_hi > 0 else 0.0, c)
    return np.clip(c, 0.0, 1.0)


def upper_credit(x, limit: float, near_miss_pct: float):
    """1 up to ``limit``; falling linearly to 0 at limit x (1 + near %)."""
    x = np.asarray(x, dtype=np.float64)
    m = near_miss_pct / 100.0 * abs(limit)
    over = np.clip(x - limit, 0.0, None)
    c = np.where(over > 0, (1.0 - over / m) if m > 0 else 0.0, 1.0)
    return np.clip(c, 0.0, 1.0)


def _moving_average(x: np.ndarray, n: int) -> np.ndarray:
    """Centred moving average of n points; the edges average what exists."""
    if n <= 1 or x.size < 2:
        return x.copy()
    k = np.ones(n)
    return np.convolve(x, k, mode="same") / np.convolve(np.ones_like(x), k, mode="same")


def bin_means(time_s: np.ndarray, force_n: np.ndarray, t0: float, t1: float, rate_hz: float):
    """Samples within [t0, t1] averaged into bins of 1/rate_hz (empty bins dropped): (t, f)."""
    i0, i1 = np.searchsorted(time_s, [t0, t1], side="left")
    i1 = min(int(np.searchsorted(time_s, t1, side="right")), time_s.size)
    t = time_s[i0:i1]
    f = force_n[i0:i1]
    ok = np.isfinite(f)
    t, f = t[ok], f[ok]
    if t.size == 0:
        return np.empty(0), np.empty(0)
    idx = np.floor((t - t0) * rate_hz).astype(np.int64)
    n = int(idx[-1]) + 1
    cnt = np.bincount(idx, minlength=n)
    s = np.bincount(idx, weights=f, minlength=n)
    has = cnt > 0
    centres = t0 + (np.arange(n) + 0.5) / rate_hz
    return centres[has], s[has] / cnt[has]


# ---- results ----------------------------------------------------------------------------------

@dataclass
class HoldGrade:
    index: int  # 1-based within the session
    start_s: float
    end_s: float
    duration_s: float
    mean_N: float
    cv_pct: float
    drift_pct: float
    ramp_in_s: float | None
    overshoot_pct: float | None
    zero_N: float
    time_over_tolerance_s: float
    over_tolerance_episodes: int
    flags: list[str]
    scores: dict[str, float | None]  # sub-skill -> 0..1 (None: does not apply)
    under_tolerance_share: float | None  # share of the hold at or below tolerance (None: no tolerance)
    penalty: float
    failed: bool
    composite: float
    image: str | None = None  # PNG file name, when a report draws it
    #: cut off by the start or the end of the recording (the engine's ``incomplete`` flag)
    cut_off: bool = False
    #: the settings this hold was judged by (they may change during a session)
    band_N: tuple[float, float] | None = None
    tolerance_N: float | None = None
    hold_window_s: tuple[float, float] = (0.0, 0.0)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class SessionGrade:
    source: str
    student: str
    client: str
    site: str
    session_id: str
    start_time: str  # ISO 8601 ('' for a CSV)
    start_epoch_s: float | None
    duration_s: float
    tolerance_N: float | None  # as the session started (changes: ``settings_changes``)
    band_N: tuple[float, float] | None
    band_source: str  # session | newtons | tolerance | none
    hold_window_s: tuple[float, float]
    holds: list[HoldGrade]
    outside_over_tolerance_s: float
    outside_episodes: int
    outside_penalty: float
    score: float | None  # None: not graded (no holds, with the rubric's no_holds = "ungraded")
    passed: bool | None
    notes: list[str] = field(default_factory=list)
    label: str = ""  # short unique name (set by the caller; default: file stem)
    page: str = ""  # unique file stem of its page and pictures (set by the caller)
    settings_changes: list[dict] = field(default_factory=list)  # time_s, field, value, previous

    @property
    def graded(self) -> bool:
        return self.score is not None

    @property
    def over_tolerance_s(self) -> float:
        return sum(h.time_over_tolerance_s for h in self.holds) + self.outside_over_tolerance_s

    def subskill_means(self) -> dict[str, float | None]:
        out = {}
        for k in SUBSKILLS:
            vals = [h.scores[k] for h in self.holds if h.scores.get(k) is not None]
            out[k] = float(np.mean(vals)) if vals else None
        return out


#: What a student's scores over time say (docs/grading.md "Progress").
PROGRESS_LABELS = ("improving", "declining", "steady", "steady at the top", "unclear", "too few sessions")


@dataclass
class StudentGrade:
    name: str
    sessions: list[SessionGrade]  # in time order, graded or not
    mean: float | None  # over the graded sessions (None: none graded)
    first: float | None
    last: float | None
    trend: float | None  # points per session (least-squares slope over graded sessions)
    improving: bool | None  # True only when ``progress == "improving"``; None: too few sessions
    trend_se: float | None = None  # standard error of the trend (3+ graded sessions)
    progress: str = "too few sessions"  # one of PROGRESS_LABELS
    page: str = ""  # unique file stem of its page and picture (set by the report)

    @property
    def graded_sessions(self) -> list[SessionGrade]:
        return [s for s in self.sessions if s.graded]

    @property
    def scores(self) -> list[float]:
        """Scores of the graded sessions, in time order."""
        return [s.score for s in self.sessions if s.graded]

    def subskill_means(self) -> dict[str, float | None]:
        """Each sub-skill's mean over the holds of the graded sessions (0..1; None: never scored)."""
        out = {}
        for k in SUBSKILLS:
            vals = [h.scores[k] for s in self.graded_sessions for h in s.holds if h.scores.get(k) is not None]
            out[k] = float(np.mean(vals)) if vals else None
        return out


# ---- scoring ---------------------------------------------------------------------------------

def resolve_band(rubric: Rubric, band_n, tolerance_n) -> tuple[tuple[float, float] | None, str]:
    """The target band for a session, and where it came from."""
    t = rubric.target
    if t.source == "newtons":
        return t.band_N, "newtons"
    pct_band = None
    if tolerance_n:
        lo, hi = t.band_pct_of_tolerance
        pct_band = (lo / 100.0 * tolerance_n, hi / 100.0 * tolerance_n)
    if t.source == "tolerance":
        return pct_band, "tolerance" if pct_band else "none"
    if band_n is not None:
        return (float(band_n[0]), float(band_n[1])), "session"
    if pct_band is not None:
        return pct_band, "tolerance"
    return None, "none"


def hold_window(rubric: Rubric, target_hold_s) -> tuple[float, float]:
    d = rubric.duration
    lo = d.min_s
    if d.use_session_target and target_hold_s:
        lo = float(target_hold_s)
    hi = d.max_s if d.max_s > lo else lo * 1.5
    return lo, hi


def _penalty(rubric: Rubric, over_s: float, episodes: int) -> tuple[float, bool]:
    o = rubric.over_tolerance
    if over_s <= o.grace_s:
        return 0.0, False
    if o.mode == "fail":
        return 100.0, True
    p = o.penalty_points_per_s * (over_s - o.grace_s) + o.penalty_points_per_episode * max(episodes, 1)
    return min(o.max_penalty_points, p), False


class _Settings:
    """The session settings in force at any time: the values as recording started, then each
    change of ``settings_changes`` from its time on (a CSV recording has none)."""

    def __init__(self, recording) -> None:
        self.recording = recording
        self.rows = list(getattr(recording, "settings_changes", None) or [])

    def at(self, name: str, t: float):
        rec = self.recording
        if any(r["field"] == name for r in self.rows):
            return rec.setting_at(name, t)
        # the recording's own settings (a CSV may be given them by the caller)
        if name == "tolerance_N":
            return rec.tolerance_n
        if name == "target_band_N":
            return rec.target_band_n
        return (rec.metadata or {}).get(name)

    def times(self, names: tuple[str, ...], t0: float, t1: float) -> list[float]:
        """Times in (t0, t1] at which one of ``names`` changes."""
        return sorted({r["time_s"] for r in self.rows if r["field"] in names and t0 < r["time_s"] <= t1})

    def band(self, rubric: Rubric, t: float):
        band = self.at("target_band_N", t)
        return resolve_band(rubric, None if band is None else tuple(band), self.at("tolerance_N", t))


def score_hold(rubric: Rubric, index: int, hold, time_s: np.ndarray, force_n: np.ndarray, rate_hz: float,
               band, window: tuple[float, float], tolerance_n, episodes: int, *, bands=None) -> HoldGrade:
    """Score one hold (a ``nmt_monitor.dsp.Hold``) on the recording it came from.

    ``bands``: [(from_s, band)] when the target band changed during the hold (each bin is judged
    against the band in force then; the engine's ``time_over_tolerance_s`` already judges each
    bin against the tolerance in force then)."""
    tb, fb = bin_means(time_s, force_n, hold.start_s, hold.end_s, rate_hz)
    net = fb - hold.zero_N
    scores: dict[str, float | None] = dict.fromkeys(SUBSKILLS)
    notes: list[str] = []
    if net.size:
        # target: share of the hold (lightly smoothed force) inside the band, near misses partial
        sm = _moving_average(net, max(1, int(round(rubric.target.smooth_s * rate_hz))))
        pieces = bands if bands else [(-math.inf, band)]
        credit = np.full(net.size, np.nan)
        for k, (t_from, b) in enumerate(pieces):
            t_to = pieces[k + 1][0] if k + 1 < len(pieces) else math.inf
            m = (tb >= t_from) & (tb < t_to)
            if b is not None and m.any():
                credit[m] = band_credit(sm[m], b[0], b[1], rubric.target.near_miss_pct)
        if np.isfinite(credit).any():
            scores["target"] = float(np.nanmean(credit))
        # steadiness: share of windows whose CV is within the limit
        st = rubric.steadiness
        w = max(2, int(round(st.window_s * rate_hz)))
        step = max(1, int(round(st.step_s * rate_hz)))
        if net.size <= w:
            starts = [0]
            w = net.size
        else:
            starts = list(range(0, net.size - w + 1, step))
        cvs = []
        for s0 in starts:
            seg = net[s0 : s0 + w]
            m = seg.mean()
            cvs.append(100.0 * seg.std(ddof=1) / m if seg.size > 1 and m > 0 else math.inf)
        scores["steadiness"] = float(upper_credit(np.array(cvs), st.cv_limit_pct, st.near_miss_pct).mean())
        # drift: share of the hold whose running level stays within the limit of the start level
        dr = rubric.drift
        nref = max(1, int(round(dr.reference_s * rate_hz)))
        ref = float(net[:nref].mean())
        if ref > 0:
            level = _moving_average(net, max(1, int(round(dr.level_s * rate_hz))))
            dev = np.abs(100.0 * (level - ref) / ref)
            scores["drift"] = float(upper_credit(dev, dr.limit_pct, dr.near_miss_pct).mean())
        else:
            scores["drift"] = 0.0
    # duration: this hold's length inside the window. A hold cut off by the start or the end of
    # the recording lasted at least what was seen: judged only once that reaches the window.
    d = rubric.duration
    lo, hi = window
    cut_off = "incomplete" in hold.flags and getattr(hold, "ended_by", "") != "max_duration"
    if cut_off and hold.duration_s < lo:
        notes.append(f"cut off by the recording after {hold.duration_s:.1f} s: duration not judged")
    else:
        scores["duration"] = float(band_credit(hold.duration_s, lo, hi, d.near_miss_pct))
    # ramp-in: time from 10 % of the approach to the plateau, and the overshoot
    r = rubric.ramp_in
    if hold.ramp_in_s is not None:
        c_time = float(band_credit(hold.ramp_in_s, r.min_s, r.max_s, r.near_miss_pct))
        c_over = float(upper_credit(max(0.0, hold.overshoot_pct or 0.0), r.max_overshoot_pct, r.near_miss_pct))
        scores["ramp"] = 0.5 * (c_time + c_over)
    # over tolerance
    over_s = float(hold.time_over_tolerance_s or 0.0)
    under = None
    if tolerance_n is not None and hold.duration_s > 0:
        under = max(0.0, 1.0 - over_s / hold.duration_s)
    judged = tolerance_n is not None or over_s > 0
    penalty, failed = _penalty(rubric, over_s, episodes) if judged else (0.0, False)
    wsum = sum(rubric.weights[k] for k in SUBSKILLS if scores[k] is not None)
    base = 100.0 * sum(rubric.weights[k] * scores[k] for k in SUBSKILLS if scores[k] is not None) / wsum \
        if wsum > 0 else 0.0
    composite = 0.0 if failed else float(np.clip(base - penalty, 0.0, 100.0))
    return HoldGrade(
        index=index, start_s=hold.start_s, end_s=hold.end_s, duration_s=hold.duration_s, mean_N=hold.mean_N,
        cv_pct=hold.cv_pct, drift_pct=hold.drift_pct, ramp_in_s=hold.ramp_in_s, overshoot_pct=hold.overshoot_pct,
        zero_N=hold.zero_N, time_over_tolerance_s=over_s, over_tolerance_episodes=episodes, flags=list(hold.flags),
        scores=scores, under_tolerance_share=under, penalty=penalty, failed=failed, composite=composite,
        cut_off=cut_off, band_N=band, tolerance_N=tolerance_n, hold_window_s=window, notes=notes)


def _overlaps(ep, hold) -> bool:
    return ep.start_s < hold.end_s and ep.end_s > hold.start_s


def _describe_change(row: dict) -> str:
    def fmt(v):
        if v is None or v == "":
            return "none"
        if isinstance(v, (list, tuple)):
            return "–".join(f"{x:g}" for x in v)
        return f"{v:g}" if isinstance(v, float) else str(v)

    return f"{row['field']} {fmt(row['previous'])} → {fmt(row['value'])} at {row['time_s']:.1f} s"


def score_session(rubric: Rubric, recording, analysis=None) -> SessionGrade:
    """Score one recording (``nmt_monitor.loaders.Recording``). ``analysis`` defaults to running
    the hold engine with the rubric's parameters and the session's tolerance, replaying the
    tolerance and band changes made while it was recorded."""
    from nmt_monitor.dsp import analyze_holds

    meta = recording.metadata or {}
    settings = _Settings(recording)
    t0 = -math.inf
    tol = settings.at("tolerance_N", t0)
    band, band_source = settings.band(rubric, t0)
    params = rubric.hold_params()
    if analysis is None:
        # the engine gets the rubric's band (as before), and replays the tolerance changes (and
        # the band's, when the band is the session's own); the target hold time is the rubric's
        drop = {"target_hold_s"} | (set() if rubric.target.source == "session" else {"target_band_n"})
        changes = [(t, {k: v for k, v in c.items() if k not in drop})
                   for t, c in (getattr(recording, "changes", None) or [])]
        analysis = analyze_holds(recording.time_s, recording.force_n, params, tol, band,
                                 changes=[c for c in changes if c[1]], live_updates=False)
    window = hold_window(rubric, settings.at("target_hold_s", t0))
    rate = params.envelope_rate_hz
    t = np.asarray(recording.time_s, dtype=np.float64)
    f = np.asarray(recording.force_n, dtype=np.float64)
    holds = []
    for i, h in enumerate(analysis.holds, start=1):
        eps = [ep for ep in analysis.over_tolerance if _overlaps(ep, h)]
        # the settings in force: the band bin by bin, the tolerance bin by bin (the engine's
        # time over tolerance already judges each bin against the tolerance then in force), the
        # target hold time as the hold ended (what the live hold timer counted to)
        band_times = settings.times(("target_band_N", "tolerance_N"), h.start_s, h.end_s)
        bands = None
        if band_times:
            bands = [(-math.inf, settings.band(rubric, h.start_s)[0])] + \
                    [(bt, settings.band(rubric, bt)[0]) for bt in band_times]
        h_tol = settings.at("tolerance_N", h.start_s)
        if h_tol is None:
            h_tol = settings.at("tolerance_N", h.end_s)
        holds.append(score_hold(rubric, i, h, t, f, rate, settings.band(rubric, h.start_s)[0],
                                hold_window(rubric, settings.at("target_hold_s", h.end_s)), h_tol, len(eps),
                                bands=bands))
    outside = [ep for ep in analysis.over_tolerance if not any(_overlaps(ep, h) for h in analysis.holds)]
    outside_s = float(sum(ep.duration_s for ep in outside))
    outside_pen, outside_fail = _penalty(rubric, outside_s, len(outside)) if outside else (0.0, False)
    notes = []
    if band is None and not any(h.band_N for h in holds):
        notes.append("no target band (and no tolerance to derive one): 'target' not scored")
    if tol is None and not any(h.tolerance_N for h in holds):
        notes.append("no tolerance: over-tolerance not judged")
    changes = list(getattr(recording, "settings_changes", None) or [])
    if changes:
        notes.append("settings changed while recording (each applies from its time on): "
                      + "; ".join(_describe_change(r) for r in changes))
    score: float | None
    if not holds:
        if rubric.no_holds == "zero":
            notes.append("no holds found: scored 0 (rubric no_holds = \"zero\")")
            score = 0.0
        else:
            notes.append("no holds found: not graded (left out of the student's mean and trend)")
            score = None
    else:
        score = float(np.mean([h.composite for h in holds]))
    if outside:
        notes.append(f"{len(outside)} over-tolerance episode(s) outside holds ({outside_s:.1f} s)")
    if score is not None:
        score = round(0.0 if outside_fail else max(0.0, score - outside_pen), 1)
    epoch = recording.attrs.get("session_start_epoch_s") if recording.attrs else None
    dur = float(t[-1] - t[0]) if t.size > 1 else 0.0
    student = str(meta.get("therapist") or "").strip() or "(unknown)"
    return SessionGrade(
        source=recording.source, student=student, client=str(meta.get("client") or ""),
        site=str(meta.get("site") or ""), session_id=str(meta.get("session_id") or ""),
        start_time=str(recording.attrs.get("session_start_time", "")) if recording.attrs else "",
        start_epoch_s=float(epoch) if epoch is not None else None, duration_s=dur, tolerance_N=tol,
        band_N=band, band_source=band_source, hold_window_s=window, holds=holds,
        outside_over_tolerance_s=outside_s, outside_episodes=len(outside), outside_penalty=outside_pen,
        score=score, passed=None if score is None else score >= rubric.pass_score, notes=notes,
        label=os.path.splitext(os.path.basename(recording.source))[0], settings_changes=changes)


def _session_key(s: SessionGrade):
    return (s.start_epoch_s if s.start_epoch_s is not None else math.inf, s.start_time, s.source)


def trend_fit(scores) -> tuple[float | None, float | None]:
    """Least-squares slope of the scores against session number (points per session) and its
    standard error (None below 3 sessions: two points fit any line exactly)."""
    y = np.asarray(scores, dtype=np.float64)
    n = y.size
    if n < 2:
        return None, None
    x = np.arange(n, dtype=np.float64)
    sxx = float(((x - x.mean()) ** 2).sum())
    slope = float(((x - x.mean()) * (y - y.mean())).sum() / sxx)
    if n < 3:
        return slope, None
    resid = y - (y.mean() + slope * (x - x.mean()))
    return slope, math.sqrt(float((resid ** 2).sum()) / (n - 2) / sxx)


def progress_label(rubric: Rubric, scores: list[float]) -> tuple[str, float | None, float | None]:
    """(label, slope, standard error) for a student's graded scores in time order; the rules
    are in docs/grading.md ("Progress"): a trend counts only when it is larger than its own
    uncertainty, and a student who is always at the top is not "not improving"."""
    p = rubric.progress
    if len(scores) < p.min_sessions:
        return "too few sessions", None, None
    slope, se = trend_fit(scores)
    step = p.improving_points_per_session
    if min(scores) >= p.ceiling_score:
        return "steady at the top", slope, se
    err = 0.0 if se is None else se  # two sessions: no uncertainty to judge by, the slope alone
    if slope >= step and slope - err > 0:
        return "improving", slope, se
    if slope <= -step and slope + err < 0:
        return "declining", slope, se
    if abs(slope) + err < step:
        return "steady", slope, se
    return "unclear", slope, se


def grade_students(rubric: Rubric, sessions: list[SessionGrade]) -> list[StudentGrade]:
    """Group sessions by student (session metadata 'therapist'); trends over the graded ones."""
    by: dict[str, list[SessionGrade]] = {}
    for s in sessions:
        by.setdefault(s.student, []).append(s)
    out = []
    for name in sorted(by):
        ss = sorted(by[name], key=_session_key)
        scores = [s.score for s in ss if s.graded]
        label, trend, se = progress_label(rubric, scores)
        out.append(StudentGrade(
            name=name, sessions=ss, mean=float(np.mean(scores)) if scores else None,
            first=scores[0] if scores else None, last=scores[-1] if scores else None, trend=trend,
            improving=None if label == "too few sessions" else label == "improving", trend_se=se, progress=label))
    return out
