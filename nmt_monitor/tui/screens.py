"""Dialogs: session setup, key help, recovery of unfinished sessions."""

from __future__ import annotations

import math
from dataclasses import replace

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from nmt_monitor.units import UnitError, parse_force_n, parse_force_range_n

from .model import FEEDBACK_HELP


def _fmt_band(band) -> str:
    return "" if band is None else f"{band[0]:g}N..{band[1]:g}N"


HOLD_MAX_S = 600.0
AREA_MIN_CM2, AREA_MAX_CM2 = 0.01, 100.0


def setup_warnings(meta) -> list[str]:
    """Values that are allowed but probably a mistake (the form asks to save again)."""
    out = []
    tol, band = meta.tolerance_N, meta.target_band_N
    if tol is not None and band is not None and band[1] > tol:
        out.append(f"band {band[0]:g}–{band[1]:g} N goes above the tolerance {tol:g} N")
    return out


def setup_note(recording: bool, replay: bool) -> str:
    """What saving the form does, said plainly (a replay stores nothing)."""
    if replay:
        return "Replay: targets apply to this replay only; nothing is written to the file."
    if recording:
        return "Saved into this recording from now on: targets apply from this moment."
    return "Stored with the recording; targets apply now."


def parse_setup(values: dict[str, str], base):
    """Form values -> SessionMetadata (raises ValueError with a message for the user)."""
    try:
        tol = parse_force_n(values["tolerance"]) if values["tolerance"].strip() else None
        band = parse_force_range_n(values["target"]) if values["target"].strip() else None
    except UnitError as exc:
        raise ValueError(str(exc)) from None
    if tol is not None and not (math.isfinite(tol) and tol > 0):
        raise ValueError("tolerance must be a positive force")
    if band is not None:
        if not (math.isfinite(band[0]) and math.isfinite(band[1])):
            raise ValueError("target band: use finite forces, e.g. 30N..45N")
        if band[0] < 0:
            raise ValueError("target band cannot start below 0 N")
        if not band[0] < band[1]:
            raise ValueError("target band: LOW must be below HIGH")

    def number(name: str, label: str, low: float, high: float, unit: str):
        text = values[name].strip()
        if not text:
            return None
        try:
            v = float(text.rstrip("s").strip() if name == "hold_time" else text)
        except ValueError:
            raise ValueError(f"{label}: {text!r} is not a number") from None
        if not math.isfinite(v) or not v > 0:
            raise ValueError(f"{label} must be a positive number")
        if not low <= v <= high:
            raise ValueError(f"{label} must be {low:g}–{high:g} {unit}")
        return v

    hold = number("hold_time", "target hold time", 1.0, HOLD_MAX_S, "s")
    area = number("tip_area", "tip area", AREA_MIN_CM2, AREA_MAX_CM2, "cm²")
    return replace(base, client=values["client"].strip(), therapist=values["therapist"].strip(),
                   tolerance_N=tol, target_band_N=band, target_hold_s=hold,
                   contact_tip=values["tip"].strip(), tip_area_cm2=area)


