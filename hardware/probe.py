"""hardware.probe(): everything HardwareInfo holds, from whichever probes apply here."""

from __future__ import annotations

from .apple import probe_apple
from .cpu import probe_cpu
from .info import HardwareInfo
from .nvidia import probe_nvidia


def probe() -> HardwareInfo:
    return HardwareInfo(cpu=probe_cpu(), nvidia=probe_nvidia(), apple=probe_apple())
