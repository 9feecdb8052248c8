"""The report in a real browser: headless Chromium prints the overview, a student's page and a
session's page on A4 and on Letter (portrait); every column of every table must be on the page,
every link must resolve and every picture must load."""

from __future__ import annotations

import pytest

from .browser import PAPER, Tables, header_rows, missing_tools, os_path, pdf_images, pdf_links, print_pages, read_pdf

pytestmark = [pytest.mark.slow,  # a whole report, and Chromium
              pytest.mark.skipif(bool(missing_tools()), reason=missing_tools() or "-")]


@pytest.fixture(scope="module")
def printed(report, tmp_path_factory):
    """{(page name, paper): (html path, pdf path)} for three pages x two paper sizes, printed at once."""
    out = tmp_path_factory.mktemp("pdf")
    pages = {"index": report / "index.html",
             "student": report / "students" / "student-over_tolerance.html",
             "session": next((report / "sessions").glob("student-over_tolerance-week1*.html"))}
    jobs, result = [], {}
    for name, html in pages.items():
        for paper in PAPER:
            pdf = out / f"{name}-{paper}.pdf"
            jobs.append((html, paper, pdf))
            result[(name, paper)] = (html, pdf)
    print_pages(jobs)
    return result


@pytest.mark.parametrize("paper", list(PAPER))
@pytest.mark.parametrize("name", ["index", "student", "session"])
def test_every_column_of_every_table_is_on_the_page(printed, name, paper):
    html, pdf_path = printed[(name, paper)]
    pdf = read_pdf(pdf_path)
    width, height = PAPER[paper]
    assert pdf.pages and all(abs(w - width) < 2 and abs(h - height) < 2 for w, h in pdf.pages), pdf.pages
    parser = Tables()
    parser.feed(html.read_text(encoding="utf-8"))
    assert parser.tables
    for headers in parser.tables:
        rows = header_rows(pdf, headers)
        assert rows, f"{name} on {paper}: the header row of the table {headers} is not (whole) in the PDF"
        for band in rows:
            outside = [w.text for w in band if w.x0 < 0 or w.x1 > width + 0.5]
            assert not outside, f"{name} on {paper}: {outside} printed beyond the page edge"
    # no word anywhere runs off the page
    assert not [w.text for w in pdf.words if w.x1 > width + 0.5][:5]


@pytest.mark.parametrize("name", ["index", "student", "session"])
def test_every_link_and_picture_resolves_in_the_browser(printed, report, name):
    html, pdf_path = printed[(name, "A4")]
    links = pdf_links(pdf_path)
    assert links, "no links in the printed page"
    n_pages = len(read_pdf(pdf_path).pages)
    for uri in links:
        if ":" not in uri.split("#", 1)[0]:  # within the PDF (an anchor on the page): pdftohtml's "<pdf>.html#<page>"
            assert 1 <= int(uri.rsplit("#", 1)[1]) <= n_pages, uri
            continue
        target = os_path(uri.split("#", 1)[0])
        assert target.is_file(), f"{name}: link {uri} does not resolve"
        assert report.resolve() in target.resolve().parents, f"{name}: link {uri} leaves the report"
    parser = Tables()
    parser.feed(html.read_text(encoding="utf-8"))
    images = pdf_images(pdf_path)
    # every <img> was loaded and drawn at its full size (a missing picture prints as nothing or
    # as a small "broken image" icon)
    assert len(images) == parser.images > 0, (images, parser.images)
    assert all(w >= 800 and h >= 300 for w, h in images), images
