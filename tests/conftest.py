"""Every test runs as a new user would: no user settings, no user calibration records, and
nothing written where the user's own files live.

The environment is set before any test module imports nmt_monitor and is inherited by the
subprocesses that run ``nmt-monitor``: the config file and the platform's config and data
folders point into a temporary folder that is removed at the end.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_HOME = tempfile.mkdtemp(prefix="nmt-monitor-tests-")
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)
os.environ["NMT_MONITOR_CONFIG"] = os.path.join(_HOME, "config", "nmt-monitor", "config.toml")  # absent
os.environ["XDG_CONFIG_HOME"] = os.path.join(_HOME, "config")
os.environ["XDG_DATA_HOME"] = os.path.join(_HOME, "data")
os.environ.pop("NMT_CALIBRATION_DIR", None)

_RECORDINGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recordings")


def _listing() -> set[str]:
    try:
        return set(os.listdir(_RECORDINGS))
    except OSError:
        return set()


_BEFORE = _listing()


def pytest_sessionfinish(session, exitstatus):
    """No test may write into recordings/, where the user's own sessions go by default."""
    added = sorted(_listing() - _BEFORE)
    if added:
        session.config.get_terminal_writer().line(
            f"tests wrote into {_RECORDINGS}: {', '.join(added)} (tests must write into tmp_path)", red=True)
        session.exitstatus = 1
