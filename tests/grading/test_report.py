"""`nmt-monitor grade --report`: the HTML report, its pictures (valid PNGs) and links, the gradebook."""

from __future__ import annotations

import csv
from html.parser import HTMLParser
from urllib.parse import unquote, urlparse

import pytest

from nmt_monitor.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        for key in ("href", "src"):
            if a.get(key):
                self.links.append((tag, a[key]))


@pytest.mark.slow  # renders a whole report with pictures
def test_report_files(report):
    for name in ("index.html", "gradebook.csv", "holds.csv", "rubric.json", "img/distribution.png",
                 "img/class-progress.png"):
        assert (report / name).is_file(), name
    assert len(list((report / "students").glob("*.html"))) == 6
    assert len(list((report / "img" / "students").glob("*.png"))) == 6
    assert len(list((report / "sessions").glob("*.html"))) == 18


@pytest.mark.slow  # renders a whole report with pictures
def test_every_link_resolves(report):
    pages = list(report.rglob("*.html"))
    n_links = 0
    for page in pages:
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        for tag, link in parser.links:
            u = urlparse(link)
            assert not u.scheme and not u.netloc and not link.startswith("/"), f"{page}: absolute link {link}"
            if u.path:
                target = (page.parent / unquote(u.path)).resolve()
                assert target.is_file(), f"{page.relative_to(report)}: {tag} {link} does not resolve"
                assert report.resolve() in target.parents, f"{page}: {link} leaves the report"
            if u.fragment:
                assert u.fragment in parser.ids or u.path, f"{page}: #{u.fragment} missing"
            n_links += 1
    assert n_links > 100


@pytest.mark.slow  # renders a whole report with pictures
def test_hold_pictures_are_valid_pngs(report):
    import matplotlib.image as mpimg

    images = sorted((report / "img").rglob("*.png"))
    holds = list(csv.DictReader((report / "holds.csv").open(encoding="utf-8")))
    hold_images = sorted((report / "img" / "holds").glob("*-hold*.png"))
    assert len(hold_images) == len(holds) > 30
    for p in images:
        with open(p, "rb") as fh:
            assert fh.read(8) == PNG_SIGNATURE, p
    for p in hold_images[:: max(1, len(hold_images) // 6)] + images[:2]:
        a = mpimg.imread(p)
        assert a.ndim == 3 and a.shape[0] >= 350 and a.shape[1] >= 800  # large enough to read
        assert a[..., :3].std() > 0.05  # something is drawn


@pytest.mark.slow  # renders a whole report with pictures
def test_every_hold_picture_is_on_its_session_page(report):
    for page in (report / "sessions").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        n_rows = text.count('<tr><td><a href="#hold')
        assert text.count('<img src="../img/') == n_rows


@pytest.mark.slow  # renders a whole report with pictures
def test_gradebook(report, graded):
    rows = list(csv.DictReader((report / "gradebook.csv").open(encoding="utf-8")))
    assert len(rows) == 18
    assert {r["student"] for r in rows} == set(graded[2])
    by = {}
    for r in rows:
        by.setdefault(r["student"], []).append(float(r["score"]))
        assert r["pass"] in ("yes", "no") and 0 <= float(r["score"]) <= 100
    assert min(by["student good"]) > max(by["student drifting"])
    idx = (report / "index.html").read_text(encoding="utf-8")
    assert "improving: <a" in idx and "student improving</a>" in idx.split("improving: ", 1)[1].split(";")[0]


def test_table_output(cohort, capsys):
    rc = main(["grade", str(cohort / "student-good"), str(cohort / "student-short"), "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0
    assert "Holds" in out.out and "Sessions" in out.out and "Students" in out.out
    assert out.err == ""
    students = out.out.split("Students", 1)[1]
    assert "student good" in students and "student short" in students


def test_show_rubric(capsys):
    assert main(["grade", "--show-rubric"]) == 0
    assert "[weights]" in capsys.readouterr().out
