import json
import subprocess
import sys

from click.testing import CliRunner

import hardware
from bench.commands.hardware import hardware_command
from hardware import specs
from hardware.cpu import linux_topology, parse_cpuinfo

SPR = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse2 avx2 fma f16c avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8 hypervisor
"""
GRAVITON3 = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat ilrcpc flagm ssbs paca pacg dcpodp svei8mm svebf16 i8mm bf16 dgh rng
CPU implementer\t: 0x41
"""


def test_parse_cpuinfo_x86_and_arm():
    x = parse_cpuinfo(SPR)
    assert x["model"] == "Intel(R) Xeon(R) Platinum 8480+" and x["virtualized"] is True
    assert x["isa"]["amx_int8"] and x["isa"]["avx512_bf16"] and not x["isa"]["avx_vnni"]
    a = parse_cpuinfo(GRAVITON3)
    assert a["isa"] == {"neon": True, "dotprod": True, "i8mm": True, "bf16": True, "sve": True, "sve2": False}
    spr = specs.cpu_spec(x["model"])
    assert spr is not None and spr["tdp_w"] == 350


def test_topology_counts_shared_caches_once(tmp_path):
    for cpu, (pkg, core) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        d = tmp_path / f"cpu{cpu}"
        (d / "topology").mkdir(parents=True)
        (d / "topology/physical_package_id").write_text(str(pkg))
        (d / "topology/core_id").write_text(str(core))
        for i, (level, kind, size, shared) in enumerate(
                [(1, "Data", "48K", str(cpu)), (3, "Unified", "32768K", "0-1" if pkg == 0 else "2-3")]):
            c = d / f"cache/index{i}"
            c.mkdir(parents=True)
            for k, v in (("level", level), ("type", kind), ("size", size), ("shared_cpu_list", shared)):
                (c / k).write_text(f"{v}\n")
    t = linux_topology(tmp_path)
    assert t["sockets"] == 2 and t["cores"] == 4
    assert t["caches"] == {"l1d": 4 * 48 * 1024, "l3": 2 * 32 * 1024**2}


def test_specs_lookups():
    genoa = specs.cpu_spec("AMD EPYC 9654 96-Core Processor")
    assert genoa is not None and genoa["bandwidth_gbps"] == 460.8
    assert specs.cpu_spec("AMD EPYC") is None                 # this VM: no SKU in the name
    assert specs.nvidia_spec_bandwidth_gbps(384, 10501) == 1008.1   # RTX 4090
    assert specs.nvidia_spec_bandwidth_gbps(None, 10501) is None


def test_probe_here_is_json_and_says_why():
    info = hardware.probe()
    d = json.loads(json.dumps(info.to_dict()))
    assert d["cpu"]["threads"] >= 1 and d["cpu"]["ram_bytes"] > 0
    assert d["apple"] is None and len(d["fingerprint"]) == 16
    if d["cpu"]["spec_tdp_w"] is None:
        assert "specs.json" in d["cpu"]["unknown"]["spec_tdp_w"]


def test_cli_json_and_tables(nvml):
    nvml()
    res = CliRunner().invoke(hardware_command, ["--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    plan = {(r["metric"], r["device"]): r["method"] for r in doc["plan"]}
    assert plan[("energy", "gpu0")] == "counter" and plan[("throttling", "gpu0")] == "sampled"
    assert plan[("bandwidth (spec)", "gpu0")] == "spec"
    assert doc["hardware"]["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"
    assert doc["hardware"]["gpu_drivers"]["amd"]["reason"].startswith("amdsmi is not installed")
    text = CliRunner().invoke(hardware_command, [], env={"COLUMNS": "300"})
    assert text.exit_code == 0 and "How each metric will be measured" in text.output
    assert "NVIDIA H100 80GB HBM3" in text.output
    assert "compute 9.0, power limit 700.0 W, PCIe gen5 x16, MIG off" in text.output
    assert "driver 550.54.15, CUDA 12.4" in text.output


def test_cli_tables_for_an_amd_gpu(amdsmi):
    amdsmi()
    doc = json.loads(CliRunner().invoke(hardware_command, ["--json"]).output)
    plan = {(r["metric"], r["device"]): r for r in doc["plan"]}
    assert plan[("energy", "gpu0")]["method"] == "counter"
    assert plan[("memory", "gpu0")]["detail"] == "amdsmi per-process VRAM (amdsmi_get_gpu_process_list)"
    assert plan[("bandwidth (spec)", "gpu0")]["detail"].startswith("5300 GB/s (hardware/specs.json machine mi300x: ")
    text = CliRunner().invoke(hardware_command, [], env={"COLUMNS": "300"}).output
    assert "AMD Instinct MI300X" in text and "compute gfx942, power limit 750.0 W, PCIe gen5 x16, MIG ?" in text
    assert "driver 6.8.5, ROCm 6.3.1" in text


def test_cli_table_without_gpus_says_why_for_each_vendor(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    text = CliRunner().invoke(hardware_command, [], env={"COLUMNS": "300"}).output
    assert "nvidia-ml-py is not installed" in text and "amdsmi is not installed" in text


def test_import_is_cheap():
    code = ("import sys, hardware; heavy = [m for m in ('numpy', 'torch', 'pynvml', 'amdsmi', 'rich') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
