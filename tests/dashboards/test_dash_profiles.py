"""Hardware cost profiles: sourced presets, matching to detected hardware, user files."""

import json

import pytest

from dashboards.errors import DashboardError
from dashboards.profiles import load_profiles, match_profile

PRESETS = {"h100", "h200", "a100", "l40s", "l4", "rtx-4090", "rtx-5090", "rtx-4090-owned", "rtx-5090-owned",
           "mac-studio-m2-ultra", "mac-studio-m4-max", "cpu-server"}


def test_presets_exist_with_sources():
    profiles = load_profiles()
    assert PRESETS <= set(profiles)
    for p in profiles.values():
        assert p.source and p.kind in ("cloud", "owned")
    assert profiles["h100"].usd_per_hour == {"on_demand": 4.76, "spot": 2.69, "reserved": 1.85}
    assert profiles["mac-studio-m2-ultra"].purchase_usd == 3999
    assert profiles["mac-studio-m2-ultra"].idle_watts == 10


@pytest.mark.parametrize("device, expected", [
    ("NVIDIA H100 80GB HBM3", "h100"), ("NVIDIA H100 PCIe", "h100"), ("NVIDIA H200", "h200"),
    ("NVIDIA A100-SXM4-80GB", "a100"), ("NVIDIA L40S", "l40s"), ("NVIDIA L4", "l4"),
    ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA GeForce RTX 5090", "rtx-5090"),
    ("Apple M2 Ultra", "mac-studio-m2-ultra"), ("Apple M4 Max", "mac-studio-m4-max"),
    ("NVIDIA L40", None), ("Apple M2 Max", None), ("AMD EPYC", None), (None, None),
])
def test_matching_detected_hardware(device, expected):
    found = match_profile(device, load_profiles())
    assert (found.name if found else None) == expected


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
    assert profiles["h100"].usd_per_hour["reserved"] == 1.85  # preset untouched


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
    assert p.per_gpu is False and p.machine_hour("on_demand", 4, None, None).fixed_usd == 0.9


@pytest.mark.parametrize("raw, needle", [
    ({"name": "x", "title": "x", "kind": "rented", "source": "s"}, "kind"),
    ({"name": "x", "title": "x", "kind": "cloud", "source": "s"}, "usd_per_hour"),
    ({"name": "x", "title": "x", "kind": "owned", "purchase_usd": 100, "source": "s"}, "amortisation_months"),
    ({"name": "x", "title": "x", "kind": "cloud", "usd_per_hour": {"on_demand": 0}, "source": "s"}, "on_demand"),
    ({"name": "x", "title": "x", "kind": "cloud", "usd_per_hour": {"on_demand": 1}, "utilisation": 2, "source": "s"},
     "utilisation"),
    ({"name": "x", "extends": "nope", "title": "x", "source": "s"}, "extends"),
])
def test_bad_profiles(tmp_path, raw, needle):
    f = tmp_path / "p.json"
    f.write_text(json.dumps([raw]))
    with pytest.raises(DashboardError) as err:
        load_profiles(f)
    assert needle in str(err.value)
