"""Training programs: a sequence of blocks of holds, each with its site, target band, hold time,
rest, repetitions and feedback mode, e.g. three guided holds, then two blind retention holds
(docs/programs.md documents every field).

``load_program(path)`` reads and checks a program (``ProgramError``: one line naming the file
and the field); ``Program.trials(tolerance_n)`` lays it out as trials with their targets in
newtons; ``ProgramRunner`` guides a session through them (press, hold, release, rest, next
site), driven by the hold engine's events and the data's time. Plain Python: the station
model runs it; nothing here draws or records.
"""

from __future__ import annotations

import math
import tomllib
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nmt_monitor.errors import UserError

FEEDBACK = ("full", "faded", "blind")
KINDS = ("practice", "retention", "transfer")
BLOCK_FIELDS = ("site", "label", "target_n", "target_pct", "hold_s", "rest_s", "repetitions", "feedback", "trial",
                "countdown")
PHASES = ("press", "hold", "release", "rest", "done")
MAX_TRIALS = 500
#: Longest site, label or name (a screen line; stored with every trial); a description may be longer.
MAX_TEXT_CHARS = 200
MAX_DESCRIPTION_CHARS = 4000
#: A program (or class) file is a few kB; more is not one (or a device such as /dev/zero).
MAX_FILE_BYTES = 1 << 20


class ProgramError(UserError):
    """A program that cannot be used; one line naming the file and the field."""


@dataclass(frozen=True)
class Block:
    site: str
    label: str = ""
    target_n: tuple[float, float] | None = None
    target_pct: tuple[float, float] | None = None  # % of the client's tolerance
    hold_s: float = 20.0
    rest_s: float = 10.0
    repetitions: int = 1
    feedback: str = "full"
    trial: str = "practice"  # practice | retention | transfer
    countdown: bool = True  # the hold timer and the release bell


@dataclass(frozen=True)
class Trial:
    """One hold of a program, its target in newtons."""

    number: int  # 1-based over the program
    block: int  # 1-based
    repetition: int  # 1-based within the block
    site: str
    label: str
    target_band_n: tuple[float, float]
    hold_s: float
    rest_s: float
    feedback: str
    kind: str
    countdown: bool


@dataclass(frozen=True)
class Program:
    name: str
    description: str
    blocks: tuple[Block, ...]
    source: str = ""  # the file it came from
    text: str = ""  # the TOML, as written (stored with each recording)

    def trials(self, tolerance_n: float | None) -> list[Trial]:
        """The trials in order, targets in newtons (``ProgramError`` when a block gives its
        target in % of the tolerance and there is none)."""
        out = []
        for b_i, b in enumerate(self.blocks, start=1):
            if b.target_n is not None:
                band = b.target_n
            else:
                if not tolerance_n:
                    raise ProgramError(f"{self.source or 'program'}: block[{b_i}].target_pct: needs the client's "
                                       "tolerance (give --tolerance, or set the station's tolerance)")
                band = (round(b.target_pct[0] / 100.0 * tolerance_n, 2), round(b.target_pct[1] / 100.0 * tolerance_n, 2))
            for r in range(1, b.repetitions + 1):
                out.append(Trial(len(out) + 1, b_i, r, b.site, b.label, band, b.hold_s, b.rest_s, b.feedback, b.trial,
                                 b.countdown))
        return out

    def check_for_client(self, tolerance_n: float | None) -> list[Trial]:
        """The trials for a client about to be guided through them: ``ProgramError`` when a
        target needs a tolerance there is not, or reaches above the client's tolerance (a
        program must never guide a student past it). Recorded sessions are replayed as they
        were, unchecked."""
        trials = self.trials(tolerance_n)
        if tolerance_n:
            for t in trials:
                if t.target_band_n[1] > tolerance_n:
                    raise ProgramError(
                        f"{self.source or 'program'}: block[{t.block}].target_n: {t.target_band_n[1]:g} N is above "
                        f"the client's tolerance of {tolerance_n:g} N; lower the target or check the tolerance")
        return trials

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "source": self.source,
                "blocks": [asdict(b) for b in self.blocks]}


