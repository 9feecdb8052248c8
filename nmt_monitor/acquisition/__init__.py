"""Sensor acquisition: transports, protocol decoders, the reader thread, link statistics."""

from nmt_monitor.acquisition.blocks import LinkEvent, LinkStats, SampleBlock, concat_blocks
from nmt_monitor.acquisition.reader import SensorReader, list_ports, open_port, register_simulator

__all__ = [
    "LinkEvent",
    "LinkStats",
    "SampleBlock",
    "SensorReader",
    "concat_blocks",
    "list_ports",
    "open_port",
    "register_simulator",
]
