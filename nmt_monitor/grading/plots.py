"""Pictures for the grading report: one PNG per hold, the class distribution, progress.

Headless: matplotlib's Agg canvas on ``matplotlib.figure.Figure`` objects (no pyplot, no
display, safe in worker processes). Names and labels come from session files: they are drawn
as plain text (``figure_text`` escapes ``$``; TeX is off whatever the user's matplotlibrc says).
"""

from __future__ import annotations

import functools

import numpy as np

from nmt_monitor.grading.scoring import SUBSKILL_LABELS, HoldGrade, SessionGrade, bin_means
from nmt_monitor.safetext import figure_text as _t

# colours (colour-blind friendly, Okabe-Ito)
C_TRACE = "#0b3d91"
C_CONTEXT = "#9a9a9a"
C_BAND = "#009e73"
C_TOL = "#d55e00"
C_DRIFT = "#e69f00"
C_HOLD = "#56b4e9"

DPI = 100


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


@_plain_text
def hold_png(path, session: SessionGrade, hold: HoldGrade, time_s: np.ndarray, force_n: np.ndarray,
             rubric, margin_s: float = 4.0) -> None:
    """Force trace around one hold: target band (and its near-miss margin), tolerance,
    the hold span, start and end levels with the drift, over-tolerance shaded."""
    t0 = max(float(time_s[0]), hold.start_s - margin_s)
    t_goal = hold.start_s + session.hold_window_s[0]  # where the hold would reach the target time
    t1 = max(min(float(time_s[-1]), hold.end_s + margin_s), t_goal + 1.0 if hold.end_s < t_goal else 0.0)
    tb, fb = bin_means(time_s, force_n, t0, t1, 50.0)
    net = fb - hold.zero_N
    fig = _figure(8.0, 3.4)
    ax = fig.add_axes((0.075, 0.15, 0.70, 0.72))
    band = session.band_N
    tol = session.tolerance_N
    top = max(float(np.nanmax(net)) if net.size else 1.0, band[1] if band else 0.0, tol or 0.0) * 1.12
    if band is not None:
        nm = rubric.target.near_miss_pct / 100.0
        ax.axhspan(band[0] * (1 - nm), band[0], color=C_BAND, alpha=0.08, lw=0)
        ax.axhspan(band[1], band[1] * (1 + nm), color=C_BAND, alpha=0.08, lw=0)
        ax.axhspan(band[0], band[1], color=C_BAND, alpha=0.20, lw=0, label=f"target {band[0]:g}-{band[1]:g} N")
    ax.axvspan(hold.start_s, hold.end_s, color=C_HOLD, alpha=0.10, lw=0)
    ax.axvline(hold.start_s, color=C_HOLD, lw=1.0, ls=":")
    ax.axvline(hold.end_s, color=C_HOLD, lw=1.0, ls=":")
    inside = (tb >= hold.start_s) & (tb <= hold.end_s)
    ax.plot(tb, np.where(inside, np.nan, net), color=C_CONTEXT, lw=0.9)
    ax.plot(tb, np.where(inside, net, np.nan), color=C_TRACE, lw=1.2, label="force (net of zero)")
    if tol is not None:
        ax.axhline(tol, color=C_TOL, lw=1.4, ls="--", label=f"tolerance {tol:g} N")
        over = net > tol
        if over.any():
            ax.fill_between(tb, tol, net, where=over, color=C_TOL, alpha=0.45, lw=0, label="over tolerance")
    # drift: the start and end levels (drift windows); an arrow and the % when it matters
    w = rubric.drift.reference_s
    if hold.duration_s >= 2 * w:
        m0 = (tb >= hold.start_s) & (tb <= hold.start_s + w)
        m1 = (tb >= hold.end_s - w) & (tb <= hold.end_s)
        if m0.any() and m1.any():
            l0, l1 = float(net[m0].mean()), float(net[m1].mean())
            bad = abs(hold.drift_pct) >= rubric.drift.limit_pct
            col = C_DRIFT if bad else "#555555"
            ax.hlines(l0, hold.start_s, hold.start_s + w, color=col, lw=2.5)
            ax.hlines(l1, hold.end_s - w, hold.end_s, color=col, lw=2.5)
            if abs(hold.drift_pct) >= rubric.drift.limit_pct / 2:
                ax.hlines(l0, hold.start_s + w, hold.end_s, color=col, lw=0.8, ls=":")
                ax.annotate("", xy=(hold.end_s - w / 2, l1), xytext=(hold.end_s - w / 2, l0),
                            arrowprops=dict(arrowstyle="->", color=col, lw=1.5))
                ax.text(hold.end_s - w - 0.3, max(l0, l1) + 0.04 * top, f"drift {hold.drift_pct:+.0f} %",
                        color=col, ha="right", va="bottom", fontsize=9, fontweight="bold" if bad else "normal",
                        bbox=dict(facecolor="white", edgecolor="none", alpha=0.8, pad=1.0))
    if hold.end_s < t_goal:  # short: show how long it should have been
        ax.axvline(t_goal, color=C_DRIFT, lw=1.4, ls="--")
        ax.annotate("", xy=(t_goal, 0.93 * top), xytext=(hold.end_s, 0.93 * top),
                    arrowprops=dict(arrowstyle="->", color=C_DRIFT, lw=1.2))
        ax.text(t_goal - 0.2, 0.95 * top, f"target {session.hold_window_s[0]:g} s", color=C_DRIFT, ha="right",
                va="bottom", fontsize=8)
    ax.set_xlim(t0, t1)
    ax.set_ylim(0, top)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("force (N)")
    ax.grid(alpha=0.25, lw=0.5)
    ax.legend(loc="lower center", fontsize=7, ncol=4, frameon=False, bbox_to_anchor=(0.5, -0.01))
    ax.set_title(_t(f"{session.student} · {session.label} · hold {hold.index}: {hold.duration_s:.1f} s "
                    f"at {hold.mean_N:.1f} N"), fontsize=10, loc="left")
    # the scores, beside the plot
    fig.text(0.80, 0.80, f"{hold.composite:.0f}", fontsize=24, color=_score_colour(hold.composite),
             fontweight="bold", va="center")
    fig.text(0.89, 0.80, "/ 100", fontsize=10, color="#555555", va="center")
    y = 0.66
    for key, label in SUBSKILL_LABELS.items():
        v = hold.scores.get(key)
        txt = "n/a" if v is None else f"{100 * v:.0f} %"
        fig.text(0.80, y, label, fontsize=9)
        fig.text(0.97, y, txt, fontsize=9, ha="right",
                 color="#555555" if v is None else _score_colour(100 * v))
        y -= 0.075
    if hold.penalty or hold.failed:
        fig.text(0.80, y, "FAIL: over tol." if hold.failed else f"over tol. -{hold.penalty:.0f}", fontsize=9,
                 color=C_TOL, fontweight="bold")
        y -= 0.075
    if hold.flags:
        fig.text(0.80, y - 0.02, _t("flags: " + ", ".join(hold.flags)), fontsize=7.5, color="#555555")
    fig.savefig(path, format="png")


