"""Hardware cost profiles: sourced presets, the closest preset for detected hardware, user files."""

import json

import pytest

from dashboards.errors import DashboardError
from dashboards.matching import choose_preset
from dashboards.profiles import load_profiles

PRESETS = {"h100", "h200", "a100", "l40s", "l4", "rtx-4090", "rtx-5090", "rtx-4090-owned", "rtx-5090-owned",
           "mac-studio-m2-ultra", "mac-studio-m3-ultra", "mac-studio-m4-max", "dgx-spark", "gcp-c4", "gcp-n2",
           "gcp-c3d", "gcp-n2d", "gcp-c4a", "cloud-vcpu", "cpu-server"}
X86 = ("avx2", "fma", "f16c")


def machine(kind="cpu", gpu=None, chip=None, vendor=None, model=None, arch="x86_64", isa=(), threads=None, ram=None):
    """The shape figures.machine gives a cost preset to match against."""
    return {"kind": kind, "gpu_name": gpu, "gpu_count": 1 if gpu else 0, "apple_chip": chip, "cpu_model": model,
            "cpu_vendor": vendor, "arch": arch, "isa": sorted(isa), "vcpus": threads, "ram_gib": ram}


def test_presets_exist_with_sources():
    profiles = load_profiles()
    assert set(profiles) >= PRESETS
    for p in profiles.values():
        assert p.source and p.kind in ("cloud", "owned")
    assert profiles["h100"].usd_per_hour == {"on_demand": 4.76, "spot": 2.69, "reserved": 1.85}
    assert profiles["mac-studio-m2-ultra"].purchase_usd == 3999
    assert profiles["mac-studio-m2-ultra"].idle_watts == 10


