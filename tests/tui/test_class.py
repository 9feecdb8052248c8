"""Pilot tests of the class view: the grid at two sizes, a station's full view and back,
recording from the grid, a station that loses its sensor while the others go on."""

from __future__ import annotations

import numpy as np
import pytest

from nmt_monitor.acquisition import LinkEvent
from nmt_monitor.station import LiveScorer, MemorySource, MockClock, Station, recorder_factory
from nmt_monitor.storage import SessionMetadata, open_session
from nmt_monitor.tui.classview import ClassApp, ClassScreen, StationTile
from nmt_monitor.tui.monitor import StationScreen

from .helpers import assert_snapshot, run, screen_text, settle, wait_until, widget_text
from .synth import EPOCH, blocks, concat_traces, connected, hold_trace

NAMES = ("Ana", "Ben", "Chloé", "Dev", "Eli", "Fay", "Gus", "Hana")


def meta(name: str) -> SessionMetadata:
    return SessionMetadata(therapist=name, client=f"partner of {name}", tolerance_N=60.0,
                           target_band_N=(30.0, 45.0), target_hold_s=10.0)


def station_traces():
    """Eight different moments of a class: holds in and out of the band, a drift, one over
    the tolerance, one at rest."""
    return [
        hold_trace(level_n=38.0, hold_s=12.0, after_s=0.0, release_s=0.01, seed=1),  # holding, in band
        hold_trace(level_n=42.0, hold_s=14.0, drift_pct=-28.0, after_s=0.0, release_s=0.01, seed=2),  # drifting
        hold_trace(level_n=68.0, hold_s=6.0, after_s=0.0, release_s=0.01, seed=3),  # over tolerance
        hold_trace(level_n=20.0, hold_s=9.0, after_s=0.0, release_s=0.01, seed=4),  # below the band
        concat_traces(hold_trace(level_n=36.0, hold_s=11.0, seed=5), hold_trace(level_n=0.5, hold_s=0.5, rest_s=3.0,
                                                                                 seed=6)),  # done, resting
        hold_trace(level_n=50.0, hold_s=8.0, after_s=0.0, release_s=0.01, seed=7),  # above the band
        hold_trace(level_n=40.0, hold_s=3.0, after_s=0.0, release_s=0.01, seed=8),  # just started
        hold_trace(level_n=33.0, hold_s=13.0, after_s=0.0, release_s=0.01, seed=9),
    ]


def make_stations(n, *, clock, out=None, auto=True, traces=None):
    traces = traces or station_traces()
    scorer = LiveScorer()
    stations = []
    for i in range(n):
        t, f = traces[i % len(traces)]
        src = MemorySource([[connected()] + blocks(t, f)], auto=auto, port=f"memory://{i + 1}")
        stations.append(Station(src, meta(NAMES[i]), clock=clock, name=NAMES[i], scorer=scorer,
                                recorder_factory=None if out is None else recorder_factory(out / NAMES[i])))
    return stations


@pytest.mark.parametrize("size, n", [((80, 24), 6), ((160, 48), 8)], ids=["80x24", "160x48"])
def test_snapshot_of_the_grid(size, n):
    clock = MockClock()
    stations = make_stations(n, clock=clock)
    app = ClassApp(stations, clock=clock, bell=False)

    async def go():
        async with app.run_test(size=size) as pilot:
            traces = station_traces()
            expected = [traces[i % len(traces)][0].size for i in range(n)]
            await wait_until(pilot, lambda: [s.model.samples for s in stations] == expected, what="every sample")
            await settle(pilot, app)
            text = screen_text(app)
            for name in NAMES[:n]:
                assert name in text
            assert "OVER TOLERANCE" in text  # station 3 (Chloé) is over the tolerance
            assert_snapshot(app, f"class_{size[0]}x{size[1]}")

    run(go())


def test_select_a_station_opens_its_monitor_and_escape_returns():
    clock = MockClock()
    stations = make_stations(4, clock=clock)
    app = ClassApp(stations, clock=clock, bell=False)

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(pilot, lambda: all(s.source.exhausted for s in stations))
            await settle(pilot, app)
            assert isinstance(app.screen, ClassScreen)
            await pilot.press("right")  # Ana -> Ben
            assert isinstance(app.screen.focused, StationTile) and app.screen.focused.station.name == "Ben"
            await pilot.press("enter")
            await wait_until(pilot, lambda: isinstance(app.screen, StationScreen), what="Ben's monitor")
            await settle(pilot, app)
            assert app.screen.station is stations[1]
            text = screen_text(app)
            assert "Ben" in text and "client partner of Ben" in text and "DRIFT" in text
            assert "esc Class" in widget_text(app, "Footer")
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, ClassScreen), what="back to the grid")
            await pilot.press("4")  # a number opens that station at once
            await wait_until(pilot, lambda: isinstance(app.screen, StationScreen), what="Dev's monitor")
            assert app.screen.station is stations[3]
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, ClassScreen))

    run(go())


