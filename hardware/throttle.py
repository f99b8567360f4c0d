"""CPU throttling, where it is cheap to see: Linux thermal_throttle event counters
(Intel; absent on AMD and in most VMs); and the report's entry for one device."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

# {"reasons": [...]} when they are known (empty: none seen), else {"reasons": None, "reason_unknown": why}
Throttle = dict[str, Any]


def seen(reasons: Iterable[str]) -> Throttle:
    return {"reasons": sorted(reasons)}


def unknown(why: str) -> Throttle:
    return {"reasons": None, "reason_unknown": why}

SYS_CPU = Path("/sys/devices/system/cpu")


def cpu_throttle_counts(sys_cpu: Path = SYS_CPU) -> dict[str, int] | None:
    """Summed core/package thermal-throttle event counts, or None where the kernel has none."""
    totals: dict[str, int] = {}
    for f in sys_cpu.glob("cpu[0-9]*/thermal_throttle/*_throttle_count"):
        try:
            totals[f.name] = totals.get(f.name, 0) + int(f.read_text())
        except (OSError, ValueError):
            continue
    return totals or None


def cpu_throttle_seen(before: dict[str, int] | None, after: dict[str, int] | None) -> list[str] | None:
    if before is None or after is None:
        return None
    return sorted(f"thermal ({k.removesuffix('_throttle_count')})"
                  for k in after if after[k] > before.get(k, 0))


CPU_THROTTLE_UNAVAILABLE = ("no /sys/devices/system/cpu/cpu*/thermal_throttle counters "
                            "(Intel-only; absent on AMD and in most VMs)")
