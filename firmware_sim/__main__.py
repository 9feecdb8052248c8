import sys

if __name__ == "__main__":
    try:
        from firmware_sim.cli import main

        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were installed
        sys.exit(0)
