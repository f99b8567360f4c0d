"""A machine as the real probes see it, with the fakes a test installed standing in for the GPUs."""

from contract.result import CpuInfo, HardwareInfo
from hardware.cpu import probe_cpu
from hardware.gpus import probe_gpus


def machine(cpu: CpuInfo | None = None) -> HardwareInfo:
    gpus, drivers = probe_gpus()
    return HardwareInfo.of(cpu=cpu or probe_cpu(), gpus=gpus, gpu_drivers=drivers)
