"""A class's stations from --station, a class file and --demo: what is accepted, and one line
naming the file and the field for what is not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from nmt_monitor.classroom import ClassFileError, demo_stations, load_class_file, parse_station_option

GOOD = """
[defaults]
tolerance = "60N"
target = "30N..45N"
hold_time = 20
tip = "thumb"

[[station]]
port = "/dev/ttyUSB0"
student = "Ana"
client = "partner B"

[[station]]
port = "sim://?scenario=drifting&seed=2"
student = "Ben"
tolerance = "5kgf"
target = ["20N", "30N"]
protocol = "nmt"
"""


def test_a_class_file_with_defaults(tmp_path):
    path = tmp_path / "monday.toml"
    path.write_text(GOOD)
    ana, ben = load_class_file(path)
    assert (ana.port, ana.student, ana.client, ana.tip) == ("/dev/ttyUSB0", "Ana", "partner B", "thumb")
    assert ana.tolerance_n == 60.0 and ana.target_band_n == (30.0, 45.0) and ana.hold_time_s == 20.0
    assert ben.tolerance_n == pytest.approx(49.03325) and ben.target_band_n == (20.0, 30.0)
    assert ben.protocol == "nmt" and ben.hold_time_s == 20.0
    meta = ben.metadata()
    assert meta.therapist == "Ben" and meta.tolerance_N == pytest.approx(49.03325)


@pytest.mark.parametrize("text, message", [
    ('[[station]]\nport = "a"\n', "station[1].student: is missing"),
    ('[[station]]\nport = "a"\nstudent = "A"\ntolerance = "sixty"\n', "station[1].tolerance:"),
    ('[[station]]\nport = "a"\nstudent = "A"\ntarget = "45N..30N"\n', "station[1].target:"),
    ('[[station]]\nport = "a"\nstudent = "A"\nhold_time = 0\n', "station[1].hold_time: should be a number 1-600 s"),
    ('[[station]]\nport = "a"\nstudent = "A"\ncolour = "red"\n', "station[1].colour: unknown field"),
    ('[[station]]\nport = "a"\nstudent = "A"\nprotocol = "usb"\n', "station[1].protocol: use one of"),
    ('[defaults]\nport = "a"\n[[station]]\nport = "a"\nstudent = "A"\n', "defaults.port: unknown field"),
    ('[[station]]\nport = "a"\nstudent = "A"\n[[station]]\nport = "a"\nstudent = "B"\n', "uses the port of station 1"),
    ('[teacher]\nname = "x"\n', "teacher: unknown table"),
    ("[defaults]\n", "no stations"),
    ("[[station]\n", "not valid TOML"),
])
def test_a_bad_class_file_is_one_line_naming_the_field(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ClassFileError) as info:
        load_class_file(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_station_options_and_the_demo():
    spec = parse_station_option("sim://?scenario=steady&seed=2=Ben")
    assert (spec.port, spec.student) == ("sim://?scenario=steady&seed=2", "Ben")
    with pytest.raises(ClassFileError, match="PORT=NAME"):
        parse_station_option("/dev/ttyUSB0")
    demo = demo_stations(6)
    assert len({s.port for s in demo}) == 6 and len({s.student for s in demo}) == 6
    assert all(s.port.startswith("sim://") and "rate=1000" in s.port for s in demo)
    with pytest.raises(ClassFileError):
        demo_stations(0)


@pytest.mark.parametrize("args, message", [
    (("--demo", "0"), "--demo 0"),
    (("--station", "nothing"), "PORT=NAME"),
    (("--station", "a=Ana", "--station", "a=Ben"), "uses the port of station 1"),
    (("--class", "no-such-class.toml"), "no-such-class.toml: no such file"),
    (("--demo", "2", "--tolerance", "lots"), "lots"),
    (("--demo", "2"), "needs a terminal"),
])
def test_class_command_errors_are_one_line(args, message):
    r = subprocess.run([sys.executable, "-m", "nmt_monitor", "class", *args], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmt-monitor: error:") and message in lines[0], r.stderr


# ---- what an instructor may get wrong in a class file or the options ----------------------------

STATION = '[[station]]\nport = "sim://?seed=1"\nstudent = "Ana"\n'


@pytest.mark.parametrize("text, message", [
    ('[[station]]\nport = "a"\nstudent = "\\u001b]0;x\\u0007Ana"\n', "station[1].student: has a control character"),
    ('[[station]]\nport = "a\\u001b"\nstudent = "Ana"\n', "station[1].port: has a control character"),
    (STATION + 'client = "B\\u001b[2J"\n', "station[1].client: has a control character"),
    ('[defaults]\nsite = "trap\\r"\n' + STATION, "defaults.site: has a control character"),
    ('[[station]]\nport = "a"\nstudent = "' + "A" * 300 + '"\n', "station[1].student: is 300 characters long"),
    (STATION + 'program = ""\n', "station[1].program: is empty"),
    (STATION + 'program = "no-such-program.toml"\n', "station[1].program: "),
    ('[defaults]\nprogram = "no-such-program"\n' + STATION, "defaults.program: "),
    ('[[station]]\nport = "a"\nstudent = "Ana Ben"\n[[station]]\nport = "b"\nstudent = "Ana/Ben"\n',
     "would record into the folder of station 1"),
    ('[[station]]\nport = "a"\nstudent = "Ana"\n[[station]]\nport = "b"\nstudent = "ana"\n',
     "would record into the folder of station 1"),
])
def test_class_file_mistakes_are_named(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ClassFileError) as info:
        load_class_file(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_a_class_file_program_is_found_next_to_it_and_a_bad_one_names_the_station(tmp_path):
    (tmp_path / "progs").mkdir()
    (tmp_path / "progs" / "p.toml").write_text('[[block]]\nsite = "a"\ntarget_n = [30, 400000]\n')
    path = tmp_path / "class.toml"
    path.write_text(STATION + 'program = "progs/p.toml"\n')
    with pytest.raises(ClassFileError) as info:
        load_class_file(path)
    assert "station[1].program: " in str(info.value) and "block[1].target_n" in str(info.value)


@pytest.mark.parametrize("args, message", [
    (("--class", "/dev/zero"), "larger than"),
    (("--class", "."), "is a folder"),
    (("--demo", "2", "--rate", "0"), "--rate 0"),
    (("--demo", "2", "--rate", "100000000"), "50-2000 Hz"),
    (("--demo", "2", "--program", ""), "--program is empty"),
    (("--station", "sim://?seed=1=\x1b[2JAna"), "has a control character"),
    (("--station", "a=Ana Ben", "--station", "b=Ana/Ben"), "would record into the folder of station 1"),
])
def test_more_class_command_errors_are_one_line(args, message):
    test_class_command_errors_are_one_line(args, message)


def test_a_program_in_percent_names_the_station_without_a_tolerance(tmp_path):
    path = tmp_path / "class.toml"
    path.write_text('[[station]]\nport = "socket://127.0.0.1:9"\nstudent = "Ana"\ntolerance = "60N"\n'
                    '[[station]]\nport = "socket://127.0.0.1:10"\nstudent = "Ben"\n')
    test_class_command_errors_are_one_line(("--class", path, "--program", "guided-then-blind"),
                                           "station 2 (Ben): guided-then-blind (shipped): block[1].target_pct: needs")


def test_a_program_that_would_guide_a_student_past_the_tolerance_names_the_station(tmp_path):
    (tmp_path / "heavy.toml").write_text('[[block]]\nsite = "a"\ntarget_n = [30, 50]\n')
    path = tmp_path / "class.toml"
    path.write_text('[[station]]\nport = "socket://127.0.0.1:9"\nstudent = "Ana"\ntolerance = "60N"\n'
                    '[[station]]\nport = "socket://127.0.0.1:10"\nstudent = "Ben"\ntolerance = "40N"\n')
    test_class_command_errors_are_one_line(("--class", path, "--program", str(tmp_path / "heavy.toml")),
                                           "station 2 (Ben): ")
    test_class_command_errors_are_one_line(("--class", path, "--program", str(tmp_path / "heavy.toml")),
                                           "50 N is above the client's tolerance of 40 N")