def test_recording_from_the_grid(tmp_path):
    clock = MockClock()
    stations = make_stations(3, clock=clock, out=tmp_path, auto=False)
    app = ClassApp(stations, clock=clock, bell=False)

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, app)
            await pilot.press("right", "r")  # Ben only
            await wait_until(pilot, lambda: stations[1].recording, what="Ben recording")
            assert not stations[0].recording and not stations[2].recording
            await pilot.press("R")  # every station that is not recording yet
            await wait_until(pilot, lambda: all(s.recording for s in stations), what="all recording")
            await settle(pilot, app)
            assert screen_text(app).count("● REC") == 3 and "3 recording" in screen_text(app)
            for s in stations:
                s.source.step()
            await wait_until(pilot, lambda: all(s.source.exhausted for s in stations))
            await wait_until(pilot, lambda: all(s.model.samples > 0 for s in stations))
            await pilot.press("R")  # all are recording: stop them all
            await wait_until(pilot, lambda: all(len(s.saved) == 1 for s in stations), timeout=30, what="files")
            await settle(pilot, app)
            assert "0 recording" in screen_text(app)

    run(go())
    for s in stations:
        (path,) = s.saved
        assert path.parent.name == s.name
        session = open_session(path)
        assert session.metadata["therapist"] == s.name and session.n_samples == s.model.samples


def test_a_station_that_loses_its_sensor_says_so_and_the_others_go_on():
    clock = MockClock()
    t, f = hold_trace(level_n=40.0, hold_s=20.0, after_s=0.0, release_s=0.01)
    n = t.size // 3
    lost = MemorySource([[connected()] + blocks(t[:n], f[:n]),
                         [LinkEvent("disconnected", EPOCH + t[n], {"reason": "EIO"})],
                         [LinkEvent("reconnected", EPOCH + t[n] + 1.0, {})] + blocks(t[n + 200:], f[n + 200:], segment=1)],
                        auto=False, port="memory://lost")
    others = [MemorySource([[connected()] + blocks(t[:n], f[:n]), blocks(t[n:2 * n], f[n:2 * n]),
                            blocks(t[2 * n:], f[2 * n:])], auto=False, port=f"memory://{i}") for i in range(2)]
    stations = [Station(src, meta(name), clock=clock, name=name)
                for src, name in zip([others[0], lost, others[1]], ("Ana", "Ben", "Chloé"))]
    app = ClassApp(stations, clock=clock, bell=False)

    def tile(i):
        return widget_text(app, f"#tile-{i + 1}")

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            for s in stations:
                s.source.step()
            await wait_until(pilot, lambda: all(s.model.samples == n for s in stations))
            await settle(pilot, app)
            assert all("streaming" in tile(i) for i in range(3))
            lost.step()  # Ben's sensor is unplugged ...
            await wait_until(pilot, lambda: stations[1].model.link_state == "reconnecting")
            for s in others:
                s.step()  # ... the others go on
            await wait_until(pilot, lambda: stations[0].model.samples == 2 * n and stations[2].model.samples == 2 * n)
            await settle(pilot, app)
            assert "reconnecting" in tile(1) and "sensor disconnected" in tile(1)
            assert app.query_one("#tile-2 ForceDigits").value == "--.-"  # not current: no number
            assert "-link" in app.query_one("#tile-2").classes
            assert "reconnecting" not in tile(0) and "1 without data" in screen_text(app)
            lost.step()  # back
            await wait_until(pilot, lambda: stations[1].model.link_state == "streaming" and lost.exhausted)
            await settle(pilot, app)
            assert "streaming" in tile(1) and "disconnected" not in tile(1)

    run(go())


@pytest.mark.slow
def test_the_simulator_unplugs_one_station_of_a_real_class():
    """Real in-process simulators (sim://): one unplugs for a second and comes back by itself."""
    from nmt_monitor.acquisition import SensorReader
    from nmt_monitor.station import ConnectingReaderSource

    urls = ["sim://?scenario=steady&rate=500&seed=21",
            "sim://?scenario=steady&rate=500&seed=22&unplug_at=1.0&unplug_for=1.0"]
    stations = [Station(ConnectingReaderSource(lambda u=u: SensorReader(u)), meta(name), name=name)
                for u, name in zip(urls, ("Ana", "Ben"))]
    app = ClassApp(stations, bell=False)
    seen = []

    def ben_on_screen():
        text = widget_text(app, "#tile-2")
        for word in ("reconnecting", "streaming"):
            if word in text and (not seen or seen[-1] != word):
                seen.append(word)
        return seen

    async def go():
        async with app.run_test(size=(120, 30)) as pilot:
            await wait_until(pilot, lambda: "reconnecting" in ben_on_screen(), timeout=10, what="Ben reconnecting")
            ana_then = stations[0].model.samples
            await wait_until(pilot, lambda: ben_on_screen()[-1] == "streaming", timeout=10, what="Ben back")
            assert stations[0].model.samples > ana_then  # Ana went on meanwhile
            await pilot.press("q")
            await wait_until(pilot, lambda: not app.is_running, timeout=10)

    try:
        run(go())
    finally:
        app.finalize()
    assert seen[-2:] == ["reconnecting", "streaming"]


