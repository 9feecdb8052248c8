"""``nmt-monitor calibrate``: tare, known loads loading and unloading, repeated; fit; write the record.

Interactive by default (``place 50 N on the sensor, press Enter``); ``--yes`` takes every reading
without asking, as soon as the sensor rests on a stable plateau near the expected load (judged
with the sensor's nominal sensitivity), which is how dead weights applied on a schedule, or the
simulator's ``calibration`` scenario, are read. See docs/calibration.md.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

from nmt_monitor.commands.stream import add_connection_arguments, make_reader
from nmt_monitor.errors import UserError
from nmt_monitor.units import UnitError, parse_force_n

if TYPE_CHECKING:  # NumPy and the calibration code are imported when the command runs (fast --help)
    import numpy as np

HELP = "calibrate a sensor with known loads and write its calibration record"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "calibrate", help=HELP,
        description=HELP + " <serial>.toml in the calibration folder (--calibration-dir; default: calibration/ in the "
        "user data folder, 'nmt-monitor config' shows it). Tare (no load), then known loads across the range, "
        "loading and unloading, "
        "repeated; least-squares fit; reports non-linearity, hysteresis and repeatability in % of full "
        "scale. Interactive unless --yes.",
    )
    add_connection_arguments(parser)
    parser.add_argument("--loads", metavar="F,F,...",
                        help="known loads, starting at 0 and increasing, units allowed: 0,50,100,150,200 or "
                        "0,5kg,10kg (default: 0, 25, 50, 75 and 100 %% of the sensor's full scale)")
    parser.add_argument("--repeats", type=int, default=2, help="loading/unloading cycles (default 2)")
    parser.add_argument("--yes", action="store_true",
                        help="do not prompt: take each reading when the load rests on a stable plateau near the "
                        "expected value (dead weights on a schedule, or sim://?scenario=calibration)")
    parser.add_argument("--window", type=float, default=1.0, metavar="S",
                        help="a reading averages this many seconds of a stable load (default 1.0)")
    parser.add_argument("--stable", metavar="F",
                        help="a load is stable when the standard deviation over the window is below this "
                        "(default: 0.1 %% of full scale, at least 0.2N)")
    parser.add_argument("--timeout", type=float, default=120.0, metavar="S",
                        help="give up when a load is not read within S seconds (default 120)")
    parser.add_argument("--dry-run", action="store_true", help="fit and report, but do not write the record")
    parser.set_defaults(run=run)


class _Window:
    """The last ``window_s`` seconds of raw counts (device time when the sensor sends it)."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self.t: deque[np.ndarray] = deque()
        self.c: deque[np.ndarray] = deque()

    def clear(self) -> None:
        self.t.clear()
        self.c.clear()

    def add(self, t: np.ndarray, counts: np.ndarray) -> None:
        import numpy as np

        self.t.append(t)
        self.c.append(counts.astype(np.float64))
        while len(self.t) > 1 and self.t[-1][-1] - self.t[1][0] >= self.window_s:
            self.t.popleft()
            self.c.popleft()

    def reading(self):
        """(mean, sd, n) over exactly the last window, or None if not a full window yet."""
        import numpy as np

        if not self.t:
            return None
        t = np.concatenate(self.t)
        if t[-1] - t[0] < self.window_s * 0.98:
            return None
        c = np.concatenate(self.c)
        c = c[t >= t[-1] - self.window_s]
        return float(c.mean()), float(c.std()), int(c.size)


class Calibrator:
    """Takes readings from a started ``SensorReader``."""

    def __init__(self, reader, window_s: float, stable_n: float, timeout_s: float, out=sys.stderr) -> None:
        info = reader.info
        self.reader = reader
        self.window = _Window(window_s)
        cpn = info.counts_per_n or 0.0
        if cpn <= 0 and info.calibration is not None:
            cpn = 1.0 / info.calibration.gain_n_per_count
        if cpn <= 0:
            raise UserError("the sensor reports no nominal sensitivity (counts_per_n); cannot judge stability")
        self.counts_per_n = cpn
        self.stable_counts = stable_n * cpn
        self.timeout_s = timeout_s
        self.out = out

    def untare(self) -> None:
        """Make the sensor send absolute counts (a record's offset is the untared zero)."""
        self.reader.send_command("UNTARE")
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            item = self.reader.get(timeout=0.1)
            if item is not None and getattr(item, "kind", "") == "reply" and "UNTARE" in item.detail.get("text", "").upper():
                break
        self.reader.drain()  # anything before the reply may still be tared
        self.window.clear()

    def read(self, accept=lambda mean: True, label: str = ""):
        """Wait for a stable window whose mean ``accept``s, then average the next window (so the
        tail of the ramp onto the load is never in the reading); return (mean, sd, n)."""
        first = self._stable(accept, label)
        return self._stable(lambda mean: abs(mean - first[0]) <= self.stable_counts, label)

    def _stable(self, accept, label: str):
        import numpy as np

        from nmt_monitor.acquisition import LinkEvent, SampleBlock

        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            item = self.reader.get(timeout=0.1)
            if isinstance(item, SampleBlock):
                if item.counts is None:
                    raise UserError("calibrate needs raw counts from an NMT sensor; a force gauge is calibrated by its maker")
                t = item.device_time_s if np.all(np.isfinite(item.device_time_s)) else item.host_time_s
                self.window.add(t, item.counts)
                if np.any(item.saturated):
                    self.window.clear()
                    continue
                r = self.window.reading()
                if r is not None and r[1] <= self.stable_counts and accept(r[0]):
                    self.window.clear()
                    return r
            elif isinstance(item, LinkEvent) and item.kind in ("disconnected", "device_reset", "gap"):
                print(f"nmt-monitor: warning: {item.kind} during calibration; waiting for a fresh stable reading",
                      file=self.out, flush=True)
                self.window.clear()
            elif isinstance(item, LinkEvent) and item.kind == "warning":
                print(f"nmt-monitor: warning: {item.detail.get('message')}", file=self.out, flush=True)
        raise UserError(f"no stable reading{label} within {self.timeout_s:g} s; nothing written")


