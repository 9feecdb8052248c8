"""Training programs: what a program file may say (and one line naming the field when it is
wrong), how the runner steps through press, hold, release and rest, and what a recording keeps."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from nmt_monitor.program import ProgramError, ProgramRunner, instruction, program_from_toml, shipped_programs

PROGRAM = """
name = "two guided, one blind, one transfer"
[defaults]
site = "upper trapezius L"
target_pct = [50, 70]
hold_s = 8
rest_s = 2
[[block]]
feedback = "full"
repetitions = 2
[[block]]
feedback = "blind"
repetitions = 1
[[block]]
site = "levator scapulae L"
feedback = "blind"
trial = "transfer"
target_n = [20, 28]
"""


def hold(start, end, mean=38.0):
    return SimpleNamespace(start_s=start, end_s=end, mean_N=mean)


def ev(kind, **kw):
    return SimpleNamespace(kind=kind, **kw)


def test_a_program_lays_out_its_trials():
    p = program_from_toml(PROGRAM, "p.toml")
    trials = p.trials(60.0)
    assert [(t.block, t.repetition, t.feedback, t.kind, t.countdown) for t in trials] == [
        (1, 1, "full", "practice", True), (1, 2, "full", "practice", True), (2, 1, "blind", "retention", False),
        (3, 1, "blind", "transfer", False)]
    assert trials[0].target_band_n == (30.0, 42.0) and trials[3].target_band_n == (20.0, 28.0)
    assert trials[3].site == "levator scapulae L" and all(t.hold_s == 8.0 for t in trials)
    with pytest.raises(ProgramError, match=r"p.toml: block\[1\].target_pct: needs the client's tolerance"):
        p.trials(None)


@pytest.mark.parametrize("text, message", [
    ('[[block]]\ntarget_n = [30, 40]\n', "block[1].site: is missing"),
    ('[[block]]\nsite = "a"\n', "block[1]: give the target band either in newtons"),
    ('[[block]]\nsite = "a"\ntarget_n = [30, 40]\ntarget_pct = [50, 60]\n', "not both"),
    ('[[block]]\nsite = "a"\ntarget_n = [40, 30]\n', "block[1].target_n: should be [LOW, HIGH]"),
    ('[[block]]\nsite = "a"\ntarget_pct = [50, 120]\n', "block[1].target_pct:"),
    ('[[block]]\nsite = "a"\ntarget_n = [30, 40]\nhold_s = "long"\n', "block[1].hold_s: should be a number 1-600 s"),
    ('[[block]]\nsite = "a"\ntarget_n = [30, 40]\nrepetitions = 2.5\n', "block[1].repetitions: should be a whole number"),
    ('[[block]]\nsite = "a"\ntarget_n = [30, 40]\nfeedback = "none"\n', "block[1].feedback: use one of full, faded, blind"),
    ('[[block]]\nsite = "a"\ntarget_n = [30, 40]\ntrial = "exam"\n', "block[1].trial: use one of practice"),
    ('[[block]]\nsite = "a"\ntarget_n = [30, 40]\ncountdown = "yes"\n', "block[1].countdown: should be true or false"),
    ('[[block]]\nsite = "a"\ntarget_n = [30, 40]\ncolour = 1\n', "block[1].colour: unknown field"),
    ('[defaults]\nspeed = 1\n[[block]]\nsite = "a"\ntarget_n = [30, 40]\n', "defaults.speed: unknown field"),
    ('title = "x"\n[[block]]\nsite = "a"\ntarget_n = [30, 40]\n', "title: unknown field"),
    ('name = "x"\n', "no blocks"),
    ('[[block]\n', "not valid TOML"),
])
def test_a_bad_program_is_one_line_naming_the_field(text, message):
    with pytest.raises(ProgramError) as info:
        program_from_toml(text, "mine.toml")
    assert str(info.value).startswith("mine.toml: ") and message in str(info.value) and "\n" not in str(info.value)


def test_a_target_above_the_clients_tolerance_is_refused_before_guiding():
    p = program_from_toml('[[block]]\nsite = "a"\ntarget_n = [50, 70]\n', "mine.toml")
    with pytest.raises(ProgramError, match=r"mine.toml: block\[1\].target_n: 70 N is above the client's tolerance of 60 N"):
        p.check_for_client(60.0)
    assert p.check_for_client(80.0)[0].target_band_n == (50.0, 70.0)


def test_live_refuses_a_program_that_would_guide_past_the_tolerance(tmp_path):
    path = tmp_path / "heavy.toml"
    path.write_text('[[block]]\nsite = "a"\ntarget_n = [50, 70]\n')
    _one_line(_live("--tolerance", "60N", "--program", str(path)), "block[1].target_n: 70 N is above the client's tolerance")


def test_the_shipped_programs_are_valid():
    from nmt_monitor.commands.live import SHIPPED_PROGRAMS

    assert set(shipped_programs()) == set(SHIPPED_PROGRAMS)
    for name, text in shipped_programs().items():
        trials = program_from_toml(text, name).trials(60.0)
        kinds = {t.kind for t in trials}
        assert "practice" in kinds and ({"retention", "transfer"} & kinds), name


def test_the_runner_steps_through_press_hold_release_rest():
    r = ProgramRunner(program_from_toml(PROGRAM, "p.toml"), 60.0)
    a = r.start(0.0)
    assert r.phase == "press" and a.trial.number == 1 and a.site == "upper trapezius L" and a.bell
    assert instruction(r.view(0.0, None)) == "move to upper trapezius L, press and hold"
    r.on_event(ev("hold_started", start_s=2.0), 2.5)
    assert r.phase == "hold" and r.view(3.0, 1.0).remaining_s == pytest.approx(7.0)
    assert not r.tick(5.0, 3.0, 2.0).bell
    a = r.tick(10.0, 8.0, 2.0)  # the hold time is reached: release (the bell)
    assert r.phase == "release" and a.bell
    a = r.on_event(ev("hold_ended", hold=hold(2.0, 11.0)), 11.5)
    assert r.phase == "rest" and a.bell and a.finished[0].outcome == "hold"
    assert a.finished[0].hold_start_s == 2.0 and a.finished[0].hold_stop_s == 11.0
    assert r.view(12.0, None).remaining_s == pytest.approx(1.5)
    r.on_event(ev("hold_started", start_s=12.0), 12.5)  # pressing during the rest is not a trial ...
    a = r.tick(13.6, 1.0, 12.0)  # ... but when the rest ends, a hold under way counts
    assert r.phase == "hold" and a.trial.number == 2 and a.site is None and a.bell
    r.on_event(ev("hold_discarded"), 14.0)  # not a hold after all
    assert r.phase == "press"
    a = r.skip(15.0)  # the instructor moves on: trial 2 skipped, trial 3 (blind, no countdown) begins
    assert [f.outcome for f in a.finished] == ["skipped"] and r.phase == "press" and a.trial.number == 3
    assert a.trial.feedback == "blind" and not a.trial.countdown
    r.on_event(ev("hold_started", start_s=16.0), 16.2)
    assert not r.tick(30.0, 14.0, 16.0).bell and r.phase == "hold"  # no countdown: no release prompt
    assert "judge" in instruction(r.view(30.0, 14.0))
    r.on_event(ev("hold_ended", hold=hold(16.0, 31.0)), 31.0)
    a = r.tick(33.1, None, None)  # the rest is over: a new site
    assert a.site == "levator scapulae L" and r.view(33.1, None).kind == "transfer"
    r.on_event(ev("hold_started", start_s=34.0), 34.0)
    a = r.on_event(ev("hold_ended", hold=hold(34.0, 42.0)), 42.0)
    assert r.phase == "done" and a.bell and len(r.records) == 4
    assert r.view(42.0, None).phase == "done" and instruction(r.view(42.0, None)) == "program done"


# ---- what an instructor may get wrong: each one line, exit 2, before the screen opens --------------

def _live(*args):
    import subprocess
    import sys

    # a port that is never opened: the program is checked before the terminal and the sensor
    return subprocess.run([sys.executable, "-m", "nmt_monitor", "live", "--port", "socket://127.0.0.1:9", *args],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)


def _one_line(r, *fragments):
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("nmt-monitor: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("text, message", [
    ('[[block]]\nsite = "trap\\u001b[2J"\ntarget_n = [30, 40]\n', "block[1].site: has a control character"),
    ('[[block]]\nsite = "trap"\nlabel = "a\\u0007"\ntarget_n = [30, 40]\n', "block[1].label: has a control character"),
    ('name = "x\\ny"\n[[block]]\nsite = "a"\ntarget_n = [30, 40]\n', "name: has a control character"),
    ('[defaults]\nsite = "a\\u009b"\n[[block]]\ntarget_n = [30, 40]\n', "block[1].site: has a control character"),
    ('[[block]]\nsite = "' + "x" * 300 + '"\ntarget_n = [30, 40]\n', "block[1].site: is 300 characters long"),
])
def test_program_text_with_control_characters_or_too_long_is_refused(text, message):
    with pytest.raises(ProgramError) as info:
        program_from_toml(text, "mine.toml")
    assert str(info.value).startswith("mine.toml: ") and message in str(info.value)


def test_a_multi_line_description_is_fine():
    p = program_from_toml('description = """two lines,\n\tand a tab"""\n[[block]]\nsite = "a"\ntarget_n = [30, 40]\n',
                          "mine.toml")
    assert p.description == "two lines,\n\tand a tab"


def test_a_top_level_field_is_named_without_a_leading_dot():
    with pytest.raises(ProgramError) as info:
        program_from_toml('name = 5\n[[block]]\nsite = "a"\ntarget_n = [30, 40]\n', "mine.toml")
    assert str(info.value).startswith("mine.toml: name: should be text")


def test_a_device_or_huge_file_is_one_line_not_a_memory_error(tmp_path):
    _one_line(_live("--program", "/dev/zero"), "/dev/zero", "larger than")
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 200_000)
    _one_line(_live("--program", big), "big.toml", "larger than")


def test_an_empty_program_option_is_not_ignored():
    _one_line(_live("--program", ""), "--program", "shipped")


def test_an_unknown_program_name_lists_the_shipped_ones():
    _one_line(_live("--program", "guided-then-blnd"), "guided-then-blnd: no such file", "guided-then-blind")
