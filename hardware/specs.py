"""Lookups in the sourced spec table (specs.json) for figures no counter can give."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def _table() -> dict:
    return json.loads((Path(__file__).with_name("specs.json")).read_text())


def cpu_spec(model: str | None) -> dict | None:
    """The row whose `match` appears in the CPU model name; the longest match wins
    so that e.g. "EPYC 9654P" rows could be added without shadowing."""
    if not model:
        return None
    rows = [r for r in _table()["cpus"]
            if re.search(rf"(?<![\w]){re.escape(r['match'])}(?![\w])", model, re.I)]
    return max(rows, key=lambda r: len(r["match"]), default=None)


def apple_spec(chip: str | None, gpu_cores: int | None) -> dict | None:
    """Row for an Apple chip ("Apple M2 Max" or "M2 Max"). Where the bandwidth depends
    on the GPU binning (M3 Max, M4 Max) the GPU core count must match, else None."""
    if not chip:
        return None
    name = re.sub(r"^Apple\s+", "", chip.strip())
    rows = [r for r in _table()["apple"] if r["chip"].lower() == name.lower()]
    binned = [r for r in rows if "gpu_cores" in r]
    if binned:
        return next((r for r in binned if r["gpu_cores"] == gpu_cores), None)
    return rows[0] if rows else None


def gpu_spec(name: str | None) -> dict | None:
    """The machine row (`machines`) whose `match` finds this GPU name, or None: a detected GPU's
    datasheet figures (hardware/machines.py reads the same row as a Machine)."""
    if not name:
        return None
    return next((r for r in _table()["machines"] if r.get("match") and re.search(r["match"], name, re.I)), None)


def nvidia_spec_bandwidth_gbps(bus_width_bits: int | None, max_mem_clock_mhz: int | None) -> float | None:
    """Peak DRAM bandwidth from NVML's bus width and max memory clock. NVML reports the
    memory clock such that x2 (double data rate) gives the datasheet figure for HBM2e,
    HBM3, GDDR6, GDDR6X and GDDR7 alike: A100-80 5120 b x 1593 MHz -> 2039 GB/s,
    H100 SXM 5120 b x 2619 MHz -> 3352 GB/s, RTX 4090 384 b x 10501 MHz -> 1008 GB/s."""
    if not bus_width_bits or not max_mem_clock_mhz:
        return None
    return round(bus_width_bits / 8 * max_mem_clock_mhz * 1e6 * 2 / 1e9, 1)