def run(args) -> int:
    import numpy as np

    from nmt_monitor import __version__
    from nmt_monitor.calibration import (
        CalibrationError,
        CalibrationPoint,
        calibration_dir,
        check_loads,
        fit_calibration,
        format_calibration_record,
        load_sequence,
        parse_calibration,
        parse_loads,
        write_calibration_record,
    )

    if args.repeats < 1:
        raise UserError(f"--repeats must be at least 1, not {args.repeats}")
    if not args.window > 0 or not args.timeout > 0:
        raise UserError("--window and --timeout must be positive")
    try:
        stable_n = parse_force_n(args.stable) if args.stable else None
    except UnitError as exc:
        raise UserError(f"--stable: {exc}") from None
    if stable_n is not None and not stable_n > 0:
        raise UserError("--stable must be a positive force")
    try:
        loads = parse_loads(args.loads) if args.loads else None  # checked again against full scale below
    except CalibrationError as exc:
        raise UserError(str(exc)) from None
    directory = Path(args.calibration_dir) if args.calibration_dir else calibration_dir()
    interactive = not args.yes
    reader = make_reader(args)
    reader.start()
    out = sys.stderr
    try:
        info = reader.info
        if info.protocol != "nmt":
            raise UserError("calibrate needs raw counts from an NMT sensor; a force gauge is calibrated by its maker")
        if not info.serial_number:
            raise UserError("the sensor reports no serial number; cannot name its calibration record")
        fs = float(info.full_scale_n or 0.0)
        if loads is None:
            loads = [fs * k / 4 for k in range(5)]
        try:
            check_loads(loads, fs, "--loads")
        except CalibrationError as exc:
            raise UserError(str(exc)) from None
        sequence = load_sequence(loads, args.repeats)
        if stable_n is None:
            stable_n = max(0.2, 0.001 * fs)
        cal = Calibrator(reader, args.window, stable_n, args.timeout, out=out)
        print(f"Calibrating {info.serial_number} (full scale {fs:g} N): {len(sequence)} readings, "
              f"loads {', '.join(f'{x:g}' for x in loads)} N, {args.repeats} repeat(s)", file=out, flush=True)
        cal.untare()
        steps = np.diff(loads)
        match_n = 0.3 * float(steps.min())
        points: list[CalibrationPoint] = []
        zero = None
        for i, (load, direction, repeat) in enumerate(sequence):
            what = "remove all load (tare)" if (i == 0) else (
                f"place {load:g} N" if load > 0 else "remove all load")
            leg = "loading" if direction == "up" else "unloading"
            if interactive:
                try:
                    answer = input(f"[{i + 1}/{len(sequence)}] {what} ({leg}, repeat {repeat}), press Enter (q to quit): ")
                except EOFError:
                    raise UserError("no answer on standard input; use --yes to take readings automatically") from None
                if answer.strip().lower() in ("q", "quit"):
                    raise UserError("calibration abandoned; nothing written")
                reader.drain()  # readings start after the load was placed
                cal.window.clear()
                accept = lambda mean: True  # noqa: E731
            elif zero is None:
                accept = lambda mean: True  # noqa: E731 - the first stable plateau is the zero
            else:
                accept = lambda mean, load=load, zero=zero: abs((mean - zero) / cal.counts_per_n - load) <= match_n  # noqa: E731
            mean, sd, n = cal.read(accept, label=f" at {load:g} N")
            if zero is None:
                zero = mean
            points.append(CalibrationPoint(load, mean, direction, repeat, sd, n))
            print(f"  {load:8g} N {leg:9s} repeat {repeat}: {mean:12.1f} counts (sd {sd:.1f}, {n} samples)",
                  file=out, flush=True)
    finally:
        reader.stop()
    try:
        fit = fit_calibration(points, fs)
        text = format_calibration_record(
            fit, info.serial_number,
            source=f"nmt-monitor calibrate {__version__} on {args.port}; loads {','.join(f'{x:g}' for x in loads)} N, "
            f"{args.repeats} repeat(s), {args.window:g} s readings",
        )
        parse_calibration(text)
    except CalibrationError as exc:
        raise UserError(str(exc)) from None
    print(f"fit: {1.0 / fit.gain_n_per_count:.2f} counts/N (gain {fit.gain_n_per_count:.6e} N/count), "
          f"offset {fit.offset_counts:.1f} counts", file=out)
    print(f"non-linearity {fit.nonlinearity_pct_fs:.3f} % FS, hysteresis {fit.hysteresis_pct_fs:.3f} % FS, "
          f"repeatability {fit.repeatability_pct_fs:.3f} % FS, largest residual {fit.max_residual_n:.3f} N",
          file=out, flush=True)
    if args.dry_run:
        sys.stdout.write(text)
        return 0
    try:
        path = write_calibration_record(text, info.serial_number, directory)
    except (CalibrationError, OSError) as exc:
        raise UserError(f"cannot write the calibration record in {directory}: {exc}") from None
    print(path, flush=True)
    return 0