# ------------------------------------------------------------------------------ reading

class _Checker:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, message: str) -> ProgramError:
        return ProgramError(f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}")

    def number(self, table: dict, where: str, key: str, low: float, high: float, unit: str, *, integer=False):
        v = table[key]
        ok = isinstance(v, int) if integer else isinstance(v, (int, float))
        if isinstance(v, bool) or not ok or not math.isfinite(v) or not low <= v <= high:
            kind = "a whole number" if integer else "a number"
            raise self.fail(f"{where}.{key}", f"should be {kind} {low:g}-{high:g}{unit}, not {v!r}")
        return int(v) if integer else float(v)

    def pair(self, table: dict, where: str, key: str, high: float, unit: str) -> tuple[float, float]:
        v = table[key]
        if (not isinstance(v, list) or len(v) != 2
                or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
                or not 0 <= v[0] < v[1] <= high):
            raise self.fail(f"{where}.{key}", f"should be [LOW, HIGH] with 0 <= LOW < HIGH <= {high:g}{unit}, "
                                              f"e.g. [30, 45], not {v!r}")
        return (float(v[0]), float(v[1]))

    def text(self, table: dict, where: str, key: str, limit: int = MAX_TEXT_CHARS, allow: str = "") -> str:
        v = table[key]
        name = f"{where}.{key}" if where else key
        if not isinstance(v, str):
            raise self.fail(name, f"should be text, not {v!r}")
        problem = text_problem(v, limit, allow)
        if problem:
            raise self.fail(name, problem)
        return v

    def choice(self, table: dict, where: str, key: str, choices) -> str:
        v = table[key]
        if v not in choices:
            raise self.fail(f"{where}.{key}", f"use one of {', '.join(choices)}, not {v!r}")
        return v


def _block(c: _Checker, where: str, table: dict, defaults: dict) -> Block:
    if not isinstance(table, dict):
        raise c.fail(where, "should be a table")
    for key in table:
        if key not in BLOCK_FIELDS:
            raise c.fail(f"{where}.{key}", f"unknown field (fields: {', '.join(BLOCK_FIELDS)})")
    merged = dict(defaults)
    if "target_n" in table or "target_pct" in table:  # a block's own target replaces the default's
        merged.pop("target_n", None)
        merged.pop("target_pct", None)
    merged.update(table)
    w = where
    if "site" not in merged:
        raise c.fail(f"{w}.site", "is missing (the treatment site of these holds, e.g. \"upper trapezius L\")")
    site = c.text(merged, w, "site").strip()
    if not site:
        raise c.fail(f"{w}.site", "is empty")
    if ("target_n" in merged) == ("target_pct" in merged):
        raise c.fail(w, "give the target band either in newtons (target_n = [30, 45]) or in % of the client's "
                        "tolerance (target_pct = [50, 70])" + (", not both" if "target_n" in merged else ""))
    target_n = c.pair(merged, w, "target_n", 2000.0, " N") if "target_n" in merged else None
    target_pct = c.pair(merged, w, "target_pct", 100.0, " %") if "target_pct" in merged else None
    feedback = c.choice(merged, w, "feedback", FEEDBACK) if "feedback" in merged else "full"
    default_kind = "retention" if feedback == "blind" else "practice"
    kind = c.choice(merged, w, "trial", KINDS) if "trial" in merged else default_kind
    countdown = merged.get("countdown", feedback != "blind")
    if not isinstance(countdown, bool):
        raise c.fail(f"{w}.countdown", f"should be true or false, not {countdown!r}")
    return Block(
        site=site,
        label=c.text(merged, w, "label").strip() if "label" in merged else "",
        target_n=target_n, target_pct=target_pct,
        hold_s=c.number(merged, w, "hold_s", 1.0, 600.0, " s") if "hold_s" in merged else 20.0,
        rest_s=c.number(merged, w, "rest_s", 0.0, 600.0, " s") if "rest_s" in merged else 10.0,
        repetitions=c.number(merged, w, "repetitions", 1, 100, "", integer=True) if "repetitions" in merged else 1,
        feedback=feedback, trial=kind, countdown=countdown,
    )


