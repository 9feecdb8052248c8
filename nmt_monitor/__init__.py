"""nmt-monitor: pressure monitor for neuromuscular therapy.

Reads a handheld force sensor (or a commercial force gauge) over a serial port, finds
sustained static holds, flags drift and over-tolerance pressure, and stores sessions.
"""

__version__ = "0.1.0"
