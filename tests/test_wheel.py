"""The package installs anywhere: build the wheel, install it into a fresh venv, and use it from
an empty folder as a new user would (no source tree, no settings, an empty data folder).

Slow (~15-40 s: mostly pip unpacking NumPy, SciPy and Matplotlib from the local wheel cache),
but part of the suite: only an installed wheel shows files missing from the package or writes
into site-packages. pip runs with the machine's own configuration (index, wheel cache).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.examples import STEADY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def pip(*args: str, cwd=None) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args], capture_output=True,
                       text=True, cwd=cwd, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv bin folder, environment of a new user, an empty working folder)."""
    tmp = tmp_path_factory.mktemp("wheel")
    pip("wheel", "--no-deps", "--quiet", "--wheel-dir", str(tmp / "dist"), str(ROOT))
    (wheel,) = (tmp / "dist").glob("nmt_monitor-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # --no-compile: byte-compiling SciPy and Matplotlib would take longer than installing them
    pip("--python", str(python), "install", "--quiet", "--no-compile", str(wheel))
    home = tmp / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NMT_", "PYTHON", "XDG_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    work = tmp / "work"
    work.mkdir()
    return venv / "bin", env, work, home


def run(installed, *args, timeout=120) -> subprocess.CompletedProcess:
    bin_dir, env, work, _ = installed
    return subprocess.run([str(bin_dir / "nmt-monitor"), *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=work, stdin=subprocess.DEVNULL, timeout=timeout)


def package_files(installed) -> set[Path]:
    bin_dir = installed[0]
    r = subprocess.run([str(bin_dir / "python"), "-c", "import nmt_monitor; print(nmt_monitor.__file__)"],
                       capture_output=True, text=True, env=installed[1], cwd=installed[2], check=True)
    package = Path(r.stdout.strip()).parent
    assert "site-packages" in package.parts, package  # the wheel's copy, not the source tree
    return {p for p in package.parent.rglob("*") if "__pycache__" not in p.parts}


def test_the_installed_wheel_works_from_an_empty_folder(installed):
    before = package_files(installed)
    r = run(installed, "--help")
    assert r.returncode == 0 and "usage: nmt-monitor" in r.stdout and "examples:" in r.stdout

    # the simulator's calibration record ships with the package: ~0 N with nothing on the sensor
    r = run(installed, "stream", "--port", "sim://?scenario=calibration&rate=200", "--seconds", "0.5")
    assert r.returncode == 0 and "calibration" not in r.stderr, r.stderr  # no "no calibration record" warning
    forces = [float(line.split(",")[1]) for line in r.stdout.splitlines()[1:]]
    assert len(forces) > 20 and abs(sum(forces) / len(forces)) < 0.2

    example = installed[2] / "example-steady.h5"
    example.write_bytes(STEADY.read_bytes())
    r = run(installed, "analyze", example.name, "--json")
    assert r.returncode == 0, r.stderr
    assert '"holds"' in r.stdout and '"start_s"' in r.stdout

    # calibrate writes into the user data folder it is pointed at, never into site-packages
    r = run(installed, "calibrate", "--port", "sim://?scenario=calibration&rate=200&speed=20", "--loads", "0,100,200",
            "--repeats", "1", "--yes")
    assert r.returncode == 0, r.stderr
    record = installed[3] / "data" / "nmt-monitor" / "calibration" / "SIM-0001.toml"
    assert r.stdout.strip() == str(record) and record.is_file()
    assert package_files(installed) == before
    assert sorted(p.name for p in installed[2].iterdir()) == ["example-steady.h5"]

    r = run(installed, "config")
    assert r.returncode == 0 and f'calibration_dir = "{record.parent}"' in r.stdout
