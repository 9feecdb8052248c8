"""The monitor's widgets. They only draw: each gets plain values from the app's frame timer."""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from .braille import grid_to_cells, trace_grid, value_to_dot_row
from nmt_monitor.station import Frame, HoldRow, Units, Visibility

GUTTER = 6  # y-axis labels left of the trace

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


def y_range(frame: Frame, f: np.ndarray) -> tuple[float, float]:
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


class TraceView(Widget):
    """The last ``window_s`` seconds of force as braille dots, with the target band (green
    background) and the tolerance line (red dots). Drawn with the Line API from cached strips;
    the widget refreshes only when what it shows changed (the trace scrolls one dot column
    at a time)."""

    DEFAULT_CSS = "TraceView { height: 1fr; min-height: 4; }"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._args = None
        self._rows: list = []
        self._strips: list[Strip] = []
        self.refreshes = 0

    def show(self, frame: Frame, units: Units, visibility: Visibility, window_s: float, status_text: str = "") -> None:
        self._args = (frame, units, visibility, window_s, status_text)
        self._rebuild()

    def _rebuild(self) -> None:
        width, height = self.size.width, self.size.height
        if self._args is None or width <= GUTTER + 2 or height < 2:
            return
        frame, units, vis, window_s, status_text = self._args
        rows = trace_rows(frame, units, vis, window_s, width, height, status_text)
        old = self._rows
        if rows == old:
            return
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
        self._rows = rows

    def on_resize(self) -> None:
        self._rows = []
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


def cells_to_runs(codes: np.ndarray, fg: np.ndarray, band_bg: bool) -> list[tuple[str, str]]:
    """One row of braille code points into (text, style) runs of equal style."""
    text = "".join(map(chr, codes.tolist())).replace("\u2800", " ")  # blank cells as spaces
    bg = (" " + _BAND_BG) if band_bg else ""
    breaks = np.flatnonzero(np.diff(fg)) + 1
    starts = np.r_[0, breaks]
    ends = np.r_[breaks, fg.size]
    return [(text[a:b], (_FG[int(fg[a])] + bg).strip()) for a, b in zip(starts.tolist(), ends.tolist())]


def render_gauge(force_n: float | None, frame: Frame, units: Units, visible: bool, width: int) -> Text:
    """A one-line horizontal gauge: filled to the force, band in green, tolerance as a red bar."""
    y0, y1 = y_range(frame, frame.trace_f)
    out = Text(no_wrap=True, overflow="crop")
    label_w = 8
    w = max(4, width - label_w)
    band, tol = frame.target_band_n, frame.tolerance_n

    def x_of(v: float) -> int:
        return int(np.clip(round((v - y0) / (y1 - y0) * w), 0, w))

    fill = x_of(force_n) if (visible and force_n is not None) else 0
    cls = force_class(force_n, band, tol)
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


def render_hold_panel(frame: Frame, units: Units, vis: Visibility, width: int, interrupted: bool = False) -> Text:
    """``interrupted``: no current data (link down, nothing new): the timer is not running."""
    out = Text(no_wrap=True, overflow="crop")
    hold = frame.hold
    target = frame.target_hold_s
    bar_w = max(10, width - 10)
    if hold is not None:
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
            out.append(f"level {units.fmt(hold.level_n)}   CV {cv}   ")
            out.append(f"drift {drift}", "bold yellow" if hold.drift_alert else "")
        else:
            out.append(vis.reason, "italic grey70")
    else:
        out.append("no hold", "bold grey70")
        if target:
            out.append(f"   target {target:g} s", "dim")
        out.append("\n")
        out.append("timer starts when the force settles", "dim")
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


def link_alert(frame: Frame, stale: bool) -> str:
    """Why the force on screen is not current ('' when it is)."""
    if frame.acquisition_error:
        return f"⚠ acquisition stopped: {frame.acquisition_error} — quit and restart"
    if frame.link_state == "failed":
        return "⚠ sensor link failed" + (f": {frame.link_detail}" if frame.link_detail else "") + " — check the cable"
    if frame.link_state == "reconnecting":
        return "⚠ sensor disconnected — reconnecting …"
    if stale:
        if frame.data_age_s is None or frame.link_state != "streaming":
            return "⚠ waiting for the sensor …"
        return f"⚠ no data from the sensor for {frame.data_age_s:.1f} s"
    return ""


