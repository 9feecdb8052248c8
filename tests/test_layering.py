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


@pytest.mark.parametrize("package", ["nmt_monitor.acquisition", "nmt_monitor.cli", "nmt_monitor.dsp"])
def test_nothing_imports_the_tui(package):
    loaded = modules_loaded_by(f"import {package}")
    assert not any(name.startswith("nmt_monitor.tui") for name in loaded)
