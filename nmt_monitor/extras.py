"""Optional parts of nmt-monitor: the research stack is an extra, so a therapist's install stays lean.

``pip install 'nmt-monitor[research]'`` brings pandas, pyarrow, pynwb, pylsl and dask. A command
or function that needs one of them imports it through ``require``; without it the user gets one
line saying what to install (``MissingExtra``: a ``UserError`` with exit code 2 for the command
line, and an ``ImportError`` for Python callers).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from nmt_monitor.errors import UserError

INSTALL_RESEARCH = "pip install 'nmt-monitor[research]'"

#: module -> (the package that brings it, what it is for here)
RESEARCH_MODULES = {
    "pandas": ("pandas", "tables as DataFrames"),
    "pyarrow": ("pyarrow", "Parquet files"),
    "pyarrow.parquet": ("pyarrow", "Parquet files"),
    "pynwb": ("pynwb", "NWB files"),
    "pylsl": ("pylsl", "Lab Streaming Layer"),
    "dask": ("dask", "Dask clusters"),
    "distributed": ("dask[distributed]", "Dask clusters"),
}


class MissingExtra(UserError, ImportError):
    """An optional package is not installed (or cannot be loaded): one line saying what to install."""

    def __init__(self, message: str) -> None:
        UserError.__init__(self, message)


def require(module: str, feature: str) -> ModuleType:
    """``import module`` for ``feature`` (e.g. "--parquet"), or ``MissingExtra`` naming what to install."""
    package, _ = RESEARCH_MODULES.get(module, (module.split(".")[0], ""))
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or package
        raise MissingExtra(f"{feature} needs {package} (not installed: {missing}); "
                           f"install the research extra: {INSTALL_RESEARCH}") from None
    except (OSError, RuntimeError) as exc:  # e.g. a shared library that does not load
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MissingExtra(f"{feature} needs {package}, which cannot be loaded ({first}); "
                           f"reinstall it: {INSTALL_RESEARCH}") from None
