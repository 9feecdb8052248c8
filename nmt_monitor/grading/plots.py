"""Pictures for the grading report: one PNG per hold, the class distribution and progress,
each student's progress.

Headless: matplotlib's Agg canvas on ``matplotlib.figure.Figure`` objects (no pyplot, no
display, safe in worker processes). Names and labels come from session files: they are drawn
as plain text (``figure_text`` escapes ``$``; TeX is off whatever the user's matplotlibrc says).

Cost (docs/performance.md): a hold picture is the report's unit of work, hundreds per class.
Each worker process keeps one hold figure and redraws only what changes; the trace is binned
to ``TRACE_HZ`` (a picture 900 pixels wide shows no more); few ticks, no legend or title
layout pass, and PNGs compressed lightly.
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os

import numpy as np

from nmt_monitor.grading.rubric import SUBSKILLS
from nmt_monitor.grading.scoring import SUBSKILL_LABELS, HoldGrade, SessionGrade, bin_means
from nmt_monitor.safetext import figure_text as _t

# colours (colour-blind friendly, Okabe-Ito)
C_TRACE = "#0b3d91"
C_CONTEXT = "#9a9a9a"
C_BAND = "#009e73"
C_TOL = "#d55e00"
C_DRIFT = "#e69f00"
C_HOLD = "#56b4e9"
C_PASS = "#cc79a7"
SUBSKILL_COLOURS = {"target": "#009e73", "duration": "#56b4e9", "steadiness": "#e69f00", "drift": "#d55e00",
                    "ramp": "#cc79a7"}

DPI = 100
#: The hold pictures' trace: bins of this rate (Hz)
TRACE_HZ = 20.0
#: PNG compression (zlib level): 1 is ~3x faster to write than the default 6, files ~15 % larger
PNG_OPTIONS = {"pil_kwargs": {"compress_level": 1}}


def _plain_text(draw):
    """Draw (and save) with TeX off and mathtext only where a ``$`` is unescaped (none in
    escaped user text), whatever the user's matplotlib settings are."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context({"text.usetex": False, "text.parse_math": True}):
            return draw(*args, **kwargs)
    return wrapper


def _figure(w_in: float, h_in: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w_in, h_in), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _score_colour(score: float) -> str:
    return "#1a7f37" if score >= 85 else "#9a6700" if score >= 60 else "#cf222e"


def _few_ticks(ax, nx: int = 7, ny: int = 5) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(nx))
    ax.yaxis.set_major_locator(MaxNLocator(ny))


# ---- hold pictures ---------------------------------------------------------------------------

class _HoldFigure:
    """One figure per process, reused for every hold picture. Its background (axes, ticks,
    labels, grid and the legend) is drawn once per axis range and kept as pixels: the time
    axis runs from 4 s before the hold's start, with its end and the force axis rounded up
    to 10, so a class's holds share a few backgrounds. Each picture restores one and draws
    only its own artists on it (text and ticks are what cost)."""

    W_IN, H_IN = 9.0, 3.6
    MAX_BACKGROUNDS = 32

    def __init__(self) -> None:
        fig = self.fig = _figure(self.W_IN, self.H_IN)
        ax = self.ax = fig.add_axes((0.065, 0.27, 0.925, 0.70))
        ax.set_xlabel("time from the start of the hold (s)", fontsize=9, labelpad=2)
        ax.set_ylabel("force (N)", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.25, lw=0.5)
        _few_ticks(ax, 8, 5)
        fig.figimage(self._legend_image(), xo=int(0.06 * self.W_IN * DPI), yo=2, origin="upper")
        self.dynamic: list = []
        self.backgrounds: dict = {}

    @staticmethod
    def _legend_image() -> np.ndarray:
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        handles = [Line2D([], [], color=C_TRACE, lw=1.4, label="force during the hold (net of zero)"),
                   Line2D([], [], color=C_CONTEXT, lw=1.0, label="force around it"),
                   Patch(color=C_BAND, alpha=0.3, label="target band (pale: near miss)"),
                   Line2D([], [], color=C_TOL, lw=1.4, ls="--", label="client's tolerance"),
                   Patch(color=C_TOL, alpha=0.45, label="over tolerance"),
                   Line2D([], [], color=C_DRIFT, lw=2.5, label="start and end level (drift)"),
                   Line2D([], [], color=C_DRIFT, lw=1.2, ls="--", label="target hold time (short hold)")]
        return _legend_image(handles, _HoldFigure.W_IN, 0.6, ncol=4, fontsize=7.5, handlelength=1.8,
                             columnspacing=1.2)

    def background(self, x0: float, x1: float, top: float):
        """Restore (or draw and keep) the background for these axis limits."""
        canvas = self.fig.canvas
        key = (x0, x1, top)
        bg = self.backgrounds.get(key)
        self.ax.set_xlim(x0, x1)
        self.ax.set_ylim(0, top)
        if bg is None:
            for artist in self.dynamic:
                artist.set_visible(False)
            canvas.draw()
            for artist in self.dynamic:
                artist.set_visible(True)
            if len(self.backgrounds) >= self.MAX_BACKGROUNDS:
                self.backgrounds.pop(next(iter(self.backgrounds)))
            bg = self.backgrounds[key] = canvas.copy_from_bbox(self.fig.bbox)
        else:
            canvas.restore_region(bg)

    def clear(self) -> None:
        for artist in self.dynamic:
            artist.remove()
        self.dynamic = []


