"""Start-up stays short: which modules a command loads, checked in a fresh interpreter.

Wall-clock figures are printed by benchmarks/bench_startup.py; these tests pin down the
imports that made start-up slow (NumPy and the sensor link for ``--help``, scipy.signal in the
simulator), so a regression shows up here on any machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from nmt_monitor.cli import COMMANDS

#: Nothing a help page needs; each costs tens of milliseconds or more to import.
HEAVY = ("numpy", "scipy", "h5py", "serial", "textual", "rich", "matplotlib", "firmware_sim",
         "nmt_monitor.acquisition", "nmt_monitor.dsp", "nmt_monitor.storage", "nmt_monitor.calibration",
         "nmt_monitor.research", "nmt_monitor.tui")


def modules_after(argv: list[str], cwd=None) -> set[str]:
    """Modules loaded by ``nmt-monitor ARGV`` (its exit status ignored)."""
    code = ("import sys, json\nfrom nmt_monitor.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, timeout=120)
    line = [ln for ln in r.stderr.splitlines() if ln.startswith("MODULES ")]
    assert line, r.stderr
    return set(json.loads(line[-1][len("MODULES "):]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted({h for h in HEAVY for m in modules if m == h or m.startswith(h + ".")})


@pytest.mark.parametrize("argv", [["--help"]] + [[name, "--help"] for name in COMMANDS], ids=" ".join)
def test_help_loads_nothing_heavy(argv):
    assert heavy_in(modules_after(argv)) == []


def test_help_imports_only_the_chosen_command():
    loaded = modules_after(["stream", "--help"])
    commands = {m for m in loaded if m.startswith("nmt_monitor.commands.")}
    assert commands <= {"nmt_monitor.commands.stream", "nmt_monitor.commands.argtypes"}


@pytest.fixture(scope="module")
def analyze_modules(tmp_path_factory) -> set[str]:
    """Modules loaded by ``nmt-monitor analyze`` of a small CSV."""
    tmp = tmp_path_factory.mktemp("startup")
    t = np.arange(0, 20, 0.01)
    np.savetxt(tmp / "f.csv", np.c_[t, np.where((t > 3) & (t < 15), 30.0, 0.0)], delimiter=",",
               header="time_s,force_N", comments="", fmt="%.3f")
    return modules_after(["analyze", "f.csv"], cwd=tmp)


def test_analyze_of_a_csv_loads_neither_the_screen_nor_the_sensor_link(analyze_modules):
    loaded = analyze_modules
    assert "nmt_monitor.dsp" in loaded  # it did analyse
    for name in ("textual", "rich", "h5py", "matplotlib", "firmware_sim", "nmt_monitor.tui"):
        assert name not in loaded, name


def test_the_simulator_does_not_import_scipy():
    code = ("import sys, firmware_sim.protocol_sim, firmware_sim.session, firmware_sim.cli\n"
            "print(any(m == 'scipy' or m.startswith('scipy.') for m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert r.stdout.strip() == "False"


def test_analyze_of_a_csv_does_not_import_scipy_signal(analyze_modules):
    assert "scipy.signal" not in analyze_modules
