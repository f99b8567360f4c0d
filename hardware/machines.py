"""Machines described by their specs: the candidate hardware `bench project` projects, the machines
the published reference rows ran on, and this machine or a result's machine read the same way.

The table is hardware/specs.json `machines`, checked when it is first read: a duplicate id, an
unknown platform, a bandwidth that is not a positive number or a row without a source stops with
one line naming the row, as the model catalog does.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from functools import lru_cache

from contract.errors import BenchError
from contract.result import HardwareInfo
from models.fit import APPLE_WIRED_FRACTION

PLATFORMS = ("cuda", "rocm", "metal", "cpu", "vulkan")
GiB = 1 << 30


class MachineError(BenchError):
    """An unknown machine id, or a machine row that is not usable."""


@dataclass(frozen=True)
class Machine:
    id: str
    name: str
    platform: str                        # the llama.cpp backend class that projects it
    bandwidth_gbps: float                # theoretical peak, decimal GB/s (or measured: bandwidth_basis says)
    source: str
    memory_gib: float | None = None      # what the fit check uses (Apple: the engine gets 3/4)
    dense_tflops: float | None = None    # dense FP16/BF16 tensor peak (GPUs)
    gpu_cores: int | None = None         # Apple: compute stands in as GPU cores
    cores: int | None = None             # CPU: compute stands in as the cores llama.cpp uses
    threads: int | None = None
    tdp_w: float | None = None
    apple_chip: str | None = None
    vendor: str | None = None
    arch: str | None = None
    isa: tuple[str, ...] = ()
    match: str | None = None             # regex on a GPU's name: a measured result's GPU finds its row
    purchase_usd: float | None = None
    purchase_observed: str | None = None
    cost_profile: str | dict | None = None
    candidate: bool = False
    note: str | None = None
    bandwidth_basis: str = "spec"        # "spec", or "measured by the bandwidth probe"
    origin: str = "hardware/specs.json"
    fingerprint: str | None = None       # a probed or measured machine's hardware fingerprint (HardwareInfo)

    def compute(self) -> tuple[float | None, str]:
        """(compute, its unit) prefill is fit against: dense FLOP/s on GPUs with a published figure,
        GPU cores on Apple (Apple publishes no FLOPS), cores on CPUs (vendors publish none either)."""
        if self.platform == "metal":
            return self.gpu_cores, "GPU cores"
        if self.platform == "cpu":
            return self.cores, "cores"
        return (self.dense_tflops * 1e12 if self.dense_tflops else None), "FLOP/s"

    def available_bytes(self) -> tuple[int | None, str]:
        """Memory the engine may use, and where that figure came from."""
        if self.memory_gib is None:
            return None, f"{self.name}: memory not known"
        total = int(self.memory_gib * GiB)
        if self.platform == "metal":
            return int(total * APPLE_WIRED_FRACTION), f"3/4 of {self.memory_gib:g} GiB unified memory"
        what = "GPU memory" if self.platform in ("cuda", "rocm") else "RAM"
        return total, f"{self.memory_gib:g} GiB {what}" + (" (assumed)" if self.note and "assumed" in self.note else "")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["isa"] = list(self.isa)
        return d


_FIELDS = set(Machine.__dataclass_fields__) - {"origin", "bandwidth_basis", "fingerprint"}


def parse_machine(raw: dict, where: str) -> Machine:
    unknown = set(raw) - _FIELDS
    if unknown:
        raise MachineError(f"{where}: unknown field(s) {sorted(unknown)}", f"known: {', '.join(sorted(_FIELDS))}")
    for name in ("id", "name", "platform", "source"):
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            raise MachineError(f"{where}: missing {name}", "a machine needs id, name, platform, bandwidth_gbps, source")
    if raw["platform"] not in PLATFORMS:
        raise MachineError(f"{where}: platform {raw['platform']!r} is not one of {', '.join(PLATFORMS)}", "fix platform")
    for name in ("bandwidth_gbps", "memory_gib", "dense_tflops", "gpu_cores", "cores", "threads", "tdp_w", "purchase_usd"):
        v = raw.get(name)
        if (v is not None or name == "bandwidth_gbps") and (isinstance(v, bool) or not isinstance(v, (int, float))
                                                              or v <= 0):
            raise MachineError(f"{where}: {name} must be a positive number, got {v!r}", f"fix {name}")
    if raw.get("match"):
        try:
            re.compile(raw["match"])
        except re.error as exc:
            raise MachineError(f"{where}: match is not a regular expression ({exc})", "fix match") from None
    return Machine(**{**raw, "isa": tuple(raw.get("isa") or ())})


def build_machines(rows: list[dict]) -> dict[str, Machine]:
    out: dict[str, Machine] = {}
    for i, raw in enumerate(rows):
        where = f"hardware/specs.json machine {raw.get('id') or i + 1}"
        m = parse_machine(raw, where)
        if m.id in out:
            raise MachineError(f"hardware/specs.json: duplicate machine id {m.id!r}")
        out[m.id] = m
    return out


@lru_cache(maxsize=1)
def machines() -> dict[str, Machine]:
    from hardware.specs import _table

    return build_machines(_table()["machines"])


def get_machine(machine_id: str) -> Machine:
    m = machines().get(machine_id.strip().lower())
    if m is None:
        known = ", ".join(m.id for m in machines().values() if m.candidate)
        raise MachineError(f"unknown hardware {machine_id!r}",
                           f"candidates: {known}, `here` (this machine); `bench project --list` shows every row")
    return m


def candidates() -> list[Machine]:
    return [m for m in machines().values() if m.candidate]


def gpu_row(name: str | None) -> Machine | None:
    """The machine row a detected GPU name matches (for its dense FLOPS), or None."""
    from hardware.specs import gpu_spec

    row = gpu_spec(name)
    return machines()[row["id"]] if row else None


def machine_from_hardware(hw: HardwareInfo, bandwidth: dict, device: str | None, label: str,
                          n_threads: int | None = None) -> Machine:
    """A Machine for hardware described as a result's `hardware` section: this machine, or the
    machine a result was measured on. `device` is where llama.cpp ran (the result's backend.device;
    None: the first GPU's platform if there is a GPU). The bandwidth is the spec figure where one
    is known (all sockets of a CPU machine, as the reference set counts them), else the bandwidth
    probe's measurement, and the machine says which."""
    from hardware.gpus import default_device, gpu_for

    cpu, apple = hw.cpu, hw.apple
    if device is None:
        gpu_device = default_device(hw)
        device = gpu_device.value if gpu_device else "metal" if apple and apple.chip else "cpu"
    gpu = gpu_for(hw, device)
    platform = {"mps": "metal"}.get(device, device)
    if platform not in PLATFORMS:
        raise MachineError(f"{label}: llama.cpp ran on {device!r}, which no platform class covers",
                           f"projections cover {', '.join(PLATFORMS)}")
    fields: dict = {"id": "here" if label == "this machine" else re.sub(r"[^a-z0-9.-]+", "-", label.lower()),
                    "platform": platform, "origin": label, "source": f"{label}: detected hardware",
                    "fingerprint": hw.fingerprint}
    if gpu is not None:
        row = gpu_row(gpu.name)
        fields.update(name=gpu.name, memory_gib=(gpu.memory_bytes or 0) / GiB or None,
                      dense_tflops=row.dense_tflops if row else None, tdp_w=gpu.power_limit_w, match=None)
        spec_gbps = gpu.spec_bandwidth_gbps or (row.bandwidth_gbps if row else None)
        measured = (bandwidth.get(gpu.device) or {}).get("gbps")
    elif platform == "metal":
        mem = apple.unified_memory_bytes if apple else None
        fields.update(name=(apple.chip if apple else None) or "Apple GPU", apple_chip=apple.chip if apple else None,
                      gpu_cores=apple.gpu_cores if apple else None, memory_gib=mem / GiB if mem else None)
        spec_gbps = apple.spec_bandwidth_gbps if apple else None
        measured = None                     # the probe measures CPU memory, not what the GPU reaches
    else:
        spec = cpu.spec_bandwidth_gbps
        spec_gbps = spec * (cpu.sockets or 1) if spec else None
        fields.update(name=f"{cpu.model or 'unknown CPU'} ({cpu.cores or '?'} cores)",
                      cores=n_threads or cpu.cores, threads=cpu.threads, vendor=cpu.vendor,
                      arch=cpu.arch, isa=tuple(k for k, v in cpu.isa.items() if v),
                      memory_gib=(cpu.ram_bytes or 0) / GiB or None)
        measured = (bandwidth.get("cpu") or {}).get("gbps")
    if spec_gbps:
        return Machine(**fields, bandwidth_gbps=spec_gbps)
    if measured:
        return Machine(**fields, bandwidth_gbps=measured, bandwidth_basis="measured by the bandwidth probe",
                       note="no spec bandwidth is known for this machine: its bandwidth probe's figure stands in "
                            "(the reference rows use spec figures, which a probe reaches 70-90% of)")
    raise MachineError(f"{label}: no bandwidth known (no spec figure, no bandwidth probe result)",
                       "run `bench hardware --measure-bandwidth` on that machine")


def this_machine() -> Machine:
    """This machine from its probe: specs where known, else the bandwidth probe (cached, or measured now)."""
    import hardware
    from hardware.bandwidth import measured_bandwidth

    info = hardware.probe()
    bw = {d: m.to_dict() for d, m in measured_bandwidth(info).items()}
    return machine_from_hardware(info, bw, None, "this machine")


def resolve(machine_id: str) -> Machine:
    """A hardware id as the user types it: a row of the table, or `here` for this machine."""
    return this_machine() if machine_id.strip().lower() == "here" else get_machine(machine_id)
