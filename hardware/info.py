"""What a run ran on: the HardwareInfo dataclasses. Unknown values are None, with the
reason in the `unknown` mapping next to them (field name -> why)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field


@dataclass
class CpuInfo:
    model: str | None
    vendor: str | None
    arch: str
    sockets: int | None
    cores: int | None
    threads: int | None
    ram_bytes: int | None
    isa: dict[str, bool]
    caches_bytes: dict[str, int]          # l1d/l1i/l2/l3, summed over instances (like lscpu)
    os: str
    kernel: str
    virtualized: bool | None
    spec_bandwidth_gbps: float | None = None
    spec_tdp_w: float | None = None       # per socket
    spec_source: str | None = None
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass
class GpuInfo:
    index: int
    name: str
    uuid: str | None
    memory_bytes: int | None
    compute_capability: str | None
    power_limit_w: float | None
    memory_bus_width_bits: int | None
    max_memory_clock_mhz: int | None
    spec_bandwidth_gbps: float | None
    pcie_link: dict | None                # {"gen", "width", "max_gen", "max_width"}
    mig_mode: bool | None
    energy_counter: bool                  # nvmlDeviceGetTotalEnergyConsumption works (Volta+)
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass
class NvidiaInfo:
    available: bool
    reason: str | None                    # why there are no GPUs, when there are none
    driver_version: str | None = None
    cuda_version: str | None = None       # highest CUDA the driver supports
    gpus: list[GpuInfo] = field(default_factory=list)


@dataclass
class AppleInfo:
    chip: str | None
    p_cores: int | None
    e_cores: int | None
    gpu_cores: int | None
    unified_memory_bytes: int | None
    spec_bandwidth_gbps: float | None
    spec_source: str | None
    unknown: dict[str, str] = field(default_factory=dict)


@dataclass
class HardwareInfo:
    cpu: CpuInfo
    nvidia: NvidiaInfo
    apple: AppleInfo | None = None

    @property
    def gpus(self) -> list[GpuInfo]:
        return self.nvidia.gpus

    def to_dict(self) -> dict:
        d = asdict(self)
        d["fingerprint"] = self.fingerprint()
        return d

    def fingerprint(self) -> str:
        """Stable id of the machine's hardware (not its load): keys the bandwidth cache."""
        return fingerprint_of(asdict(self))


def fingerprint_of(hw: dict) -> str:
    """HardwareInfo.fingerprint of a hardware section as to_dict() writes it (a result's `hardware`):
    the CPU model, sockets, cores, threads and RAM, each GPU's name, UUID and memory, the Apple chip
    and its GPU cores. A field the section lacks counts as unknown (None)."""
    cpu = hw.get("cpu") or {}
    apple = hw.get("apple")
    key = {
        "cpu": [cpu.get("model"), cpu.get("sockets"), cpu.get("cores"), cpu.get("threads"), cpu.get("ram_bytes")],
        "gpus": [[g.get("name"), g.get("uuid"), g.get("memory_bytes")] for g in (hw.get("nvidia") or {}).get("gpus") or []],
        "apple": [apple.get("chip"), apple.get("gpu_cores")] if apple else None,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