_HOLD_FIGURE: _HoldFigure | None = None
_HOLD_FIGURE_PID = 0


def _hold_figure() -> _HoldFigure:
    global _HOLD_FIGURE, _HOLD_FIGURE_PID
    if _HOLD_FIGURE is None or _HOLD_FIGURE_PID != os.getpid():  # never shared across a fork
        _HOLD_FIGURE, _HOLD_FIGURE_PID = _HoldFigure(), os.getpid()
    return _HOLD_FIGURE


def _save_png(canvas, path) -> None:
    from PIL import Image

    rgba = np.asarray(canvas.buffer_rgba())
    Image.fromarray(np.ascontiguousarray(rgba[..., :3])).save(path, format="png", **PNG_OPTIONS["pil_kwargs"])


@_plain_text
def hold_png(path, session: SessionGrade, hold: HoldGrade, time_s: np.ndarray, force_n: np.ndarray,
             rubric, margin_s: float = 4.0) -> None:
    """Force trace around one hold, on a time axis from the hold's start: target band (and its
    near-miss margin), tolerance, the hold span, start and end levels with the drift,
    over-tolerance shaded, the target hold time when the hold was short. (Its scores are text
    on the page, beside it.)"""
    hf = _hold_figure()
    hf.clear()
    ax = hf.ax
    dyn = hf.dynamic
    s0 = hold.start_s  # time 0 of the picture
    window = hold.hold_window_s if hold.hold_window_s[0] > 0 else session.hold_window_s
    t0 = max(float(time_s[0]), s0 - margin_s)
    t_goal = s0 + window[0]  # where the hold would reach the target time
    t1 = max(min(float(time_s[-1]), hold.end_s + margin_s), t_goal + 1.0 if hold.end_s < t_goal else 0.0)
    tb, fb = bin_means(time_s, force_n, t0, t1, TRACE_HZ)
    net = fb - hold.zero_N
    x = tb - s0
    dur = hold.end_s - s0
    band = hold.band_N if hold.band_N is not None else session.band_N
    tol = hold.tolerance_N if hold.tolerance_N is not None else session.tolerance_N
    top = max(float(np.nanmax(net)) if net.size else 1.0, band[1] if band else 0.0, tol or 0.0) * 1.15
    top = 10.0 * math.ceil(top / 10.0)
    x_end = 10.0 * math.ceil((t1 - s0) / 10.0)
    if band is not None:
        nm = rubric.target.near_miss_pct / 100.0
        dyn.append(ax.axhspan(band[0] * (1 - nm), band[0], color=C_BAND, alpha=0.08, lw=0))
        dyn.append(ax.axhspan(band[1], band[1] * (1 + nm), color=C_BAND, alpha=0.08, lw=0))
        dyn.append(ax.axhspan(band[0], band[1], color=C_BAND, alpha=0.20, lw=0))
    dyn.append(ax.axvspan(0.0, dur, color=C_HOLD, alpha=0.10, lw=0))
    inside = (tb >= s0) & (tb <= hold.end_s)
    dyn += ax.plot(x, np.where(inside, np.nan, net), color=C_CONTEXT, lw=1.0)
    dyn += ax.plot(x, np.where(inside, net, np.nan), color=C_TRACE, lw=1.4)
    if tol is not None:
        dyn.append(ax.axhline(tol, color=C_TOL, lw=1.4, ls="--"))
        over = net > tol
        if over.any():
            dyn.append(ax.fill_between(x, tol, net, where=over, color=C_TOL, alpha=0.45, lw=0))
    # drift: the start and end levels (drift windows); the % above the end level
    w = rubric.drift.reference_s
    if hold.duration_s >= 2 * w and np.isfinite(hold.drift_pct):
        m0 = inside & (x <= w)
        m1 = inside & (x >= dur - w)
        if m0.any() and m1.any():
            l0, l1 = float(net[m0].mean()), float(net[m1].mean())
            bad = abs(hold.drift_pct) >= rubric.drift.limit_pct
            col = C_DRIFT if bad else "#555555"
            dyn.append(ax.hlines([l0, l1], [0.0, dur - w], [w, dur], color=col, lw=2.5))
            if abs(hold.drift_pct) >= rubric.drift.limit_pct / 2:
                dyn.append(ax.hlines(l0, w, dur - w, color=col, lw=0.8, ls=":"))
            dyn.append(ax.text(dur, max(l0, l1) + 0.05 * top, f"drift {hold.drift_pct:+.0f} %",
                               color=col, ha="right", va="bottom", fontsize=9,
                               fontweight="bold" if bad else "normal"))
    if hold.end_s < t_goal:  # short: show how long it should have been
        dyn.append(ax.axvline(window[0], color=C_DRIFT, lw=1.2, ls="--"))
        dyn.append(ax.text(window[0] - 0.2, 0.97 * top, f"target {window[0]:g} s", color=C_DRIFT, ha="right",
                           va="top", fontsize=8))
    hf.background(-margin_s, max(x_end, 10.0), top)
    for artist in dyn:
        ax.draw_artist(artist)
    _save_png(hf.fig.canvas, path)
    hf.clear()


