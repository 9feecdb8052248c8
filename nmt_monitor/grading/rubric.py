"""The grading rubric: TOML, shipped defaults (``default_rubric.toml``), checked field by field.

``load_rubric(path)`` reads a rubric file and lays it over the defaults (a file needs only the
fields it changes). Every problem raises ``RubricError`` (a ``UserError``) naming the file and
the field, e.g. ``my.toml: steadiness.cv_limit_pct: must be a positive number, not 'five'``.
docs/grading.md documents every field.
"""

from __future__ import annotations

import copy
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from nmt_monitor.errors import UserError

SUBSKILLS = ("target", "duration", "steadiness", "drift", "ramp")
TARGET_SOURCES = ("session", "newtons", "tolerance")
OVER_TOLERANCE_MODES = ("penalty", "fail")
NO_HOLDS_RULES = ("ungraded", "zero")


class RubricError(UserError):
    """A rubric that cannot be used; the message names the file and the field."""


def default_rubric_text() -> str:
    return resources.files("nmt_monitor.grading").joinpath("default_rubric.toml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class TargetRule:
    source: str
    band_N: tuple[float, float]
    band_pct_of_tolerance: tuple[float, float]
    near_miss_pct: float
    smooth_s: float


@dataclass(frozen=True)
class DurationRule:
    min_s: float
    max_s: float
    use_session_target: bool
    near_miss_pct: float


@dataclass(frozen=True)
class SteadinessRule:
    cv_limit_pct: float
    window_s: float
    step_s: float
    near_miss_pct: float


@dataclass(frozen=True)
class DriftRule:
    limit_pct: float
    reference_s: float
    level_s: float
    near_miss_pct: float


@dataclass(frozen=True)
class RampRule:
    min_s: float
    max_s: float
    max_overshoot_pct: float
    near_miss_pct: float


@dataclass(frozen=True)
class OverToleranceRule:
    mode: str
    grace_s: float
    penalty_points_per_s: float
    penalty_points_per_episode: float
    max_penalty_points: float


@dataclass(frozen=True)
class ProgressRule:
    improving_points_per_session: float
    min_sessions: int
    ceiling_score: float = 95.0


@dataclass(frozen=True)
class FeedbackRule:
    needs_help_below_pct: float = 70.0


@dataclass(frozen=True)
class Rubric:
    name: str
    description: str
    pass_score: float
    target: TargetRule
    duration: DurationRule
    steadiness: SteadinessRule
    drift: DriftRule
    ramp_in: RampRule
    over_tolerance: OverToleranceRule
    weights: dict[str, float]
    progress: ProgressRule
    engine: dict = field(default_factory=dict)
    no_holds: str = "ungraded"
    feedback: FeedbackRule = field(default_factory=FeedbackRule)
    source: str = "<default>"
    raw: dict = field(default_factory=dict, repr=False)

    def hold_params(self):
        """The hold engine's parameters for grading: ``[engine]`` overrides; the drift flag
        follows ``drift.limit_pct`` unless ``[engine]`` sets ``drift_limit_pct``."""
        from nmt_monitor.dsp import HoldParams

        changes = {"drift_limit_pct": self.drift.limit_pct}
        changes.update(self.engine)
        return HoldParams(**changes)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.raw)


# ---- validation ---------------------------------------------------------------------------

