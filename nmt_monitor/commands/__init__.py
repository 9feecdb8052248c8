"""One module per ``nmt-monitor`` subcommand: ``add_parser(subparsers)`` and ``run(args) -> int``."""
