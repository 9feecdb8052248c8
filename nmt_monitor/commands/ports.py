"""``nmt-monitor ports``: list the serial ports this computer has."""

from __future__ import annotations

HELP = "list serial ports (and how to reach the built-in simulator)"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("ports", help=HELP, description=HELP + ".")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nmt_monitor.acquisition import list_ports

    ports = list_ports()
    if not ports:
        print("no serial ports found")
    for device, description, hwid in ports:
        print(f"{device}\t{description}\t{hwid}")
    print("sim://\tbuilt-in simulator (e.g. sim://?scenario=demo&rate=1000)")
    return 0
