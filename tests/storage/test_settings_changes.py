"""Setup changed while recording is stored: the final values, every change with its time, and
the holds found with each value from its time on (also after a crash and `recover`)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nmt_monitor.storage import Recorder, SessionMetadata, open_session, recover_all

from .synth import T0, connected_event, make_blocks

# force_profile: a 40 N hold from 3 s to 18 s, a 75 N poke at 22.5-23.5 s
CHANGE_AT = 10.0  # s after the first sample's host time (T0 + 0.05)


def _record(tmp_path, finish: bool = True):
    rec = Recorder(tmp_path / "s.h5", SessionMetadata(client="C 1", tolerance_N=60.0, target_band_N=(30.0, 50.0),
                                                      target_hold_s=10.0), clock=lambda: T0)
    rec.add(connected_event())
    changed = False
    for block in make_blocks():
        if block.host_time_s[0] >= T0 + CHANGE_AT and not changed:
            changed = True
            # typed after pressing r: who, and a lower tolerance from this moment on
            rec.update_session({"therapist": "Zoë Müller", "contact_tip": "knuckle", "tolerance_N": 35.0,
                                "target_band_N": (20.0, 30.0)}, host_time_s=T0 + CHANGE_AT)
        rec.add(block)
    if finish:
        return rec.finish()
    rec.close()  # like a crash: the journal stays
    return rec.journal_path


def _check(path):
    s = open_session(path)
    assert s.metadata["therapist"] == "Zoë Müller" and s.metadata["contact_tip"] == "knuckle"
    assert s.metadata["tolerance_N"] == 35.0 and list(s.metadata["target_band_N"]) == [20.0, 30.0]
    assert s.initial_metadata["tolerance_N"] == 60.0 and s.initial_metadata.get("therapist") == ""
    rows = {r["field"]: r for r in s.settings_changes}
    assert set(rows) == {"therapist", "contact_tip", "tolerance_N", "target_band_N"}
    assert all(r["time_s"] == pytest.approx(CHANGE_AT, abs=1e-6) for r in rows.values())
    assert rows["tolerance_N"]["previous"] == 60.0 and rows["tolerance_N"]["value"] == 35.0
    assert rows["therapist"]["previous"] == "" and rows["therapist"]["value"] == "Zoë Müller"
    # the 40 N hold goes over the new tolerance at the change, not before
    episodes = [(o["start_s"], o["end_s"]) for o in s.over_tolerance]
    assert episodes and all(start >= CHANGE_AT - 0.05 for start, _ in episodes)
    assert any(start < 11.0 and end > 17.0 for start, end in episodes), episodes
    return s


def test_settings_changed_while_recording_are_stored_with_their_time(tmp_path):
    s = _check(_record(tmp_path))
    # the stored holds are what re-analysing the samples with the changes replayed gives
    from nmt_monitor.dsp import HoldParams, analyze_holds

    a = analyze_holds(s.time_s, s.force_n, HoldParams(target_hold_s=10.0), s.initial_tolerance_n,
                      s.initial_target_band_n, changes=s.engine_changes())
    assert [round(o.start_s, 3) for o in a.over_tolerance] == [round(o["start_s"], 3) for o in s.over_tolerance]
    assert len(a.holds) == len(s.holds) >= 1


def test_plain_h5py_reads_the_changes_table(tmp_path):
    import h5py

    with h5py.File(_record(tmp_path), "r") as f:
        g = f["acquisition/settings_changes"]
        assert list(g.attrs["colnames"]) == ["timestamps", "field", "value", "previous"]
        fields = [x.decode() for x in g["field"][()]]
        values = [json.loads(x) for x in g["value"][()]]
        assert dict(zip(fields, values))["tolerance_N"] == 35.0
        assert f["general/session"].attrs["therapist"] == "Zoë Müller"
        assert f["processing/hold_engine"].attrs["tolerance_N"] == 60.0  # what the engine started with


def test_a_crash_after_the_change_keeps_it(tmp_path):
    journal = _record(tmp_path, finish=False)
    results = recover_all(journal.parent)
    assert [r.status for r in results] == ["recovered"]
    _check(results[0].path)


def test_analyze_replays_the_changes(tmp_path):
    from nmt_monitor.research import analyze_file

    path = _record(tmp_path)
    r = analyze_file(str(path))
    assert r.analysis.over_tolerance and min(o.start_s for o in r.analysis.over_tolerance) >= CHANGE_AT - 0.05
    # --tolerance overrides the session's tolerance for the whole file, changes included
    r60 = analyze_file(str(path), tolerance_n=60.0)
    assert [round(o.start_s) for o in r60.analysis.over_tolerance] == [22]


def test_unknown_fields_cannot_be_changed(tmp_path):
    rec = Recorder(tmp_path / "u.h5", SessionMetadata(), clock=lambda: T0)
    with pytest.raises(ValueError, match="session_id"):
        rec.update_session({"session_id": "x"})
    assert rec.update_session({"client": ""}) is None  # nothing changed: no record
    rec.close()


def test_live_setup_after_pressing_r_reaches_the_file(tmp_path):
    """The monitor's model: setup saved while recording is stored; alerts use the new tolerance."""
    from nmt_monitor.station import MockClock
    from nmt_monitor.station import SessionModel

    clock = MockClock(T0)
    model = SessionModel(SessionMetadata(tolerance_N=60.0, target_band_N=(30.0, 50.0)), clock=clock)
    blocks = make_blocks()
    model.ingest(blocks[:10])
    model.start_recording(lambda meta: Recorder(tmp_path, meta, clock=clock, min_free_bytes=0))
    half = len(blocks) // 3  # 10 s
    model.ingest(blocks[10:half])
    from dataclasses import replace

    model.set_metadata(replace(model.metadata, therapist="Anna Smith", client="client 9", tolerance_N=35.0))
    model.ingest(blocks[half:])
    assert model.snapshot().over_count >= 1  # the live alert follows the new tolerance
    path = model.detach_recorder().finish()
    s = open_session(path)
    assert s.metadata["therapist"] == "Anna Smith" and s.metadata["tolerance_N"] == 35.0
    assert {r["field"] for r in s.settings_changes} == {"therapist", "client", "tolerance_N"}
    t_change = s.settings_changes[0]["time_s"]
    assert s.over_tolerance and all(o["start_s"] >= t_change - 0.05 for o in s.over_tolerance)
    assert np.isfinite(t_change) and 0 < t_change < s.time_s[-1]


