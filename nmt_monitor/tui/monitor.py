"""One station's full monitor as Textual screens: ``LiveScreen`` (a sensor) and ``ReplayScreen``
(a session file), each with its own keys; ``StationScreen`` is a live screen opened from the
class view (escape goes back to the grid).

A screen is composed of widgets that own their state (``widgets.py``); on each frame it takes a
``Frame`` from its station's model, builds the small frozen states and hands them to the
widgets, which repaint only what changed. Keys call the station (record, tare, seek, ...) or
its model (band, setup, feedback mode); nothing here reads a port or writes a file itself.
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer

from nmt_monitor.station import FEEDBACK_MODES, Frame, feedback_visibility

from .screens import HelpScreen, SetupScreen
from .widgets import (
    AlertLine,
    ForceDigits,
    Gauge,
    HoldPanel,
    HoldsState,
    HoldsTable,
    LabelState,
    ProgramPanel,
    ReadoutLabel,
    ReadoutState,
    StatusBar,
    TitleBar,
    TitleState,
    TraceView,
    alert_message,
    force_class,
    gauge_state,
    hold_state,
    is_stale,
    program_state,
    status_state,
)

BAND_STEP_N = 1.0
SEEK_STEP_S = 5.0

#: Longer descriptions for the help screen, by action.
LONG_HELP = {
    "record": "start / stop recording (to --out, default recordings/)",
    "tare": "zero the sensor",
    "units": "units: N, kgf, lbf, kPa (kPa needs the tip area)",
    "mark('discomfort')": "mark: client discomfort",
    "mark('release_felt')": "mark: release felt (tissue let go)",
    "band(-1)": "move the target band down 1 N",
    "band(1)": "move the target band up 1 N",
    "feedback": "feedback mode: full / faded / blind",
    "setup": "setup: client, tolerance, target band, hold time, tip",
    "pause": "pause / play",
    "seek(-1)": "back 5 s",
    "seek(1)": "forward 5 s",
    "speed(0.5)": "half speed",
    "speed(2)": "double speed",
    "help": "this help",
    "app.quit": "quit (finishes the recording)",
    "skip": "program: on to the next step (skip a trial, end a rest)",
    "back": "back to the class grid",
}
_KEY_NAMES = {"left_square_bracket": "[", "right_square_bracket": "]", "question_mark": "?", "full_stop": ".",
              "comma": ",", "left": "←", "right": "→", "escape": "esc"}


def key_help(bindings) -> list[tuple[str, str]]:
    """(key, what it does) for the help screen, from a screen's and the app's bindings."""
    out = []
    for b in bindings:
        if not b.show and b.key != "left_square_bracket":
            continue
        out.append((_KEY_NAMES.get(b.key, b.key), LONG_HELP.get(b.action, b.description)))
    out.append(("ctrl+c", "quit too (finishes the recording)"))
    return out


class MonitorScreen(Screen):
    """One station's monitor: force readout, hold timer, gauge, alert line, trace, holds table,
    status bar and the keys. Subclasses set the keys (``BINDINGS``)."""

    DEFAULT_CSS = "MonitorScreen { layout: vertical; }"
    #: the trace is drawn every TRACE_EVERY frames (and at once when what it may show changes)
    TRACE_EVERY = 2

    def __init__(self, station, *, units, window_s: float = 20.0, name: str | None = None,
                 id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(name=name, id=id)
        self.station = station
        self.units = units
        self.window_s = float(window_s)
        self.last_frame: Frame | None = None
        self._w: dict = {}
        self._frames = 0
        self._trace_key: tuple = ()

    @property
    def model(self):
        return self.station.model

    @property
    def kind(self) -> str:
        return self.station.kind

    def compose(self) -> ComposeResult:
        yield TitleBar(id="title")
        with Horizontal(id="top"):
            yield ForceDigits("", id="force")
            yield ReadoutLabel(id="force-label")
            yield HoldPanel(id="hold")
        yield ProgramPanel(id="program")
        yield Gauge(id="gauge")
        yield AlertLine(id="alert")
        yield TraceView(id="trace")
        yield HoldsTable(id="holds")
        yield StatusBar(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._w = {w.id: w for w in self.query("#title, #force, #force-label, #hold, #program, #gauge, #alert, "
                                                "#trace, #holds, #status")}

    # ---- a frame ----------------------------------------------------------------------------
    def refresh_frame(self) -> Frame | None:
        """Take a frame from the station and hand each widget its state."""
        w = self._w
        if not w:
            return None
        st, units = self.station, self.units
        frame = st.model.snapshot(self.window_s)
        self.last_frame = frame
        status = st.status()
        vis = feedback_visibility(frame.feedback, frame.force_n, frame.target_band_n, frame.hold is not None,
                                  frame.program)
        stale = is_stale(frame, self.kind)
        u = units.copy()
        rec = frame.recording
        m = frame.metadata
        w["title"].state = TitleState(self.kind, self.title_name(), m.client, m.contact_tip, frame.feedback, u.unit,
                                      rec.active, rec.finishing, rec.in_memory, bool(frame.acquisition_error),
                                      frame.link_state == "failed")
        forced = vis.force and frame.force_n is not None and not stale
        cls = force_class(frame.force_n, frame.target_band_n, frame.tolerance_n)
        w["force"].reading = ReadoutState(u.fmt(frame.force_n, unit=False) if forced else "--.-",
                                          cls if forced else "hidden")
        w["force-label"].state = LabelState(cls, u, frame.target_band_n, frame.tolerance_n, vis.force, stale)
        w["hold"].state = hold_state(frame, u, vis, stale)
        if (frame.program is not None) != w["program"].display:
            w["program"].display = frame.program is not None  # a program: one line more (a layout, once)
        w["program"].state = program_state(frame.program, u)
        w["gauge"].state = gauge_state(frame, u, forced, width=w["gauge"].size.width)
        w["alert"].state = alert_message(frame, u, vis, stale=stale, reveal_drift=frame.feedback == "blind")
        self._frames += 1
        if self._frames % self.TRACE_EVERY == 0 or self._trace_key != (u, vis, stale):
            # the trace every other frame: it scrolls by one dot column (~90 ms) at a time anyway;
            # the readout, timer and alerts every frame
            self._trace_key = (u, vis, stale)
            w["trace"].show(frame, u, vis, self.window_s, self.trace_status(frame, status, stale))
        w["holds"].state = HoldsState(frame.holds, u)
        w["status"].state = status_state(status, self.kind, frame)
        self.app.station_frame(st, frame, drift_shown=vis.drift_alert)
        return frame

    def refresh_station(self, station) -> bool:
        """Draw ``station`` now if this screen shows it (an alert was raised)."""
        if station is not self.station:
            return False
        return self.refresh_frame() is not None

    def title_name(self) -> str:
        return ""

    def trace_status(self, frame: Frame, status, stale: bool) -> str:
        if frame.acquisition_error:
            return "acquisition stopped"
        if frame.link_state == "failed":
            return "sensor link failed"
        if self.kind == "live" and status.state == "reconnecting":
            return "reconnecting …"
        if stale and frame.data_age_s is not None:
            return "no data …"
        if self.kind == "replay" and status.state == "paused":
            return "paused"
        return ""

    # ---- keys common to every monitor -------------------------------------------------------
    def key_help(self) -> list[tuple[str, str]]:
        return key_help(self.BINDINGS)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.key_help()))

    def action_units(self) -> None:
        self.units.cycle()

    def action_feedback(self) -> None:
        mode = self.model.feedback
        self.model.set_feedback(FEEDBACK_MODES[(FEEDBACK_MODES.index(mode) + 1) % len(FEEDBACK_MODES)])
        self.app.notify(f"feedback: {self.model.feedback}", timeout=2)

    def action_band(self, direction: int) -> None:
        new = self.model.adjust_band(direction * BAND_STEP_N)
        if new is None:
            self.app.notify("no target band set (s: setup)", severity="warning")
        else:
            self.app.notify(f"target band {self.units.fmt_band(new)}", timeout=2)

    def action_setup(self) -> None:
        self.app.push_screen(SetupScreen(self.model.metadata, recording=self.station.recording,
                                         replay=self.kind == "replay"), self._setup_done)

    def _setup_done(self, metadata) -> None:
        if metadata is None:
            return
        recording = self.station.recording
        self.model.set_metadata(metadata)
        self.units.set_area(metadata.tip_area_cm2)
        if self.kind == "replay":
            self.app.notify("setup applied to this replay (the file is not changed)")
        else:
            self.app.notify("setup saved into the recording" if recording else "setup saved")


def _bindings(*specs) -> list[Binding]:
    return [Binding(*spec[:3], **(spec[3] if len(spec) > 3 else {})) for spec in specs]


_HELP = ("question_mark", "help", "Help")
_QUIT = ("q", "app.quit", "Quit")
_CTRL_C = ("ctrl+c", "app.quit", "Quit", {"show": False, "priority": True})
_UNITS = ("u", "units", "Unit")
_MODE = ("m", "feedback", "Mode")
_BAND_DOWN = ("left_square_bracket", "band(-1)", "Target", {"show": False})
_BAND_UP = ("right_square_bracket", "band(1)", "Target", {"key_display": "[ ]"})
_SETUP = ("s", "setup", "Setup")


class LiveActions:
    """What a live station's screen does: record, tare, markers (a mixin of a MonitorScreen)."""

    def action_record(self) -> None:
        if self.app.quitting or self.station.starting_recording:
            return
        if self.station.recording:
            recorder = self.station.stop_recording("stopped: record key")
            if recorder is not None:
                self.app.notify(f"recording stopped; writing {recorder.path.name} …")
            return
        if not self.station.can_record:
            self.app.notify("recording is not available here", severity="warning")
            return
        if self.station.claim_recording_start():
            self._start_recording()

    @work(thread=True, group="record", exit_on_error=False)
    def _start_recording(self) -> None:
        """Creating the journal is disk I/O: off the UI thread."""
        self.app.start_recording(self.station)

    def action_tare(self) -> None:
        if self.station.tare():
            self.app.notify("tare sent to the sensor")

    def action_skip(self) -> None:
        if self.model.program_skip():
            self.app.notify("program: next step", timeout=2)
        else:
            self.app.notify("no training program running (live --program FILE)", severity="warning")

    def action_mark(self, kind: str) -> None:
        label = {"discomfort": "client discomfort", "release_felt": "release felt"}.get(kind, kind)
        if self.model.mark(kind):
            self.app.notify(f"marked: {label}")
        else:
            self.app.notify(f"not recording: '{label}' not saved (r starts recording)", severity="warning")


