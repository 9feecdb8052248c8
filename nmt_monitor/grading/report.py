"""The instructor's report: static HTML with relative links, PNG pictures, gradebook CSVs.

    DIR/index.html                 class overview: weakest sub-skills and who needs help, score
                                   distribution, progress, students, sessions
    DIR/students/<name>.html       one student: written feedback, progress across sessions
    DIR/sessions/<name>.html       one session: its settings, its holds, a picture of each
    DIR/img/students/<name>.png    a student's progress
    DIR/img/holds/<name>-holdN.png a hold
    DIR/img/*.png                  the class pictures
    DIR/gradebook.csv              one row per session (student, date, sub-skill scores, score, pass)
    DIR/holds.csv                  one row per hold
    DIR/rubric.json                the rubric the scores were computed with

Page and picture names are readable and unique (``grading.names``); every link is relative.
The pages print on A4 and Letter, portrait: every table fits the page width or wraps.
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import os
from html import escape

from nmt_monitor import __version__
from nmt_monitor.flags import flags_text
from nmt_monitor.grading.batch import HOLD_IMAGES, STUDENT_IMAGES
from nmt_monitor.grading.feedback import class_overview, student_feedback
from nmt_monitor.grading.rubric import SUBSKILLS, Rubric
from nmt_monitor.grading.scoring import SCORE_COLUMNS, SCORE_HEADERS, SessionGrade, StudentGrade
from nmt_monitor.safetext import spreadsheet_row

NOT_GRADED = "not graded"

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1100px;
     padding:0 1em;color:#1f2328;line-height:1.35}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #d0d7de}
.meta{color:#57606a;font-size:.9em}
.wide{overflow-x:auto}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
th,td{padding:.25em .6em;border-bottom:1px solid #eaeef2;text-align:right;vertical-align:top}
td{white-space:nowrap} td.l,th.l{text-align:left} td.w{white-space:normal;min-width:8em}
th{background:#f6f8fa;font-weight:600;vertical-align:bottom}
.good{color:#1a7f37;font-weight:600} .mid{color:#9a6700;font-weight:600} .bad{color:#cf222e;font-weight:600}
.hold{margin:1em 0 1.6em;break-inside:avoid} .hold img{max-width:100%;height:auto;border:1px solid #d0d7de}
figure{margin:.8em 0} figure img{max-width:100%;height:auto} figcaption{color:#57606a;font-size:.85em}
nav a{margin-right:1em} .note{color:#57606a;font-style:italic}
ul.feedback li{margin:.2em 0}
@media print{
  @page{margin:12mm 10mm}
  body{max-width:none;margin:0;padding:0;font-size:9pt}
  nav{display:none}
  h2{break-after:avoid}
  .wide{overflow:visible}
  table{width:100%;font-size:7.5pt;table-layout:auto}
  th,td{padding:.15em .25em;white-space:normal}
  td.w{overflow-wrap:anywhere}
  td.l a{color:inherit;text-decoration:none}
  tr,img,figure{break-inside:avoid}
  img{max-width:100%}
  .hold{break-inside:avoid;page-break-inside:avoid}
  a{color:inherit}
}
"""


def _cls(score: float | None, pass_score: float) -> str:
    if score is None:
        return ""
    return "good" if score >= pass_score else "mid" if score >= 60 else "bad"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.0f}"


def _num(v, spec: str = ".1f") -> str:
    return "–" if v is None else format(v, spec)


def _score(v: float | None, spec: str = ".0f") -> str:
    return NOT_GRADED if v is None else format(v, spec)


def _passed(s: SessionGrade) -> str:
    return NOT_GRADED if s.passed is None else ("yes" if s.passed else "no")


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


def _href(path: str) -> str:
    from urllib.parse import quote

    return escape(quote(path))


def _table(head: str, rows: list[str]) -> str:
    return f'<div class="wide"><table><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table></div>'


def _student_link(st_pages: dict, name: str, up: str) -> str:
    return f'<a href="{up}students/{_href(st_pages[name] + ".html")}">{escape(name)}</a>'


def _progress_text(st: StudentGrade) -> str:
    if st.trend is None:
        return st.progress
    se = "" if st.trend_se is None else f" ± {st.trend_se:.1f}"
    return f"{st.progress}: {st.trend:+.1f}{se} points/session"


