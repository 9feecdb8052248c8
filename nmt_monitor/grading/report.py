"""The instructor's report: static HTML with relative links, PNG pictures, gradebook CSVs.

    DIR/index.html             class overview: score distribution, progress, students, sessions
    DIR/students/<name>.html   one student's progress across sessions
    DIR/sessions/<name>.html   one session: its holds, a picture of each
    DIR/img/*.png              the pictures
    DIR/gradebook.csv          one row per session (student, date, sub-skills, score, pass)
    DIR/holds.csv              one row per hold
    DIR/rubric.json            the rubric the scores were computed with
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
from html import escape

from nmt_monitor import __version__
from nmt_monitor.grading.batch import slug
from nmt_monitor.grading.rubric import SUBSKILLS, Rubric
from nmt_monitor.grading.scoring import SUBSKILL_LABELS, SessionGrade, StudentGrade
from nmt_monitor.safetext import spreadsheet_row

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1100px;
     padding:0 1em;color:#1f2328}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
.meta{color:#57606a;font-size:.9em}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #eaeef2;text-align:right;white-space:nowrap}
th{background:#f6f8fa} td.l,th.l{text-align:left}
.good{color:#1a7f37;font-weight:600} .mid{color:#9a6700;font-weight:600} .bad{color:#cf222e;font-weight:600}
.hold{margin:1em 0 1.6em} .hold img{max-width:100%;border:1px solid #d0d7de}
nav a{margin-right:1em} .note{color:#57606a;font-style:italic}
"""


def _cls(score: float | None, pass_score: float) -> str:
    if score is None:
        return ""
    return "good" if score >= pass_score else "mid" if score >= 60 else "bad"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f}"


def _num(v, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def _page(title: str, body: str, up: str = "") -> str:
    nav = f'<nav><a href="{up}index.html">class overview</a><a href="{up}gradebook.csv">gradebook.csv</a>' \
          f'<a href="{up}holds.csv">holds.csv</a><a href="{up}rubric.json">rubric</a></nav>'
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>\n{nav}\n{body}\n"
            f"<p class=\"meta\">nmt-monitor {escape(__version__)} · generated "
            f"{escape(_dt.datetime.now().strftime('%Y-%m-%d %H:%M'))}</p></body></html>\n")


def _date(s: SessionGrade) -> str:
    if s.start_epoch_s is not None:
        return _dt.datetime.fromtimestamp(s.start_epoch_s).strftime("%Y-%m-%d %H:%M")
    return s.start_time[:16].replace("T", " ")


def _student_file(name: str) -> str:
    return f"{slug(name)}.html"


def _session_file(s: SessionGrade) -> str:
    return f"{slug(s.label.replace('/', '--'))}.html"


def _href(path: str) -> str:
    from urllib.parse import quote

    return escape(quote(path))


def _session_rows(sessions: list[SessionGrade], rubric: Rubric, up: str, with_student: bool = True) -> str:
    head = ("<tr>" + ('<th class="l">student</th>' if with_student else "") + '<th class="l">session</th>'
            '<th class="l">date</th><th>holds</th>' + "".join(f"<th>{SUBSKILL_LABELS[k]} %</th>" for k in SUBSKILLS)
            + "<th>over tol. s</th><th>score</th><th>pass</th></tr>")
    rows = []
    for s in sessions:
        m = s.subskill_means()
        over = sum(h.time_over_tolerance_s for h in s.holds) + s.outside_over_tolerance_s
        student = f'<td class="l"><a href="{up}students/{_href(_student_file(s.student))}">{escape(s.student)}</a></td>' \
            if with_student else ""
        rows.append(
            "<tr>" + student
            + f'<td class="l"><a href="{up}sessions/{_href(_session_file(s))}">{escape(s.label)}</a></td>'
            f'<td class="l">{escape(_date(s))}</td><td>{len(s.holds)}</td>'
            + "".join(f"<td>{_pct(m[k])}</td>" for k in SUBSKILLS)
            + f"<td>{over:.1f}</td><td class=\"{_cls(s.score, rubric.pass_score)}\">{s.score:.0f}</td>"
            f"<td>{'yes' if s.passed else 'no'}</td></tr>")
    return "<table>" + head + "".join(rows) + "</table>"


