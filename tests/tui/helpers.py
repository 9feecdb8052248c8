"""Helpers for the TUI tests: run Pilot tests from plain ``def`` tests, wait for conditions
with deadlines (never a bare sleep), dump the screen as text and compare snapshots."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

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
    """Draw a frame from the current state now and let the screen refresh."""
    app._draw()
    await pilot.pause()
    await pilot.pause()


def screen_text(app) -> str:
    """The screen as plain text, one line per row (right-trimmed)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text.rstrip() for strip in strips) + "\n"


def widget_text(app, selector: str) -> str:
    widget = app.query_one(selector)
    rendered = widget.render()
    return getattr(rendered, "plain", str(rendered))


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
