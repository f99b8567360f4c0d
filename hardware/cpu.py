"""CPU probe: model, topology, RAM, inference-relevant ISA features, caches, OS."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

import psutil

from contract.result import CpuInfo

from . import specs

# /proc/cpuinfo flag -> our name. x86 "flags", arm64 "Features".
_X86_ISA = {"avx2": "avx2", "fma": "fma", "f16c": "f16c", "avx512f": "avx512f",
            "avx512_bf16": "avx512_bf16", "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni",
            "amx_tile": "amx_tile", "amx_bf16": "amx_bf16", "amx_int8": "amx_int8"}
_ARM_ISA = {"asimd": "neon", "asimddp": "dotprod", "i8mm": "i8mm", "bf16": "bf16",
            "sve": "sve", "sve2": "sve2"}


def parse_cpuinfo(text: str) -> dict:
    """Model name, vendor, ISA features and hypervisor flag from /proc/cpuinfo text."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    table = _X86_ISA if "flags" in fields else _ARM_ISA
    return {
        "model": fields.get("model name") or fields.get("Model") or fields.get("Hardware"),
        "vendor": fields.get("vendor_id") or fields.get("CPU implementer"),
        "isa": {name: flag in flags for flag, name in table.items()},
        "virtualized": "hypervisor" in flags if "flags" in fields else None,
    }


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _size_bytes(text: str) -> int:
    m = re.fullmatch(r"(\d+)([KMG]?)", text.strip())
    return int(m.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[m.group(2)] if m else 0


def linux_topology(sys_cpu: Path = Path("/sys/devices/system/cpu")) -> dict:
    """Sockets, physical cores and cache totals from sysfs: the same source lscpu uses."""
    packages, cores, seen = set(), set(), set()
    caches: dict[str, int] = {}
    for cpu in sys_cpu.glob("cpu[0-9]*"):
        pkg = _read(cpu / "topology/physical_package_id")
        core = _read(cpu / "topology/core_id")
        if pkg is not None:
            packages.add(pkg)
            cores.add((pkg, core))
        for idx in cpu.glob("cache/index[0-9]*"):
            level, kind = _read(idx / "level"), _read(idx / "type")
            shared, size = _read(idx / "shared_cpu_list"), _read(idx / "size")
            if not (level and kind and size) or (level, kind, shared) in seen:
                continue
            seen.add((level, kind, shared))   # one cache instance is listed by every CPU sharing it
            name = f"l{level}" + {"Data": "d", "Instruction": "i"}.get(kind, "")
            caches[name] = caches.get(name, 0) + _size_bytes(size)
    return {"sockets": len(packages) or None, "cores": len(cores) or None, "caches": caches}


def _sysctl(name: str) -> str | None:
    try:
        out = subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _darwin() -> dict:
    model = _sysctl("machdep.cpu.brand_string")
    arm = platform.machine() == "arm64"
    caches = {k: int(v) for k, n in (("l1d", "hw.l1dcachesize"), ("l2", "hw.l2cachesize"),
                                     ("l3", "hw.l3cachesize")) if (v := _sysctl(n)) and v.isdigit()}
    if arm:
        isa = {"neon": True, "sve": False,
               "dotprod": _sysctl("hw.optional.arm.FEAT_DotProd") == "1",
               "i8mm": _sysctl("hw.optional.arm.FEAT_I8MM") == "1",
               "bf16": _sysctl("hw.optional.arm.FEAT_BF16") == "1"}
    else:
        flags = ((_sysctl("machdep.cpu.features") or "") + " " +
                 (_sysctl("machdep.cpu.leaf7_features") or "")).lower().replace(".", "_").split()
        isa = {name: flag in flags for flag, name in _X86_ISA.items()}
    return {"model": model, "vendor": "Apple" if arm else _sysctl("machdep.cpu.vendor"),
            "isa": isa, "virtualized": _sysctl("kern.hv_vmm_present") == "1",
            "sockets": 1, "cores": None, "caches": caches}


def probe_cpu() -> CpuInfo:
    system = platform.system()
    unknown: dict[str, str] = {}
    if system == "Linux":
        parsed = parse_cpuinfo(_read(Path("/proc/cpuinfo")) or "")
        parsed.update(linux_topology())
    elif system == "Darwin":
        parsed = _darwin()
    else:
        parsed = {"model": platform.processor() or None, "vendor": None, "isa": {},
                  "virtualized": None, "sockets": None, "cores": None, "caches": {}}
        unknown["isa"] = f"ISA feature detection not implemented on {system}"
    cores = parsed["cores"] or psutil.cpu_count(logical=False)
    spec = specs.cpu_spec(parsed["model"])
    if spec is None:
        why = f"CPU model {parsed['model']!r} is not in hardware/specs.json"
        unknown["spec_bandwidth_gbps"] = unknown["spec_tdp_w"] = why
    if not parsed["model"]:
        unknown["model"] = "the OS did not report a CPU model name"
    return CpuInfo(
        model=parsed["model"], vendor=parsed["vendor"], arch=platform.machine(),
        sockets=parsed["sockets"], cores=cores, threads=os.cpu_count(),
        ram_bytes=psutil.virtual_memory().total, isa=parsed["isa"],
        caches_bytes=parsed["caches"], os=f"{system} {platform.release()}" if system != "Linux"
        else _linux_os_name(), kernel=platform.release(), virtualized=parsed["virtualized"],
        spec_bandwidth_gbps=spec["bandwidth_gbps"] if spec else None, spec_tdp_w=spec["tdp_w"] if spec else None,
        spec_source=spec["source"] if spec else None, unknown=unknown)


def _linux_os_name() -> str:
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
    except OSError:
        return "Linux"