@pytest.mark.parametrize("gpu, expected", [
    ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H100 PCIe", "h100"), ("NVIDIA H200", "h200"),
    ("NVIDIA A100-SXM4-80GB", "a100"), ("NVIDIA L40S", "l40s"), ("NVIDIA L4", "l4"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA GeForce RTX 5090", "rtx-5090"), ("NVIDIA GB10", "dgx-spark"),
    ("NVIDIA L40", None), ("NVIDIA GeForce RTX 3090", None),
])
def test_gpus_by_name(gpu, expected):
    found, how = choose_preset(machine("gpu", gpu=gpu), load_profiles())
    assert (found.name if found else None) == expected
    if found is None:       # a GPU is never priced as a CPU machine: that would leave the GPU out
        assert how.startswith(f"no cost preset for {gpu}") and "--hourly-cost" in how


@pytest.mark.parametrize("chip, expected, how", [
    ("Apple M2 Ultra", "mac-studio-m2-ultra", "matched to the detected Apple M2 Ultra"),
    ("Apple M3 Ultra", "mac-studio-m3-ultra", "matched"),
    ("Apple M4 Max", "mac-studio-m4-max", "matched"),
    ("Apple M2 Max", "mac-studio-m4-max", "the same tier (Max), 2 generations newer"),
    ("Apple M1 Ultra", "mac-studio-m2-ultra", "the same tier (Ultra), one generation newer"),
    ("Apple M5 Ultra", "mac-studio-m3-ultra", "2 generations older"),
    ("Apple M3 Pro", "cloud-vcpu", "no Mac preset for its tier"),      # no Pro preset: its vCPUs and RAM
])
def test_apple_chips_closest_preset(chip, expected, how):
    found, said = choose_preset(machine("apple", chip=chip, vendor="Apple", model=chip, arch="arm64",
                                        isa=("neon", "dotprod"), threads=12, ram=36), load_profiles())
    assert found is not None and found.name == expected and how in said


@pytest.mark.parametrize("vendor, model, arch, isa, threads, expected", [
    ("GenuineIntel", "Intel(R) Xeon(R) Platinum 8481C", "x86_64", (*X86, "avx512f", "amx_tile"), 44, "gcp-c4"),
    ("GenuineIntel", "Intel(R) Xeon(R) Gold 6248", "x86_64", (*X86, "avx512f"), 40, "gcp-n2"),
    ("AuthenticAMD", "AMD EPYC 9654 96-Core Processor", "x86_64", (*X86, "avx512f"), 192, "gcp-c3d"),
    ("AuthenticAMD", "AMD EPYC", "x86_64", (*X86, "avx512f"), 2, "gcp-n2d"),     # C3D starts at 4 vCPU
    ("AuthenticAMD", "AMD EPYC 7763 64-Core Processor", "x86_64", X86, 128, "gcp-n2d"),
    ("0x41", "Neoverse-V2", "aarch64", ("neon", "dotprod", "sve", "sve2", "bf16", "i8mm"), 64, "gcp-c4a"),
    # none of the presets covers these: their vCPUs and RAM at the general-purpose rates
    ("GenuineIntel", "13th Gen Intel(R) Core(TM) i9-13900K", "x86_64", (*X86, "avx_vnni"), 32, "cloud-vcpu"),
    ("0x41", "Neoverse-N1", "aarch64", ("neon", "dotprod"), 64, "cloud-vcpu"),
    ("AuthenticAMD", "AMD EPYC 9965", "x86_64", (*X86, "avx512f"), 768, "cloud-vcpu"),     # above every shape
    (None, None, "riscv64", (), 4, "cloud-vcpu"),
])
def test_cpus_by_vendor_isa_and_threads(vendor, model, arch, isa, threads, expected):
    found, how = choose_preset(machine(vendor=vendor, model=model, arch=arch, isa=isa, threads=threads, ram=64),
                               load_profiles())
    assert found is not None and found.name == expected
    if expected == "cloud-vcpu":
        assert how.startswith("no preset fits the detected") and "per vCPU-hour and per GiB-hour" in how
    else:
        assert "by vendor, ISA and thread count" in how


def test_no_hardware_section_is_not_priced():
    found, how = choose_preset(machine(kind=None), load_profiles())
    assert found is None and "no hardware section" in how


def test_cpu_machine_priced_per_vcpu_and_gib_by_hand():
    # 2 vCPU and 23.540 GiB (this repo's test VM) at E2 on-demand: 2 x 0.0218116 + 23.540 x 0.0029235.
    p = load_profiles()["cloud-vcpu"]
    hour = p.machine_hour("on_demand", machine(threads=2, ram=23.540), None, None)
    assert hour.fixed_usd == pytest.approx(0.0436232 + 0.0688192, abs=1e-6)
    assert hour.at(0.3) == hour.fixed_usd                 # rented: utilisation does not change the hour
    spot = p.machine_hour("spot", machine(threads=2, ram=23.540), None, None).fixed_usd
    assert spot == pytest.approx(2 * 0.01309 + 23.540 * 0.001754)
    with pytest.raises(DashboardError, match="vCPUs"):
        p.machine_hour("on_demand", machine(threads=None, ram=None), None, None)
    for preset in ("gcp-c4", "gcp-n2", "gcp-c3d", "gcp-n2d", "gcp-c4a", "cloud-vcpu"):
        q = load_profiles()[preset]
        assert q.observed == "2026-07-30" and "fd66b26f" in q.source and q.usd_per_hour is None
        assert q.usd_per_vcpu_hour is not None and q.usd_per_gib_hour is not None
        assert set(q.usd_per_vcpu_hour) == set(q.usd_per_gib_hour) == {"on_demand", "spot", "reserved"}


def test_user_cpu_profile_by_model_name_wins(tmp_path):
    f = tmp_path / "p.json"
    f.write_text(json.dumps([{"name": "our-genoa", "title": "our EPYC 9654 box", "kind": "owned", "purchase_usd": 15000,
                              "amortisation_months": 48, "active_watts": 400, "match": "EPYC 9654",
                              "source": "invoice 99"}]))
    found, how = choose_preset(machine(vendor="AuthenticAMD", model="AMD EPYC 9654 96-Core Processor",
                                       isa=(*X86, "avx512f"), threads=192, ram=768), load_profiles(f))
    assert found is not None and found.name == "our-genoa" and how == "matched to the detected AMD EPYC 9654 96-Core Processor"


def test_user_profile_extends_and_adds(tmp_path):
    f = tmp_path / "profiles.json"
    f.write_text(json.dumps({"profiles": [
        {"name": "our-h100", "title": "H100 on our contract", "extends": "h100", "usd_per_hour": {"reserved": 1.50},
         "source": "contract 2026-11"},
        {"name": "rack-server", "title": "Our rack server", "kind": "owned", "purchase_usd": 12000,
         "amortisation_months": 48, "electricity_usd_per_kwh": 0.11, "pue": 1.4, "active_watts": 600,
         "idle_watts": 150, "source": "invoice 1234"}]}))
    profiles = load_profiles(f)
    ours = profiles["our-h100"]
    assert ours.usd_per_hour == {"on_demand": 4.76, "spot": 2.69, "reserved": 1.50}
    assert ours.match is None                               # only used when chosen
    assert profiles["rack-server"].kind == "owned" and profiles["rack-server"].pue == 1.4
    h100 = profiles["h100"].usd_per_hour
    assert h100 is not None and h100["reserved"] == 1.85  # preset untouched


def test_user_profile_csv(tmp_path):
    f = tmp_path / "profiles.csv"
    f.write_text("name,title,kind,usd_per_hour_on_demand,usd_per_hour_spot,per_gpu,source\n"
                 "cpu-server,Our CPU box,cloud,0.9,,false,quote\n"
                 "4090-box,2x4090 box,owned,,,,invoice 7\n")
    with pytest.raises(DashboardError, match="purchase_usd"):
        load_profiles(f)
    f.write_text("name,title,kind,usd_per_hour_on_demand,usd_per_hour_spot,per_gpu,source\n"
                 "cpu-server,Our CPU box,cloud,0.9,,false,quote\n")
    p = load_profiles(f)["cpu-server"]
    assert p.usd_per_hour == {"on_demand": 0.9, "spot": None, "reserved": None} and p.title == "Our CPU box"
    assert p.per_gpu is False and p.machine_hour("on_demand", machine("gpu", gpu="x"), None, None).fixed_usd == 0.9
    f.write_text("name,title,kind,usd_per_vcpu_hour_on_demand,usd_per_gib_hour_on_demand,source\n"
                 "our-cloud,Our cloud,cloud,0.02,0.004,contract 2026-11\n")
    ours = load_profiles(f)["our-cloud"]
    assert ours.machine_hour("on_demand", machine(threads=8, ram=32), None, None).fixed_usd == pytest.approx(0.288)


@pytest.mark.parametrize("raw, needle", [
    ({"name": "x", "title": "x", "kind": "rented", "source": "s"}, "kind"),
    ({"name": "x", "title": "x", "kind": "cloud", "source": "s"}, "usd_per_hour"),
    ({"name": "x", "title": "x", "kind": "owned", "purchase_usd": 100, "source": "s"}, "amortisation_months"),
    ({"name": "x", "title": "x", "kind": "cloud", "usd_per_hour": {"on_demand": 0}, "source": "s"}, "on_demand"),
    ({"name": "x", "title": "x", "kind": "cloud", "usd_per_hour": {"on_demand": 1}, "utilisation": 2, "source": "s"},
     "utilisation"),
    ({"name": "x", "extends": "nope", "title": "x", "source": "s"}, "extends"),
    ({"name": "x", "title": "x", "kind": "cloud", "usd_per_vcpu_hour": {"on_demand": 0.02}, "source": "s"},
     "usd_per_gib_hour"),
    ({"name": "x", "title": "x", "kind": "cloud", "usd_per_hour": {"on_demand": 1}, "match_cpu": {"cores": 4},
      "source": "s"}, "match_cpu"),
    ({"name": "x", "title": "x", "kind": "cloud", "usd_per_hour": {"on_demand": 1}, "match_cpu": {"threads": [8, 2]},
      "source": "s"}, "threads"),
])
def test_bad_profiles(tmp_path, raw, needle):
    f = tmp_path / "p.json"
    f.write_text(json.dumps([raw]))
    with pytest.raises(DashboardError) as err:
        load_profiles(f)
    assert needle in str(err.value)
