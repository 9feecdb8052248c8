"""`nmt-monitor stream` refuses ports it cannot use with one line and exit code 2."""

import os
import tty

import pytest
import serial

from tests.cli import assert_one_line_error, run_cli


def test_port_that_does_not_exist():
    result = run_cli("stream", "--port", "/dev/ttyNMT_NO_SUCH_PORT", "--seconds", "1")
    assert_one_line_error(result, "/dev/ttyNMT_NO_SUCH_PORT", "no such device")


@pytest.fixture
def silent_pty():
    leader, follower = os.openpty()
    tty.setraw(follower)
    path = os.ttyname(follower)
    yield path
    os.close(follower)
    os.close(leader)


@pytest.mark.slow
def test_port_with_no_sensor_behind_it(silent_pty):
    result = run_cli("stream", "--port", silent_pty, "--seconds", "1")
    assert_one_line_error(result, silent_pty, "no sensor answered")


def test_port_busy(silent_pty):
    holder = serial.Serial(silent_pty, exclusive=True)
    try:
        result = run_cli("stream", "--port", silent_pty, "--seconds", "1")
    finally:
        holder.close()
    assert_one_line_error(result, silent_pty, "busy")


def test_rate_out_of_range():
    result = run_cli("stream", "--port", "sim://", "--rate", "5000")
    assert_one_line_error(result, "--rate", "50-2000")


def test_bad_url():
    result = run_cli("stream", "--port", "bogus://x", "--seconds", "1")
    assert_one_line_error(result, "bogus://x")
