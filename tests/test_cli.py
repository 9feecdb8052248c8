"""The ``nmt-monitor`` command line as a user meets it: the default command, help pages,
mistakes, renamed options."""

from __future__ import annotations

import pytest

from nmt_monitor.cli import main
from tests.cli import run_cli


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