def render_alert(frame: Frame, units: Units, vis: Visibility, width: int, *, stale: bool = False,
                 reveal_drift: bool = False) -> tuple[Text, str]:
    """The alert line and its CSS class: link | over | drift | ok. A link problem comes first
    (the force and alerts on screen are then not current); ``reveal_drift`` (blind mode) shows
    a drift withheld during the hold once it has ended."""
    link = link_alert(frame, stale)
    if link:
        return Text(_fit(link, width).center(width), "bold"), "link"
    if frame.over_tolerance and frame.tolerance_n is not None:
        f, tol = frame.force_n, frame.tolerance_n
        if f is not None and f <= tol:  # eased off, but not yet below tolerance - hysteresis
            below = frame.over_release_n if frame.over_release_n is not None else tol
            msg = f"⚠ STILL OVER TOLERANCE  {units.fmt(f)} — ease off below {units.fmt(below)}"
        else:
            now = units.fmt(f) if f is not None else "?"
            msg = f"⚠ OVER TOLERANCE  {now} > {units.fmt(tol)} — ease off"
        return Text(_fit(msg, width).center(width), "bold"), "over"
    if frame.drift_alert and vis.drift_alert and frame.hold is not None:
        d = frame.hold.drift_pct
        msg = f"⚠ DRIFT {d:+.1f} % — bring the pressure back" if d is not None else "⚠ DRIFT — bring the pressure back"
        return Text(msg.center(width), "bold"), "drift"
    if reveal_drift and frame.hold is None and frame.last_hold_drifted and frame.last_hold is not None:
        msg = f"⚠ the last hold drifted {frame.last_hold.drift_pct:+.1f} % (withheld during the blind hold)"
        return Text(_fit(msg, width).center(width), "bold"), "drift"
    text = "no alerts"
    if frame.over_count:
        text += f"   (over tolerance {frame.over_count}× this session)"
    return Text(text.center(width)), "ok"


class Readout(Static):
    """The label next to the big digits: unit, where the force is relative to the targets."""


def readout_label(frame: Frame, units: Units, vis: Visibility, stale: bool = False) -> Text:
    out = Text(no_wrap=True, overflow="crop")
    out.append(f"{units.unit}\n", "bold")
    cls = force_class(frame.force_n, frame.target_band_n, frame.tolerance_n)
    if stale:
        out.append("no data\n", "bold yellow")
    elif not vis.force:
        out.append("hidden\n", "italic grey70")
    else:
        word, style = {"over": ("OVER TOL", "bold reverse bright_red"), "in_band": ("IN BAND", "bold bright_green"),
                       "above": ("ABOVE BAND", "bold yellow"), "below": ("below band", "white"),
                       "none": ("", "")}[cls]
        out.append(word + "\n", style)
    # one line each in the 16-column label: the unit goes when it does not fit (it is on line 1)
    band = f"band {units.fmt_band(frame.target_band_n)}"
    if len(band) > LABEL_W and frame.target_band_n is not None:
        lo, hi = frame.target_band_n
        band = f"band {units.fmt(lo, unit=False)}–{units.fmt(hi, unit=False)}"
    tol = f"tol  {units.fmt(frame.tolerance_n)}"
    if len(tol) > LABEL_W:
        tol = f"tol  {units.fmt(frame.tolerance_n, unit=False)}"
    out.append(band[:LABEL_W] + "\n", "green")
    out.append(tol[:LABEL_W], "red")
    return out


LABEL_W = 16  # the width of #force-label (monitor.tcss)


def _fit(text: str, n: int) -> str:
    """``text`` in at most ``n`` characters, shortened in the middle."""
    if len(text) <= n:
        return text
    if n <= 1:
        return text[:n]
    half = (n - 1) // 2
    return text[:n - 1 - half] + "…" + text[len(text) - half:]


def status_line(frame: Frame, status, kind: str, width: int) -> Text:
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
