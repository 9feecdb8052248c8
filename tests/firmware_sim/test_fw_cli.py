import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
import serial

pytestmark = pytest.mark.slow


def launch(*args):
    return subprocess.Popen([sys.executable, "-m", "firmware_sim", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def first_line(proc, timeout=20.0):
    r, _, _ = select.select([proc.stdout], [], [], timeout)
    assert r, "simulator printed nothing"
    return proc.stdout.readline().strip()


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return err


def collect(read, parse, want, timeout=10.0):
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        buf += read()
        frames, _ = parse(buf)
        if sum(k == "D" for k, _ in frames) >= want:
            return frames
    raise AssertionError(f"only {parse(buf)[0][:3]}...")


def test_pty_round_trip(parse, tmp_path):
    truth = tmp_path / "truth.json"
    proc = launch("--pty", "--speed", "20", "--scenario", "steady", "--seed", "2", "--rate", "2000",
                  "--ground-truth", str(truth))
    try:
        path = first_line(proc)
        assert path.startswith("/dev/")
        port = serial.Serial(path, timeout=0.05)
        port.write(b"START\n")
        frames = collect(lambda: port.read(port.in_waiting or 1), parse, 20)
        assert frames[0] == ("R", "OK START")
        d = [f for k, f in frames if k == "D"]
        assert d[0]["seq"] == 0 and d[0]["iv"] == 500 and d[0]["n"] == 20
        assert [f["first"] for f in d] == [20 * i for i in range(len(d))]
        port.close()
        g = json.loads(truth.read_text())
        assert g["scenario"] == "steady" and g["rate_hz"] == 2000.0 and g["holds"]
    finally:
        stop(proc)


def test_pty_unplug_repoints_link(parse):
    proc = launch("--pty", "--speed", "10", "--scenario", "steady", "--unplug-at", "2", "--unplug-for", "3")
    try:
        link = first_line(proc)
        assert os.path.islink(link)
        first_link = os.lstat(link).st_ino
        port = serial.Serial(link, timeout=0.05)
        port.write(b"START\n")
        with pytest.raises((OSError, serial.SerialException)):
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                port.read(port.in_waiting or 1)
        port.close()
        deadline = time.monotonic() + 5
        while os.lstat(link).st_ino == first_link or not os.path.exists(link):  # repointed (pts numbers get reused)
            assert time.monotonic() < deadline
            time.sleep(0.02)
        port = serial.Serial(link, timeout=0.05)
        port.write(b"START\n")
        d = [f for k, f in collect(lambda: port.read(port.in_waiting or 1), parse, 2) if k == "D"]
        assert d[0]["seq"] == 0 and d[0]["first"] == 0
        port.close()
    finally:
        stop(proc)


def test_tcp_and_gauge(parse):
    proc = launch("--tcp", "0", "--speed", "5", "--gauge", "wagner", "--gauge-unit", "kgf")
    try:
        url = first_line(proc)
        host, port_no = url.removeprefix("socket://").split(":")
        assert host == "127.0.0.1"
        s = socket.create_connection((host, int(port_no)), timeout=5)
        s.sendall(b"?\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            line += s.recv(100)
        assert line.endswith(b" kgf\r\n") and line[:2] in (b"+ ", b"- ")
        s.close()
    finally:
        stop(proc)


def test_tcp_device_stream(parse):
    proc = launch("--tcp", "0", "--speed", "10", "--scenario", "demo")
    try:
        url = first_line(proc)
        port = serial.serial_for_url(url, timeout=0.05)
        port.write(b"START\n")
        d = [f for k, f in collect(lambda: port.read(port.in_waiting or 1), parse, 5) if k == "D"]
        assert d[0]["seq"] == 0
        port.close()
    finally:
        stop(proc)


@pytest.mark.parametrize("args,needle", [
    (["--scenario", "no_such"], "no_such"),
    (["--rate", "10"], "rate"),
    (["--rate", "abc"], "rate"),
])
def test_errors_exit_2(args, needle, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "firmware_sim", *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]


def test_bad_scenario_file_exit_2(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[segments]]\nkind = "hold"\nlevel_n = 20\nhold_s = "long"\n')
    proc = subprocess.run([sys.executable, "-m", "firmware_sim", "--scenario", str(bad)], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2 and "hold_s" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_tcp_unplug_refuses_then_reboots(parse):
    proc = launch("--tcp", "0", "--speed", "10", "--scenario", "steady", "--unplug-at", "1.5", "--unplug-for", "3")
    try:
        host, port_no = first_line(proc).removeprefix("socket://").split(":")
        s = socket.create_connection((host, int(port_no)), timeout=5)
        s.sendall(b"START\n")
        got = b""
        while True:
            try:
                chunk = s.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                break  # the device went away
            got += chunk
        assert any(k == "D" for k, _ in parse(got)[0])
        s.close()
        t_end = time.monotonic() + 5
        while True:  # refused (closed at once) while unplugged, then accepted
            s = socket.create_connection((host, int(port_no)), timeout=5)
            s.settimeout(0.3)
            try:
                s.sendall(b"START\n")
            except (ConnectionResetError, BrokenPipeError):
                pass
            try:
                data = s.recv(4096)
            except (socket.timeout, ConnectionResetError, BrokenPipeError):
                data = None
            if data:
                break
            s.close()
            assert time.monotonic() < t_end
        buf = data
        while sum(k == "D" for k, _ in parse(buf)[0]) < 2:
            buf += s.recv(4096)
        d = [f for k, f in parse(buf)[0] if k == "D"]
        assert d[0]["seq"] == 0 and d[0]["first"] == 0
        s.close()
    finally:
        stop(proc)
