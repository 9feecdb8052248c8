"""Real-time transports for a Simulation: a pseudo-terminal and a loopback TCP socket.

Both pace world time as ``(time.monotonic() - start) x speed`` and sleep in ``select`` until
the next thing the instrument sends (or host input), never longer than 50 ms.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import tempfile
import time
import tty
from typing import Callable, TextIO

from .session import Simulation

MAX_SLEEP_S = 0.05
MAX_PENDING = 1 << 20  # bytes queued for a host that does not read; beyond that the device overflows
HOST_GONE_GRACE_S = 2.0  # real seconds a closed host has to come back before we exit


class Clock:
    def __init__(self, speed: float = 1.0):
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.speed = speed
        self.start = time.monotonic()

    def world(self) -> float:
        return (time.monotonic() - self.start) * self.speed

    def sleep_for(self, sim: Simulation) -> float:
        nxt = sim.next_event_s()
        if nxt is None:
            return MAX_SLEEP_S
        return min(MAX_SLEEP_S, max(0.0, (nxt - self.world()) / self.speed) + 0.0005)


def _announce(out: TextIO, text: str) -> None:
    try:
        out.write(text + "\n")
        out.flush()
    except (BrokenPipeError, OSError):
        pass


class _Pty:
    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self.slave)

    def close_slave(self):
        if self.slave is not None:
            os.close(self.slave)
            self.slave = None

    def close(self):
        self.close_slave()
        if self.master is not None:
            os.close(self.master)
            self.master = None


def _point_link(link: str, target: str) -> None:
    tmp = f"{link}.tmp{os.getpid()}"
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    os.replace(tmp, link)


def serve_pty(sim: Simulation, *, speed: float = 1.0, link: str | None = None, out: TextIO,
              stop: Callable[[], bool], duration_s: float | None = None) -> int:
    auto_dir = None
    if link is None and sim.unplug_at is not None:
        auto_dir = tempfile.mkdtemp(prefix="firmware_sim-")
        link = os.path.join(auto_dir, "tty")
    pty = _Pty()
    if link:
        _point_link(link, pty.path)
    clock = Clock(speed)
    _announce(out, link or pty.path)
    pending = bytearray()
    host_seen = False  # the host has sent something: it has the port open
    gone_since: float | None = None
    generation = sim.generation
    try:
        while not stop():
            now = clock.world()
            if duration_s is not None and now >= duration_s:
                break
            unplugged = sim.is_unplugged(now)
            if unplugged and pty is not None:
                pty.close()  # the host sees EIO / hangup
                pty, pending, host_seen, gone_since = None, bytearray(), False, None
            if not unplugged and pty is None:
                pty = _Pty()
                generation = sim.generation
                if link:
                    _point_link(link, pty.path)
            if pty is None:
                time.sleep(clock.sleep_for(sim))
                continue
            wait = clock.sleep_for(sim)
            if gone_since is not None:
                if time.monotonic() - gone_since > HOST_GONE_GRACE_S:
                    break
                wait = MAX_SLEEP_S
            try:
                r, w, _ = select.select([pty.master], [pty.master] if pending else [], [], wait)
            except InterruptedError:
                continue
            now = clock.world()
            if r:
                try:
                    data = os.read(pty.master, 4096)
                except BlockingIOError:
                    data = b""
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    # every slave fd closed: the host has closed the port
                    if gone_since is None:
                        gone_since = time.monotonic()
                    pending.clear()
                    time.sleep(MAX_SLEEP_S)
                    continue
                if data:
                    gone_since = None
                    sim.write(data, now)
                    if not host_seen:
                        host_seen = True
                        pty.close_slave()  # from now on the host's close shows as EIO
            pending += sim.advance_to(now)
            if sim.generation != generation:
                continue
            if len(pending) > MAX_PENDING:
                pending.clear()
                sim.note_overflow()
            if pending and gone_since is None:
                try:
                    n = os.write(pty.master, pending)
                    del pending[:n]
                except BlockingIOError:
                    pass
                except OSError as exc:
                    if exc.errno != errno.EIO:
                        raise
                    pending.clear()
    finally:
        if pty is not None:
            pty.close()
        if auto_dir is not None:
            try:
                os.unlink(link)
                os.rmdir(auto_dir)
            except OSError:
                pass
    return 0


def serve_tcp(sim: Simulation, *, port: int, speed: float = 1.0, out: TextIO, stop: Callable[[], bool],
              duration_s: float | None = None) -> int:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.setblocking(False)
    clock = Clock(speed)
    _announce(out, f"socket://127.0.0.1:{srv.getsockname()[1]}")
    conn: socket.socket | None = None
    pending = bytearray()
    gone_since: float | None = None

    def drop():
        nonlocal conn
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass
            conn = None
        pending.clear()

    try:
        while not stop():
            now = clock.world()
            if duration_s is not None and now >= duration_s:
                break
            unplugged = sim.is_unplugged(now)
            if unplugged:
                drop()
            if gone_since is not None and conn is None and time.monotonic() - gone_since > HOST_GONE_GRACE_S:
                break
            rlist = [srv] + ([conn] if conn is not None else [])
            wlist = [conn] if conn is not None and pending else []
            try:
                r, w, _ = select.select(rlist, wlist, [], clock.sleep_for(sim))
            except InterruptedError:
                continue
            now = clock.world()
            if srv in r:
                try:
                    new, _ = srv.accept()
                except BlockingIOError:
                    new = None
                if new is not None:
                    if unplugged or conn is not None:
                        new.close()  # unplugged (or busy): refused
                    else:
                        new.setblocking(False)
                        new.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                        conn, gone_since = new, None
                        sim.advance_to(now)  # nothing sent before the host connected reaches it
            if conn is not None and conn in r:
                try:
                    data = conn.recv(4096)
                except BlockingIOError:
                    data = None
                except OSError:
                    data = b""
                if data == b"":
                    drop()
                    gone_since = time.monotonic()
                elif data:
                    sim.write(data, now)
            out_bytes = sim.advance_to(now)
            if conn is not None:
                pending += out_bytes
                if len(pending) > MAX_PENDING:
                    pending.clear()
                    sim.note_overflow()
                if pending:
                    try:
                        n = conn.send(pending)
                        del pending[:n]
                    except BlockingIOError:
                        pass
                    except OSError:
                        drop()
                        gone_since = time.monotonic()
    finally:
        drop()
        srv.close()
    return 0
