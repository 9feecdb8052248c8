"""Running the ``nmt-monitor`` command as a user does: a subprocess, with checks on its errors."""

import subprocess
import sys


def run_cli(*args, timeout=60, cwd=None, **kwargs):
    """``python -m nmt_monitor ARGS...`` with captured text output."""
    return subprocess.run([sys.executable, "-m", "nmt_monitor", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, **kwargs)


def assert_one_line_error(result, *fragments, exit_code=2):
    """The command failed with ``exit_code`` and one line on stderr containing every fragment."""
    assert result.returncode == exit_code, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
