"""``nmt-monitor analyze``: find holds, drift and over-tolerance in recordings."""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from pathlib import Path

from nmt_monitor.commands.argtypes import force_band_n, force_n, positive_number, worker_count
from nmt_monitor.commands.batch import BATCH_EXIT_CODES, BatchHelpFormatter, report_skipped
from nmt_monitor.console import is_terminal
from nmt_monitor.errors import UserError

HELP = "find holds, drift and over-tolerance in recordings (.h5 sessions, .csv)"

def _csv_fields() -> tuple[str, ...]:
    """The tidy columns of ``--csv``: session metadata, the hold, provenance (docs/research.md)."""
    from nmt_monitor.research import COLUMNS

    return COLUMNS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "analyze",
        help=HELP,
        description=(
            "Find the sustained static holds in force recordings and report their metrics "
            "(level, SD, CV, drift, time in the target band), drift and over-tolerance episodes. CSV files "
            "need a header time_s,force_N (or force_kgf / force_lbf); time need not be uniform. "
            "A file that cannot be read is named on stderr (one line) and skipped; the others are analysed."
        ),
        epilog=BATCH_EXIT_CODES,
        formatter_class=BatchHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="recordings (.h5 sessions, .csv), or folders (searched recursively)")
    parser.add_argument("--tolerance", type=force_n, metavar="F",
                        help="client's tolerance, e.g. 60N, 6kg, 13.5lbf (bare number: N)")
    parser.add_argument("--target", type=force_band_n, metavar="LO..HI", help="target band, e.g. 40N..55N")
    parser.add_argument("--min-hold", type=positive_number, metavar="S", help="shortest hold in s (default 5)")
    parser.add_argument("--drift-limit", type=positive_number, metavar="PCT",
                        help="flag drift at this |drift %%| (default 10)")
    parser.add_argument("--hold-time", type=positive_number, metavar="S",
                        help="target hold time: holds shorter than this are flagged 'short'")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON object per file (a list when several)")
    fmt.add_argument("--csv", action="store_true",
                     help="one tidy CSV row per hold, the session's metadata and the software version as columns")
    fmt.add_argument("--parquet", metavar="OUT.parquet",
                     help="the same tidy rows as a Parquet file (categories, UTC timestamps), the provenance in "
                          "its metadata; for tables too big for CSV (needs the research extra)")
    parser.add_argument("--provenance", metavar="FILE.json",
                        help="also write what produced the output: versions, every engine parameter, "
                             "the inputs (size, SHA-256, holds found)")
    parser.add_argument("--jobs", "-j", type=worker_count, metavar="N",
                        help="worker processes (default: one per CPU; 1: no workers)")
    parser.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                        help="run the per-file analysis on this Dask cluster instead (its workers read the files: "
                             "paths must be valid on them; needs the research extra); same rows as a local run")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal)")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from nmt_monitor.research import check_inputs

    if args.scheduler and args.jobs is not None:
        raise UserError("--jobs and --scheduler do not go together (the cluster has its own workers)")
    sink = None
    if args.parquet:
        sink = _parquet_sink(args.parquet)  # the extra and the output path, before any work
    executor = None
    try:
        if args.scheduler:
            from nmt_monitor.research import DaskExecutor

            executor = DaskExecutor(args.scheduler)
            files = executor.expand(args.paths)  # on a worker: the files are read there
        else:
            files = check_inputs(args.paths)  # fail in a blink on a missing file or an unknown type
        return _run(args, files, executor, sink)
    except BaseException:
        if sink is not None:
            sink.discard()
        raise
    finally:
        if executor is not None:
            executor.close()


def _parquet_sink(path: str):
    import os

    from nmt_monitor.research import ParquetSink
    from nmt_monitor.storage.export import is_hdf5_file
    from nmt_monitor.storage.paths import check_output_file

    if os.path.exists(path) and is_hdf5_file(path):
        raise UserError(f"--parquet {path} is an HDF5 file (a recording?): never overwritten")
    check_output_file(Path(path), "--parquet")
    return ParquetSink(path)