_LIVE_KEYS = (("r", "record", "Rec"), ("t", "tare", "Tare"), _UNITS, _MODE, ("d", "mark('discomfort')", "Discomfort"),
              ("f", "mark('release_felt')", "Felt"), _BAND_DOWN, _BAND_UP, _SETUP,
              ("n", "skip", "Next", {"show": False}))


class LiveScreen(LiveActions, MonitorScreen):
    """A live sensor: record, tare, markers, band, setup, feedback mode, units."""

    BINDINGS = _bindings(_HELP, _QUIT, *_LIVE_KEYS, _CTRL_C)


class ReplayScreen(MonitorScreen):
    """A recorded session: pause, seek, speed (and the display keys)."""

    BINDINGS = _bindings(_HELP, _QUIT, _UNITS, _MODE, _BAND_DOWN, _BAND_UP, _SETUP,
                         ("space", "pause", "Pause"), ("left", "seek(-1)", "-5s"), ("right", "seek(1)", "+5s"),
                         ("comma", "speed(0.5)", "Slower"), ("full_stop", "speed(2)", "Faster"), _CTRL_C)

    def action_pause(self) -> None:
        self.station.toggle_pause()

    def action_seek(self, direction: int) -> None:
        self.station.seek(direction * SEEK_STEP_S)

    def action_speed(self, factor: float) -> None:
        self.app.notify(f"speed ×{self.station.set_speed(factor):g}", timeout=2)


class StationScreen(LiveActions, MonitorScreen):
    """One station of the class view in full; escape goes back to the grid (its key first in
    the footer: the way back must always show)."""

    BINDINGS = _bindings(("escape", "back", "Class"), _HELP, _QUIT, *_LIVE_KEYS, _CTRL_C)

    def title_name(self) -> str:
        return self.station.name

    def action_back(self) -> None:
        self.app.pop_screen()

