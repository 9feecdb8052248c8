"""``nmt-monitor grade``: score students' holds against a rubric; an HTML report for instructors."""

from __future__ import annotations

import argparse
import os
import sys

from nmt_monitor.commands.argtypes import worker_count
from nmt_monitor.commands.batch import BATCH_EXIT_CODES, BatchHelpFormatter, report_skipped

HELP = "score holds per hold, session and student against a rubric; HTML report and gradebook"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "grade",
        help=HELP,
        description=(
            "Score every hold in the recordings against a rubric ('grade --show-rubric' prints it): each sub-skill "
            "(target band, duration, steadiness, drift, ramp-in) as the share of the hold in target, "
            "near misses earning partial credit, and a composite 0-100 with over-tolerance penalties. "
            "Sessions are grouped into students by their therapist metadata. Folders are searched "
            "recursively for .h5 sessions and .csv recordings. A file that cannot be read is named on "
            "stderr (one line) and skipped; the others are graded."
        ),
        epilog=BATCH_EXIT_CODES,
        formatter_class=BatchHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", metavar="PATH", help="session files (.h5, .csv), or folders of them")
    parser.add_argument("--rubric", metavar="FILE.toml",
                        help="rubric file; only the fields it sets change the shipped defaults")
    parser.add_argument("--report", metavar="DIR",
                        help="write an HTML report (DIR/index.html), hold pictures and gradebook.csv into DIR")
    parser.add_argument("--jobs", "-j", type=worker_count, metavar="N", help="worker processes (default: one per CPU)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal)")
    parser.add_argument("--no-holds", dest="show_holds", action="store_false",
                        help="print only the session and student tables")
    parser.add_argument("--show-rubric", action="store_true",
                        help="print the shipped default rubric (TOML, every field commented) and exit")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from nmt_monitor.errors import UserError
    from nmt_monitor.grading.rubric import default_rubric_text, load_rubric

    if args.show_rubric:
        sys.stdout.write(default_rubric_text())
        return 0
    if not args.paths:
        raise UserError("grade: give at least one recording or folder (PATH...)")
    rubric = load_rubric(args.rubric)
    from nmt_monitor.loaders import expand_paths

    files = expand_paths(args.paths)
    for f in files:
        if not os.path.exists(f):
            raise UserError(f"{f}: no such file")
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    image_dir = None
    if args.report:
        from nmt_monitor.storage.paths import check_output_dir

        # before grading: a dangling link, a name too long, a folder that cannot be written
        check_output_dir(args.report, "--report")
        image_dir = os.path.join(args.report, "img")
        try:
            os.makedirs(image_dir, exist_ok=True)
        except OSError as exc:
            raise UserError(f"--report {args.report}: cannot create the directory ({exc.strerror or exc})") from None
    from nmt_monitor.grading.batch import grade_paths

    skipped: list = []
    sessions, students = grade_paths(files, rubric, image_dir=image_dir, jobs=args.jobs, progress=progress,
                                     skipped=skipped)
    if not sessions:
        return report_skipped(skipped, len(files), 0, "graded")
    out = sys.stdout
    from nmt_monitor.console import is_terminal

    if is_terminal(out):
        print_rich_tables(sessions, students, rubric, show_holds=args.show_holds, out=out)
    else:
        out.write(tables(sessions, students, rubric, show_holds=args.show_holds))
    out.flush()
    if args.report:
        from nmt_monitor.grading.report import write_report

        try:
            index = write_report(args.report, sessions, students, rubric, skipped=skipped, jobs=args.jobs,
                                 progress=progress)
        except OSError as exc:  # a full disk, a folder removed meanwhile
            raise UserError(f"--report {args.report}: cannot write the report ({exc.strerror or exc})") from None
        print(f"report: {index}", file=sys.stderr)
    return report_skipped(skipped, len(files), len(sessions), "graded")


def _p(v) -> str:
    return "-" if v is None else f"{100 * v:.0f}"


def tables(sessions, students, rubric, show_holds: bool = True) -> str:
    """The tables as plain aligned text (stdout not a terminal)."""
    from nmt_monitor.console import plain_table

    heading, sections = table_sections(sessions, students, rubric, show_holds)
    lines = [heading]
    for title, rows, left in sections:
        lines += ["", title] + plain_table(rows, left=left)
    return "\n".join(lines) + "\n"


def print_rich_tables(sessions, students, rubric, show_holds: bool = True, out=None) -> None:
    """The same tables drawn with rich (stdout a terminal)."""
    from rich.text import Text

    from nmt_monitor.console import print_rich, rich_table

    heading, sections = table_sections(sessions, students, rubric, show_holds)
    items = [Text(heading, style="dim")]
    for title, rows, left in sections:
        items += [Text(""), rich_table(rows, left=left, title=title)]
    print_rich(*items, file=out)


def table_sections(sessions, students, rubric, show_holds: bool = True):
    """(heading, [(title, rows with a header row, left-aligned leading columns)])."""
    from nmt_monitor.flags import flags_text
    from nmt_monitor.grading.report import NOT_GRADED, _date
    from nmt_monitor.grading.rubric import SUBSKILLS
    from nmt_monitor.grading.scoring import SCORE_HEADERS

    heading = (f"rubric: {rubric.name} ({rubric.source}); sub-skill scores and scores 0-100 (100: all in target), "
               f"pass {rubric.pass_score:g}")
    sections = []
    if show_holds:
        rows = [("student", "session", "hold", "start s", "dur s", "mean N", "CV %", "drift %")
                + tuple(SCORE_HEADERS[k] for k in SUBSKILLS) + ("over s", "penalty", "score", "flags")]
        for s in sessions:
            for h in s.holds:
                rows.append((s.student, s.label, str(h.index), f"{h.start_s:.1f}", f"{h.duration_s:.1f}",
                             f"{h.mean_N:.1f}", f"{h.cv_pct:.1f}", f"{h.drift_pct:+.1f}")
                            + tuple(_p(h.scores.get(k)) for k in SUBSKILLS)
                            + (f"{h.time_over_tolerance_s:.1f}", "FAIL" if h.failed else f"{h.penalty:.0f}",
                               f"{h.composite:.0f}", flags_text(h.flags, ",")))
        sections.append(("Holds", rows, 2))
    rows = [("student", "session", "date", "holds") + tuple(SCORE_HEADERS[k] for k in SUBSKILLS)
            + ("score", "pass", "notes")]
    for s in sorted(sessions, key=lambda s: (s.student, s.start_epoch_s or 0, s.label)):
        m = s.subskill_means()
        rows.append((s.student, s.label, _date(s) or "-", str(len(s.holds))) + tuple(_p(m[k]) for k in SUBSKILLS)
                    + (NOT_GRADED if s.score is None else f"{s.score:.0f}",
                       NOT_GRADED if s.passed is None else ("yes" if s.passed else "no"), "; ".join(s.notes) or "-"))
    sections.append(("Sessions", rows, 3))
    rows = [("student", "graded", "mean", "first", "last", "trend/session", "± (s.e.)", "progress")]
    for st in students:
        rows.append((st.name, f"{len(st.graded_sessions)}/{len(st.sessions)}", _n(st.mean), _n(st.first), _n(st.last),
                     "-" if st.trend is None else f"{st.trend:+.1f}",
                     "-" if st.trend_se is None else f"{st.trend_se:.1f}", st.progress))
    sections.append(("Students", rows, 1))
    return heading, sections


def _n(v) -> str:
    return "-" if v is None else f"{v:.0f}"
