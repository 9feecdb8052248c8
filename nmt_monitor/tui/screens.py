"""Dialogs: session setup, key help, recovery of unfinished sessions."""

from __future__ import annotations

from dataclasses import replace

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from nmt_monitor.units import UnitError, parse_force_n, parse_force_range_n

from .model import FEEDBACK_HELP


def _fmt_band(band) -> str:
    return "" if band is None else f"{band[0]:g}N..{band[1]:g}N"


def parse_setup(values: dict[str, str], base):
    """Form values -> SessionMetadata (raises ValueError with a message for the user)."""
    try:
        tol = parse_force_n(values["tolerance"]) if values["tolerance"].strip() else None
        band = parse_force_range_n(values["target"]) if values["target"].strip() else None
    except UnitError as exc:
        raise ValueError(str(exc)) from None
    if tol is not None and tol <= 0:
        raise ValueError("tolerance must be a positive force")

    def number(name: str, label: str):
        text = values[name].strip()
        if not text:
            return None
        try:
            v = float(text.rstrip("s").strip() if name == "hold_time" else text)
        except ValueError:
            raise ValueError(f"{label}: {text!r} is not a number") from None
        if not v > 0:
            raise ValueError(f"{label} must be positive")
        return v

    hold = number("hold_time", "target hold time")
    area = number("tip_area", "tip area")
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

    def __init__(self, metadata, recording: bool = False) -> None:
        super().__init__()
        self.metadata = metadata
        self.recording = recording

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
            note = ("Targets apply now; client and tip are stored with the next recording."
                    if self.recording else "Stored with the recording; targets apply now.")
            yield Static(note, id="setup-note")
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
            self.query_one("#setup-error", Static).update(f"⚠ {exc}")
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
        names = "\n".join(f"  • {p.name}" for p in self.journals[:6])
        more = f"\n  … and {len(self.journals) - 6} more" if len(self.journals) > 6 else ""
        with Vertical(id="recover-box"):
            yield Static(f"[b]Unfinished sessions in {self.directory}[/b]\n\n"
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
