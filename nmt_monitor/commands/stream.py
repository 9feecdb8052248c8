"""``nmt-monitor stream``: print calibrated samples from a sensor as CSV or JSON lines."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import json
import math
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from nmt_monitor.commands.argtypes import RenamedOption
from nmt_monitor.config import DEFAULT_MAX_AGE_DAYS
from nmt_monitor.errors import EXIT_FAILURE, UserError
from nmt_monitor.lsl import add_lsl_argument, tap_reader

if TYPE_CHECKING:  # imported when the command runs, so that --help starts at once
    from nmt_monitor.acquisition import LinkEvent, SampleBlock, SensorReader

HELP = "print calibrated samples from a sensor (CSV or JSON lines)"


def add_connection_arguments(parser: argparse.ArgumentParser, port_required: bool = True) -> None:
    """Options shared by every command that opens a sensor."""
    parser.add_argument(
        "--port",
        default=None if port_required else "sim://",
        metavar="URL",
        help="serial port or pyserial URL: /dev/ttyUSB0, COM3, socket://host:port, "
        "sim://?scenario=demo&rate=1000 (built-in simulator)"
        + ("; required unless the config file sets port" if port_required else "; default: the config file's port, "
           "else sim://"),
    )
    parser.add_argument("--protocol", choices=("auto", "nmt", "gauge"), default="auto",
                        help="nmt = our handheld sensor, gauge = a commercial gauge's ASCII lines (default: detect)")
    parser.add_argument("--rate", type=int, metavar="HZ", help="ask our sensor for this sample rate, 50-2000 Hz")
    parser.add_argument("--baud", type=int, default=115200, help="baud rate for a real UART (default 115200)")
    parser.add_argument("--gauge-unit", default="N", metavar="UNIT",
                        help="unit of bare numbers from a DIY gauge: N, kgf, gf, lbf, ozf (default N)")
    parser.add_argument("--unit", action=RenamedOption, new="--gauge-unit",
                        hint=" (the unit of a DIY gauge's bare numbers; the live screen's unit is --units)")
    parser.add_argument("--gauge-compression-negative", action="store_true",
                        help="the gauge reports compression as negative (flip the sign of its readings)")
    parser.add_argument("--gauge-capacity", metavar="F",
                        help="a gauge's full scale, e.g. 500N or 50kgf: a line beyond it is line noise, not a "
                        "reading (default 100 kN)")
    parser.add_argument("--calibration-dir", type=Path, metavar="DIR",
                        help="folder of the calibration records <serial>.toml (default: calibration/ in the user data "
                        "folder; 'nmt-monitor config' shows it)")
    parser.add_argument("--max-calibration-age", type=int, default=DEFAULT_MAX_AGE_DAYS, metavar="DAYS",
                        help=f"warn when the sensor's calibration is older than this (default {DEFAULT_MAX_AGE_DAYS})")


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("stream", help=HELP, description=HELP + ".")
    add_connection_arguments(parser)
    parser.add_argument("--seconds", type=float, metavar="S", help="stop after S seconds (default: until Ctrl-C)")
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv",
                        help="csv: header time_s,force_N then one sample per line; jsonl: one JSON object "
                        "per sample, with seq, device time and saturation, and one per link event")
    parser.add_argument("--stats", action="store_true", help="print link statistics to stderr every second and at the end")
    add_lsl_argument(parser)
    parser.set_defaults(run=run)


def make_reader(args) -> SensorReader:
    from nmt_monitor.acquisition import SensorReader

    if not args.port:
        raise UserError("no sensor port: give --port URL (e.g. /dev/ttyUSB0, COM3, sim://), "
                        "or set port in the config file ('nmt-monitor config' shows where it is)")
    if args.rate is not None and not 50 <= args.rate <= 2000:
        raise UserError(f"--rate {args.rate} is out of range: use 50-2000 Hz")
    capacity_n = None
    if args.gauge_capacity is not None:
        from nmt_monitor.units import UnitError, parse_force_n

        try:
            capacity_n = parse_force_n(args.gauge_capacity)
        except UnitError as exc:
            raise UserError(f"--gauge-capacity: {exc}") from None
        if not 0 < capacity_n < float("inf"):
            raise UserError(f"--gauge-capacity {args.gauge_capacity}: give the gauge's full scale, a positive force")
    return SensorReader(
        args.port,
        protocol=args.protocol,
        rate_hz=args.rate,
        calibration_dir=args.calibration_dir,
        bare_unit=args.gauge_unit,
        gauge_compression_negative=args.gauge_compression_negative,
        gauge_capacity_n=capacity_n,
        baudrate=args.baud,
        max_calibration_age_days=args.max_calibration_age,
    )


def _write_block_csv(out, block: SampleBlock, t0: float) -> None:
    t = block.host_time_s - t0
    lines = "\n".join(f"{ti:.6f},{fi:.4f}" for ti, fi in zip(t.tolist(), block.force_n.tolist()))
    out.write(lines + "\n")


def _write_block_jsonl(out, block: SampleBlock, t0: float) -> None:
    t = (block.host_time_s - t0).tolist()
    dev = block.device_time_s.tolist()
    rows = []
    for i, (ti, fi, si, sat) in enumerate(zip(t, block.force_n.tolist(), block.seq.tolist(), block.saturated.tolist())):
        row = {"time_s": round(ti, 6), "force_N": round(fi, 4), "seq": si}
        if not math.isnan(dev[i]):
            row["device_time_s"] = round(dev[i], 6)
        if sat:
            row["saturated"] = True
        rows.append(json.dumps(row))
    out.write("\n".join(rows) + "\n")


def run(args) -> int:
    from nmt_monitor.acquisition import LinkEvent, SampleBlock
    from nmt_monitor.commands.signals import StopSignals

    if args.seconds is not None and args.seconds <= 0:
        raise UserError("--seconds must be positive")
    reader = tap_reader(make_reader(args), args)  # --lsl: the blocks also go to LSL
    out = sys.stdout
    state = {"t0": None, "out_ok": True}

    def write(item) -> None:
        if isinstance(item, SampleBlock):
            if state["t0"] is None:
                state["t0"] = float(item.host_time_s[0])
            if state["out_ok"]:
                (_write_block_csv if args.format == "csv" else _write_block_jsonl)(out, item, state["t0"])
        elif isinstance(item, LinkEvent):
            _report_event(item, args, out if state["out_ok"] else None, state["t0"])

    # Ctrl-C, SIGTERM and SIGHUP only ask the loop to stop: a block taken from the reader is
    # always printed, and what the reader had read is drained and printed before exiting. A
    # second Ctrl-C gets out at once (e.g. when nothing reads our output any more).
    with StopSignals(second="abort") as stop:
        reader.start()
        stop.arm()
        try:
            if args.format == "csv":
                out.write("time_s,force_N\n")
            started = time.monotonic()
            next_stats = started + 1.0
            while not stop.requested:
                now = time.monotonic()
                if args.seconds is not None and now - started >= args.seconds:
                    break
                item = reader.get(timeout=0.1)
                if item is not None:
                    write(item)
                    if isinstance(item, LinkEvent) and item.kind == "fatal":
                        raise UserError(f"reading {args.port} failed: {item.detail.get('message')}", EXIT_FAILURE)
                if args.stats and now >= next_stats:
                    _err(reader.stats().summary())
                    next_stats = now + 1.0
                if args.seconds is None:
                    out.flush()
        except OSError as exc:
            if isinstance(exc, BrokenPipeError) or exc.errno != errno.EIO:
                raise  # a closed pipe ends the command quietly (cli.main)
            state["out_ok"] = False  # the terminal is gone (SIGHUP): stop, quietly
        finally:
            reader.stop()
            # Whatever was already read is still printed: nothing read is lost.
            try:
                for item in reader.drain():
                    write(item)
                stats = reader.stats()
                if args.format == "jsonl":
                    write(LinkEvent("link_stats", reader.clock(), dataclasses.asdict(stats)))
                if state["out_ok"]:
                    out.flush()
            except (BrokenPipeError, OSError):
                state["out_ok"] = False
            if args.stats:
                _err(reader.stats().summary())
    return 0


def _err(text: str) -> None:
    """A line on standard error, never failing (after SIGHUP the terminal is gone)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _report_event(event: LinkEvent, args, out, t0: float | None) -> None:
    if args.format == "jsonl" and event.kind != "reply" and out is not None:
        row = {"event": event.kind, "time_s": None if t0 is None else round(event.host_time_s - t0, 6)}
        row.update({k: v for k, v in event.detail.items() if isinstance(v, (str, int, float, bool, type(None)))})
        out.write(json.dumps(row) + "\n")
    if event.kind == "warning":
        _err(f"nmt-monitor: warning: {event.detail.get('message')}")
    elif event.kind == "info":
        _err(f"nmt-monitor: {event.detail.get('message')}")
    elif event.kind == "disconnected":
        _err(f"nmt-monitor: sensor disconnected ({event.detail.get('reason')}); reconnecting")
    elif event.kind == "reconnected":
        same = {True: "the same sensor", False: "a different sensor", None: "identity not checked"}.get(
            event.detail.get("same_sensor"), "")
        _err(f"nmt-monitor: sensor reconnected ({same})" if same else "nmt-monitor: sensor reconnected")
    elif event.kind in ("gap", "device_reset") and args.stats:
        detail = ", ".join(f"{k}={v}" for k, v in event.detail.items())
        _err(f"nmt-monitor: {event.kind}: {detail}")