# ---- class and student pictures -----------------------------------------------------------------

def _when(s: SessionGrade):
    """The session's date (a datetime) for time axes, or None (a CSV without a date)."""
    if s.start_epoch_s is None or not math.isfinite(s.start_epoch_s):
        return None
    return _dt.datetime.fromtimestamp(s.start_epoch_s)


def _date_axis(ax) -> None:
    import matplotlib.dates as mdates

    loc = mdates.AutoDateLocator(minticks=3, maxticks=7)
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))


def _x_values(sessions: list[SessionGrade]):
    """Dates when every session has one, else the session number: (xs, is_date)."""
    dates = [_when(s) for s in sessions]
    if dates and all(d is not None for d in dates):
        import matplotlib.dates as mdates

        return mdates.date2num(dates), True
    return np.arange(1, len(sessions) + 1, dtype=float), False


@_plain_text
def distribution_png(path, scores: list[float], pass_score: float) -> None:
    fig = _figure(8.0, 4.0)
    ax = fig.add_axes((0.08, 0.14, 0.88, 0.74))
    bins = np.arange(0, 105, 5)
    ax.hist(np.clip(scores, 0, 100), bins=bins, color=C_TRACE, alpha=0.8, edgecolor="white", label="sessions")
    ax.axvline(pass_score, color=C_PASS, ls="--", lw=1.6, label=f"pass mark {pass_score:g}")
    ax.set_xlim(0, 100)
    ax.set_xlabel("session score", fontsize=10)
    ax.set_ylabel("sessions", fontsize=10)
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.text(0.08, 0.93, f"Session scores (n = {len(scores)} graded)", fontsize=11)
    ax.legend(fontsize=9, frameon=False, loc="upper left")
    ax.grid(alpha=0.25, lw=0.5)
    fig.savefig(path, format="png", **PNG_OPTIONS)


