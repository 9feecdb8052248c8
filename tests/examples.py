"""The example sessions that ship in recordings/, by name.

Tests read these three files only, by their names, and never list, copy or write the
recordings/ folder as a whole: it is also where a user's own sessions go by default, and a
session recorded there must not change what a test sees.
"""

from pathlib import Path

RECORDINGS = Path(__file__).resolve().parents[1] / "recordings"
NAMES = ("example-steady", "example-drifting", "example-over-tolerance")
EXAMPLES = {name: RECORDINGS / f"{name}.h5" for name in NAMES}
STEADY = EXAMPLES["example-steady"]
