"""Students' pages: unique, readable names, names shown intact, nothing overwritten; the
class overview by sub-skill and each student's written feedback."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import unquote

import pytest

from nmt_monitor.grading.names import unique_stems

NAMES = ["José", "Josè", "Anna Smith", "Anna/Smith", "Zoë Müller", "ЖЖЖ " + " ".join(["long name"] * 30)]  # 303 characters


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.h1 = ""
        self._in_h1 = False
        self.links: list[tuple[str, str]] = []  # (href, link text)
        self._href = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h1":
            self._in_h1 = True
        if tag == "a" and a.get("href"):
            self._href, self._text = a["href"], ""

    def handle_endtag(self, tag):
        if tag == "h1":
            self._in_h1 = False
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text))
            self._href = None

    def handle_data(self, data):
        if self._in_h1:
            self.h1 += data
        if self._href is not None:
            self._text += data


def test_page_names_are_unique_readable_and_stable():
    stems = unique_stems(NAMES + ["anna smith"])
    assert len(set(s.casefold() for s in stems.values())) == len(NAMES) + 1  # no two share a file
    assert stems["Zoë Müller"] == "Zoe-Muller"
    assert stems["José"].startswith("Jose-") and stems["Josè"].startswith("Jose-")
    assert all(len(s) <= 60 and not s.startswith(".") for s in stems.values())
    assert unique_stems(NAMES + ["anna smith"]) == stems  # the same names give the same files
    assert unique_stems(["李雷"])["李雷"] == "李雷" and unique_stems(["CON"])["CON"] == "CON-"


@pytest.fixture(scope="module")
def named_report(tmp_path_factory):
    from nmt_monitor.cli import main
    from nmt_monitor.grading.simulate import EPOCH0, scenario_toml, write_session

    root = tmp_path_factory.mktemp("names")
    for i, name in enumerate(NAMES):
        write_session(root / f"s{i}.h5", scenario_toml("drifting" if i % 2 else "good"), seed=i, therapist=name,
                      start_epoch_s=EPOCH0 + i * 3600.0, rate_hz=100.0)
    out = root / "report"
    assert main(["grade", str(root), "--report", str(out), "--jobs", "1", "--no-progress"]) == 0
    return out


@pytest.mark.slow  # renders a report with pictures
def test_every_student_has_a_page_of_their_own(named_report):
    pages = sorted((named_report / "students").glob("*.html"))
    assert len(pages) == len(NAMES)
    titles = {}
    for p in pages:
        parser = _Page()
        parser.feed(p.read_text(encoding="utf-8"))
        titles[parser.h1] = p.name
    assert set(titles) == set(NAMES)  # every name shown intact, on its own page
    assert titles["Zoë Müller"] == "Zoe-Muller.html"
    # the index links each name to the page that carries that name
    index = _Page()
    index.feed((named_report / "index.html").read_text(encoding="utf-8"))
    student_links = {text: href for href, text in index.links if href.startswith("students/")}
    assert set(student_links) == set(NAMES)
    for name, href in student_links.items():
        target = named_report / unquote(href)
        page = _Page()
        page.feed(target.read_text(encoding="utf-8"))
        assert page.h1 == name
    pictures = list((named_report / "img" / "students").glob("*.png"))
    assert len(pictures) == len(NAMES)


@pytest.mark.slow  # renders a whole report with pictures
def test_feedback_and_class_overview(report):
    """On the simulated class (tests/grading/conftest.py): who needs help with what."""
    drifting = (report / "students" / "student-drifting.html").read_text(encoding="utf-8")
    assert "work on drift: your holds lose" in drifting
    short = (report / "students" / "student-short.html").read_text(encoding="utf-8")
    assert "work on hold time: your holds last" in short
    over = (report / "students" / "student-over_tolerance.html").read_text(encoding="utf-8")
    assert "stay under the client&#x27;s tolerance" in over
    good = (report / "students" / "student-good.html").read_text(encoding="utf-8")
    assert "every sub-skill on target" in good
    index = (report / "index.html").read_text(encoding="utf-8")
    assert "The class is weakest on <b>" in index
    overview = index.split("<h3>By sub-skill</h3>", 1)[1].split("</table>", 1)[0]
    drift_row = next(r for r in overview.split("<tr>") if r.startswith('<td class="l">drift</td>'))
    assert "student drifting" in drift_row and "student good" not in drift_row