def _run(args, files: list[str], executor, sink) -> int:
    from nmt_monitor.console import Progress
    from nmt_monitor.dsp import HoldParams
    from nmt_monitor.research import (
        Skipped,
        _AnalyzeJob,
        imap_files,
        input_record,
        local_executor,
        provenance,
        provenance_text,
    )

    changes = {}
    if args.min_hold is not None:
        changes["min_hold_s"] = args.min_hold
    if args.drift_limit is not None:
        changes["drift_limit_pct"] = args.drift_limit
    if args.hold_time is not None:
        changes["target_hold_s"] = args.hold_time
    params = HoldParams(**changes)
    # A session file carries its own tolerance and target band; the options override them.
    job = _AnalyzeJob(params, args.tolerance, args.target, hash_file=bool(args.provenance or args.parquet))
    show = args.progress if args.progress is not None else sys.stderr.isatty()
    bar = Progress(len(files), "analyze ") if show and len(files) > 1 else None
    # Results are written as they come, in input order: memory stays flat however many files.
    writer = _Writer(args, sys.stdout, len(files), sink)
    skipped, inputs = [], []
    for r in imap_files(job, files, jobs=args.jobs, progress=bar, skip_errors=True, executor=executor):
        if isinstance(r, Skipped):
            skipped.append(r)
            continue
        inputs.append(json.dumps(input_record(r, params), separators=(",", ":")))  # ~0.4 kB a file
        writer.add(r)
    if not inputs:
        if sink is not None:
            sink.discard()
        return report_skipped(skipped, len(files), 0, "analysed")
    doc = None
    if args.provenance or sink is not None:
        from nmt_monitor import __version__

        output = "parquet" if args.parquet else "csv" if args.csv else "json" if args.json else "table"
        doc = provenance([], params, argv=sys.argv, output=output,
                         tolerance_override_N=args.tolerance,
                         target_override_N=list(args.target) if args.target else None,
                         executor=executor.describe() if executor else local_executor(args.jobs, len(files)),
                         skipped=[{"source": x.source, "error": x.message} for x in skipped])
        doc["note"] = (f"nmt-monitor {__version__} analyze: engine parameters per input are the defaults "
                       "changed by the options above; tolerance and target band come from each session "
                       "file unless overridden")
    if args.provenance:
        try:
            with open(args.provenance, "w", encoding="utf-8") as fh:
                fh.write(provenance_text(doc, inputs, indent=2) + "\n")
        except OSError as exc:
            raise UserError(f"--provenance {args.provenance}: cannot write ({exc.strerror or exc})") from None
    writer.close(None if doc is None else provenance_text(doc, inputs))
    return report_skipped(skipped, len(files), len(inputs), "analysed")


class _Writer:
    """Writes each file's result as it comes, in the chosen format."""

    def __init__(self, args, out, n_files: int, sink) -> None:
        self.args, self.out, self.n_files, self.sink = args, out, n_files, sink
        self.n = 0
        self.held = []  # results for the rich tables (a terminal: drawn at the end)
        self.csv = None  # the header goes out with the first usable file (none: no output at all)

    def add(self, r) -> None:
        from nmt_monitor.research import rows_for

        args, out = self.args, self.out
        if self.sink is not None:
            self.sink.add(rows_for(r))
        elif args.json:
            text = json.dumps(r.analysis.to_dict(source=r.source), indent=2)
            if self.n_files == 1:
                out.write(text)
            else:
                out.write(("[\n" if self.n == 0 else ",\n") + "\n".join("  " + ln for ln in text.splitlines()))
        elif args.csv:
            fields = _csv_fields()
            if self.csv is None:
                self.csv = csv.writer(out, lineterminator="\n")
                self.csv.writerow(fields)
            for row in rows_for(r):
                self.csv.writerow([_cell(row.get(k)) for k in fields])
        elif is_terminal(out):
            self.held.append(r)
        else:
            if self.n:
                out.write("\n")
            out.write(_table(r))
        self.n += 1

    def close(self, doc) -> None:
        args, out = self.args, self.out
        if self.sink is not None:
            self.sink.close(doc)
            print(f"nmt-monitor: wrote {self.sink.n_rows} holds from {self.n} files to {args.parquet}",
                  file=sys.stderr)
        elif args.json:
            out.write("\n" if self.n_files == 1 else "\n]\n")
        elif self.held:
            _print_rich_tables(self.held, out)
        out.flush()


