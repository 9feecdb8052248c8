"""The class view: every station of a class on one screen (the QCPR Classroom idea), each
station a tile; select one to open its full monitor (``StationScreen``), escape to come back.

A tile is composed of the monitor's own widgets (gauge, alert line, hold panel) and a headline
of its own (force, where it is against the band, the hold timer, the last hold's score); its
border carries the student's name and the link and recording state, and turns red on an
over-tolerance alert, yellow on drift or a link problem. The grid takes as many columns as
the terminal's width allows, and each tile shows more (the hold panel) when it is tall
enough. Every station has its own acquisition thread and recording: one that loses its
sensor says so and the others go on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer

from nmt_monitor.station import Frame, Station, Units, Visibility, feedback_visibility

from .app import LatencyProbe, StationsApp
from .monitor import StationScreen
from .screens import HelpScreen
from .widgets import (
    AlertLine,
    ForceDigits,
    Gauge,
    HoldPanel,
    ReadoutState,
    TraceView,
    alert_message,
    force_class,
    ProgramPanel,
    gauge_state,
    hold_state,
    is_stale,
    program_state,
    program_words,
    y_range,
)

TILE_MIN_W = 36  # a tile's width at least (the grid takes as many columns as fit)
TILE_MIN_H = 5  # the smallest tile: border, headline, gauge, alert line
TILE_MEDIUM_H = 9  # from this height (border included) a tile shows the hold panel too
TILE_LARGE_H = 13  # from this height: the big readout, the hold panel and the trace
TILE_LARGE_W = 44  # ... and this width
TILE_ASPECT = 1.5  # the grid's columns make tiles about this much wider than tall (a cell is ~1:2)


# ------------------------------------------------------------------------------- headline

@dataclass(frozen=True)
class HeadlineState:
    value: str = "--.-"  # the force, or --.- (hidden, stale)
    unit: str = "N"
    cls: str = "none"  # force_class, or "hidden"
    timer: str = ""  # "HOLD 12.3 / 20 s", "no hold", a program's step
    timer_style: str = "dim"
    score: str = ""  # "last 87"


_CLASS_WORDS = {"over": ("OVER TOL", "bold reverse bright_red"), "in_band": ("IN BAND", "bold bright_green"),
                "above": ("ABOVE", "bold yellow"), "below": ("below", "white"), "none": ("", ""),
                "hidden": ("hidden", "italic grey70")}
_VALUE_STYLES = {"over": "bold bright_red", "in_band": "bold bright_green", "above": "bold yellow",
                 "below": "bold bright_white", "none": "bold bright_white", "hidden": "grey50"}


def render_headline(state: HeadlineState, width: int) -> Text:
    """`` 38.2 N  IN BAND     HOLD 12.3 / 20 s   last 87``: the force first (it matters most);
    the score goes first when the line is short, then the class word."""
    word, word_style = _CLASS_WORDS.get(state.cls, ("", ""))
    parts = [(f"{state.value:>6} {state.unit}", _VALUE_STYLES.get(state.cls, "bold")), ("  ", ""),
             (word, word_style), ("   ", ""), (state.timer, state.timer_style)]
    if state.score:
        parts += [("   ", ""), (state.score, "bold cyan")]
    drop = [(5, 6), (2, 3)]  # the score, then the class word (each with its space)
    while sum(len(t) for t, _ in parts) > width and drop:
        for i in drop.pop(0):
            if i < len(parts):
                parts[i] = ("", "")
    out = Text(no_wrap=True, overflow="crop")
    for text, style in parts:
        if text:
            out.append(text, style)
    return out


class LastHold(Widget):
    """``last hold: 11.0 s at 37.4 N, CV 1.2 %`` (a small tile with a line to spare; its score
    is on the headline)."""

    DEFAULT_CSS = "LastHold { height: 1; color: $text-muted; }"
    state: reactive[tuple] = reactive((), layout=False)  # (HoldRow | None, Units)

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        if not self.state or self.state[0] is None:
            return out
        row, units = self.state
        out.append("last hold: ", "dim")
        out.append(f"{row.duration_s:.1f} s at {units.fmt(row.mean_n)}, CV {row.cv_pct:.1f} %")
        return out


class Headline(Widget):
    DEFAULT_CSS = "Headline { height: 1; }"
    state: reactive[HeadlineState] = reactive(HeadlineState, layout=False)

    def render(self) -> Text:
        return render_headline(self.state, self.size.width)


def timer_text(frame: Frame, vis, stale: bool) -> tuple[str, str]:
    hold = frame.hold
    if hold is None:
        return "no hold", "dim"
    if not vis.timer:
        return "HOLD", "bold bright_cyan"
    target = frame.target_hold_s
    text = f"HOLD {hold.elapsed_s:4.1f}" + (f" / {target:g} s" if target else " s")
    if stale:
        return text, "bold yellow"
    if target and hold.elapsed_s >= target:
        return text + " RELEASE", "bold reverse bright_green"
    return text, "bold bright_cyan"


# ---------------------------------------------------------------------------------- tile

def link_word(frame: Frame, status) -> str:
    if frame.acquisition_error:
        return "acquisition stopped"
    if frame.link_state in ("failed", "not connected", "reconnecting"):
        return {"failed": "link failed", "not connected": "no sensor", "reconnecting": "reconnecting"}[frame.link_state]
    return status.state


class StationTile(Widget, can_focus=True):
    """One station in the grid. Enter or a click opens it (``Selected``).

    Three sizes, chosen by the grid (CSS classes): small (a headline, the gauge, the alert
    line), medium (and the hold panel) and large (the monitor's big readout and hold panel,
    the gauge, the alert line and the trace)."""

    DEFAULT_CSS = """
    StationTile { border: round $panel-lighten-2; padding: 0 1; height: 1fr; }
    StationTile:focus { border: double $accent; }
    StationTile.-over { border: heavy $error; }
    StationTile.-drift, StationTile.-link { border: round $warning; }
    StationTile.-over:focus { border: double $error; }
    StationTile > #tile-top { height: 4; display: none; }
    StationTile > #tile-top > ForceDigits { width: 17; }
    StationTile > #tile-top > HoldPanel { width: 1fr; padding: 0 0 0 1; border-left: vkey $panel-lighten-2; }
    StationTile > #tile-hold { height: 4; display: none; }
    StationTile > TraceView { display: none; min-height: 3; }
    StationTile > LastHold { display: none; }
    StationTile > ProgramPanel { display: none; }
    StationTile.-program.-medium > ProgramPanel, StationTile.-program.-large > ProgramPanel { display: block; }
    StationTile.-roomy > LastHold { display: block; }
    StationTile.-medium > #tile-hold { display: block; }
    StationTile.-large > #tile-top { display: block; }
    StationTile.-large > Headline { display: none; }
    StationTile.-large > TraceView { display: block; }
    ForceDigits.force-over { color: $error; text-style: bold; }
    ForceDigits.force-in_band { color: $success; }
    ForceDigits.force-above { color: $warning; }
    ForceDigits.force-hidden { color: $text-disabled; }
    """

    #: seconds of trace in a large tile
    WINDOW_S = 10.0

    class Selected(Message):
        """A tile was chosen (Enter, a click): open its station."""

        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def __init__(self, station: Station, index: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.station = station
        self.index = index
        self._titles: tuple = ()
        self._top_n: float | None = None

    def compose(self) -> ComposeResult:
        yield Headline()
        yield ProgramPanel()
        with Horizontal(id="tile-top"):
            yield ForceDigits("")
            yield HoldPanel(id="tile-top-hold")
        yield Gauge()
        yield AlertLine()
        yield LastHold()
        yield HoldPanel(id="tile-hold")
        yield TraceView()

    def on_mount(self) -> None:
        self._headline = self.query_one(Headline)
        self._digits = self.query_one(ForceDigits)
        self._top_hold = self.query_one("#tile-top-hold", HoldPanel)
        self._gauge = self.query_one(Gauge)
        self._alert = self.query_one(AlertLine)
        self._hold = self.query_one("#tile-hold", HoldPanel)
        self._last = self.query_one(LastHold)
        self._program = self.query_one(ProgramPanel)
        self._trace = self.query_one(TraceView)

    @property
    def size_class(self) -> str:
        return "large" if self.has_class("-large") else "medium" if self.has_class("-medium") else "small"

    def set_size_class(self, size: str) -> None:
        """small | roomy (small, with the last hold's line) | medium | large"""
        self.set_class(size == "roomy", "-roomy")
        self.set_class(size == "medium", "-medium")
        self.set_class(size == "large", "-large")

    def window_s(self, with_trace: bool) -> float:
        """Seconds of force this tile needs: a large tile's trace, else the readout's second."""
        return self.WINDOW_S if with_trace and self.has_class("-large") else 1.0

    def on_click(self) -> None:
        self.post_message(self.Selected(self.index))

    def show(self, frame: Frame, units: Units, with_trace: bool = True, readout: bool = True) -> Visibility:
        """Hand the tile's widgets their states from ``frame`` (``with_trace``: the frame has
        the trace's window, draw it; ``readout``: the force, timer and gauge too, not only the
        alert and the border); returns what the tile may show."""
        st = self.station
        status = st.status()
        vis = feedback_visibility(frame.feedback, frame.force_n, frame.target_band_n, frame.hold is not None,
                                  frame.program)
        stale = is_stale(frame, st.kind)
        forced = vis.force and frame.force_n is not None and not stale
        cls = force_class(frame.force_n, frame.target_band_n, frame.tolerance_n) if forced else "hidden"
        value = units.fmt(frame.force_n, unit=False) if forced else "--.-"
        self.set_class(frame.program is not None, "-program")
        program = program_state(frame.program, units)
        self._program.state = program
        last = frame.last_hold
        score = f"last {last.score:.0f}" if (last is not None and last.score is not None and frame.hold is None
                                              and vis.force) else ""
        size = self.size_class
        if not readout:
            pass
        elif size == "large":
            self._digits.reading = ReadoutState(value, cls)
            self._top_hold.state = hold_state(frame, units, vis, stale)
            if with_trace:
                self._trace.show(frame, units, vis, self.WINDOW_S, "no data …" if stale and frame.data_age_s else "")
        else:
            if frame.program is not None and size in ("small", "roomy"):  # no room for the program's line
                timer, timer_style = program_words(program)
                timer = f"{frame.program.trial}/{frame.program.trials} {timer}"
            elif size in ("small", "roomy"):
                timer, timer_style = timer_text(frame, vis, stale)
            else:
                timer, timer_style = "", ""
            self._headline.state = HeadlineState(value, units.unit, cls, timer, timer_style, score)
            if size == "medium":
                self._hold.state = hold_state(frame, units, vis, stale)
            elif self.has_class("-roomy"):
                self._last.state = (frame.last_hold, units)
        if with_trace or self._top_n is None:  # the scale of the last trace (it does not flicker between frames)
            self._top_n = y_range(frame, frame.trace_f)[1]
        if readout:
            self._gauge.state = gauge_state(frame, units, forced, self._top_n, width=self._gauge.size.width)
        alert = alert_message(frame, units, vis, stale=stale, reveal_drift=frame.feedback == "blind")
        self._alert.state = alert
        self.set_class(alert.cls == "over", "-over")
        self.set_class(alert.cls == "drift", "-drift")
        self.set_class(alert.cls == "link", "-link")
        rec = frame.recording
        rec_text = " ● REC" if rec.active else (" finishing …" if rec.finishing else "")
        mode = "" if frame.feedback == "full" else f" · {frame.feedback}"
        title = f" {self.index + 1} · {st.name} " + (f"· {score} " if score and size == "large" else "")
        subtitle = (f" {link_word(frame, status)}{mode}{rec_text} ", rec.active)
        if (title, subtitle) != self._titles:  # setting a border title repaints the tile: only on a change
            self._titles = (title, subtitle)
            self.border_title = Text(title, "bold")  # a Text: a name is never parsed as markup
            self.border_subtitle = Text(subtitle[0], "bold bright_red" if rec.active else "")
        return vis


# ---------------------------------------------------------------------------------- screen

class ClassHeader(Widget):
    DEFAULT_CSS = "ClassHeader { height: 1; background: $panel; }"
    text: reactive[str] = reactive("", layout=False)
    alarm: reactive[bool] = reactive(False, layout=False)

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        out.append(" nmt-monitor ", "bold reverse")
        out.append(" class · " + self.text, "bold reverse bright_red" if self.alarm else "bold")
        return out


class ClassScreen(Screen):
    """The grid of station tiles."""

    BINDINGS = [
        Binding("enter", "open", "Open"),
        Binding("question_mark", "help", "Help"),
        Binding("q", "app.quit", "Quit"),
        Binding("r", "record", "Rec"),
        Binding("R", "record_all", "Rec all", key_display="R"),
        Binding("t", "tare", "Tare"),
        Binding("u", "units", "Unit"),
        Binding("m", "feedback", "Mode"),
        Binding("up", "move(0, -1)", "Up", show=False),
        Binding("down", "move(0, 1)", "Down", show=False),
        Binding("left", "move(-1, 0)", "Left", show=False),
        Binding("right", "move(1, 0)", "Right", show=False),
        *[Binding(str(k), f"open_number({k})", f"Station {k}", show=False) for k in range(1, 10)],
        Binding("ctrl+c", "app.quit", "Quit", show=False, priority=True),
    ]

    DEFAULT_CSS = """
    ClassScreen { layout: vertical; }
    ClassScreen > #grid { grid-gutter: 0 0; height: 1fr; overflow-y: auto; }
    """

    def __init__(self, stations: list[Station], *, units: Units, id: str | None = None) -> None:  # noqa: A002
        super().__init__(id=id)
        self.stations = stations
        self.units = units
        self.columns = 1
        self.tiles: list[StationTile] = []
        self._frames = 0

    def compose(self) -> ComposeResult:
        yield ClassHeader(id="class-header")
        with Grid(id="grid"):
            for i, station in enumerate(self.stations):
                yield StationTile(station, i, id=f"tile-{i + 1}")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.tiles = list(self.query(StationTile))
        self._header = self.query_one(ClassHeader)
        self._layout_grid()
        if self.tiles:
            self.tiles[0].focus()

    def on_resize(self) -> None:
        self._layout_grid()

    def _layout_grid(self) -> None:
        """Columns and rows for the terminal's size: tiles at least ``TILE_MIN_W`` wide and
        ``TILE_MIN_H`` tall, about ``TILE_ASPECT`` times wider than tall; when even one column
        cannot give every tile its height, the grid scrolls. Each tile shows as much as its
        size allows."""
        n = max(1, len(self.stations))
        width = self.size.width or self.app.size.width
        height = max(1, (self.size.height or self.app.size.height) - 2)  # the header and the footer
        best = None
        for cols in range(1, n + 1):
            rows = math.ceil(n / cols)
            w, h = width // cols, height // rows
            if w < TILE_MIN_W and cols > 1:
                break
            fits = h >= TILE_MIN_H
            shape = abs(math.log(max(w, 1) / (2.0 * max(h, 1)) / TILE_ASPECT))
            key = (not fits, shape + 0.3 * (cols * rows - n) / n)
            if best is None or key < best[0]:
                best = (key, cols, rows, h)
        _, cols, rows, tile_h = best
        self.columns = cols
        grid = self.query_one("#grid", Grid)
        grid.styles.grid_size_columns = cols
        if tile_h >= TILE_MIN_H:
            grid.styles.grid_size_rows = rows
            grid.styles.grid_rows = None
        else:  # too many stations for the height: fixed rows, the grid scrolls to the selected one
            tile_h = TILE_MIN_H
            grid.styles.grid_size_rows = rows
            grid.styles.grid_rows = str(TILE_MIN_H)
        tile_w = width // cols
        size = "large" if tile_h >= TILE_LARGE_H and tile_w >= TILE_LARGE_W else \
            "medium" if tile_h >= TILE_MEDIUM_H else "roomy" if tile_h > TILE_MIN_H else "small"
        for tile in self.tiles:
            tile.set_size_class(size)

    # ---- a frame ----------------------------------------------------------------------------
    #: a tile's readout (force, timer, gauge) is redrawn every READOUT_EVERY frames and its trace
    #: every TRACE_EVERY frames, the tiles in turn; alerts are drawn every frame (and at once, on
    #: ``refresh_station``). Eight tiles repainting 25 times a second cost more than anyone can read.
    READOUT_EVERY = 2
    TRACE_EVERY = 4

    def refresh_frame(self) -> Frame | None:
        if not self.tiles:  # not composed yet
            return None
        units = self.units.copy()
        frame = None
        recording = down = alerts = 0
        self._frames += 1
        for tile in self.tiles:
            k = self._frames + tile.index
            frame_i = self._show(tile, units, readout=k % self.READOUT_EVERY == 0,
                                 with_trace=k % self.TRACE_EVERY == 0)
            recording += frame_i.recording.active
            down += frame_i.link_state != "streaming" or bool(frame_i.acquisition_error)
            alerts += frame_i.over_tolerance
            frame = frame or frame_i
        n = len(self.stations)
        parts = [f"{n} station" + ("s" if n != 1 else ""), f"{recording} recording"]
        if down:
            parts.append(f"{down} without data")
        if alerts:
            parts.append(f"{alerts} OVER TOLERANCE")
        header = self._header
        header.text = " · ".join(parts)
        header.alarm = alerts > 0
        return frame

    def _show(self, tile: StationTile, units: Units, *, readout: bool, with_trace: bool) -> Frame:
        st = tile.station
        frame = st.model.snapshot(window_s=tile.window_s(with_trace))
        vis = tile.show(frame, units, with_trace, readout=readout)
        self.app.station_frame(st, frame, drift_shown=vis.drift_alert)
        return frame

    def refresh_station(self, station: Station) -> bool:
        """A station raised an alert: draw its tile now."""
        for tile in self.tiles:
            if tile.station is station:
                self._show(tile, self.units.copy(), readout=True, with_trace=False)
                return True
        return False

    def stations_shown(self) -> list[Station]:
        return list(self.stations)

    def focused_tile(self) -> StationTile | None:
        return self.focused if isinstance(self.focused, StationTile) else (self.tiles[0] if self.tiles else None)

    # ---- keys -------------------------------------------------------------------------------
    def action_move(self, dx: int, dy: int) -> None:
        tile = self.focused_tile()
        if tile is None:
            return
        i = tile.index + dx + dy * self.columns
        if 0 <= i < len(self.tiles):
            self.set_focus(self.tiles[i])  # at once (focus() waits for the loop): the next key acts on it

    def action_open(self) -> None:
        tile = self.focused_tile()
        if tile is not None:
            self.app.open_station(tile.index)

    def action_open_number(self, number: int) -> None:
        if 1 <= number <= len(self.tiles):
            self.set_focus(self.tiles[number - 1])
            self.app.open_station(number - 1)
        else:
            self.app.notify(f"no station {number}: the class has {len(self.tiles)}", severity="warning", timeout=3)

    def on_station_tile_selected(self, message: StationTile.Selected) -> None:
        self.app.open_station(message.index)

    def action_record(self) -> None:
        tile = self.focused_tile()
        if tile is not None:
            self.app.toggle_recording(tile.station)

    def action_record_all(self) -> None:
        self.app.toggle_recording_all()

    def action_tare(self) -> None:
        tile = self.focused_tile()
        if tile is not None and tile.station.tare():
            self.app.notify(f"{tile.station.name}: tare sent to the sensor")

    def action_units(self) -> None:
        self.units.cycle()

    def action_feedback(self) -> None:
        from nmt_monitor.station import FEEDBACK_MODES

        tile = self.focused_tile()
        if tile is not None:
            model = tile.station.model
            model.set_feedback(FEEDBACK_MODES[(FEEDBACK_MODES.index(model.feedback) + 1) % len(FEEDBACK_MODES)])
            self.app.notify(f"{tile.station.name}: feedback {model.feedback}", timeout=2)

    def key_help(self) -> list[tuple[str, str]]:
        return [("enter", "open the selected station's full monitor (esc comes back)"),
                ("← ↑ → ↓", "select a station; 1-9 open station 1-9 (or click it)"),
                ("r", "start / stop recording the selected station"),
                ("R", "start / stop recording every station"),
                ("t", "zero the selected station's sensor"),
                ("m", "the selected station's feedback mode: full / faded / blind"),
                ("u", "units: N, kgf, lbf, kPa"),
                ("?", "this help"),
                ("q", "quit (finishes every recording)"),
                ("ctrl+c", "quit too (finishes every recording)")]

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.key_help()))


