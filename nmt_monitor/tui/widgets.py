"""The monitor's widgets and the pure functions that draw them.

Each widget owns its state: a reactive attribute holding a small frozen value (never a NumPy
array: Textual compares reactive values, and an array has no truth value). A screen builds the
states from the station's ``Frame`` on its frame timer and assigns them; a widget repaints only
when its state changed, and never asks for a new layout (every widget has a fixed size). The
drawing itself is done by the plain functions below (``render_*``, ``trace_rows``,
``status_line``, ...), which tests call directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import DataTable, Digits

from nmt_monitor.flags import flags_text
from nmt_monitor.station import Frame, HoldRow, HoldView, RecordingView, SourceStatus, Units, Visibility

from .braille import grid_to_cells, trace_grid, value_to_dot_row

GUTTER = 6  # y-axis labels left of the trace
STALE_AFTER_S = 0.5  # no new sample for this long (the station's clock): the readout is not current

# trace colours, by the peak force of a cell column
_FG = {0: "", 1: "bright_white", 2: "bold bright_green", 3: "bold yellow", 4: "bold bright_red", 5: "red"}
_BAND_BG = "on #10331c"


def force_class(force_n: float | None, band, tolerance) -> str:
    """below | in_band | above | over (tolerance) | none"""
    if force_n is None or not np.isfinite(force_n):
        return "none"
    if tolerance is not None and force_n > tolerance:
        return "over"
    if band is not None:
        if force_n < band[0]:
            return "below"
        if force_n > band[1]:
            return "above"
        return "in_band"
    return "none"


def is_stale(frame: Frame, kind: str) -> bool:
    """The force on screen is not current: the link is down, acquisition stopped, or (live)
    no new sample arrived for ``STALE_AFTER_S`` seconds by the station's clock."""
    if frame.acquisition_error or frame.link_state in ("reconnecting", "failed"):
        return True
    if kind != "live":
        return False  # a paused or ended replay is not stale
    if frame.data_age_s is None:  # nothing yet: the readout shows --.- anyway
        return False
    if frame.link_state != "streaming":
        return True
    return frame.data_age_s > STALE_AFTER_S


def y_range(frame, f: np.ndarray) -> tuple[float, float]:
    top = 10.0
    if frame.tolerance_n is not None:
        top = max(top, frame.tolerance_n * 1.15)
    if frame.target_band_n is not None:
        top = max(top, frame.target_band_n[1] * 1.3)
    if f.size:
        top = max(top, float(np.max(f)) * 1.08)
    return 0.0, _nice_ceiling(top)


