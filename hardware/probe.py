"""hardware.probe(): everything HardwareInfo holds, from whichever probes apply here."""

from __future__ import annotations

from contract.result import HardwareInfo

from .apple import probe_apple
from .cpu import probe_cpu
from .gpus import probe_gpus


def probe() -> HardwareInfo:
    gpus, drivers = probe_gpus()
    return HardwareInfo.of(cpu=probe_cpu(), gpus=gpus, gpu_drivers=drivers, apple=probe_apple())