@_plain_text
def class_progress_png(path, students, pass_score: float) -> None:
    """Every student's graded scores by date (thin grey lines), the class median per week
    (or per session number without dates), the pass mark: readable at any class size."""
    fig = _figure(9.0, 4.5)
    ax = fig.add_axes((0.07, 0.14, 0.68, 0.74))
    all_dates = True
    points = []
    for st in students:
        ss = st.graded_sessions
        if not ss:
            continue
        xs, is_date = _x_values(ss)
        all_dates &= is_date
        points.append((xs, [s.score for s in ss]))
    for k, (xs, ys) in enumerate(points):
        ax.plot(xs, ys, color="#8c8c8c", lw=0.8, alpha=0.6, marker="o", ms=2.5,
                label="one student" if k == 0 else None)
    if points:
        xs = np.concatenate([p[0] for p in points])
        ys = np.concatenate([p[1] for p in points])
        key = np.floor(xs / 7.0) if all_dates else xs  # weeks (days since the epoch / 7)
        groups = sorted(set(key.tolist()))
        mx = [float(np.median(xs[key == g])) for g in groups]
        my = [float(np.median(ys[key == g])) for g in groups]
        ax.plot(mx, my, color="black", lw=2.4, marker="o", ms=5,
                label="class median" + (", by week" if all_dates else ""))
    ax.axhline(pass_score, color=C_PASS, ls="--", lw=1.6, label=f"pass mark {pass_score:g}")
    ax.set_ylim(0, 103)
    if all_dates and points:
        _date_axis(ax)
        ax.set_xlabel("session date", fontsize=10)
    else:
        ax.set_xlabel("session (in time order)", fontsize=10)
        ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("session score", fontsize=10)
    fig.text(0.07, 0.93, f"Scores across sessions ({len(points)} students)", fontsize=11)
    ax.grid(alpha=0.25, lw=0.5)
    ax.legend(fontsize=9, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, format="png", **PNG_OPTIONS)


def _legend_image(handles, w_in: float, h_in: float, **kwargs) -> np.ndarray:
    """A legend drawn once, as an RGBA image cropped to its box (text is what costs)."""
    fig = _figure(w_in, h_in)
    leg = fig.legend(handles=handles, loc="lower left", frameon=False, borderaxespad=0.1, **kwargs)
    fig.canvas.draw()
    bbox = leg.get_window_extent()
    rgba = np.asarray(fig.canvas.buffer_rgba())
    h = rgba.shape[0]
    x0, x1 = int(bbox.x0), int(np.ceil(bbox.x1))
    y0, y1 = h - int(np.ceil(bbox.y1)), h - int(bbox.y0)
    return rgba[max(0, y0):y1, max(0, x0):x1].copy()


class _StudentFigure:
    """One figure per process for the students' pictures (as ``_HoldFigure``)."""

    W_IN, H_IN = 9.0, 4.2

    def __init__(self, pass_score: float) -> None:
        from matplotlib.lines import Line2D

        self.pass_score = pass_score
        fig = self.fig = _figure(self.W_IN, self.H_IN)
        ax = self.ax = fig.add_axes((0.07, 0.15, 0.70, 0.72))
        ax.set_ylabel("score (0-100)", fontsize=10)
        ax.set_ylim(0, 103)
        ax.grid(alpha=0.25, lw=0.5)
        ax.tick_params(labelsize=8.5)
        self.pass_line = ax.axhline(pass_score, color=C_PASS, ls="--", lw=1.6)
        handles = [Line2D([], [], color=SUBSKILL_COLOURS[k], lw=1.0, marker=".", label=f"{SUBSKILL_LABELS[k]} score")
                   for k in SUBSKILLS]
        handles += [Line2D([], [], color="black", lw=2.4, marker="o", ms=5, label="session score"),
                    Line2D([], [], color=C_PASS, lw=1.6, ls="--", label=f"pass mark {pass_score:g}")]
        legend = _legend_image(handles, 2.0, self.H_IN, fontsize=8.5, ncol=1)
        fig.figimage(legend, xo=int(0.785 * self.W_IN * DPI), yo=int(0.87 * self.H_IN * DPI) - legend.shape[0],
                     origin="upper")
        self.title = fig.text(0.07, 0.92, "", fontsize=10)
        self.dynamic: list = []