@_plain_text
def distribution_png(path, scores: list[float], pass_score: float) -> None:
    fig = _figure(6.0, 3.0)
    ax = fig.add_axes((0.1, 0.17, 0.86, 0.72))
    bins = np.arange(0, 105, 5)
    ax.hist(np.clip(scores, 0, 100), bins=bins, color=C_TRACE, alpha=0.8, edgecolor="white")
    ax.axvline(pass_score, color=C_TOL, ls="--", lw=1.2, label=f"pass {pass_score:g}")
    ax.set_xlim(0, 100)
    ax.set_xlabel("session score")
    ax.set_ylabel("sessions")
    ax.set_title(f"Distribution of session scores (n = {len(scores)})", fontsize=10, loc="left")
    ax.legend(fontsize=8, frameon=False)
    ax.grid(alpha=0.25, lw=0.5)
    fig.savefig(path, format="png")


@_plain_text
def class_progress_png(path, students, pass_score: float) -> None:
    """Every student's session scores in order, one line each."""
    fig = _figure(7.0, 3.4)
    ax = fig.add_axes((0.08, 0.15, 0.62, 0.75))
    for st in students:
        x = np.arange(1, len(st.sessions) + 1)
        ax.plot(x, st.scores, marker="o", ms=3.5, lw=1.3, label=_t(st.name[:24]))
    ax.axhline(pass_score, color=C_TOL, ls="--", lw=1.0)
    ax.set_ylim(0, 103)
    ax.set_xlabel("session (in time order)")
    ax.set_ylabel("score")
    ax.set_title("Scores across sessions", fontsize=10, loc="left")
    ax.grid(alpha=0.25, lw=0.5)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, format="png")


def _tick(session: SessionGrade) -> str:
    import datetime as dt

    name = _t(session.label.rsplit("/", 1)[-1][:14])
    if session.start_epoch_s is not None:
        return f"{name}\n{dt.datetime.fromtimestamp(session.start_epoch_s):%Y-%m-%d}"
    return name


@_plain_text
def student_progress_png(path, student, pass_score: float) -> None:
    """One student's score per session, with the sub-skill means as thin lines."""
    fig = _figure(7.0, 3.0)
    ax = fig.add_axes((0.08, 0.17, 0.66, 0.72))
    x = np.arange(1, len(student.sessions) + 1)
    for key, label in SUBSKILL_LABELS.items():
        ys = [s.subskill_means().get(key) for s in student.sessions]
        ys = [np.nan if v is None else 100 * v for v in ys]
        ax.plot(x, ys, lw=0.9, alpha=0.7, marker=".", label=label)
    ax.plot(x, student.scores, color="black", lw=2.2, marker="o", label="score")
    ax.axhline(pass_score, color=C_TOL, ls="--", lw=1.0)
    ax.set_ylim(0, 103)
    ax.set_xticks(x, [_tick(s) for s in student.sessions], fontsize=7)
    ax.set_ylabel("score / sub-skill %")
    trend = "" if student.trend is None else f"  (trend {student.trend:+.1f} points/session)"
    ax.set_title(_t(f"{student.name}{trend}"), fontsize=10, loc="left")
    ax.grid(alpha=0.25, lw=0.5)
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.savefig(path, format="png")
