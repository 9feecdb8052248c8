"""``nmt-monitor analyze``: find holds, drift and over-tolerance in recordings."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys

from nmt_monitor.errors import UserError
from nmt_monitor.units import UnitError, parse_force_n, parse_force_range_n

HELP = "find holds, drift and over-tolerance in recordings (.h5 sessions, .csv)"

CSV_FIELDS = (
    "source", "hold", "start_s", "end_s", "duration_s", "mean_N", "sd_N", "cv_pct", "drift_pct",
    "drift_N_per_s", "level_start_N", "level_end_N", "peak_N", "ramp_in_s", "ramp_rate_N_per_s",
    "overshoot_N", "overshoot_pct", "time_over_tolerance_s", "time_in_target_s", "time_in_target_pct",
    "gap_s", "zero_N", "ended_by", "flags",
)


def _force(text: str) -> float:
    try:
        return parse_force_n(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _band(text: str) -> tuple[float, float]:
    try:
        return parse_force_range_n(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text!r}")
    return value


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "analyze",
        help=HELP,
        description=(
            "Find the sustained static holds in force recordings and report their metrics "
            "(docs/metrics.md), drift and over-tolerance episodes. CSV files need a header "
            "time_s,force_N (or force_kgf / force_lbf); time need not be uniform."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="recordings (.csv), or folders of them")
    parser.add_argument("--tolerance", type=_force, metavar="F",
                        help="client's tolerance, e.g. 60N, 6kg, 13.5lbf (bare number: N)")
    parser.add_argument("--target", type=_band, metavar="LO..HI", help="target band, e.g. 40N..55N")
    parser.add_argument("--min-hold", type=_positive, metavar="S", help="shortest hold in s (default 5)")
    parser.add_argument("--drift-limit", type=_positive, metavar="PCT",
                        help="flag drift at this |drift %%| (default 10)")
    parser.add_argument("--hold-time", type=_positive, metavar="S",
                        help="target hold time: holds shorter than this are flagged 'short'")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per file (a list when several)")
    fmt.add_argument("--csv", action="store_true", help="one CSV row per hold")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from nmt_monitor.loaders import expand_paths, load_recording

    # load (and check) every file before importing SciPy: a bad file fails in a blink
    recordings = [load_recording(path) for path in expand_paths(args.paths)]

    from nmt_monitor.dsp import HoldParams, analyze_holds

    changes = {}
    if args.min_hold is not None:
        changes["min_hold_s"] = args.min_hold
    if args.drift_limit is not None:
        changes["drift_limit_pct"] = args.drift_limit
    if args.hold_time is not None:
        changes["target_hold_s"] = args.hold_time
    params = HoldParams(**changes)
    results = []
    for rec in recordings:
        try:
            # A session file carries its own tolerance and target band; flags override them.
            tolerance = args.tolerance if args.tolerance is not None else rec.tolerance_n
            target = args.target if args.target is not None else rec.target_band_n
            analysis = analyze_holds(rec.time_s, rec.force_n, params, tolerance, target)
        except ValueError as exc:  # the loader checks first; this is a last line of defence
            raise UserError(f"{rec.source}: {exc}") from None
        results.append((rec, analysis))
    out = sys.stdout
    if args.json:
        objs = [a.to_dict(source=rec.source) for rec, a in results]
        json.dump(objs[0] if len(objs) == 1 else objs, out, indent=2)
        out.write("\n")
    elif args.csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for rec, a in results:
            for i, hold in enumerate(a.holds, start=1):
                d = hold.to_dict()
                row = [rec.source, i] + [_cell(d.get(k)) for k in CSV_FIELDS[2:-1]] + [";".join(d["flags"])]
                writer.writerow(row)
    else:
        for n, (rec, a) in enumerate(results):
            if n:
                out.write("\n")
            out.write(_table(rec, a))
    return 0


def _cell(value) -> str:
    if value is None:
        return ""
    return str(value)


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def _table(rec, a) -> str:
    dur = float(rec.time_s[-1] - rec.time_s[0]) if rec.time_s.size > 1 else 0.0
    lines = []
    head = f"{rec.source}: {rec.time_s.size} samples, {dur:.1f} s, ~{_fmt(a.sample_rate_hz, '.0f')} Hz"
    if a.tolerance_n is not None:
        head += f", tolerance {a.tolerance_n:.1f} N"
    if a.target_band_n is not None:
        head += f", target {a.target_band_n[0]:.1f}..{a.target_band_n[1]:.1f} N"
    lines.append(head)
    if not a.holds:
        lines.append("  no holds found")
    else:
        target = a.target_band_n is not None
        cols = ("#", "start s", "end s", "dur s", "mean N", "SD N", "CV %", "drift %", "N/s", "peak N") + (
            ("in target %",) if target else ()) + ("flags",)
        rows = [cols]
        for i, h in enumerate(a.holds, start=1):
            rows.append((str(i), _fmt(h.start_s, ".2f"), _fmt(h.end_s, ".2f"), _fmt(h.duration_s, ".1f"),
                         _fmt(h.mean_N, ".1f"), _fmt(h.sd_N, ".2f"), _fmt(h.cv_pct, ".1f"),
                         _fmt(h.drift_pct, "+.1f"), _fmt(h.drift_N_per_s, "+.2f"), _fmt(h.peak_N, ".1f"))
                        + ((_fmt(h.time_in_target_pct, ".0f"),) if target else ()) + (", ".join(h.flags),))
        widths = [max(len(r[c]) for r in rows) for c in range(len(cols))]
        for r in rows:
            cells = [r[c].rjust(widths[c]) if c < len(cols) - 1 else r[c] for c in range(len(cols))]
            lines.append("  " + "  ".join(cells).rstrip())
    if a.tolerance_n is not None:
        if a.over_tolerance:
            lines.append(f"  over tolerance ({len(a.over_tolerance)}):")
            for o in a.over_tolerance:
                lines.append(f"    {o.start_s:.2f}-{o.end_s:.2f} s ({o.duration_s:.2f} s), peak {o.peak_N:.1f} N")
        else:
            lines.append("  never over tolerance")
    return "\n".join(lines) + "\n"