def _session_rows(sessions: list[SessionGrade], rubric: Rubric, up: str, st_pages: dict,
                  with_student: bool = True) -> str:
    head = ("<tr>" + ('<th class="l">student</th>' if with_student else "") + '<th class="l">session</th>'
            '<th class="l">date</th><th>holds</th>' + "".join(f"<th>{SCORE_HEADERS[k]}</th>" for k in SUBSKILLS)
            + "<th>over tol. s</th><th>score</th><th>pass</th></tr>")
    rows = []
    for s in sessions:
        m = s.subskill_means()
        student = f'<td class="l w">{_student_link(st_pages, s.student, up)}</td>' if with_student else ""
        rows.append(
            "<tr>" + student
            + f'<td class="l w"><a href="{up}sessions/{_href(s.page + ".html")}">{escape(s.label)}</a></td>'
            f'<td class="l">{escape(_date(s))}</td><td>{len(s.holds)}</td>'
            + "".join(f"<td>{_pct(m[k])}</td>" for k in SUBSKILLS)
            + f"<td>{s.over_tolerance_s:.1f}</td><td class=\"{_cls(s.score, rubric.pass_score)}\">{_score(s.score)}</td>"
            f"<td>{_passed(s)}</td></tr>")
    return _table(head, rows)


def _overview(students: list[StudentGrade], rubric: Rubric, st_pages: dict) -> str:
    rows = class_overview(students, rubric)
    mark = rubric.feedback.needs_help_below_pct
    scored = [r for r in rows if r.class_mean is not None]
    out = []
    if scored:
        w = scored[0]
        out.append(f"<p>The class is weakest on <b>{escape(w.label)}</b> (class mean {w.class_mean:.0f} %); "
                   f"{len(w.needs_help)} of {len(students)} students score below {mark:g} % on it.</p>")
    body = []
    for r in rows:
        who = ", ".join(f"{_student_link(st_pages, st.name, '')} ({v:.0f})" for st, v in r.needs_help) or "nobody"
        body.append(f'<tr><td class="l">{escape(r.label)}</td><td>{_num(r.class_mean, ".0f")}</td>'
                    f"<td>{len(r.needs_help)}</td><td class=\"l w\">{who}</td></tr>")
    out.append(_table('<tr><th class="l">sub-skill</th><th>class mean score</th>'
                      f'<th>students below {mark:g}</th><th class="l">who needs help (their score)</th></tr>', body))
    return "\n".join(out)


def _index(sessions, students: list[StudentGrade], rubric: Rubric, st_pages: dict, skipped=()) -> str:
    graded = [s for s in sessions if s.graded]
    n_pass = sum(bool(s.passed) for s in graded)
    by_label: dict[str, list[StudentGrade]] = {}
    for st in students:
        by_label.setdefault(st.progress, []).append(st)
    progress = "; ".join(
        f"{label}: " + ", ".join(_student_link(st_pages, st.name, "") for st in by_label[label])
        for label in ("improving", "declining", "steady at the top", "steady", "unclear") if label in by_label)
    ungraded = len(sessions) - len(graded)
    body = [f"<h1>Grading report: {len(students)} students, {len(sessions)} sessions</h1>",
            f'<p class="meta">rubric <b>{escape(rubric.name)}</b> ({escape(rubric.source)}): '
            f"{escape(rubric.description)} Pass mark {rubric.pass_score:g}.</p>",
            "<h2>Class overview</h2>",
            f"<p>{n_pass} of {len(graded)} graded sessions pass"
            + (f"; {ungraded} session(s) had no holds and are not graded" if ungraded else "") + ". "
            + (f"Progress — {progress}." if progress else "") + "</p>",
            "<h3>By sub-skill</h3>", _overview(students, rubric, st_pages),
            '<figure><img src="img/distribution.png" alt="distribution of session scores" width="800" height="400">'
            '<figcaption>Session scores, with the pass mark.</figcaption></figure>',
            '<figure><img src="img/class-progress.png" alt="scores across sessions, per student" width="900" '
            'height="450"><figcaption>Every student\'s scores by session date (grey), the class median, '
            'the pass mark.</figcaption></figure>',
            "<h2>Students</h2>"]
    rows = []
    for st in students:
        rows.append(
            f'<tr><td class="l w">{_student_link(st_pages, st.name, "")}</td>'
            f"<td>{len(st.graded_sessions)}/{len(st.sessions)}</td>"
            f"<td class=\"{_cls(st.mean, rubric.pass_score)}\">{_score(st.mean)}</td>"
            f"<td>{_score(st.first)}</td><td class=\"{_cls(st.last, rubric.pass_score)}\">{_score(st.last)}</td>"
            f'<td class="l w">{escape(_progress_text(st))}</td>'
            f"<td>{sum(bool(s.passed) for s in st.sessions)}/{len(st.graded_sessions)}</td></tr>")
    body.append(_table('<tr><th class="l">student</th><th>graded / sessions</th><th>mean</th><th>first</th>'
                       '<th>last</th><th class="l">progress (trend per session)</th><th>passed</th></tr>', rows))
    body.append("<h2>Sessions</h2>")
    ordered = sorted(sessions, key=lambda s: (s.student, s.start_epoch_s or 0, s.label))
    body.append(_session_rows(ordered, rubric, "", st_pages))
    if skipped:
        body.append(f"<h2>Not graded ({len(skipped)}): files that could not be read</h2>")
        body.append("<ul>" + "".join(f"<li>{escape(x.message)}</li>" for x in skipped) + "</ul>")
    return _page("Grading report", "\n".join(body))


