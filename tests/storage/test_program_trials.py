"""A training program's trials in the session file: written at the end, kept by a recovery
after a crash, readable with plain h5py."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from nmt_monitor.storage import Recorder, SessionMetadata, open_session, recover_all
from nmt_monitor.storage.untrusted import SessionFileError

from tests.tui.synth import EPOCH, blocks, hold_trace


def trial(number, kind, start, stop, hold=(None, None)):
    return {"trial": number, "block": 1 if kind == "practice" else 2, "repetition": number, "site": "trap L",
            "label": "", "feedback": "full" if kind == "practice" else "blind", "kind": kind,
            "countdown": kind == "practice", "target_band_N": [30.0, 40.0], "target_hold_s": 10.0,
            "start_host_time_s": EPOCH + start, "stop_host_time_s": EPOCH + stop,
            "hold_start_host_time_s": None if hold[0] is None else EPOCH + hold[0],
            "hold_stop_host_time_s": None if hold[1] is None else EPOCH + hold[1], "hold_mean_N": 35.0,
            "outcome": "hold" if hold[0] is not None else "skipped"}


def record(tmp_path, crash: bool):
    rec = Recorder(tmp_path, SessionMetadata(therapist="Ana", tolerance_N=60.0), clock=lambda: EPOCH)
    rec.set_program({"name": "p", "description": "d", "source": "p.toml", "text": "name = 'p'",
                     "blocks": [{"site": "trap L"}], "trials": []})
    t, f = hold_trace(level_n=35.0, hold_s=12.0, rate_hz=200.0)
    for b in blocks(t, f):
        rec.add(b)
    rec.add_trial(trial(1, "practice", 0.0, 16.0, hold=(3.0, 15.0)))
    rec.add_trial(trial(2, "retention", 16.5, 17.0))
    if crash:
        rec.close()  # the journal stays, as after a crash
        (result,) = recover_all(tmp_path)
        return result.path
    return rec.finish()


def check(path):
    s = open_session(path, arrays=False)
    assert s.program["name"] == "p" and s.program["text"] == "name = 'p'" and s.program["blocks"] == [{"site": "trap L"}]
    assert [(tr["trial"], tr["kind"], tr["outcome"], tr["hold"]) for tr in s.trials] == [
        (1, "practice", "hold", 0), (2, "retention", "skipped", None)]
    assert s.trials[0]["target_band_N"] == (30.0, 40.0) and s.trials[0]["start_s"] == 0.0
    with h5py.File(path, "r") as f:  # plain h5py
        tr = f["intervals/trials"]
        assert tr.attrs["n_rows"] == 2 and list(tr["kind"].asstr()[:]) == ["practice", "retention"]
        assert np.isnan(tr["hold_start_time"][1]) and tr["hold"][1] == -1
        assert f["general/program"].attrs["name"] == "p"


def test_trials_in_the_finished_file(tmp_path):
    check(record(tmp_path, crash=False))


def test_trials_survive_a_crash(tmp_path):
    check(record(tmp_path, crash=True))


# ---- trials tables from elsewhere: each problem one line naming the row and column ------------------

def _set(column, value, dtype=np.float64):
    def mutate(f):
        g = f["intervals/trials"]
        n = g[column].shape[0]
        del g[column]
        g.create_dataset(column, data=np.full(n, value, dtype=dtype))
    return mutate


@pytest.mark.parametrize("mutate, fragment", [
    (_set("trial", np.inf), "intervals/trials row 0: trial should be a whole number"),
    (_set("block", 2.5), "intervals/trials row 0: block should be a whole number"),
    (_set("repetition", -7, np.int64), "intervals/trials row 0: repetition should be a whole number"),
    (_set("hold", np.inf), "intervals/trials row 0: hold should be a whole number"),
    (_set("hold", 99, np.int64), "intervals/trials row 0: hold is row 99 of intervals/holds, which has"),
    (_set("target_low_N", -50.0), "intervals/trials row 0: target band"),
    (_set("target_low_N", 100.0), "intervals/trials row 0: target band should be low < high"),
    (_set("target_high_N", np.inf), "intervals/trials row 0: target band"),
    (_set("target_high_N", 1e300), "intervals/trials row 0: target band"),
    (_set("target_hold_s", -20.0), "intervals/trials row 0: target_hold_s should be positive"),
    (_set("target_hold_s", np.inf), "intervals/trials row 0: target_hold_s is not a finite number"),
    (_set("start_time", -np.inf), "intervals/trials row 0: start_time is not a finite number"),
    (_set("hold_start_time", np.inf), "intervals/trials row 0: hold_start_time is not a finite number"),
])
def test_a_crafted_trials_table_is_one_line(tmp_path, mutate, fragment):
    path = record(tmp_path, crash=False)
    with h5py.File(path, "r+") as f:
        mutate(f)
    with pytest.raises(SessionFileError) as info:
        open_session(path, arrays=False)
    assert fragment in str(info.value) and "\n" not in str(info.value), str(info.value)


def test_nan_is_none_and_zero_trials_are_no_trials(tmp_path):
    path = record(tmp_path, crash=False)
    with h5py.File(path, "r+") as f:
        _set("target_low_N", np.nan)(f)  # the writer's "no band"
    assert open_session(path, arrays=False).trials[0]["target_band_N"] is None
    with h5py.File(path, "r+") as f:
        g = f["intervals/trials"]
        for name in list(g):
            dtype = g[name].dtype
            del g[name]
            g.create_dataset(name, shape=(0,), dtype=dtype)
        g.attrs["n_rows"] = 0
    assert open_session(path, arrays=False).trials == []


def test_grade_says_which_trial_is_bad(tmp_path):
    from tests.cli import assert_one_line_error, run_cli

    path = record(tmp_path, crash=False)
    with h5py.File(path, "r+") as f:
        _set("trial", np.inf)(f)
    r = run_cli("grade", path, "--jobs", "1", "--no-progress")
    assert "unexpected" not in r.stderr and "Traceback" not in r.stderr
    assert_one_line_error(r, "intervals/trials row 0: trial should be a whole number")
