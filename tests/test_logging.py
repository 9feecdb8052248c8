"""-v/--verbose and --log-file: diagnostics through logging, for a user to send when a sensor misbehaves."""

from __future__ import annotations

import logging

import pytest

from nmt_monitor.logs import configure_logging
from tests.cli import assert_one_line_error, run_cli


@pytest.fixture(autouse=True)
def quiet_again():
    yield
    configure_logging(0, None)  # what a run without -v leaves behind


def test_verbosity_levels_and_the_log_file(tmp_path, capsys):
    log = tmp_path / "link.log"
    link = logging.getLogger("nmt_monitor.link")

    configure_logging(0, None)
    link.info("sent START")
    assert capsys.readouterr().err == ""  # without -v nothing from logging reaches stderr

    configure_logging(1, str(log))
    link.info("sent START")
    link.debug("received 64 bytes")
    err = capsys.readouterr().err
    assert "nmt-monitor: INFO nmt_monitor.link: sent START" in err and "received" not in err

    configure_logging(2, None)
    link.debug("received 64 bytes")
    assert "DEBUG nmt_monitor.link: received 64 bytes" in capsys.readouterr().err

    text = log.read_text()
    # the file has everything, with timestamps, and what produced it
    assert "nmt-monitor 0.1.0, Python" in text
    assert "INFO    nmt_monitor.link [MainThread] sent START" in text
    assert "DEBUG   nmt_monitor.link [MainThread] received 64 bytes" in text
    assert text.splitlines()[0][:4].isdigit()


def test_global_options_work_before_and_after_the_command(tmp_path):
    before, after = tmp_path / "before.log", tmp_path / "after.log"
    r = run_cli("-v", "--log-file", before, "stream", "--port", "sim://?scenario=steady&rate=200", "--seconds", "0.3")
    assert r.returncode == 0, r.stderr
    assert "INFO nmt_monitor: nmt-monitor 0.1.0" in r.stderr and r.stdout.startswith("time_s,force_N")
    r = run_cli("stream", "--port", "sim://?scenario=steady&rate=200", "--seconds", "0.3", "--log-file", after)
    assert r.returncode == 0 and "INFO" not in r.stderr and "DEBUG" not in r.stderr  # --log-file alone: quiet stderr
    for log in (before, after):
        assert "arguments:" in log.read_text() and "stream --port sim://" in log.read_text()


def test_an_unwritable_log_file_is_one_line(tmp_path):
    assert_one_line_error(run_cli("--log-file", tmp_path / "no" / "such" / "dir.log", "ports"), "--log-file", "dir.log")