_STUDENT_FIGURE: _StudentFigure | None = None


@_plain_text
def student_progress_png(path, student, pass_score: float) -> None:
    """One student's score per graded session by date, the sub-skill scores as thin lines,
    the pass mark; the progress and the trend with its standard error in the title."""
    global _STUDENT_FIGURE
    if _STUDENT_FIGURE is None or _STUDENT_FIGURE.pass_score != pass_score:
        _STUDENT_FIGURE = _StudentFigure(pass_score)
    sf = _STUDENT_FIGURE
    ax = sf.ax
    for artist in sf.dynamic:
        artist.remove()
    sf.dynamic = dyn = []
    ss = student.graded_sessions
    xs, is_date = _x_values(ss)
    means = [s.subskill_means() for s in ss]
    for key in SUBSKILLS:
        ys = [np.nan if m.get(key) is None else 100 * m[key] for m in means]
        dyn += ax.plot(xs, ys, lw=1.0, alpha=0.8, marker=".", color=SUBSKILL_COLOURS[key])
    dyn += ax.plot(xs, [s.score for s in ss], color="black", lw=2.4, marker="o", ms=5)
    if is_date and len(ss):
        _date_axis(ax)
        ax.set_xlabel("session date", fontsize=10)
        lo, hi = float(xs.min()), float(xs.max())
        pad = max(1.0, 0.05 * (hi - lo))
        ax.set_xlim(lo - pad, hi + pad)
    else:
        from matplotlib.ticker import MaxNLocator, ScalarFormatter

        ax.xaxis.set_major_locator(MaxNLocator(8, integer=True))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel("session (in time order)", fontsize=10)
        ax.set_xlim(0.5, max(1, len(ss)) + 0.5)
    trend = ""
    if student.trend is not None:
        se = "" if student.trend_se is None else f" ± {student.trend_se:.1f}"
        trend = f" — {student.progress}, {student.trend:+.1f}{se} points/session"
    elif student.progress:
        trend = f" — {student.progress}"
    sf.title.set_text(_t(f"{student.name[:60]}{trend}"))
    sf.fig.savefig(path, format="png", **PNG_OPTIONS)


def _draw(task) -> None:
    kind, path, args = task
    {"distribution": distribution_png, "class": class_progress_png, "student": student_progress_png}[kind](path, *args)


def draw_class_pictures(img_dir: str, sessions, students, rubric, *, jobs: int | None = 1,
                        progress: bool = False) -> None:
    """The distribution, the class progress and every student's progress picture, in ``jobs``
    worker processes (each student's picture is independent)."""
    from nmt_monitor.grading.batch import STUDENT_IMAGES
    from nmt_monitor.research import Progress, map_files

    scores = [s.score for s in sessions if s.graded]
    tasks = [("distribution", os.path.join(img_dir, "distribution.png"), (scores, rubric.pass_score)),
             ("class", os.path.join(img_dir, "class-progress.png"), (students, rubric.pass_score))]
    tasks += [("student", os.path.join(img_dir, STUDENT_IMAGES, st.page + ".png"), (st, rubric.pass_score))
              for st in students]
    # the class pictures here: this process then has matplotlib loaded, and the workers that
    # draw the students' pictures start from a copy of it (fork) instead of importing it again
    for task in tasks[:2]:
        _draw(task)
    tasks = tasks[2:]
    bar = Progress(len(tasks), "pictures ") if progress and tasks else None
    # a worker process pays for its start: worth it only for more than a few pictures
    map_files(_draw, tasks, jobs=1 if len(tasks) < 8 else jobs, progress=bar)