def _student_page(st: StudentGrade, rubric: Rubric, st_pages: dict) -> str:
    stats = (f"{len(st.graded_sessions)} graded of {len(st.sessions)} sessions"
             + ("" if st.mean is None else f", mean score {st.mean:.0f}, first {st.first:.0f}, last {st.last:.0f}")
             + f"; progress: {_progress_text(st)}")
    fb = "".join(f"<li>{escape(line)}</li>" for line in student_feedback(st, rubric))
    body = [f"<h1>{escape(st.name)}</h1>", f'<p class="meta">{escape(stats)}</p>',
            "<h2>Feedback</h2>", f'<ul class="feedback">{fb}</ul>',
            f'<figure><img src="../img/{_href(STUDENT_IMAGES + "/" + st.page + ".png")}" '
            f'alt="score and sub-skill scores of {escape(st.name)} by session" width="900" height="420"></figure>',
            "<h2>Sessions</h2>", _session_rows(st.sessions, rubric, "../", st_pages, with_student=False)]
    return _page(st.name, "\n".join(body), "../")


def _hold_rows(s: SessionGrade, rubric: Rubric) -> str:
    head = ('<tr><th>hold</th><th>start s</th><th>duration s</th><th>mean N</th><th>CV %</th><th>drift %</th>'
            + "".join(f"<th>{SCORE_HEADERS[k]}</th>" for k in SUBSKILLS)
            + '<th>over tol. s</th><th>penalty</th><th>score</th><th class="l">flags</th></tr>')
    rows = []
    for h in s.holds:
        rows.append(f'<tr><td><a href="#hold{h.index}">{h.index}</a></td><td>{h.start_s:.1f}</td>'
                    f"<td>{h.duration_s:.1f}</td><td>{h.mean_N:.1f}</td><td>{_num(h.cv_pct)}</td>"
                    f"<td>{_num(h.drift_pct, '+.1f')}</td>"
                    + "".join(f"<td>{_pct(h.scores.get(k))}</td>" for k in SUBSKILLS)
                    + f"<td>{h.time_over_tolerance_s:.1f}</td><td>{'FAIL' if h.failed else f'{h.penalty:.0f}'}</td>"
                    f"<td class=\"{_cls(h.composite, rubric.pass_score)}\">{h.composite:.0f}</td>"
                    f'<td class="l w">{escape(flags_text(h.flags))}</td></tr>')
    return _table(head, rows)


def _session_page(s: SessionGrade, rubric: Rubric, st_pages: dict) -> str:
    band = "none" if s.band_N is None else f"{s.band_N[0]:g}–{s.band_N[1]:g} N ({s.band_source})"
    body = [f"<h1>{escape(s.label)} <span class=\"{_cls(s.score, rubric.pass_score)}\">{_score(s.score)}</span></h1>",
            f'<p class="meta">student {_student_link(st_pages, s.student, "../")}'
            f" · client {escape(s.client or '–')} · site {escape(s.site or '–')} · {escape(_date(s))} · "
            f"{s.duration_s:.0f} s recorded<br>target band {escape(band)} · hold window "
            f"{s.hold_window_s[0]:g}–{s.hold_window_s[1]:g} s · tolerance {_num(s.tolerance_N, 'g')} N · "
            f"file {escape(s.source)}</p>"]
    for note in s.notes:
        body.append(f'<p class="note">{escape(note)}</p>')
    if s.outside_penalty:
        body.append(f'<p class="bad">over tolerance outside holds: {s.outside_over_tolerance_s:.1f} s in '
                    f"{s.outside_episodes} episode(s), −{s.outside_penalty:.0f} points</p>")
    if s.holds:
        body.append(_hold_rows(s, rubric))
    for h in s.holds:
        body.append(f'<div class="hold" id="hold{h.index}"><h2>Hold {h.index}: {h.composite:.0f}</h2>')
        scores = " · ".join(f"{SCORE_HEADERS[k]} {_pct(h.scores.get(k))}" for k in SUBSKILLS)
        over = "FAIL: over tolerance" if h.failed else f"over tolerance −{h.penalty:.0f}" if h.penalty else ""
        body.append(f'<p>{escape(scores)}{" · " + escape(over) if over else ""} · flags: '
                    f"{escape(flags_text(h.flags))}</p>")
        for note in h.notes:
            body.append(f'<p class="note">{escape(note)}</p>')
        if h.image:
            body.append(f'<img src="../img/{_href(h.image)}" alt="force trace of hold {h.index}" '
                        'width="900" height="360">')
        body.append("</div>")
    return _page(f"{s.student}: {s.label}", "\n".join(body), "../")


