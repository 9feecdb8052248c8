"""The live/replay commands as a user runs them: one-line errors, never a traceback."""

import subprocess
import sys

import pytest

from tests.examples import STEADY


def nmt(*args, **kw):
    return subprocess.run([sys.executable, "-m", "nmt_monitor", *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, **kw)


def test_live_help():
    r = nmt("live", "--help")
    assert r.returncode == 0
    for flag in ("--port", "--protocol", "--tolerance", "--target", "--hold-time", "--client", "--out", "--record"):
        assert flag in r.stdout


def test_replay_help():
    r = nmt("replay", "--help")
    assert r.returncode == 0 and "--speed" in r.stdout


@pytest.mark.parametrize("args, message", [
    (("replay", "no-such-file.h5"), "no-such-file.h5: no such file"),
    (("replay", "pyproject.toml"), "pyproject.toml"),
    (("replay", STEADY, "--speed", "0"), "--speed"),
    (("live", "--port", "sim://"), "needs a terminal"),
    (("live", "--tolerance", "sixty"), "sixty"),
])
def test_one_line_errors(args, message):
    r = nmt(*args)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmt-monitor: error:") and message in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_default_command_is_the_live_monitor():
    from nmt_monitor.cli import DEFAULT_ARGV

    assert DEFAULT_ARGV == ("live", "--port", "sim://")
