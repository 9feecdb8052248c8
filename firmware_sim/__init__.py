"""firmware_sim: the NMT handheld force sensor, simulated (see docs/simulator.md).

Modules: ``scenarios`` (therapist behaviour + ground truth), ``loadcell`` (sensor physics),
``protocol`` (wire encoding), ``device`` (the firmware loop), ``gauges`` (commercial gauges),
``session`` (faults + unplug), ``protocol_sim`` (the pyserial ``sim://`` handler),
``transports``/``cli`` (``python -m firmware_sim``).  Never imports ``nmt_monitor``.
"""

__version__ = "1.0.0"