class _Checker:
    def __init__(self, source: str, data: dict) -> None:
        self.source = source
        self.data = data

    def fail(self, where: str, message: str) -> RubricError:
        return RubricError(f"{self.source}: {where}: {message}")

    def table(self, name: str, allowed: tuple[str, ...]) -> dict:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, f"must be a table ([{name}]), not {value!r}")
        for key in value:
            if key not in allowed:
                raise self.fail(f"{name}.{key}", f"unknown field (known: {', '.join(allowed)})")
        return value

    def number(self, table: dict, tname: str, key: str, *, minimum: float = 0.0, strict: bool = False,
               maximum: float | None = None) -> float:
        where = f"{tname}.{key}" if tname else key
        if key not in table:
            raise self.fail(where, "missing")
        v = table[key]
        kind = "a positive number" if strict else "a non-negative number"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise self.fail(where, f"must be {kind}, not {v!r}")
        v = float(v)
        if v < minimum or (strict and v <= minimum):
            raise self.fail(where, f"must be {kind}, not {v!r}")
        if maximum is not None and v > maximum:
            raise self.fail(where, f"must be at most {maximum:g}, not {v!r}")
        return v

    def pair(self, table: dict, tname: str, key: str) -> tuple[float, float]:
        where = f"{tname}.{key}"
        v = table.get(key)
        if (not isinstance(v, list) or len(v) != 2
                or any(isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) for x in v)):
            raise self.fail(where, f"must be a pair of numbers [low, high], not {v!r}")
        lo, hi = float(v[0]), float(v[1])
        if not 0 <= lo < hi:
            raise self.fail(where, f"needs 0 <= low < high, not [{lo:g}, {hi:g}]")
        return lo, hi

    def choice(self, table: dict, tname: str, key: str, choices: tuple[str, ...]) -> str:
        v = table.get(key)
        if v not in choices:
            raise self.fail(f"{tname}.{key}", f"must be one of {', '.join(choices)}, not {v!r}")
        return v

    def boolean(self, table: dict, tname: str, key: str) -> bool:
        v = table.get(key)
        if not isinstance(v, bool):
            raise self.fail(f"{tname}.{key}", f"must be true or false, not {v!r}")
        return v

    def string(self, key: str) -> str:
        v = self.data.get(key, "")
        if not isinstance(v, str):
            raise self.fail(key, f"must be a string, not {v!r}")
        return v


