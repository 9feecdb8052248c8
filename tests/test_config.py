"""The user config file: defaults for the commands, overridden by the command line; mistakes in
it are one line naming the file, the key and what is allowed."""

from __future__ import annotations

import tomllib

import pytest

from nmt_monitor.config import BY_KEY, load_config
from tests.cli import assert_one_line_error, run_cli


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    """Write a config file and point NMT_MONITOR_CONFIG at it (for this test and its subprocesses)."""
    path = tmp_path / "config.toml"

    def write(text: str):
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("NMT_MONITOR_CONFIG", str(path))
        return path

    return write


def test_config_prints_the_settings_in_force_and_where_each_came_from(config_file):
    path = config_file('tolerance = "6kgf"\nhold_time = 30\ntherapist = "student A"\ntarget = [30, 45]\n')
    r = run_cli("config")
    assert r.returncode == 0, r.stderr
    assert str(path) in r.stdout.splitlines()[0]
    lines = {ln.split("=")[0].strip("# ").strip(): ln for ln in r.stdout.splitlines() if "=" in ln}
    assert lines["tolerance"].startswith('tolerance = "6kgf"') and lines["tolerance"].endswith(f"# {path}")
    assert lines["target"].startswith('target = "30N..45N"')
    assert lines["units"].startswith('units = "N"') and lines["units"].endswith("# default")
    assert lines["port"].startswith("# port =") and lines["port"].endswith("# not set")
    # the output is a config file: read back, it gives the same settings
    (path.parent / "again.toml").write_text(r.stdout)
    again = load_config(path.parent / "again.toml")
    assert again.values["tolerance"] == "6kgf" and again.values["hold_time"] == 30.0 and "port" not in again.values


def test_without_a_file_every_setting_has_its_default():
    r = run_cli("config")  # the tests' NMT_MONITOR_CONFIG names a file that does not exist
    assert r.returncode == 0 and "not found" in r.stdout.splitlines()[0]
    assert "# /" not in r.stdout  # nothing came from a file


def test_settings_are_defaults_and_the_command_line_wins(config_file, tmp_path):
    from nmt_monitor.storage import open_session

    config_file(f'port = "sim://?scenario=steady&rate=200&seed=2"\ntolerance = "6kgf"\ntherapist = "student A"\n'
                f'out = "{tmp_path / "sessions"}"\n')
    (tmp_path / "sessions").mkdir()
    r = run_cli("record", "--seconds", "0.5", "--therapist", "student B", "--no-analysis")
    assert r.returncode == 0, r.stderr
    (path,) = (tmp_path / "sessions").glob("*.h5")
    assert r.stdout.strip() == str(path)
    meta = open_session(path, arrays=False).metadata
    assert meta["tolerance_N"] == pytest.approx(6 * 9.80665)  # from the file
    assert meta["therapist"] == "student B"  # the command line overrides the file


@pytest.mark.parametrize("text, fragments", [
    ('tolerence = "60N"\n', ["unknown key 'tolerence'", "tolerance"]),
    ('tolerance = "sixty"\n', ["tolerance", "sixty", "60N"]),
    ('units = "stone"\n', ["units", '"N", "kgf", "lbf", "kPa"']),
    ("hold_time = -3\n", ["hold_time", "positive number"]),
    ('target = "45..30"\n', ["target", "empty"]),
    ("port = 5\n", ["port", "string"]),
    ("port = \n", ["not valid TOML"]),
])
def test_a_bad_key_or_value_is_one_line_naming_it(config_file, text, fragments, capsys):
    from nmt_monitor.cli import main

    path = config_file(text)
    for argv in (["config"], ["live"], ["stream", "--port", "sim://", "--seconds", "0.1"]):
        assert main(argv) == 2
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("nmt-monitor: error: ") and str(path) in lines[0]
        for fragment in fragments:
            assert fragment in lines[0]
    assert_one_line_error(run_cli("config"), str(path), *fragments)  # and so it is for a user


def test_a_broken_config_does_not_break_help(config_file):
    config_file("units = 3\n")
    r = run_cli("live", "--help")
    assert r.returncode == 0 and "--units" in r.stdout


def test_config_option_names_another_file(tmp_path):
    other = tmp_path / "lab.toml"
    other.write_text('units = "kgf"\n')
    r = run_cli("--config", str(other), "config")
    assert r.returncode == 0 and 'units = "kgf"' in r.stdout and "chosen by --config" in r.stdout
    assert_one_line_error(run_cli("config", "--config", str(tmp_path / "none.toml")), "none.toml", "no such file")


def test_recover_looks_in_the_configured_output_folder(config_file, tmp_path):
    config_file(f'out = "{tmp_path / "sessions"}"\n')
    (tmp_path / "sessions").mkdir()
    r = run_cli("recover")
    assert r.returncode == 0 and f"no unfinished sessions in {tmp_path / 'sessions'}" in r.stderr


def test_commands_that_open_a_sensor_need_a_port_from_somewhere():
    assert_one_line_error(run_cli("stream", "--seconds", "0.1"), "--port", "config file")


def test_every_setting_is_an_option_of_the_commands_it_names():
    import argparse

    from nmt_monitor.cli import build_parser, subparser_of

    parser = build_parser()
    for setting in BY_KEY.values():
        for command in setting.commands:
            sub = subparser_of(parser, command)
            ns = sub.parse_args({"replay": ["x.h5"], "class": ["--demo", "1"]}.get(command, []))
            assert hasattr(ns, setting.dest_of(command)), (setting.key, command)
    assert isinstance(parser, argparse.ArgumentParser)


def test_the_shipped_example_of_a_config_file_is_valid():
    from nmt_monitor import config

    doc = config.__doc__.split("::", 1)[1].split("\n\n")[1]
    data = tomllib.loads("\n".join(line.strip() for line in doc.splitlines()))
    assert set(data) <= set(BY_KEY)