def _index(sessions, students: list[StudentGrade], rubric: Rubric, skipped=()) -> str:
    n_pass = sum(s.passed for s in sessions)
    improving = [st for st in students if st.improving]
    declining = [st for st in students if st.trend is not None and st.trend <= -rubric.progress.improving_points_per_session]
    body = [f"<h1>Grading report: {len(students)} students, {len(sessions)} sessions</h1>",
            f'<p class="meta">rubric <b>{escape(rubric.name)}</b> ({escape(rubric.source)}): '
            f"{escape(rubric.description)} Pass mark {rubric.pass_score:g}.</p>",
            "<h2>Class overview</h2>",
            f"<p>{n_pass} of {len(sessions)} sessions pass. "
            f"Improving (trend ≥ {rubric.progress.improving_points_per_session:g} points/session): "
            + (", ".join(f'<a href="students/{_href(_student_file(st.name))}">{escape(st.name)}</a> '
                         f"({st.trend:+.1f})" for st in improving) or "nobody")
            + ". Declining: "
            + (", ".join(f'<a href="students/{_href(_student_file(st.name))}">{escape(st.name)}</a> '
                         f"({st.trend:+.1f})" for st in declining) or "nobody") + ".</p>",
            '<p><img src="img/distribution.png" alt="distribution of session scores"> '
            '<img src="img/class-progress.png" alt="scores across sessions, per student"></p>',
            "<h2>Students</h2>",
            '<table><tr><th class="l">student</th><th>sessions</th><th>mean</th><th>first</th><th>last</th>'
            "<th>trend / session</th><th>improving</th><th>passed</th></tr>"]
    for st in students:
        imp = "–" if st.improving is None else ("yes" if st.improving else "no")
        body.append(
            f'<tr><td class="l"><a href="students/{_href(_student_file(st.name))}">{escape(st.name)}</a></td>'
            f"<td>{len(st.sessions)}</td><td class=\"{_cls(st.mean, rubric.pass_score)}\">{st.mean:.0f}</td>"
            f"<td>{st.first:.0f}</td><td class=\"{_cls(st.last, rubric.pass_score)}\">{st.last:.0f}</td>"
            f"<td>{_num(st.trend, '+.1f')}</td><td>{imp}</td>"
            f"<td>{sum(s.passed for s in st.sessions)}/{len(st.sessions)}</td></tr>")
    body.append("</table>")
    body.append("<h2>Sessions</h2>")
    ordered = sorted(sessions, key=lambda s: (s.student, s.start_epoch_s or 0, s.label))
    body.append(_session_rows(ordered, rubric, ""))
    if skipped:
        body.append(f"<h2>Not graded ({len(skipped)})</h2>")
        body.append("<ul>" + "".join(f"<li>{escape(x.message)}</li>" for x in skipped) + "</ul>")
    return _page("Grading report", "\n".join(body))


def _student_page(st: StudentGrade, rubric: Rubric) -> str:
    trend = "" if st.trend is None else f", trend {st.trend:+.1f} points/session" + (
        " (improving)" if st.improving else "")
    body = [f"<h1>{escape(st.name)}</h1>",
            f'<p class="meta">{len(st.sessions)} sessions, mean score {st.mean:.0f}, first {st.first:.0f}, '
            f"last {st.last:.0f}{escape(trend)}</p>",
            f'<p><img src="../img/{_href("student-" + slug(st.name) + ".png")}" alt="progress of {escape(st.name)}"></p>',
            "<h2>Sessions</h2>", _session_rows(st.sessions, rubric, "../", with_student=False)]
    return _page(st.name, "\n".join(body), "../")


def _session_page(s: SessionGrade, rubric: Rubric) -> str:
    band = "none" if s.band_N is None else f"{s.band_N[0]:g}–{s.band_N[1]:g} N ({s.band_source})"
    body = [f"<h1>{escape(s.label)} <span class=\"{_cls(s.score, rubric.pass_score)}\">{s.score:.0f}</span></h1>",
            f'<p class="meta">student <a href="../students/{_href(_student_file(s.student))}">{escape(s.student)}</a>'
            f" · client {escape(s.client or '–')} · site {escape(s.site or '–')} · {escape(_date(s))} · "
            f"{s.duration_s:.0f} s recorded<br>target band {escape(band)} · hold window "
            f"{s.hold_window_s[0]:g}–{s.hold_window_s[1]:g} s · tolerance {_num(s.tolerance_N, 'g')} N · "
            f"file {escape(s.source)}</p>"]
    for note in s.notes:
        body.append(f'<p class="note">{escape(note)}</p>')
    if s.outside_penalty:
        body.append(f'<p class="bad">over tolerance outside holds: {s.outside_over_tolerance_s:.1f} s in '
                    f"{s.outside_episodes} episode(s), −{s.outside_penalty:.0f} points</p>")
    body.append('<table><tr><th>hold</th><th>start s</th><th>dur s</th><th>mean N</th><th>CV %</th><th>drift %</th>'
                + "".join(f"<th>{SUBSKILL_LABELS[k]} %</th>" for k in SUBSKILLS)
                + '<th>over tol. s</th><th>penalty</th><th>score</th><th class="l">flags</th></tr>')
    for h in s.holds:
        body.append(f'<tr><td><a href="#hold{h.index}">{h.index}</a></td><td>{h.start_s:.1f}</td>'
                    f"<td>{h.duration_s:.1f}</td><td>{h.mean_N:.1f}</td><td>{_num(h.cv_pct)}</td>"
                    f"<td>{_num(h.drift_pct, '+.1f')}</td>"
                    + "".join(f"<td>{_pct(h.scores.get(k))}</td>" for k in SUBSKILLS)
                    + f"<td>{h.time_over_tolerance_s:.1f}</td><td>{'FAIL' if h.failed else f'{h.penalty:.0f}'}</td>"
                    f"<td class=\"{_cls(h.composite, rubric.pass_score)}\">{h.composite:.0f}</td>"
                    f'<td class="l">{escape(", ".join(h.flags))}</td></tr>')
    body.append("</table>")
    for h in s.holds:
        body.append(f'<div class="hold" id="hold{h.index}"><h2>Hold {h.index}: {h.composite:.0f}</h2>')
        if h.image:
            body.append(f'<img src="../img/{_href(h.image)}" alt="force trace of hold {h.index}">')
        body.append("</div>")
    return _page(f"{s.student}: {s.label}", "\n".join(body), "../")


