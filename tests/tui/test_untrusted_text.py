"""Text a user types or a file carries is shown as text, never parsed as Textual markup:
``5[/x]`` typed in the setup form crashed the live monitor; names, paths and notices with
brackets are shown as written."""

from __future__ import annotations

from nmt_monitor.storage import SessionMetadata
from nmt_monitor.tui import MemorySource, MockClock, MonitorApp

from .helpers import run, screen_text, settle, wait_until
from .synth import connected

SIZE = (100, 30)
META = SessionMetadata(client="client 07", tolerance_N=60.0, target_band_N=(30.0, 45.0), target_hold_s=10.0)


def test_markup_typed_in_the_setup_form_is_shown_as_typed():
    from nmt_monitor.tui.screens import SetupScreen

    app = MonitorApp(MemorySource([[connected()]]), metadata=META, clock=MockClock(), bell=False)

    async def go():
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("s")
            await wait_until(pilot, lambda: isinstance(app.screen, SetupScreen) and app.screen.query("#in-tolerance"))
            app.screen.query_one("#in-tolerance").value = "5[/x]"
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen) and app.is_running  # no crash: the form says why
            assert "5[/x]" in str(app.screen.query_one("#setup-error").render())
            app.screen.query_one("#in-tolerance").value = "60N"
            app.screen.query_one("#in-client").value = "[b]Ann[/b] [/x] [red]"
            await pilot.press("ctrl+s")
            await wait_until(pilot, lambda: not isinstance(app.screen, SetupScreen), what="setup closed")
            await settle(pilot, app)
            assert app.model.metadata.client == "[b]Ann[/b] [/x] [red]"
            assert "client [b]Ann[/b] [/x] [red]" in screen_text(app)

    run(go())


def test_notices_with_brackets_are_plain_text():
    app = MonitorApp(MemorySource([[connected()]]), metadata=META, clock=MockClock(), bell=False)

    async def go():
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            from textual.widgets._toast import Toast

            app.notify("saved recordings/[/x]/session[b].h5")  # a path the user chose
            await wait_until(pilot, lambda: app.query(Toast), what="the notice")
            await pilot.pause()
            assert app.is_running
            assert "saved recordings/[/x]/session[b].h5" in [str(t.render()) for t in app.query(Toast)]

    run(go())


def test_the_recovery_dialog_shows_folder_and_journal_names_as_written(tmp_path, monkeypatch):
    from pathlib import Path

    from nmt_monitor.storage import Recorder
    from nmt_monitor.tui.screens import RecoveryScreen

    monkeypatch.chdir(tmp_path)
    folder = Path("rec[/b]")
    rec = Recorder(folder / "a[b]c[@click=app.quit].h5", {}, min_free_bytes=0)
    rec.close()  # an unfinished session: its journal stays
    app = MonitorApp(MemorySource([[connected()]]), metadata=META, clock=MockClock(), bell=False,
                     recovery_dir=folder)

    async def go():
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_until(pilot, lambda: isinstance(app.screen, RecoveryScreen), what="recovery dialog")
            await pilot.pause()
            text = screen_text(app)
            assert "Unfinished sessions in rec[/b]" in text and "a[b]c[@click=app.quit].journal" in text

    run(go())


def test_station_names_and_program_sites_are_shown_as_written():
    """A class file's names and a program's sites are the user's text: never markup."""
    from nmt_monitor.program import program_from_toml
    from nmt_monitor.station import Station
    from nmt_monitor.tui.classview import ClassApp

    from .synth import blocks, hold_trace

    t, f = hold_trace(level_n=40.0, hold_s=4.0, after_s=0.0, release_s=0.01)
    program = program_from_toml('name = "[b]prog[/b]"\n[[block]]\nsite = "[red]trap[/x] L"\ntarget_n = [30, 45]\n',
                                "p.toml")
    names = ["[b]Ana[/b] [/x]", "Ben [@click=app.quit]"]
    stations = [Station(MemorySource([[connected()] + blocks(t, f)]), META, clock=MockClock(), name=n) for n in names]
    stations[0].model.set_program(program)
    app = ClassApp(stations, clock=MockClock(), bell=False)

    async def go():
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_until(pilot, lambda: all(s.model.samples == t.size for s in stations), what="the data")
            await settle(pilot, app)
            text = screen_text(app)
            assert app.is_running and "1 · [b]Ana[/b] [/x]" in text and "2 · Ben [@click=app.quit]" in text
            assert "[red]trap[/x] L" in text
            await pilot.press("1")  # the station's full monitor: the whole program line
            await wait_until(pilot, lambda: "[b]prog[/b]" in screen_text(app), what="the program's name")

    run(go())
