import select
import subprocess
import sys

import pytest


class SimProcess:
    """``python -m firmware_sim`` in a subprocess; ``.url`` is the first line it prints."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "firmware_sim", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        if not ready:
            self.stop()
            raise RuntimeError("simulator printed no device path within 20 s")
        self.url = self.proc.stdout.readline().strip()
        if not self.url:
            err = self.proc.stderr.read()
            raise RuntimeError(f"simulator failed to start: {err}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start_sim():
    procs = []

    def start(*args: str) -> SimProcess:
        sim = SimProcess(*args)
        procs.append(sim)
        return sim

    yield start
    for sim in procs:
        sim.stop()