GRADEBOOK_COLUMNS = ("student", "session", "date", "source", "client", "site", "holds") + tuple(
    SCORE_COLUMNS[k] for k in SUBSKILLS) + ("over_tolerance_s", "score", "pass", "notes", "rubric")
HOLDS_COLUMNS = ("student", "session", "hold", "start_s", "end_s", "duration_s", "mean_N", "cv_pct", "drift_pct",
                 "ramp_in_s", "overshoot_pct", "time_over_tolerance_s", "cut_off") + tuple(
    SCORE_COLUMNS[k] for k in SUBSKILLS) + ("over_tolerance_penalty", "failed", "score", "flags")


def write_gradebook(path, sessions: list[SessionGrade], rubric: Rubric) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(GRADEBOOK_COLUMNS)
        for s in sorted(sessions, key=lambda s: (s.student, s.start_epoch_s or 0, s.label)):
            m = s.subskill_means()
            w.writerow(spreadsheet_row([s.student, s.label, _date(s), s.source, s.client, s.site, len(s.holds)]
                                       + ["" if m[k] is None else round(100 * m[k], 1) for k in SUBSKILLS]
                                       + [round(s.over_tolerance_s, 2), "" if s.score is None else s.score,
                                          _passed(s), "; ".join(s.notes), rubric.name]))


def write_holds_csv(path, sessions: list[SessionGrade]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HOLDS_COLUMNS)
        for s in sessions:
            for h in s.holds:
                w.writerow(spreadsheet_row(
                    [s.student, s.label, h.index, round(h.start_s, 3), round(h.end_s, 3),
                     round(h.duration_s, 3), round(h.mean_N, 3), _r(h.cv_pct), _r(h.drift_pct),
                     _r(h.ramp_in_s), _r(h.overshoot_pct), round(h.time_over_tolerance_s, 3),
                     "yes" if h.cut_off else "no"]
                    + ["" if h.scores.get(k) is None else round(100 * h.scores[k], 1) for k in SUBSKILLS]
                    + [round(h.penalty, 1), "yes" if h.failed else "no", round(h.composite, 1),
                       flags_text(h.flags, ";")]))


def _r(v, digits: int = 3):
    return "" if v is None else round(v, digits)


def write_report(out_dir, sessions: list[SessionGrade], students: list[StudentGrade], rubric: Rubric,
                 skipped=(), *, jobs: int | None = 1, progress: bool = False) -> str:
    """Write the report (hold pictures must already be in ``out_dir/img``); returns index.html's path.
    ``skipped``: files that could not be graded (``research.Skipped``), listed on the overview.
    ``jobs``: worker processes for the class and student pictures."""
    from nmt_monitor.grading import plots
    from nmt_monitor.grading.names import unique_stems

    img = os.path.join(out_dir, "img")
    for sub in ("img", os.path.join("img", STUDENT_IMAGES), os.path.join("img", HOLD_IMAGES), "students",
                "sessions"):
        os.makedirs(os.path.join(out_dir, sub), exist_ok=True)
    st_pages = unique_stems(st.name for st in students)
    for st in students:
        st.page = st_pages[st.name]
    pages = unique_stems(s.label for s in sessions)
    for s in sessions:
        s.page = s.page or pages[s.label]
    plots.draw_class_pictures(img, sessions, students, rubric, jobs=jobs, progress=progress)
    for st in students:
        with open(os.path.join(out_dir, "students", st.page + ".html"), "w", encoding="utf-8") as fh:
            fh.write(_student_page(st, rubric, st_pages))
    for s in sessions:
        with open(os.path.join(out_dir, "sessions", s.page + ".html"), "w", encoding="utf-8") as fh:
            fh.write(_session_page(s, rubric, st_pages))
    write_gradebook(os.path.join(out_dir, "gradebook.csv"), sessions, rubric)
    write_holds_csv(os.path.join(out_dir, "holds.csv"), sessions)
    with open(os.path.join(out_dir, "rubric.json"), "w", encoding="utf-8") as fh:
        json.dump({"source": rubric.source, **rubric.to_dict()}, fh, indent=2)
        fh.write("\n")
    index = os.path.join(out_dir, "index.html")
    with open(index, "w", encoding="utf-8") as fh:
        fh.write(_index(sessions, students, rubric, st_pages, skipped))
    return index