def test_r_or_R_pressed_again_before_the_start_is_under_way_starts_one_recording(tmp_path):
    """Two presses handled in one turn of the event loop (a burst from the terminal) came
    before the first start's worker ran: each started a recording, and the second was saved as
    an extra, empty ``-2.h5`` that ``analyze`` refuses ("holds no samples")."""
    clock = MockClock()
    stations = make_stations(3, clock=clock, out=tmp_path, auto=False)
    app = ClassApp(stations, clock=clock, bell=False)

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, app)
            app.screen.action_record_all()  # R R: the second before any start's worker ran
            app.screen.action_record_all()
            await wait_until(pilot, lambda: all(s.recording for s in stations), what="all recording")
            await pilot.press("3")  # Chloé's own monitor: r r there
            await wait_until(pilot, lambda: isinstance(app.screen, StationScreen))
            app.screen.action_record()  # stops Chloé's recording (it was running, no samples yet)
            app.screen.action_record()  # starts a new one
            app.screen.action_record()  # before that start ran: nothing more
            await wait_until(pilot, lambda: stations[2].recording and not stations[2].starting_recording)
            for s in stations:
                s.source.step()
            await wait_until(pilot, lambda: all(s.source.exhausted for s in stations))
            await pilot.press("q")
            await wait_until(pilot, lambda: not app.is_running, what="the app to exit")

    run(go())
    app.finalize()
    counts = {s.name: len(list((tmp_path / s.name).glob("*.h5"))) for s in stations}
    assert counts == {"Ana": 1, "Ben": 1, "Chloé": 1}
    # Chloé's first recording, stopped before any sample came, left no file (nor a journal for
    # `recover`): a file that every command refuses helps nobody
    assert [p.name for p in (tmp_path / "Chloé").iterdir() if p.suffix != ".h5"] == []
    for s in stations:
        (path,) = (tmp_path / s.name).glob("*.h5")
        assert open_session(path).n_samples == s.model.samples


def test_arrow_keys_in_a_burst_each_move_the_selection():
    """Keys handled in one turn of the event loop (held down, or typed fast): each arrow
    moved from the tile selected before the burst (a widget's focus() only takes effect
    later), so ↓ ↓ moved one tile and ↓ Enter opened the tile above."""
    clock = MockClock()
    stations = make_stations(4, clock=clock)
    app = ClassApp(stations, clock=clock, bell=False)

    async def go():
        async with app.run_test(size=(40, 40)) as pilot:  # one column
            await settle(pilot, app)
            screen = app.screen
            assert screen.columns == 1
            screen.action_move(0, 1)
            screen.action_move(0, 1)
            screen.action_open()
            await wait_until(pilot, lambda: isinstance(app.screen, StationScreen), what="a station's monitor")
            assert app.screen.station is stations[2]
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, ClassScreen))
            screen.action_move(0, 1)  # down, 4: station 4 opens and stays selected
            screen.action_open_number(4)
            await wait_until(pilot, lambda: isinstance(app.screen, StationScreen), what="a station's monitor")
            assert app.screen.station is stations[3]
            await pilot.press("escape")
            await wait_until(pilot, lambda: isinstance(app.screen, ClassScreen))
            assert screen.focused is screen.tiles[3]

    run(go())


def test_the_hold_panel_is_cropped_not_wrapped():
    """A hold panel narrower than its lines wrapped them (Textual ignores Rich's no_wrap):
    "drift +2.0" on one line, "%" on the next, the last hold pushed out of the panel."""
    clock = MockClock()
    stations = make_stations(6, clock=clock)
    app = ClassApp(stations, clock=clock, bell=False)

    async def go():
        async with app.run_test(size=(80, 40)) as pilot:  # medium tiles, 40 columns
            await wait_until(pilot, lambda: all(s.source.exhausted for s in stations))
            await settle(pilot, app)
            assert "-medium" in app.query_one("#tile-1").classes
            for i in range(6):
                lines = widget_text(app, f"#tile-{i + 1} #tile-hold").splitlines()
                assert not any(line.strip() in ("%", "settles") for line in lines), lines
                assert not any(line.startswith(("HOLD", "no hold")) for line in lines[1:]), lines

    run(go())


def test_the_header_counts_one_station_in_the_singular():
    clock = MockClock()
    app = ClassApp(make_stations(1, clock=clock), clock=clock, bell=False)

    async def go():
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, app)
            assert "class · 1 station · 0 recording" in widget_text(app, "#class-header")

    run(go())


def test_a_number_key_without_its_station_says_so():
    clock = MockClock()
    app = ClassApp(make_stations(3, clock=clock), clock=clock, bell=False)

    async def go():
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot, app)
            await pilot.press("7")
            assert isinstance(app.screen, ClassScreen)
            assert any("no station 7" in str(n.message) for n in app._notifications)

    run(go())
