"""The physical world outside the firmware: the therapist's hand (a rendered scenario) on the
load cell, in world time (seconds since the simulator started).

The scenario's t=0 is set by the firmware (the first sample/reading it transmits after the
first START); before that the hand is off the sensor.  After the scenario the hand rests
(force 0) unless ``loop`` is set, in which case the scenario repeats.
"""

from __future__ import annotations

import numpy as np

from .loadcell import LoadCell, LoadCellParams
from .scenarios import Scenario, ScenarioRun, load_scenario


class World:
    def __init__(self, scenario: str | Scenario = "demo", seed: int = 0, rate_hz: float = 1000.0,
                 loop: bool = False, loadcell: LoadCell | None = None,
                 loadcell_params: LoadCellParams | None = None):
        self.scenario = load_scenario(scenario)
        self.seed = int(seed)
        self.loop = bool(loop)
        # render at the device's rate (at least 200 Hz so tremor interpolates smoothly)
        self.run: ScenarioRun = self.scenario.render(max(float(rate_hz), 200.0), self.seed)
        self.duration_s = self.run.ground_truth["duration_s"]
        self.loadcell = loadcell if loadcell is not None else LoadCell(loadcell_params, seed=self.seed)
        self.t0: float | None = None  # world time of scenario t=0

    @property
    def ground_truth(self) -> dict:
        return self.run.ground_truth

    def start_scenario(self, world_time_s: float) -> None:
        if self.t0 is None:
            self.t0 = float(world_time_s)

    def scenario_time(self, world_time_s):
        if self.t0 is None:
            return None
        return np.asarray(world_time_s, dtype=np.float64) - self.t0

    def force(self, world_time_s) -> np.ndarray:
        """True force (N) on the sensor at the given world times."""
        w = np.atleast_1d(np.asarray(world_time_s, dtype=np.float64))
        if self.t0 is None:
            return np.zeros_like(w)
        s = w - self.t0
        if self.loop and self.duration_s > 0:
            s = np.where(s >= 0, np.mod(s, self.duration_s), s)
        run = self.run
        return np.interp(s, run.time_s, run.force_n, left=0.0, right=0.0)

    def counts(self, world_time_s) -> np.ndarray:
        """Raw 24-bit ADC counts at the given (increasing) world times."""
        w = np.atleast_1d(np.asarray(world_time_s, dtype=np.float64))
        return self.loadcell.measure(w, self.force(w))