def _cell(value) -> str:
    """A CSV cell: text that a spreadsheet would run as a formula is neutralised (numbers,
    e.g. -1.5, stay numbers)."""
    from nmt_monitor.safetext import spreadsheet_cell

    if value is None:
        return ""
    return spreadsheet_cell(value) if isinstance(value, str) else str(value)


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value, spec)


def _table(r) -> str:
    """One recording's holds as plain aligned text (stdout not a terminal)."""
    from nmt_monitor.console import plain_table

    head, rows, tail = _table_parts(r)
    lines = [head] + (plain_table(rows, left=0, indent="  ") if rows else ["  no holds found"])
    return "\n".join(lines + [f"  {t}" for t in tail]) + "\n"


def _print_rich_tables(results, out) -> None:
    """The same tables drawn with rich (stdout a terminal)."""
    from rich.text import Text

    from nmt_monitor.console import print_rich, rich_table

    items = []
    for n, r in enumerate(results):
        head, rows, tail = _table_parts(r)
        items.append(Text(("\n" if n else "") + head, style="bold"))
        items.append(rich_table(rows, left=0) if rows else Text("  no holds found"))
        items += [Text(t, style="bold red" if t.startswith("over") or t.startswith("  ") else "green")
                  for t in tail]
    print_rich(*items, file=out)


def _table_parts(r):
    """(heading, rows with a header row or None, lines about over-tolerance)."""
    from nmt_monitor.flags import flags_text

    a = r.analysis
    head = f"{r.source}: {r.n_samples} samples, {r.duration_s:.1f} s, ~{_fmt(a.sample_rate_hz, '.0f')} Hz"
    if a.tolerance_n is not None:
        head += f", tolerance {a.tolerance_n:.1f} N"
    if a.target_band_n is not None:
        head += f", target {a.target_band_n[0]:.1f}..{a.target_band_n[1]:.1f} N"
    rows = None
    if a.holds:
        target = a.target_band_n is not None
        cols = ("#", "start s", "end s", "dur s", "mean N", "SD N", "CV %", "drift %", "N/s", "peak N") + (
            ("in target %",) if target else ()) + ("flags",)
        rows = [cols]
        for i, h in enumerate(a.holds, start=1):
            rows.append((str(i), _fmt(h.start_s, ".2f"), _fmt(h.end_s, ".2f"), _fmt(h.duration_s, ".1f"),
                         _fmt(h.mean_N, ".1f"), _fmt(h.sd_N, ".2f"), _fmt(h.cv_pct, ".1f"),
                         _fmt(h.drift_pct, "+.1f"), _fmt(h.drift_N_per_s, "+.2f"), _fmt(h.peak_N, ".1f"))
                        + ((_fmt(h.time_in_target_pct, ".0f"),) if target else ()) + (flags_text(h.flags),))
    tail = []
    if a.tolerance_n is not None:
        if a.over_tolerance:
            tail.append(f"over tolerance ({len(a.over_tolerance)}):")
            for o in a.over_tolerance:
                tail.append(f"  {o.start_s:.2f}-{o.end_s:.2f} s ({o.duration_s:.2f} s), peak {o.peak_N:.1f} N")
        else:
            tail.append("never over tolerance")
    return head, rows, tail
