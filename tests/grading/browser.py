"""Printing report pages with headless Chromium, and reading the PDF back with poppler-utils
(``pdftotext``, ``pdfimages``, ``pdftohtml``): for tests/grading/test_print.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw"]
PAPER = {"A4": (595.0, 842.0), "Letter": (612.0, 792.0)}  # points, portrait


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def missing_tools() -> str:
    """Why the browser test cannot run here ("" when it can)."""
    if chromium() is None:
        return "Chromium is not installed (.ci/run installs it: apt-get install -y chromium)"
    for tool in ("pdftotext", "pdfimages", "pdftohtml"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install -y poppler-utils)"
    return ""


def print_pages(jobs: list[tuple[Path, str, Path]], timeout: float = 120.0) -> None:
    """Print each (html page, paper, pdf) at once, one Chromium per page, in parallel. The
    paper size is set the way a user's print dialog does: ``@page {size: ...}`` in a copy of
    the page next to it (so its relative links stay as they are)."""
    procs = []
    tmp = Path(tempfile.mkdtemp(prefix="nmt-chromium-"))
    try:
        for k, (page, paper, pdf) in enumerate(jobs):
            copy = page.with_name(f".print-{paper}-{page.name}")
            text = page.read_text(encoding="utf-8")
            copy.write_text(text.replace("<style>", f"<style>@page{{size:{paper} portrait}}", 1), encoding="utf-8")
            cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / str(k)}", f"--print-to-pdf={pdf}",
                   copy.as_uri()]
            procs.append((subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), copy, pdf))
        for proc, copy, pdf in procs:
            _, err = proc.communicate(timeout=timeout)
            copy.unlink()
            if proc.returncode != 0 or not pdf.is_file():
                raise AssertionError(f"chromium failed to print {pdf.name}: {err.decode(errors='replace')[-800:]}")
    finally:
        for proc, _, _ in procs:
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class Word:
    page: int
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


@dataclass
class Pdf:
    pages: list[tuple[float, float]] = field(default_factory=list)  # width, height in points
    words: list[Word] = field(default_factory=list)


def read_pdf(path: Path) -> Pdf:
    """Every word of the PDF with its box (``pdftotext -bbox``)."""
    out = subprocess.run(["pdftotext", "-bbox", str(path), "-"], capture_output=True, check=True).stdout
    root = ElementTree.fromstring(out.decode("utf-8"))
    pdf = Pdf()
    for page in root.iter("{http://www.w3.org/1999/xhtml}page"):
        pdf.pages.append((float(page.get("width")), float(page.get("height"))))
        for w in page.iter("{http://www.w3.org/1999/xhtml}word"):
            pdf.words.append(Word(len(pdf.pages) - 1, float(w.get("xMin")), float(w.get("yMin")),
                                  float(w.get("xMax")), float(w.get("yMax")), w.text or ""))
    return pdf


def pdf_images(path: Path) -> list[tuple[int, int]]:
    """(width, height) in pixels of every picture drawn in the PDF (``pdfimages -list``)."""
    out = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True, check=True).stdout
    sizes = []
    for line in out.splitlines()[2:]:
        cols = line.split()
        if len(cols) > 4 and cols[2] == "image":
            sizes.append((int(cols[3]), int(cols[4])))
    return sizes


def pdf_links(path: Path) -> list[str]:
    """The targets of the PDF's links, as the browser resolved them (``pdftohtml -xml``)."""
    out = subprocess.run(["pdftohtml", "-xml", "-i", "-stdout", "-q", str(path)], capture_output=True,
                         check=True).stdout.decode("utf-8", "replace")
    return re.findall(r'<a href="([^"]*)"', out)


class Tables(HTMLParser):
    """Every table of a page: its header cells' text, and how many <img> the page has."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[str]] = []
        self.images = 0
        self._th = None
        self._in_table = False

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "th":
            self._th = ""
        elif tag == "img":
            self.images += 1

    def handle_endtag(self, tag):
        if tag == "th" and self._th is not None:
            self.tables[-1].append(" ".join(self._th.split()))
            self._th = None

    def handle_data(self, data):
        if self._th is not None:
            self._th += data


def header_rows(pdf: Pdf, headers: list[str]) -> list[list[Word]]:
    """Where a table's header row is printed: the words around the first header word's line
    (headers wrap onto two or three lines, aligned at the bottom)."""
    first = headers[0].split()[0]
    rows = []
    for w in pdf.words:
        if w.text != first:
            continue
        band = [v for v in pdf.words if v.page == w.page and abs(v.y0 - w.y0) <= 30]
        words = {v.text for v in band}
        if all(part in words for h in headers for part in h.split()):
            rows.append(band)
    return rows


def os_path(uri: str) -> Path:
    from urllib.parse import unquote, urlparse

    u = urlparse(uri)
    return Path(unquote(u.path)) if u.scheme == "file" else Path(os.devnull + "/not-a-file:" + uri)