_TOP = ("name", "description", "pass_score", "no_holds", "target", "duration", "steadiness", "drift", "ramp_in",
        "over_tolerance", "weights", "progress", "feedback", "engine")


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def rubric_from_dict(data: dict, source: str = "<rubric>") -> Rubric:
    """Validate a complete rubric (defaults already merged in)."""
    c = _Checker(source, data)
    for key in data:
        if key not in _TOP:
            raise c.fail(key, f"unknown field (known: {', '.join(_TOP)})")
    name = c.string("name")
    description = c.string("description")
    pass_score = c.number(data, "", "pass_score", maximum=100.0)
    no_holds = data.get("no_holds")
    if no_holds not in NO_HOLDS_RULES:
        raise c.fail("no_holds", f"must be one of {', '.join(NO_HOLDS_RULES)}, not {no_holds!r}")

    t = c.table("target", ("source", "band_N", "band_pct_of_tolerance", "near_miss_pct", "smooth_s"))
    target = TargetRule(
        source=c.choice(t, "target", "source", TARGET_SOURCES),
        band_N=c.pair(t, "target", "band_N"),
        band_pct_of_tolerance=c.pair(t, "target", "band_pct_of_tolerance"),
        near_miss_pct=c.number(t, "target", "near_miss_pct"),
        smooth_s=c.number(t, "target", "smooth_s"),
    )
    d = c.table("duration", ("min_s", "max_s", "use_session_target", "near_miss_pct"))
    duration = DurationRule(
        min_s=c.number(d, "duration", "min_s"),
        max_s=c.number(d, "duration", "max_s", strict=True),
        use_session_target=c.boolean(d, "duration", "use_session_target"),
        near_miss_pct=c.number(d, "duration", "near_miss_pct", maximum=100.0),
    )
    if duration.max_s <= duration.min_s:
        raise c.fail("duration.max_s", f"must be above duration.min_s ({duration.min_s:g}), not {duration.max_s:g}")
    s = c.table("steadiness", ("cv_limit_pct", "window_s", "step_s", "near_miss_pct"))
    steadiness = SteadinessRule(
        cv_limit_pct=c.number(s, "steadiness", "cv_limit_pct", strict=True),
        window_s=c.number(s, "steadiness", "window_s", strict=True),
        step_s=c.number(s, "steadiness", "step_s", strict=True),
        near_miss_pct=c.number(s, "steadiness", "near_miss_pct"),
    )
    r = c.table("drift", ("limit_pct", "reference_s", "level_s", "near_miss_pct"))
    drift = DriftRule(
        limit_pct=c.number(r, "drift", "limit_pct", strict=True),
        reference_s=c.number(r, "drift", "reference_s", strict=True),
        level_s=c.number(r, "drift", "level_s", strict=True),
        near_miss_pct=c.number(r, "drift", "near_miss_pct"),
    )
    m = c.table("ramp_in", ("min_s", "max_s", "max_overshoot_pct", "near_miss_pct"))
    ramp = RampRule(
        min_s=c.number(m, "ramp_in", "min_s"),
        max_s=c.number(m, "ramp_in", "max_s", strict=True),
        max_overshoot_pct=c.number(m, "ramp_in", "max_overshoot_pct"),
        near_miss_pct=c.number(m, "ramp_in", "near_miss_pct", maximum=100.0),
    )
    if ramp.max_s <= ramp.min_s:
        raise c.fail("ramp_in.max_s", f"must be above ramp_in.min_s ({ramp.min_s:g}), not {ramp.max_s:g}")
    o = c.table("over_tolerance", ("mode", "grace_s", "penalty_points_per_s", "penalty_points_per_episode",
                                   "max_penalty_points"))
    over = OverToleranceRule(
        mode=c.choice(o, "over_tolerance", "mode", OVER_TOLERANCE_MODES),
        grace_s=c.number(o, "over_tolerance", "grace_s"),
        penalty_points_per_s=c.number(o, "over_tolerance", "penalty_points_per_s"),
        penalty_points_per_episode=c.number(o, "over_tolerance", "penalty_points_per_episode"),
        max_penalty_points=c.number(o, "over_tolerance", "max_penalty_points", maximum=100.0),
    )
    w = c.table("weights", SUBSKILLS)
    weights = {k: c.number(w, "weights", k) for k in SUBSKILLS}
    if sum(weights.values()) <= 0:
        raise c.fail("weights", "at least one weight must be above 0")
    p = c.table("progress", ("improving_points_per_session", "min_sessions", "ceiling_score"))
    min_sessions = p.get("min_sessions")
    if isinstance(min_sessions, bool) or not isinstance(min_sessions, int) or min_sessions < 2:
        raise c.fail("progress.min_sessions", f"must be a whole number >= 2, not {min_sessions!r}")
    progress = ProgressRule(
        improving_points_per_session=c.number(p, "progress", "improving_points_per_session"),
        min_sessions=min_sessions,
        ceiling_score=c.number(p, "progress", "ceiling_score", maximum=100.0),
    )
    fb = c.table("feedback", ("needs_help_below_pct",))
    feedback = FeedbackRule(needs_help_below_pct=c.number(fb, "feedback", "needs_help_below_pct", maximum=100.0))
    engine = data.get("engine", {})
    if not isinstance(engine, dict):
        raise c.fail("engine", f"must be a table ([engine]), not {engine!r}")
    if engine:
        from dataclasses import fields as dc_fields

        from nmt_monitor.dsp import HoldParams

        known = {f.name for f in dc_fields(HoldParams)}
        for key, value in engine.items():
            if key not in known:
                raise c.fail(f"engine.{key}", "unknown hold-engine parameter (see docs/metrics.md)")
            try:
                HoldParams(**{key: value})
            except (ValueError, TypeError) as exc:
                raise c.fail(f"engine.{key}", str(exc).replace(f"HoldParams.{key} ", "")) from None
    return Rubric(name=name, description=description, pass_score=pass_score, target=target, duration=duration,
                  steadiness=steadiness, drift=drift, ramp_in=ramp, over_tolerance=over, weights=weights,
                  progress=progress, engine=dict(engine), source=source, raw=copy.deepcopy(data),
                  no_holds=no_holds, feedback=feedback)


def default_rubric() -> Rubric:
    return rubric_from_dict(tomllib.loads(default_rubric_text()), "<default rubric>")


def rubric_from_toml(text: str, source: str = "<rubric>") -> Rubric:
    """A rubric from TOML text, laid over the shipped defaults."""
    try:
        over = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RubricError(f"{source}: not valid TOML: {exc}") from None
    base = tomllib.loads(default_rubric_text())
    c = _Checker(source, over)
    for key, value in over.items():
        if key in base and isinstance(base[key], dict) and not isinstance(value, dict):
            raise c.fail(key, f"must be a table ([{key}]), not {value!r}")
    return rubric_from_dict(_merge(base, over), source)


def load_rubric(path: str | Path | None = None) -> Rubric:
    """The shipped defaults (``path`` None), or a rubric file laid over them."""
    if path is None:
        return default_rubric()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RubricError(f"{path}: no such rubric file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError(f"{path}: cannot read the rubric ({exc})") from None
    return rubric_from_toml(text, str(path))
