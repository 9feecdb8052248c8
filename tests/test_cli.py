"""The ``nmt-monitor`` command line as a user meets it: the default command, help pages,
mistakes, renamed options."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from nmt_monitor.cli import COMMANDS, main, route
from tests.cli import assert_one_line_error, run_cli


def help_text(capsys, *argv) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv, routed", [
    ([], ["live"]),
    (["--tolerance", "60N"], ["live", "--tolerance", "60N"]),
    (["--record"], ["live", "--record"]),
    (["-v", "--log-file", "x.log", "--port", "COM3"], ["-v", "--log-file", "x.log", "live", "--port", "COM3"]),
    (["--config=lab.toml", "--record"], ["--config=lab.toml", "live", "--record"]),
    (["--config", "lab.toml"], ["--config", "lab.toml", "live"]),
    (["--help"], ["--help"]),
    (["--version"], ["--version"]),
    (["analyze", "x.csv"], ["analyze", "x.csv"]),
    (["-vv", "stream", "--port", "sim://"], ["-vv", "stream", "--port", "sim://"]),
    (["anlyze"], ["anlyze"]),
])
def test_options_without_a_command_go_to_live(argv, routed):
    assert route(argv) == routed


def test_leading_options_reach_the_live_monitor():
    # the live monitor checked the options, then refused to run without a terminal
    assert_one_line_error(run_cli("--tolerance", "60N", "--record", stdin=subprocess.DEVNULL), "needs a terminal")
    assert_one_line_error(run_cli("--tolerance", "sixty", stdin=subprocess.DEVNULL), "sixty")


def test_a_mistake_after_a_command_shows_that_commands_usage():
    r = run_cli("stream", "--port", "sim://", "--seconds", "1", "--bogus")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    usage, error = r.stderr.strip().splitlines()
    assert usage.startswith("usage: nmt-monitor stream ") and "nmt-monitor stream --help" in usage
    assert error == "nmt-monitor stream: error: unrecognized arguments: --bogus"
    r = run_cli("analyze")
    usage, error = r.stderr.strip().splitlines()
    assert usage.startswith("usage: nmt-monitor analyze [options] PATH") and "required: PATH" in error


def test_unknown_command_names_the_commands():
    r = run_cli("anlyze", "x.csv")
    assert r.returncode == 2 and "invalid choice: 'anlyze'" in r.stderr and "'analyze'" in r.stderr


def test_the_old_unit_option_says_what_it_became(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["live", "--unit", "kgf"])
    assert exc.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--unit is now --gauge-unit" in error and "--units" in error


def test_gauge_unit_reaches_the_gauge_reader():
    r = run_cli("stream", "--port", "sim://?gauge=plain&gauge_unit=kgf&scenario=steady&seed=1", "--protocol", "gauge",
                "--gauge-unit", "kgf", "--seconds", "1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("time_s,force_N\n") and len(r.stdout.splitlines()) > 3


@pytest.mark.slow
def test_gauge_capacity_refuses_lines_beyond_the_gauges_full_scale():
    """A plain gauge's lines above --gauge-capacity are line noise, not readings; the same
    session with a capacity above its forces keeps them."""
    def forces(capacity):
        r = run_cli("stream", "--port", "sim://?gauge=plain&scenario=demo&seed=1", "--protocol", "gauge",
                    "--seconds", "6", "--gauge-capacity", capacity)
        assert r.returncode == 0, r.stderr
        return [float(line.split(",")[1]) for line in r.stdout.splitlines()[1:]], r.stderr

    wide, _ = forces("1000N")
    narrow, warnings = forces("20N")
    assert max(wide) > 30.0, "the demo should press above 30 N within 6 s"
    assert narrow and max(narrow) <= 20.0
    assert "no readings" in warnings


@pytest.mark.parametrize("capacity, fragment", [("=0N", "a positive force"), ("=5furlongs", "unknown force unit")])
def test_a_bad_gauge_capacity_is_one_line(capacity, fragment):
    assert_one_line_error(run_cli("stream", "--port", "sim://", "--seconds", "1", "--gauge-capacity" + capacity),
                          "--gauge-capacity", fragment)


def test_every_command_has_a_help_page_with_examples(capsys):
    top = help_text(capsys, "--help")
    assert "examples:" in top and "Options before any command go to 'live'" in top
    for name in COMMANDS:
        assert name in top
        page = help_text(capsys, name, "--help")
        assert page.startswith(f"usage: nmt-monitor {name}")
        examples = page.split("examples:", 1)[1]
        assert f"nmt-monitor {name}" in examples
        for flag in ("--verbose", "--log-file", "--config"):
            assert flag in page


def test_help_never_points_at_files_an_installed_package_lacks(capsys):
    for argv in [["--help"]] + [[name, "--help"] for name in COMMANDS]:
        page = help_text(capsys, *argv)
        assert "docs/" not in page and ".md" not in page, argv


def test_command_summaries_are_the_modules_own():
    for name, summary in COMMANDS.items():
        assert importlib.import_module(f"nmt_monitor.commands.{name}").HELP == summary


def test_replay_of_a_csv_says_replay_takes_sessions(tmp_path):
    csv = tmp_path / "force.csv"
    csv.write_text("time_s,force_N\n0,1\n")
    assert_one_line_error(run_cli("replay", csv), "replay takes .h5 sessions", "nmt-monitor analyze")


def test_the_simulators_help_lists_its_scenarios():
    from firmware_sim.scenarios import list_scenarios

    r = subprocess.run([sys.executable, "-m", "firmware_sim", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    listed = r.stdout.split("scenarios", 1)[1]
    for name in list_scenarios():
        assert f"\n  {name} " in listed
    assert "examples:" in r.stdout
