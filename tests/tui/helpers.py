"""Helpers for the TUI tests: run Pilot tests from plain ``def`` tests, wait for conditions
with deadlines (never a bare sleep), dump the screen as text and compare snapshots."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from textual.geometry import Region

SNAPSHOTS = Path(__file__).parent / "snapshots"


def run(coro):
    return asyncio.run(coro)


async def wait_until(pilot, condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await pilot.pause(0.02)


async def settle(pilot, app) -> None:
    """Let the app draw a frame from its current state (its own timer draws them), and the
    screen refresh from it."""
    drawn = app.frames_drawn
    await wait_until(pilot, lambda: app.frames_drawn > drawn, what="a new frame")
    await pilot.pause()
    await pilot.pause()
    # until the screen stops changing: a table filled in a frame sizes its columns only when
    # the app is next idle, which a busy machine may delay by a frame or two
    for _ in range(20):
        before = screen_text(app)
        drawn = app.frames_drawn
        await wait_until(pilot, lambda: app.frames_drawn > drawn, what="another frame")
        await pilot.pause()
        if screen_text(app) == before:
            break


def _paint(grid, widget, clip, origin=(0, 0)) -> None:
    """Paint ``widget`` and its children (rendered lines at their places, within ``clip``) into
    ``grid``, whose top-left is the screen position ``origin``."""
    if not widget.display or not widget.visible:
        return
    region = widget.region.intersection(clip)
    if region.area:
        full = widget.region
        crop = Region(region.x - full.x, region.y - full.y, region.width, region.height)
        for dy, strip in enumerate(widget.render_lines(crop)):
            row = grid[region.y + dy - origin[1]]
            x = region.x
            for segment in strip:
                for ch in segment.text:
                    if x < region.right:
                        row[x - origin[0]] = ch
                    x += 1
    for child in widget.children:
        _paint(grid, child, region if region.area else clip, origin)


def _text(grid) -> str:
    return "\n".join("".join(row).rstrip() for row in grid) + "\n"


def screen_text(app) -> str:
    """The screen as plain text, one line per row (right-trimmed), painted from each visible
    widget's rendered lines (the public ``Widget.render_lines``) at its place on the screen
    (``Widget.region``). A dialog is painted over the screen it was opened on."""
    width, height = app.size
    grid = [[" "] * width for _ in range(height)]
    stack = app.screen_stack
    first = max((i for i, s in enumerate(stack) if not s.is_modal), default=0)
    whole = Region(0, 0, width, height)
    for screen in stack[first:]:
        if screen is stack[first]:
            _paint(grid, screen, whole)
        else:  # a modal dialog: the screen below shows through its own (blank) background
            for child in screen.children:
                _paint(grid, child, whole)
    return _text(grid)


def widget_text(app, selector: str) -> str:
    """What one widget of the live screen (and its children) shows, as text; a dialog on top
    does not hide it from this."""
    widget = app.screen_stack[0].query_one(selector)
    region = widget.region
    grid = [[" "] * region.width for _ in range(region.height)]
    _paint(grid, widget, region, origin=(region.x, region.y))
    return _text(grid)


def assert_snapshot(app, name: str) -> None:
    """Compare the screen with tests/tui/snapshots/<name>.txt; NMT_UPDATE_SNAPSHOTS=1 rewrites it."""
    text = screen_text(app)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("NMT_UPDATE_SNAPSHOTS") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if os.environ.get("NMT_UPDATE_SNAPSHOTS") != "1":
            raise AssertionError(f"snapshot {path.name} did not exist; written - check it and rerun")
        return
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        import difflib

        diff = "".join(difflib.unified_diff(expected.splitlines(True), text.splitlines(True),
                                            "expected", "actual", n=1))
        raise AssertionError(f"screen differs from snapshot {path.name} "
                             f"(NMT_UPDATE_SNAPSHOTS=1 to accept):\n{diff}")
