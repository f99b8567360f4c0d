"""Hardware probes, power/energy monitors, samplers, bandwidth probe, roofline.

    info = hardware.probe()
    session = hardware.MeasurementSession(info, interval_s=0.5)
    session.measure_idle(3.0); session.start()
    w = session.begin_window(); ...; reading = session.end_window(w)
    report = session.stop()
    hardware.bandwidth.measured_bandwidth(info)
    hardware.roofline.bandwidth_efficiency(tg_tps, bytes_per_token, spec_gbps, measured_gbps)

The hardware section's classes are the contract's (contract/result.py): the probes build them.
Cheap to import: numpy, torch, pynvml and amdsmi load only when a probe or measurement needs them.
"""

from contract.result import AppleInfo, CpuInfo, GpuDriver, GpuInfo, HardwareInfo

from . import bandwidth, roofline
from .energy import joules_per_token, tokens_per_joule
from .probe import probe
from .session import MeasurementSession, SessionReport

__all__ = [
    "AppleInfo", "CpuInfo", "GpuDriver", "GpuInfo", "HardwareInfo", "MeasurementSession",
    "SessionReport", "bandwidth", "joules_per_token", "probe",
    "roofline", "tokens_per_joule",
]