class SetupScreen(ModalScreen):
    """Client, tolerance, target band, target hold time and contact tip."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    FIELDS = (
        ("client", "Client", "name or code"),
        ("therapist", "Therapist", "therapist or student"),
        ("tolerance", "Tolerance", "e.g. 60N, 6kgf, 13.5lbf"),
        ("target", "Target band", "e.g. 30N..45N"),
        ("hold_time", "Target hold (s)", "e.g. 30"),
        ("tip", "Contact tip", "thumb, knuckle, elbow, algometer"),
        ("tip_area", "Tip area (cm²)", "e.g. 1.0 (enables kPa)"),
    )

    def __init__(self, metadata, recording: bool = False, replay: bool = False) -> None:
        super().__init__()
        self.metadata = metadata
        self.recording = recording
        self.replay = replay  # a replay writes nothing: the form must not claim it is stored
        self._warned: dict | None = None  # the values a warning was shown for

    def _initial(self) -> dict[str, str]:
        m = self.metadata
        return {
            "client": m.client, "therapist": m.therapist,
            "tolerance": "" if m.tolerance_N is None else f"{m.tolerance_N:g}N",
            "target": _fmt_band(m.target_band_N),
            "hold_time": "" if m.target_hold_s is None else f"{m.target_hold_s:g}",
            "tip": m.contact_tip, "tip_area": "" if m.tip_area_cm2 is None else f"{m.tip_area_cm2:g}",
        }

    def compose(self) -> ComposeResult:
        initial = self._initial()
        with Vertical(id="setup-box"):
            yield Label("Session setup", id="setup-title")
            with Grid(id="setup-grid"):
                for name, label, hint in self.FIELDS:
                    yield Label(label)
                    yield Input(value=initial[name], placeholder=hint, id=f"in-{name}", compact=True)
            yield Static(setup_note(self.recording, self.replay), id="setup-note")
            yield Static("", id="setup-error")
            with Horizontal(id="setup-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#in-client", Input).focus()

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#in-{name}", Input).value for name, _, _ in self.FIELDS}

    def action_save(self) -> None:
        try:
            meta = parse_setup(self.values(), self.metadata)
        except ValueError as exc:
            self.query_one("#setup-error", Static).update(f"⚠ {escape(str(exc))}")  # quotes what was typed
            return
        warnings = setup_warnings(meta)
        if warnings and self._warned != self.values():
            self._warned = self.values()
            self.query_one("#setup-error", Static).update(escape(f"⚠ {'; '.join(warnings)}: Ctrl-S again to save"))
            return
        self.dismiss(meta)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # Enter moves to the next field; on the last one it saves.
        inputs = list(self.query(Input))
        i = inputs.index(event.input)
        if i + 1 < len(inputs):
            inputs[i + 1].focus()
        else:
            self.action_save()


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        from rich.text import Text

        t = Text()
        t.append("Keys", "bold")
        t.append("   (escape or ? closes; scroll for more)\n\n", "dim")
        for k, text in self.keys:
            t.append(f"  {k:<7} ", "bold")
            t.append(text + "\n")
        t.append("\nFeedback modes", "bold")
        t.append(" (key m)\n\n")
        for mode, text in FEEDBACK_HELP.items():
            t.append(f"  {mode:<6} ", "bold")
            t.append(text + "\n")
        t.append("\nOver-tolerance is shown in every mode. Alerts ring the terminal bell.\n"
                 "Quitting (q, Ctrl-C, a closed terminal) finishes the recording.")
        with VerticalScroll(id="help-box"):
            yield Static(t, id="help-text")

    def action_close(self) -> None:
        self.dismiss(None)


class RecoveryScreen(ModalScreen):
    """Offered at start when the recordings folder holds unfinished sessions."""

    BINDINGS = [Binding("escape", "later", "Later")]

    def __init__(self, journals, directory) -> None:
        super().__init__()
        self.journals = list(journals)
        self.directory = directory

    def compose(self) -> ComposeResult:
        names = "\n".join(f"  • {escape(p.name)}" for p in self.journals[:6])  # file names may hold [ ]
        more = f"\n  … and {len(self.journals) - 6} more" if len(self.journals) > 6 else ""
        with Vertical(id="recover-box"):
            yield Static(f"[b]Unfinished sessions in {escape(str(self.directory))}[/b]\n\n"
                         f"A previous session did not finish (a crash or a closed terminal):\n{names}{more}\n\n"
                         "Recover them into .h5 files now?", id="recover-text")
            with Horizontal(id="recover-buttons"):
                yield Button("Recover now", variant="primary", id="recover", compact=True)
                yield Button("Later", id="later", compact=True)

    def on_mount(self) -> None:
        self.query_one("#recover", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "recover")

    def action_later(self) -> None:
        self.dismiss(False)