GRADEBOOK_COLUMNS = ("student", "session", "date", "source", "client", "site", "holds") + tuple(
    f"{k}_pct" for k in SUBSKILLS) + ("over_tolerance_s", "score", "pass", "rubric")
HOLDS_COLUMNS = ("student", "session", "hold", "start_s", "end_s", "duration_s", "mean_N", "cv_pct", "drift_pct",
                 "ramp_in_s", "overshoot_pct", "time_over_tolerance_s") + tuple(f"{k}_pct" for k in SUBSKILLS) + (
    "penalty", "failed", "score", "flags")


def write_gradebook(path, sessions: list[SessionGrade], rubric: Rubric) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(GRADEBOOK_COLUMNS)
        for s in sorted(sessions, key=lambda s: (s.student, s.start_epoch_s or 0, s.label)):
            m = s.subskill_means()
            over = sum(h.time_over_tolerance_s for h in s.holds) + s.outside_over_tolerance_s
            w.writerow(spreadsheet_row([s.student, s.label, _date(s), s.source, s.client, s.site, len(s.holds)]
                                       + ["" if m[k] is None else round(100 * m[k], 1) for k in SUBSKILLS]
                                       + [round(over, 2), s.score, "yes" if s.passed else "no", rubric.name]))


def write_holds_csv(path, sessions: list[SessionGrade]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HOLDS_COLUMNS)
        for s in sessions:
            for h in s.holds:
                w.writerow(spreadsheet_row(
                    [s.student, s.label, h.index, round(h.start_s, 3), round(h.end_s, 3),
                     round(h.duration_s, 3), round(h.mean_N, 3), _r(h.cv_pct), _r(h.drift_pct),
                     _r(h.ramp_in_s), _r(h.overshoot_pct), round(h.time_over_tolerance_s, 3)]
                    + ["" if h.scores.get(k) is None else round(100 * h.scores[k], 1) for k in SUBSKILLS]
                    + [round(h.penalty, 1), "yes" if h.failed else "no", round(h.composite, 1), ";".join(h.flags)]))


def _r(v, digits: int = 3):
    return "" if v is None else round(v, digits)


def write_report(out_dir, sessions: list[SessionGrade], students: list[StudentGrade], rubric: Rubric,
                 skipped=()) -> str:
    """Write the report (hold pictures must already be in ``out_dir/img``); returns index.html's path.
    ``skipped``: files that could not be graded (``research.Skipped``), listed on the overview."""
    from nmt_monitor.grading import plots

    img = os.path.join(out_dir, "img")
    for sub in ("img", "students", "sessions"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    plots.distribution_png(os.path.join(img, "distribution.png"), [s.score for s in sessions], rubric.pass_score)
    plots.class_progress_png(os.path.join(img, "class-progress.png"), students, rubric.pass_score)
    for st in students:
        plots.student_progress_png(os.path.join(img, f"student-{slug(st.name)}.png"), st, rubric.pass_score)
        with open(os.path.join(out_dir, "students", _student_file(st.name)), "w", encoding="utf-8") as fh:
            fh.write(_student_page(st, rubric))
    for s in sessions:
        with open(os.path.join(out_dir, "sessions", _session_file(s)), "w", encoding="utf-8") as fh:
            fh.write(_session_page(s, rubric))
    write_gradebook(os.path.join(out_dir, "gradebook.csv"), sessions, rubric)
    write_holds_csv(os.path.join(out_dir, "holds.csv"), sessions)
    with open(os.path.join(out_dir, "rubric.json"), "w", encoding="utf-8") as fh:
        json.dump({"source": rubric.source, **rubric.to_dict()}, fh, indent=2)
        fh.write("\n")
    index = os.path.join(out_dir, "index.html")
    with open(index, "w", encoding="utf-8") as fh:
        fh.write(_index(sessions, students, rubric, skipped))
    return index
