"""``nmt-monitor config``: the settings in force and where each came from."""

from __future__ import annotations

import sys

HELP = "print the settings in force and where each came from (the user config file)"


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "config", help=HELP,
        description=HELP + ". Settings are defaults for the commands' options; the command line "
        "overrides them. The output is TOML: save it as the config file and edit it. The file is "
        "config.toml in the platform's config folder, or the file named by --config or $NMT_MONITOR_CONFIG.",
    )
    parser.add_argument("--path", action="store_true", help="print only the config file's path")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nmt_monitor.config import describe, load_config

    settings = args.settings if args.settings is not None else load_config(args.config)
    if args.path:
        print(settings.path)
        return 0
    sys.stdout.write(describe(settings))
    return 0