def program_from_toml(text: str, source: str = "<program>") -> Program:
    c = _Checker(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise c.fail("", f"not valid TOML ({exc})") from None
    for key in data:
        if key not in ("name", "description", "defaults", "block"):
            raise c.fail(key, "unknown field (a program has name, description, [defaults] and [[block]])")
    name = c.text(data, "", "name").strip() if "name" in data else Path(source).stem
    description = c.text(data, "", "description", MAX_DESCRIPTION_CHARS, "\n\t").strip() \
        if "description" in data else ""
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise c.fail("defaults", "should be a table")
    for key in defaults:
        if key not in BLOCK_FIELDS:
            raise c.fail(f"defaults.{key}", f"unknown field (fields: {', '.join(BLOCK_FIELDS)})")
    blocks = data.get("block")
    if not isinstance(blocks, list) or not blocks:
        raise c.fail("", "no blocks: add a [[block]] table for each group of holds (site, target, feedback, ...)")
    out = tuple(_block(c, f"block[{i}]", b, defaults) for i, b in enumerate(blocks, start=1))
    if sum(b.repetitions for b in out) > MAX_TRIALS:
        raise c.fail("", f"more than {MAX_TRIALS} holds in all")
    return Program(name, description, out, source=source, text=text)


def text_problem(text: str, limit: int = MAX_TEXT_CHARS, allow: str = "") -> str:
    """What is wrong with a name from a user's file ("" when nothing): a control character
    (a terminal would run it: clear the screen, retitle the window) or more than ``limit``
    characters."""
    bad = next((ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in allow), None)
    if bad is not None:
        return f"has a control character (U+{ord(bad):04X}); write plain text"
    if len(text) > limit:
        return f"is {len(text)} characters long; at most {limit}"
    return ""


def read_user_file(path: Path, error=ProgramError, what: str = "program") -> str:
    """The text of a program or class file (``error`` for anything that is not one: a missing
    file, a folder, not UTF-8, larger than ``MAX_FILE_BYTES``, e.g. a device)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder; give a {what} file (.toml)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise error(f"{path}: larger than {MAX_FILE_BYTES >> 20} MB: not a {what} file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                    "save it as UTF-8") from None


def load_program(path: Path | str) -> Program:
    path = Path(path)
    return program_from_toml(read_user_file(path), str(path))


def shipped_programs() -> dict[str, str]:
    """The example programs that ship with nmt-monitor: name -> TOML text."""
    from importlib import resources

    folder = resources.files("nmt_monitor").joinpath("programs")
    return {p.name.removesuffix(".toml"): p.read_text(encoding="utf-8")
            for p in sorted(folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".toml")}


def resolve_program(name_or_path: str | Path) -> Program:
    """A program file, or the name of a shipped example (``guided-then-blind``)."""
    shipped = shipped_programs()
    if not str(name_or_path).strip():
        raise ProgramError(f"--program is empty: give a program file (.toml) or a shipped program's name "
                           f"({', '.join(shipped)})")
    path = Path(name_or_path)
    if not path.exists() and path.suffix == "":
        if str(name_or_path) in shipped:
            return program_from_toml(shipped[str(name_or_path)], f"{name_or_path} (shipped)")
        raise ProgramError(f"{path}: no such file, nor a shipped program ({', '.join(shipped)})")
    return load_program(path)


# ---------------------------------------------------------------------------------- running

@dataclass(frozen=True)
class ProgramView:
    """Where a program is, for the screens (all plain values)."""

    name: str
    phase: str  # press | hold | release | rest | done
    trial: int  # 1-based (the next trial during a rest)
    trials: int
    site: str
    label: str
    feedback: str
    kind: str
    target_band_n: tuple[float, float] | None
    hold_s: float
    countdown: bool
    remaining_s: float | None  # of the hold (countdown trials) or the rest
    next_site: str = ""  # during a rest: the next trial's site when it changes
    seq: int = 0  # increments at each transition (the bell)


@dataclass
class TrialRecord:
    """A trial as it happened (times in data seconds since the station's time origin)."""

    trial: Trial
    start_s: float
    stop_s: float | None = None
    hold_start_s: float | None = None
    hold_stop_s: float | None = None
    hold_mean_n: float | None = None
    outcome: str = ""  # hold | no hold | skipped

    def to_record(self, origin: float) -> dict:
        """For the recorder: host times (``origin`` + data time)."""
        t = self.trial

        def host(x):
            return None if x is None else origin + x

        return {"trial": t.number, "block": t.block, "repetition": t.repetition, "site": t.site, "label": t.label,
                "feedback": t.feedback, "kind": t.kind, "countdown": t.countdown,
                "target_band_N": list(t.target_band_n), "target_hold_s": t.hold_s,
                "start_host_time_s": host(self.start_s), "stop_host_time_s": host(self.stop_s),
                "hold_start_host_time_s": host(self.hold_start_s), "hold_stop_host_time_s": host(self.hold_stop_s),
                "hold_mean_N": self.hold_mean_n, "outcome": self.outcome}


@dataclass
class Actions:
    """What the runner asks the station to do after an input."""

    trial: Trial | None = None  # apply this trial's targets and feedback mode
    site: str | None = None  # a new site (a 'site' marker)
    finished: list[TrialRecord] = field(default_factory=list)  # trials that ended (to record)
    bell: bool = False


class ProgramRunner:
    """Guides a session through a program's trials:

    - press: waiting for the student to press and hold (the trial's targets and feedback mode
      apply from here); a hold already running when the phase begins counts.
    - hold: a hold is running; with a countdown, ``release`` once it lasted the trial's hold time.
    - release: (countdown trials) the time is up: release.
    - rest: the hold ended; the rest counts down, then the next trial's press (or done).

    Time is the data's (seconds since the station's first sample): countdowns follow the sensor
    and stop while it is unplugged. Every transition but press -> hold (the student's own
    action) rings the bell."""

    def __init__(self, program: Program, tolerance_n: float | None) -> None:
        self.program = program
        self.trials = program.trials(tolerance_n)
        self.phase = "press"
        self.index = 0
        self.started = False
        self.phase_since: float = 0.0
        self.rest_until: float | None = None
        self.seq = 0
        self.current: TrialRecord | None = None
        self.records: list[TrialRecord] = []

    @property
    def trial(self) -> Trial | None:
        return self.trials[self.index] if self.index < len(self.trials) else None

    def _enter_press(self, now: float, hold_running_since: float | None, actions: Actions) -> None:
        trial = self.trial
        if trial is None:
            self.phase = "done"
            return
        previous = self.trials[self.index - 1] if self.index > 0 else None
        self.phase = "press"
        self.phase_since = now
        self.current = TrialRecord(trial, now)
        actions.trial = trial
        if previous is None or previous.site != trial.site:
            actions.site = trial.site
        if hold_running_since is not None:  # pressed during the rest: this hold counts
            self.phase = "hold"
            self.current.hold_start_s = hold_running_since

    def start(self, now: float, hold_running_since: float | None = None) -> Actions:
        actions = Actions(bell=True)
        self.started = True
        self._enter_press(now, hold_running_since, actions)
        self.seq += 1
        return actions

    def _end_trial(self, now: float, outcome: str, actions: Actions) -> None:
        rec = self.current
        if rec is not None:
            rec.stop_s = now
            rec.outcome = outcome
            self.records.append(rec)
            actions.finished.append(rec)
        self.current = None
        trial = self.trial
        self.index += 1
        if self.index >= len(self.trials):
            self.phase = "done"
        else:
            self.phase = "rest"
            self.rest_until = now + (trial.rest_s if trial is not None else 0.0)
        self.phase_since = now
        self.seq += 1
        actions.bell = True

    def on_event(self, ev, now: float) -> Actions:
        """A hold engine event (``ev.kind``), at data time ``now``."""
        actions = Actions()
        if not self.started or self.phase in ("done", "rest"):
            return actions
        kind = ev.kind
        if kind == "hold_started" and self.phase == "press":
            self.phase = "hold"
            self.phase_since = now
            self.current.hold_start_s = ev.start_s
        elif kind == "hold_progress" and self.phase in ("hold", "release") and self.current is not None:
            self.current.hold_start_s = ev.start_s  # the start may be decided again
        elif kind == "hold_discarded" and self.phase in ("hold", "release"):
            self.phase = "press"  # not a hold after all: still waiting for one
            self.phase_since = now
            self.current.hold_start_s = None
        elif kind == "hold_ended" and self.phase in ("hold", "release"):
            h = ev.hold
            self.current.hold_start_s, self.current.hold_stop_s, self.current.hold_mean_n = h.start_s, h.end_s, h.mean_N
            self._end_trial(now, "hold", actions)
        return actions

    def tick(self, now: float, hold_elapsed_s: float | None, hold_since: float | None) -> Actions:
        """The data reached ``now``; ``hold_elapsed_s``: the running hold's time (None: no hold)."""
        actions = Actions()
        if not self.started:
            return actions
        if self.phase == "hold" and self.trial is not None and self.trial.countdown and hold_elapsed_s is not None \
                and hold_elapsed_s >= self.trial.hold_s:
            self.phase = "release"
            self.phase_since = now
            self.seq += 1
            actions.bell = True
        elif self.phase == "rest" and self.rest_until is not None and now >= self.rest_until:
            self._enter_press(now, hold_since, actions)
            self.seq += 1
            actions.bell = True
        return actions

    def skip(self, now: float, hold_since: float | None = None) -> Actions:
        """The instructor moves on: a trial waiting for its hold is skipped, a running one ends
        here, a rest ends now."""
        actions = Actions()
        if not self.started or self.phase == "done":
            return actions
        if self.phase == "rest":
            self._enter_press(now, hold_since, actions)
            self.seq += 1
            actions.bell = True
        else:
            self._end_trial(now, "skipped", actions)
            if self.phase == "rest":  # straight on: the instructor chose to move
                self._enter_press(now, hold_since, actions)
        return actions

    def view(self, now: float, hold_elapsed_s: float | None) -> ProgramView:
        trial = self.trial or (self.trials[-1] if self.trials else None)
        remaining = None
        next_site = ""
        if self.phase in ("hold", "release") and trial is not None and trial.countdown and hold_elapsed_s is not None:
            remaining = max(0.0, trial.hold_s - hold_elapsed_s)
        elif self.phase == "rest" and self.rest_until is not None:
            remaining = max(0.0, self.rest_until - now)
        if self.phase in ("rest", "press") and trial is not None:
            prev = self.trials[self.index - 1] if self.index > 0 else None
            if prev is None or prev.site != trial.site:
                next_site = trial.site  # a (new) site to move to
        number = min(self.index + 1, len(self.trials))
        return ProgramView(self.program.name, self.phase, number, len(self.trials), trial.site if trial else "",
                           trial.label if trial else "", trial.feedback if trial else "full",
                           trial.kind if trial else "", trial.target_band_n if trial else None,
                           trial.hold_s if trial else 0.0, trial.countdown if trial else True, remaining, next_site,
                           self.seq)


def instruction(view: ProgramView) -> str:
    """What to do now, in a few words."""
    if view.phase == "done":
        return "program done"
    if view.phase == "press":
        return f"move to {view.next_site}, press and hold" if view.next_site else "press and hold"
    if view.phase == "hold":
        if not view.countdown:
            return f"hold — release when you judge {view.hold_s:g} s"
        return "hold"
    if view.phase == "release":
        return "release"
    if view.phase == "rest":
        return "rest" + (f" — next site: {view.next_site}" if view.next_site else "")
    return view.phase