# -------------------------------------------------------------------------------------- app

class ClassApp(StationsApp):
    """A class: ``stations`` (each with its own source, model and recording) on a grid."""

    def __init__(self, stations: list[Station], *, record: bool = False, probe: LatencyProbe | None = None,
                 **kwargs) -> None:
        super().__init__(stations, probe=probe, **kwargs)
        self.record_at_start = record

    def get_default_screen(self):
        return ClassScreen(self.stations, units=self.units, id="class")

    def on_mount(self) -> None:
        # (Textual also calls StationsApp.on_mount: handlers run for each class of the MRO)
        if self.record_at_start:
            for station in self.stations:
                if station.can_record:
                    self.run_worker(partial(self.start_recording, station), thread=True, group="record",
                                    exit_on_error=False)

    def open_station(self, index: int) -> None:
        if isinstance(self.drawing_screen(), ClassScreen):
            self.push_screen(StationScreen(self.stations[index], units=self.units, window_s=self.window_s,
                                           id=f"station-{index + 1}"))

    def toggle_recording(self, station: Station) -> None:
        if self.quitting or station.starting_recording:
            return
        if station.recording:
            recorder = station.stop_recording("stopped: record key")
            if recorder is not None:
                self.notify(f"{station.name}: recording stopped; writing {recorder.path.name} …")
        elif station.can_record:
            if station.claim_recording_start():
                self.run_worker(partial(self.start_recording, station), thread=True, group="record",
                                exit_on_error=False)
        else:
            self.notify(f"{station.name}: recording is not available here", severity="warning")

    def toggle_recording_all(self) -> None:
        """Start every station that is not recording; when all are, stop them all."""
        if all(s.recording for s in self.stations if s.can_record):
            for s in self.stations:
                if s.recording:
                    self.toggle_recording(s)
            return
        for s in self.stations:
            if not s.recording:
                self.toggle_recording(s)

    def prefixed(self, station: Station, text: str) -> str:
        return f"{station.name}: {text}"

    def watch_hidden_stations(self, screen) -> None:
        shown = getattr(screen, "stations_shown", None)
        visible = shown() if shown is not None else [getattr(screen, "station", None)]
        for station in self.stations:
            if station in visible:
                continue
            model = station.model
            key = id(station)
            over, drift = self._seen.get(key, (0, 0))
            if model.over_seq > over:  # a plain read: the screen does not draw this station now
                self._seen[key] = (model.over_seq, drift)
                self.notify(f"{station.name}: OVER TOLERANCE", severity="error", timeout=6)
                if self.use_bell:
                    self.bell()
