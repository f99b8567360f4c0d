"""Hardware probes, power/energy monitors, samplers, bandwidth probe, roofline.

    info = hardware.probe()
    session = hardware.MeasurementSession(info, interval_s=0.5)
    session.measure_idle(3.0); session.start()
    w = session.begin_window(); ...; reading = session.end_window(w)
    report = session.stop()
    hardware.bandwidth.measured_bandwidth(info)
    hardware.roofline.bandwidth_efficiency(tg_tps, bytes_per_token, spec_gbps, measured_gbps)

Cheap to import: numpy, torch and pynvml load only when a probe or measurement needs them.
"""

from . import bandwidth, roofline
from .energy import EnergyReading, WindowReading, joules_per_token, tokens_per_joule
from .info import AppleInfo, CpuInfo, GpuInfo, HardwareInfo, NvidiaInfo
from .probe import probe
from .session import MeasurementSession, SessionReport

__all__ = [
    "AppleInfo", "CpuInfo", "EnergyReading", "GpuInfo", "HardwareInfo", "MeasurementSession",
    "NvidiaInfo", "SessionReport", "WindowReading", "bandwidth", "joules_per_token", "probe",
    "roofline", "tokens_per_joule",
]