def _nice_ceiling(x: float) -> float:
    for step in (5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        if x <= step * 10:
            return float(np.ceil(x / step) * step)
    return float(np.ceil(x / 1000) * 1000)


def _fit(text: str, n: int) -> str:
    """``text`` in at most ``n`` characters, shortened in the middle."""
    if len(text) <= n:
        return text
    if n <= 1:
        return text[:n]
    half = (n - 1) // 2
    return text[:n - 1 - half] + "…" + text[len(text) - half:]


# ------------------------------------------------------------------------------ title bar

@dataclass(frozen=True)
class TitleState:
    kind: str = "live"  # live | replay
    name: str = ""  # the station's name (class view)
    client: str = ""
    tip: str = ""
    feedback: str = "full"
    unit: str = "N"
    recording: bool = False
    finishing: bool = False
    in_memory: bool = False
    acquisition_stopped: bool = False
    link_failed: bool = False


def render_title(state: TitleState, width: int) -> Text:
    tag, style = "", ""
    if state.kind == "live":
        tag = " ● RECORDING " if state.recording else (" finishing … " if state.finishing else " ○ not recording ")
        style = "bold reverse bright_red" if state.recording else "dim"
        if state.recording and state.in_memory:  # the disk failed: samples are only in memory
            tag = " ⚠ RECORDING IN MEMORY (disk failed) "
    if state.acquisition_stopped or state.link_failed:
        what = "ACQUISITION STOPPED" if state.acquisition_stopped else "SENSOR LINK FAILED"
        tag = f" ⚠ {what}" + (" (recording kept) " if state.recording else " ")
        style = "bold reverse bright_red"
    left = f" {state.kind} "
    parts = [state.name, f"client {state.client}" if state.client else "", state.tip, f"feedback {state.feedback}",
             state.unit]
    left += "· " + " · ".join(p for p in parts if p) + " "
    out = Text(no_wrap=True, overflow="crop")
    out.append(" nmt-monitor ", "bold reverse")
    room = width - 13 - len(tag)
    if len(left) > room:
        left = left[: max(0, room - 1)] + "…"
    out.append(left, "bold")
    out.append(" " * max(0, width - len(out.plain) - len(tag)))
    out.append(tag, style)
    return out


class TitleBar(Widget):
    """The top line: what this is (live/replay, client, tip, feedback mode, unit) and whether it
    records."""

    DEFAULT_CSS = "TitleBar { height: 1; }"
    state: reactive[TitleState] = reactive(TitleState, layout=False)

    def render(self) -> Text:
        return render_title(self.state, self.size.width)


# --------------------------------------------------------------------------- the readout

@dataclass(frozen=True)
class ReadoutState:
    value: str = ""  # what the big digits say ("--.-" when hidden or stale)
    cls: str = "none"  # force_class, or "hidden"


class ForceDigits(Digits):
    """The big force readout; its CSS class follows where the force is (force-over, ...)."""

    reading: reactive[ReadoutState] = reactive(ReadoutState, layout=False, init=False)

    def watch_reading(self, old: ReadoutState, reading: ReadoutState) -> None:
        self.update(reading.value)
        if reading.cls != old.cls or not self.has_class(f"force-{reading.cls}"):
            self.set_classes(f"force-{reading.cls}")  # a style update: only when the class changes

    def update(self, value: str) -> None:
        """The readout has a fixed width (CSS): a new value only repaints it. (``Digits.update``
        asks for a new layout of the screen whenever the digits' width changes, e.g. for a 1.)"""
        if not isinstance(value, str):
            raise TypeError("value must be a str")
        self._value = value  # Digits keeps its text here (textual 8)
        self.refresh()


@dataclass(frozen=True)
class LabelState:
    cls: str = "none"  # force_class of the force shown
    units: Units = Units()
    band: tuple[float, float] | None = None
    tolerance: float | None = None
    visible: bool = True
    stale: bool = False


LABEL_W = 16  # the width of #force-label (monitor.tcss)


def readout_label(state: LabelState) -> Text:
    units = state.units
    out = Text(no_wrap=True, overflow="crop")
    out.append(f"{units.unit}\n", "bold")
    if state.stale:
        out.append("no data\n", "bold yellow")
    elif not state.visible:
        out.append("hidden\n", "italic grey70")
    else:
        word, style = {"over": ("OVER TOL", "bold reverse bright_red"), "in_band": ("IN BAND", "bold bright_green"),
                       "above": ("ABOVE BAND", "bold yellow"), "below": ("below band", "white"),
                       "none": ("", "")}[state.cls]
        out.append(word + "\n", style)
    # one line each in the 16-column label: the unit goes when it does not fit (it is on line 1)
    band = f"band {units.fmt_band(state.band)}"
    if len(band) > LABEL_W and state.band is not None:
        lo, hi = state.band
        band = f"band {units.fmt(lo, unit=False)}–{units.fmt(hi, unit=False)}"
    tol = f"tol  {units.fmt(state.tolerance)}"
    if len(tol) > LABEL_W:
        tol = f"tol  {units.fmt(state.tolerance, unit=False)}"
    out.append(band[:LABEL_W] + "\n", "green")
    out.append(tol[:LABEL_W], "red")
    return out


class ReadoutLabel(Widget):
    """Next to the big digits: unit, where the force is relative to the targets, band, tolerance."""

    state: reactive[LabelState] = reactive(LabelState, layout=False)

    def render(self) -> Text:
        return readout_label(self.state)


# ----------------------------------------------------------------------------- hold panel

@dataclass(frozen=True)
class HoldState:
    """What the hold panel shows (the running hold's times rounded to what is drawn)."""

    hold: HoldView | None = None
    last_hold: HoldRow | None = None
    target_hold_s: float | None = None
    units: Units = Units()
    vis: Visibility = Visibility()
    interrupted: bool = False  # no current data: the timer is not running


def hold_state(frame: Frame, units: Units, vis: Visibility, interrupted: bool) -> HoldState:
    hold = frame.hold
    if hold is not None:  # drawn to 0.1 s and 0.1 N: the panel repaints only when that changes
        hold = HoldView(round(hold.start_s, 1), round(hold.elapsed_s, 1), round(hold.level_n, 1),
                        None if hold.cv_pct is None else round(hold.cv_pct, 1),
                        None if hold.drift_pct is None else round(hold.drift_pct, 1), hold.drift_alert)
    return HoldState(hold, frame.last_hold, frame.target_hold_s, units, vis, interrupted)


def render_hold_panel(frame, units: Units, vis: Visibility, width: int, interrupted: bool = False) -> Text:
    """``frame``: anything with ``hold``, ``target_hold_s`` and ``last_hold`` (a ``Frame`` or a
    ``HoldState``). ``interrupted``: no current data (link down, nothing new): the timer is
    not running. ``vis.timer`` False (a program's blind trial): the time is not shown either."""
    out = Text(no_wrap=True, overflow="crop")
    hold = frame.hold
    target = frame.target_hold_s
    bar_w = max(10, width - 10)
    timer = vis.timer
    if hold is not None and not timer:
        out.append("HOLD ", "bold reverse " + ("yellow" if interrupted else "bright_cyan"))
        out.append("  release when you judge the time is up", "italic grey70")
        out.append("\n\n")
        out.append(vis.reason or "timer hidden", "italic grey70")
    elif hold is not None:
        out.append("HOLD ", "bold reverse " + ("yellow" if interrupted else "bright_cyan"))
        out.append(f" {hold.elapsed_s:5.1f} s", "bold bright_white")
        if target:
            out.append(f" / {target:g} s", "bold")
            frac = min(1.0, hold.elapsed_s / target)
            done = hold.elapsed_s >= target
            if interrupted:
                out.append("  INTERRUPTED (no data)", "bold reverse yellow")
            elif done:
                out.append("  RELEASE", "bold reverse bright_green")
            out.append("\n")
            n = int(round(frac * bar_w))
            out.append("█" * n, "bright_green" if done else "bright_cyan")
            out.append("░" * (bar_w - n), "grey35")
            out.append(f" {frac * 100:3.0f} %")
        else:
            out.append("  INTERRUPTED (no data)" if interrupted else "  (no target time)",
                       "bold reverse yellow" if interrupted else "dim")
            out.append("\n")
        out.append("\n")
        if vis.metrics:
            cv = "—" if hold.cv_pct is None else f"{hold.cv_pct:.1f} %"
            drift = "—" if hold.drift_pct is None else f"{hold.drift_pct:+.1f} %"
            level = f"level {units.fmt(hold.level_n)}   CV {cv}   "
            if len(level) + len(f"drift {drift}") > width:  # no room: the drift on a line of its own
                level = level.rstrip() + "\n"
            out.append(level)
            out.append(f"drift {drift}", "bold yellow" if hold.drift_alert else "")
        else:
            out.append(vis.reason, "italic grey70")
    else:
        out.append("no hold", "bold grey70")
        if target and timer:
            out.append(f"   target {target:g} s", "dim")
        out.append("\n")
        out.append("timer starts when the force settles" if timer else "", "dim")
        out.append("\n")
    out.append("\n")
    last = frame.last_hold
    if last is not None:
        out.append("last: ", "dim")
        out.append(hold_summary(last, units))
    return out


def hold_summary(row: HoldRow, units: Units) -> str:
    flags = f"  [{', '.join(row.flags)}]" if row.flags else ""
    return (f"{row.duration_s:.1f} s at {units.fmt(row.mean_n)}, CV {row.cv_pct:.1f} %, "
            f"drift {row.drift_pct:+.1f} %{flags}")


class HoldPanel(Widget):
    """The hold timer against the target time, the running hold's level, CV and drift, and the
    last hold's result."""

    # cropped, not wrapped (Textual ignores Rich's no_wrap): a wrapped line pushes the rest out
    DEFAULT_CSS = "HoldPanel { text-wrap: nowrap; text-overflow: clip; }"
    state: reactive[HoldState] = reactive(HoldState, layout=False)

    def render(self) -> Text:
        s = self.state
        return render_hold_panel(s, s.units, s.vis, self.size.width, s.interrupted)


# ---------------------------------------------------------------------------------- gauge

@dataclass(frozen=True)
class GaugeState:
    force_n: float | None = None  # rounded to the digits shown
    band: tuple[float, float] | None = None
    tolerance: float | None = None
    visible: bool = False
    top_n: float = 10.0  # the gauge's full scale
    units: Units = Units()
    cls: str = ""  # force_class of the exact force ("": from force_n)


GAUGE_LABEL_W = 8


def gauge_state(frame: Frame, units: Units, visible: bool, top_n: float | None = None,
                width: int | None = None) -> GaugeState:
    """``top_n``: the full scale, when not the trace's (a tile keeps the one of its last trace);
    ``width``: the gauge's, to keep the force only to the cell it fills (the gauge then repaints
    only when the fill moves a cell or the force's class changes)."""
    top = y_range(frame, frame.trace_f)[1] if top_n is None else top_n
    force = None if frame.force_n is None else float(frame.force_n)
    cls = force_class(force, frame.target_band_n, frame.tolerance_n)
    if force is not None:
        if width:
            w = max(4, width - GAUGE_LABEL_W)
            force = int(np.clip(round(force / top * w), 0, w)) * top / w  # the cell's own value
        else:
            force = round(force, units.decimals + 1)
    return GaugeState(force, frame.target_band_n, frame.tolerance_n, visible, top, units, cls)


def render_gauge(state: GaugeState, width: int) -> Text:
    """A one-line horizontal gauge: filled to the force, band in green, tolerance as a red bar."""
    y0, y1 = 0.0, state.top_n
    units = state.units
    out = Text(no_wrap=True, overflow="crop")
    label_w = GAUGE_LABEL_W
    w = max(4, width - label_w)
    band, tol = state.band, state.tolerance
    force_n = state.force_n

    def x_of(v: float) -> int:
        return int(np.clip(round((v - y0) / (y1 - y0) * w), 0, w))

    fill = x_of(force_n) if (state.visible and force_n is not None) else 0
    cls = state.cls or force_class(force_n, band, tol)
    colour = {"over": "bright_red", "in_band": "bright_green", "above": "yellow", "below": "white",
              "none": "bright_white"}[cls]
    bx = (x_of(band[0]), x_of(band[1])) if band else (-1, -1)
    tx = min(x_of(tol), w - 1) if tol is not None else -1
    # one (char, style) per cell, then appended as runs of equal style
    cells = []
    for x in range(w):
        in_band = bx[0] <= x < bx[1]
        if x == tx:
            cells.append(("┃", "bold bright_red" + (" " + _BAND_BG if in_band else "")))
        elif x < fill:
            cells.append(("█", colour))
        else:
            cells.append(("─", "green " + _BAND_BG) if in_band else ("·", "grey35"))
    run_text, run_style = "", None
    for ch, st in cells:
        if st != run_style and run_text:
            out.append(run_text, run_style)
            run_text = ""
        run_text += ch
        run_style = st
    if run_text:
        out.append(run_text, run_style)
    out.append(f" {units.fmt(y1, unit=False, decimals=0):>{label_w - 1}}", "dim")
    return out


class Gauge(Widget):
    DEFAULT_CSS = "Gauge { height: 1; }"
    state: reactive[GaugeState] = reactive(GaugeState, layout=False)

    def render(self) -> Text:
        return render_gauge(self.state, self.size.width)


# ---------------------------------------------------------------------------- alert line

def link_alert(frame: Frame, stale: bool) -> str:
    """Why the force on screen is not current ('' when it is)."""
    if frame.acquisition_error:
        return f"⚠ acquisition stopped: {frame.acquisition_error} — quit and restart"
    if frame.link_state == "failed":
        return "⚠ sensor link failed" + (f": {frame.link_detail}" if frame.link_detail else "") + " — check the cable"
    if frame.link_state == "reconnecting":
        return "⚠ sensor disconnected — reconnecting …"
    if frame.link_state == "not connected":
        return "⚠ no sensor" + (f": {frame.link_detail}" if frame.link_detail else "") + " — trying again …"
    if stale:
        if frame.data_age_s is None or frame.link_state != "streaming":
            return "⚠ waiting for the sensor …"
        return f"⚠ no data from the sensor for {frame.data_age_s:.1f} s"
    return ""


@dataclass(frozen=True)
class AlertState:
    message: str = ""
    cls: str = "ok"  # link | over | drift | ok
    bold: bool = False
    short: str = ""  # the same in fewer words, for a narrow line (a tile of the class view)


def alert_message(frame: Frame, units: Units, vis: Visibility, *, stale: bool = False,
                  reveal_drift: bool = False) -> AlertState:
    """The alert: link | over | drift | ok. A link problem comes first (the force and alerts on
    screen are then not current); ``reveal_drift`` (blind mode) shows a drift withheld during
    the hold once it has ended."""
    link = link_alert(frame, stale)
    if link:
        return AlertState(link, "link", True, _short_link(frame, stale))
    if frame.over_tolerance and frame.tolerance_n is not None:
        f, tol = frame.force_n, frame.tolerance_n
        if f is not None and f <= tol:  # eased off, but not yet below tolerance - hysteresis
            below = frame.over_release_n if frame.over_release_n is not None else tol
            msg = f"⚠ STILL OVER TOLERANCE  {units.fmt(f)} — ease off below {units.fmt(below)}"
            short = f"⚠ STILL OVER — below {units.fmt(below)}"
        else:
            now = units.fmt(f) if f is not None else "?"
            msg = f"⚠ OVER TOLERANCE  {now} > {units.fmt(tol)} — ease off"
            short = f"⚠ OVER TOL {now} — ease off"
        return AlertState(msg, "over", True, short)
    if frame.drift_alert and vis.drift_alert and frame.hold is not None:
        d = frame.hold.drift_pct
        msg = f"⚠ DRIFT {d:+.1f} % — bring the pressure back" if d is not None else "⚠ DRIFT — bring the pressure back"
        return AlertState(msg, "drift", True, f"⚠ DRIFT {d:+.1f} %" if d is not None else "⚠ DRIFT")
    if reveal_drift and frame.hold is None and frame.last_hold_drifted and frame.last_hold is not None:
        msg = f"⚠ the last hold drifted {frame.last_hold.drift_pct:+.1f} % (withheld during the blind hold)"
        return AlertState(msg, "drift", True, f"⚠ last hold drifted {frame.last_hold.drift_pct:+.1f} %")
    text = "no alerts"
    if frame.over_count:
        text += f"   (over tolerance {frame.over_count}× this session)"
    return AlertState(text, "ok", False, "no alerts" + (f" ({frame.over_count}× over)" if frame.over_count else ""))


def _short_link(frame: Frame, stale: bool) -> str:
    if frame.acquisition_error:
        return "⚠ acquisition stopped"
    return {"failed": "⚠ sensor link failed", "reconnecting": "⚠ disconnected — reconnecting",
            "not connected": "⚠ no sensor — trying again"}.get(frame.link_state, "⚠ no data")


def render_alert_line(state: AlertState, width: int) -> Text:
    message = state.message if len(state.message) <= width or not state.short else state.short
    return Text(_fit(message, width).center(width), "bold" if state.bold else "")


def render_alert(frame: Frame, units: Units, vis: Visibility, width: int, *, stale: bool = False,
                 reveal_drift: bool = False) -> tuple[Text, str]:
    """The alert line and its CSS class: link | over | drift | ok (see ``alert_message``)."""
    state = alert_message(frame, units, vis, stale=stale, reveal_drift=reveal_drift)
    return render_alert_line(state, width), state.cls


class AlertLine(Widget):
    """One line, coloured by its class (alert-over, alert-drift, alert-link, alert-ok)."""

    DEFAULT_CSS = "AlertLine { height: 1; }"
    state: reactive[AlertState] = reactive(AlertState, layout=False)

    def watch_state(self, old: AlertState, state: AlertState) -> None:
        if state.cls != old.cls or not self.has_class(f"alert-{state.cls}"):
            self.set_classes(f"alert-{state.cls}")  # a style update: only when the class changes

    def render(self) -> Text:
        return render_alert_line(self.state, self.size.width)


# ---------------------------------------------------------------------------------- trace

class TraceView(Widget):
    """The last ``window_s`` seconds of force as braille dots, with the target band (green
    background) and the tolerance line (red dots). Its state is the rows it draws (tuples of
    (text, style) runs, built by ``trace_rows``); drawn with the Line API from cached strips,
    repainting only the rows that changed (the trace scrolls one dot column at a time)."""

    DEFAULT_CSS = "TraceView { height: 1fr; min-height: 4; }"
    rows: reactive[tuple] = reactive((), layout=False, repaint=False, init=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._strips: list[Strip] = []
        self._args = None
        self.refreshes = 0

    def show(self, frame: Frame, units: Units, visibility: Visibility, window_s: float, status_text: str = "") -> None:
        self._args = (frame, units, visibility, window_s, status_text)
        self._rebuild()

    def _rebuild(self) -> None:
        width, height = self.size.width, self.size.height
        if self._args is None or width <= GUTTER + 2 or height < 2:
            return
        frame, units, vis, window_s, status_text = self._args
        self.rows = tuple(tuple(r) for r in trace_rows(frame, units, vis, window_s, width, height, status_text))

    def watch_rows(self, old: tuple, rows: tuple) -> None:
        width = self.size.width
        base = self.rich_style

        def strip(row) -> Strip:
            return Strip([Segment(text, base + _style(st)) for text, st in row], width)

        self.refreshes += 1
        if len(old) != len(rows) or len(self._strips) != len(rows):
            self._strips = [strip(row) for row in rows]
            self.refresh()
        else:  # only the lines that changed (a steady hold touches a few rows)
            for y, row in enumerate(rows):
                if row != old[y]:
                    self._strips[y] = strip(row)
                    self.refresh(Region(0, y, width, 1))

    def on_resize(self) -> None:
        self._strips = []
        self.rows = ()
        self._rebuild()

    def render_line(self, y: int) -> Strip:
        if y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.size.width, self.rich_style)


_STYLES: dict[str, Style] = {}


def _style(spec: str) -> Style:
    st = _STYLES.get(spec)
    if st is None:
        st = _STYLES[spec] = Style.parse(spec) if spec else Style()
    return st


def render_trace(frame: Frame, units: Units, vis: Visibility, window_s: float, width: int, height: int,
                 status_text: str = "") -> Text:
    """The trace as Rich Text (for tests and captures; the widget uses ``trace_rows``)."""
    out = Text(no_wrap=True, overflow="crop")
    for i, row in enumerate(trace_rows(frame, units, vis, window_s, width, height, status_text)):
        if i:
            out.append("\n")
        for text, st in row:
            out.append(text, st)
    return out


def trace_rows(frame: Frame, units: Units, vis: Visibility, window_s: float, width: int, height: int,
               status_text: str = "") -> list[list[tuple[str, str]]]:
    """Rows of (text, style) runs: ``height - 1`` rows of trace and the time axis."""
    w, h = width - GUTTER, height - 1  # last row: the time axis
    t, f = frame.trace_t, frame.trace_f
    col_s = window_s / (2 * w)  # scroll by whole dot columns: the picture changes ~10x/s, not every frame
    t_end = float(np.ceil(frame.now_s / col_s) * col_s)
    t_start = t_end - window_s
    y0, y1 = y_range(frame, f)
    band, tol = frame.target_band_n, frame.tolerance_n
    ny = 4 * h
    rows: list[list[tuple[str, str]]] = []

    if vis.force:
        grid, peak = trace_grid(t, f, t_start, t_end, w, h, y0, y1)
    else:
        grid, peak = np.zeros((ny, 2 * w), bool), np.full(2 * w, np.nan)
    cells = grid_to_cells(grid)
    has_trace = cells != 0x2800
    # colour class per cell column from the peak of its two dot columns
    p = peak.reshape(w, 2)
    with np.errstate(all="ignore"):
        cpeak = np.where(np.isnan(p).all(axis=1), np.nan, np.nanmax(np.where(np.isnan(p), -np.inf, p), axis=1))
    col_cls = np.ones(w, np.int8)
    if band is not None:
        col_cls[(cpeak >= band[0]) & (cpeak <= band[1])] = 2
        col_cls[cpeak > band[1]] = 3
    if tol is not None:
        col_cls[cpeak > tol] = 4
    fg = np.where(has_trace, col_cls[None, :], 0).astype(np.int8)
    # tolerance line: every other dot of its dot row, under the trace
    if tol is not None and y0 < tol < y1:
        r = int(value_to_dot_row(tol, y0, y1, ny))
        cell_r, dot_r = divmod(r, 4)
        bit = (0x01, 0x02, 0x04, 0x40)[dot_r]
        row = cells[cell_r]
        add = ~has_trace[cell_r]
        row[add] |= bit
        fg[cell_r][add] = 5
    # band rows: cells whose centre value lies in the band
    bg = np.zeros(h, bool)
    labels: dict[int, str] = {}
    centres = y1 - (np.arange(h) + 0.5) * (y1 - y0) / h
    if band is not None:
        bg = (centres >= band[0]) & (centres <= band[1])
        for v in band:
            labels.setdefault(int(value_to_dot_row(v, y0, y1, ny)) // 4, units.fmt(v, unit=False, decimals=0))
    if tol is not None and y0 < tol < y1:
        labels[int(value_to_dot_row(tol, y0, y1, ny)) // 4] = units.fmt(tol, unit=False, decimals=0)
    labels.setdefault(0, units.fmt(y1, unit=False, decimals=0))
    labels.setdefault(h - 1, units.fmt(y0, unit=False, decimals=0))

    hidden_row = h // 2 if not vis.force else -1
    tol_row = int(value_to_dot_row(tol, y0, y1, ny)) // 4 if (tol is not None and y0 < tol < y1) else -1
    for r in range(h):
        label = labels.get(r, "")
        row = [(f"{label:>{GUTTER - 1}}", "red" if (label and r == tol_row) else "dim"),
               ("┤" if label else "│", "dim")]
        if r == hidden_row:
            msg = f" {vis.reason} "[:w].center(w)
            row.append((msg, "italic grey70" + (" " + _BAND_BG if bg[r] else "")))
        else:
            key = (cells[r].tobytes(), fg[r].tobytes(), bool(bg[r]))
            runs = _RUN_CACHE.get(key)
            if runs is None:  # most rows are the same from frame to frame
                if len(_RUN_CACHE) > 2048:
                    _RUN_CACHE.clear()
                runs = _RUN_CACHE[key] = cells_to_runs(cells[r], fg[r], bool(bg[r]))
            row.extend(runs)
        rows.append(row)
    # time axis
    axis = [" "] * w
    marks = []
    for k in range(0, int(window_s) + 1, 5):
        x = int(round((window_s - k) / window_s * (w - 1)))
        marks.append((x, "now" if k == 0 else f"-{k}s"))
    for x, lab in marks:
        x0 = min(max(0, x - len(lab) + 1 if lab == "now" else x - len(lab) // 2), w - len(lab))
        if all(c == " " for c in axis[max(0, x0 - 1): x0 + len(lab) + 1]):
            axis[x0:x0 + len(lab)] = list(lab)
    axis_text = "".join(axis)
    if status_text:
        s = f" {status_text} "
        mid = max(0, (w - len(s)) // 2)
        axis_text = (axis_text[:mid] + s + axis_text[mid + len(s):])[:w]
    rows.append([(f"{units.unit:>{GUTTER - 1}} ", "bold"), (axis_text, "dim")])
    return rows


_RUN_CACHE: dict = {}


def cells_to_runs(codes: np.ndarray, fg: np.ndarray, band_bg: bool) -> tuple[tuple[str, str], ...]:
    """One row of braille code points into (text, style) runs of equal style."""
    text = "".join(map(chr, codes.tolist())).replace("\u2800", " ")  # blank cells as spaces
    bg = (" " + _BAND_BG) if band_bg else ""
    breaks = np.flatnonzero(np.diff(fg)) + 1
    starts = np.r_[0, breaks]
    ends = np.r_[breaks, fg.size]
    return tuple((text[a:b], (_FG[int(fg[a])] + bg).strip()) for a, b in zip(starts.tolist(), ends.tolist()))


# --------------------------------------------------------------------------- program bar

@dataclass(frozen=True)
class ProgramState:
    """Where a training program is (``ProgramView``, the remaining time in whole seconds)."""

    view: object = None  # ProgramView | None
    remaining: int | None = None
    units: Units = Units()


def program_state(view, units: Units) -> ProgramState:
    if view is None:
        return ProgramState()
    remaining = None if view.remaining_s is None else int(-(-view.remaining_s // 1))  # whole seconds, rounded up
    return ProgramState(view, remaining, units)


_PHASE_STYLE = {"press": "bold reverse bright_green", "hold": "bold reverse bright_cyan",
                "release": "bold reverse bright_green", "rest": "bold reverse grey70", "done": "bold reverse"}


def program_words(state: ProgramState) -> tuple[str, str]:
    """(what to do now, its style): PRESS at the site, HOLD 12 s, RELEASE, REST 7 s, DONE."""
    v = state.view
    if v.phase == "press":
        text = f"PRESS at {v.next_site}" if v.next_site else "PRESS"
    elif v.phase == "hold":
        text = f"HOLD {state.remaining} s left" if v.countdown and state.remaining is not None else \
            f"HOLD — release at {v.hold_s:g} s, by feel"
    elif v.phase == "release":
        text = "RELEASE"
    elif v.phase == "rest":
        text = f"REST {state.remaining} s" if state.remaining is not None else "REST"
        if v.next_site:
            text += f" — next: {v.next_site}"
    else:
        text = "PROGRAM DONE"
    return text, _PHASE_STYLE.get(v.phase, "bold")


def render_program(state: ProgramState, width: int) -> Text:
    """`` HOLD 12 s left  trial 3/6 · upper trapezius L · target 30–42 N, 20 s · practice, full · name``;
    on a short line the program's name goes first, then the kind, then the target."""
    out = Text(no_wrap=True, overflow="ellipsis")
    v = state.view
    if v is None:
        return out
    text, style = program_words(state)
    if v.phase == "done":
        out.append(f" {text} ", style)
        out.append(f"  {v.trials} trials · {v.name}", "dim")
        return out
    parts = [(f" {text} ", style), (f"  trial {v.trial}/{v.trials}", "bold"), (f" · {v.site}", ""),
             (f" · target {state.units.fmt_band(v.target_band_n)}, {v.hold_s:g} s", ""),
             (f" · {v.kind}, {v.feedback}", ""), (f" · {v.name}", "dim")]
    while len(parts) > 3 and sum(len(t) for t, _ in parts) > width:
        parts.pop()
    for t, st in parts:
        out.append(t, st)
    return out


class ProgramPanel(Widget):
    """One line: what the training program asks now, the trial, its site, kind and targets."""

    DEFAULT_CSS = "ProgramPanel { height: 1; }"
    state: reactive[ProgramState] = reactive(ProgramState, layout=False)

    def render(self) -> Text:
        return render_program(self.state, self.size.width)


# ----------------------------------------------------------------------------- holds table

@dataclass(frozen=True)
class HoldsState:
    holds: tuple[HoldRow, ...] = ()
    units: Units = Units()


HOLDS_COLUMNS = (("#", 3), ("start", 8), ("duration", 8), ("mean", 10), ("CV", 6), ("drift", 8), ("flags", None))


class HoldsTable(DataTable):
    """The session's holds, newest first, in fixed-width columns (they do not jump as holds
    come in, and do not wait for the table to be idle before they fit their contents)."""

    state: reactive[HoldsState] = reactive(HoldsState, layout=False, init=False)

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="none", zebra_stripes=True, show_cursor=False, **kwargs)
        self.can_focus = False  # the arrow keys seek in a replay

    def on_mount(self) -> None:
        for label, width in HOLDS_COLUMNS:
            self.add_column(label, key=label, width=width)

    def watch_state(self, state: HoldsState) -> None:
        self.clear()
        u = state.units
        for row in reversed(state.holds):
            self.add_row(str(row.number), f"{row.start_s:.1f} s", f"{row.duration_s:.1f} s",
                         u.fmt(row.mean_n), f"{row.cv_pct:.1f} %", f"{row.drift_pct:+.1f} %",
                         flags_text(row.flags))


# ----------------------------------------------------------------------------- status bar

def status_state(status: SourceStatus, kind: str, frame: Frame) -> StatusState:
    """What the status bar shows, kept to the digits it shows (it repaints when they change)."""
    from dataclasses import replace

    status = replace(status, rate_hz=float(round(status.rate_hz)),
                     position_s=None if status.position_s is None else round(status.position_s, 1))
    return StatusState(status, kind, frame.recording, int(frame.elapsed_s), frame.samples if kind == "replay" else 0,
                       frame.link_state, frame.acquisition_error, frame.rec_warning)


@dataclass(frozen=True)
class StatusState:
    """What the status bar shows; the attribute names are the ``Frame``'s, so ``status_line``
    takes either."""

    status: SourceStatus = SourceStatus()
    kind: str = "live"
    recording: RecordingView = RecordingView()
    elapsed_s: int = 0
    samples: int = 0  # shown in a replay
    link_state: str = "connecting"
    acquisition_error: str = ""
    rec_warning: str = ""


def status_line(frame, status, kind: str, width: int) -> Text:
    """State first (it matters most), then the link, elapsed time, and the recording."""
    out = Text(no_wrap=True, overflow="crop")
    el = int(frame.elapsed_s)
    elapsed = f"{el // 3600:d}:{el // 60 % 60:02d}:{el % 60:02d}"
    if kind == "replay":
        state = {"paused": "⏸ paused", "playing": "▶ playing", "ended": "■ end"}.get(status.state, status.state)
        out.append(f" {state} ", "bold")
        out.append(f"│ replay {_fit(status.port, 32)} │ {status.position_s:6.1f} / {status.duration_s:.1f} s "
                   f"│ ×{status.speed:g} │ {frame.samples} samples ")
        return out
    state = status.state
    if frame.acquisition_error:
        state = "acquisition stopped"
    elif frame.link_state == "failed":
        state = "failed"
    state_style = {"streaming": "bold green", "reconnecting": "bold reverse yellow", "connecting": "yellow",
                   "not connected": "bold reverse yellow",
                   "stopped": "dim", "failed": "bold reverse bright_red",
                   "acquisition stopped": "bold reverse bright_red"}.get(state, "")
    out.append(f" {state} ", state_style)
    # the recording comes before the details: dropped from the middle first at narrow widths
    rec = frame.recording
    if rec.active:
        tag, tag_style = ("● REC IN MEMORY! ", "bold reverse bright_red") if rec.in_memory else ("● REC ", "bold bright_red")
        size = f" {rec.bytes / 1e6:.1f} MB"
        name = rec.path.rsplit("/", 1)[-1]
        rec_min = len(tag) + min(len(name), 12) + len(size)
    elif rec.finishing:
        rec_min = len("finishing recording …")
    else:
        rec_min = len("not recording")
    parts = [("port", _fit(status.port, 24)), ("protocol", status.protocol or "?"),
             ("rate", f"{status.rate_hz:4.0f} Hz"), ("lost", f"lost {status.frames_lost}"), ("elapsed", elapsed)]
    drop = ["protocol", "lost", "port", "rate"] if not status.frames_lost else ["protocol", "port", "rate", "lost"]

    def middle() -> str:
        return "".join(f"│ {text} " for _, text in parts) + "│ "

    while parts and len(out.plain) + len(middle()) + rec_min > width and drop:
        name_ = drop.pop(0)
        parts = [p for p in parts if p[0] != name_]
    out.append(middle())
    if rec.active:
        out.append(tag, tag_style)
        room = max(8, width - len(out.plain) - len(size) - 1)
        out.append(_fit(name, room) + size)
    elif rec.finishing:
        out.append("finishing recording …", "bold yellow")
    else:
        out.append("not recording", "dim")
    return out


class StatusBar(Widget):
    DEFAULT_CSS = "StatusBar { height: 1; }"
    state: reactive[StatusState] = reactive(StatusState, layout=False)

    def render(self) -> Text:
        s = self.state
        return status_line(s, s.status, s.kind, self.size.width)