def test_replay_applies_each_change_at_its_time_and_a_seek_goes_back_to_the_start(tmp_path):
    """`replay` starts with the settings the recording started with and applies each recorded
    change at its time: its over-tolerance alerts are the file's, and seeking back undoes them."""
    from nmt_monitor.commands.replay import load
    from nmt_monitor.station import MockClock, ReplaySource, Station

    path = _record(tmp_path)
    stored = open_session(path)
    _, metadata = load(path, 1.0)
    assert metadata.tolerance_N == 60.0 and metadata.target_band_N == (30.0, 50.0) and metadata.therapist == ""
    clock = MockClock()
    station = Station(ReplaySource.from_session(path, clock=clock), metadata, clock=clock)
    station.source.start()
    clock.advance(float(stored.time_s[-1]) + 1.0)
    while station.pump(0.0):
        pass
    model = station.model
    assert model.metadata.tolerance_N == 35.0 and model.metadata.therapist == "Zoë Müller"
    assert model.metadata.target_band_N == (20.0, 30.0)
    replayed = [t for o in model.engine.over_tolerance for t in (o.start_s, o.end_s)]
    assert replayed == pytest.approx([t for o in stored.over_tolerance for t in (o["start_s"], o["end_s"])], abs=0.03)

    station.seek(-(float(stored.time_s[-1]) - CHANGE_AT + 5.0))  # back to 5 s: before the change
    while station.pump(0.0):
        pass
    assert model.metadata.tolerance_N == 60.0 and model.metadata.therapist == ""
    assert not model.engine.over_tolerance


def test_a_recording_without_a_single_sample_leaves_no_unreadable_file(tmp_path):
    """A class station recording while its sensor never answered: stopping it says nothing was
    recorded and leaves neither a session file that every command refuses nor a journal."""
    from nmt_monitor.station import MemorySource, Station, recorder_factory

    station = Station(MemorySource([]), SessionMetadata(client="Ana"), name="Ana",
                      recorder_factory=recorder_factory(tmp_path))
    station.start_recording()
    station.stop_recording(wait=True)
    assert station.saved == [] and list(tmp_path.iterdir()) == []
    assert station.errors == ["nothing recorded: no samples came from the sensor"]
    assert "nothing recorded: no samples came from the sensor" in station.model.snapshot().notices
