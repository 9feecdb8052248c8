"""The layering rules of design.md, checked in fresh interpreters."""

import json
import subprocess
import sys

import pytest


def modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_dsp_imports_only_numpy_and_scipy():
    loaded = top_level(modules_loaded_by("import nmt_monitor.dsp, pkgutil, importlib\n"
                                         "for m in pkgutil.walk_packages(nmt_monitor.dsp.__path__, 'nmt_monitor.dsp.'):\n"
                                         "    importlib.import_module(m.name)"))
    for forbidden in ("textual", "serial", "h5py", "firmware_sim"):
        assert forbidden not in loaded, f"nmt_monitor.dsp pulls in {forbidden}"


def test_firmware_sim_never_imports_nmt_monitor():
    loaded = modules_loaded_by(
        "import firmware_sim, pkgutil, importlib\n"
        "for m in pkgutil.walk_packages(firmware_sim.__path__, 'firmware_sim.'):\n"
        "    importlib.import_module(m.name)"
    )
    assert not any(name == "nmt_monitor" or name.startswith("nmt_monitor.") for name in loaded)


@pytest.mark.parametrize("package", ["nmt_monitor.acquisition", "nmt_monitor.cli", "nmt_monitor.dsp",
                                     "nmt_monitor.station"])
def test_nothing_imports_the_tui(package):
    loaded = modules_loaded_by(f"import {package}")
    assert not any(name.startswith("nmt_monitor.tui") for name in loaded)


def test_only_live_and_replay_import_the_tui():
    """Every module outside nmt_monitor.tui (bar the two commands that run it) leaves it unloaded."""
    loaded = modules_loaded_by(
        "import importlib, pathlib, nmt_monitor\n"
        "root = pathlib.Path(nmt_monitor.__file__).parent\n"
        "allowed = ('nmt_monitor.tui', 'nmt_monitor.commands.live', 'nmt_monitor.commands.replay', 'nmt_monitor.__main__')\n"
        "for f in sorted(root.rglob('*.py')):\n"
        "    parts = f.relative_to(root.parent).with_suffix('').parts\n"
        "    name = '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)\n"
        "    if not name.startswith(allowed):\n"
        "        importlib.import_module(name)\n"
        "import nmt_monitor.cli; nmt_monitor.cli.build_parser()"
    )
    assert not any(name.startswith("nmt_monitor.tui") for name in loaded)
    assert "textual" not in top_level(loaded)


def test_the_station_is_library_without_textual():
    """A station (model, sources, clock, the pipeline) and the braille drawing work without
    Textual: record drives a station headless."""
    loaded = modules_loaded_by("import nmt_monitor.station, nmt_monitor.tui.braille")
    assert "textual" not in top_level(loaded)
