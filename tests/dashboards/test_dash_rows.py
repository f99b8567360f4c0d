"""Per-result figures and cost, on real results measured for examples/ (and edited copies)."""

import copy
import json

import pytest

from dashboards.figures import figures
from dashboards.prices import load_prices
from dashboards.profiles import load_profiles
from dashboards.rows import CostSettings, build_row, parse_profile_choices
from dashboards.errors import DashboardError


def row_for(doc, chosen=None, settings=CostSettings(), profiles=None):
    return build_row(doc, None, profiles or load_profiles(), chosen or {}, load_prices(), settings)


def test_8b_on_the_cpu_server_profile_by_hand(example):
    _, doc = example("llama-3.1-8b")
    row = row_for(doc, {"vm": "cpu-server"})
    c = row["cost"]
    # single-stream: O = 1.0400007 output tok/s, 128 in / 32 out per request -> I = 4 x O.
    # $2.04/h, r = 4, utilisation 1: $/1M out = 2.04e6 / (3600 x (O + I/4)) = 2.04e6 / (3600 x 2.0800014)
    o = doc["scenarios"][2]["summary"]["output_tps"]
    assert c["throughput"]["scenario"] == "single-stream" and c["throughput"]["output_tps"] == o
    assert c["throughput"]["input_tps"] == pytest.approx(4 * o)
    assert c["usd_per_m_output"] == pytest.approx(2.04e6 / (3600 * 2 * o))
    assert c["usd_per_m_output"] == pytest.approx(272.44, abs=0.01)
    assert c["usd_per_m_input"] == pytest.approx(68.11, abs=0.01)
    assert c["usd_per_m_blended"] == pytest.approx((3 * 68.109 + 272.436) / 4, abs=0.01)   # 119.19
    # 1,000 requests of 128 in / 32 out: (128 x 68.109 + 32 x 272.436) / 1000 = $17.44.
    assert c["usd_per_1k_tasks"] == pytest.approx(17.436, abs=0.01)
    assert c["usd_per_hour"] == 2.04 and c["basis"] == "on_demand"
    assert "--profile vm=cpu-server" in c["profile_how"]
    # At $119/1M this CPU never beats any API row.
    assert all(a["breakeven_utilisation"] is None and "utilisation" in a["never"] for a in c["apis"])


def test_electricity_only_is_labelled_estimated(example):
    _, doc = example("llama-3.1-8b")
    e = row_for(doc)["electricity"]
    # 9.4760 J/token (estimated) x 1e6 / 3.6e6 x $0.15/kWh (assumed tariff) = $0.3948.
    assert e["usd_per_m"] == pytest.approx(9.476041666 / 3.6 * 0.15, rel=1e-6)
    assert e["method"] == "estimated" and e["tariff_assumed"] is True


def test_no_profile_is_na_with_the_reason(example):
    _, doc = example("tiny-Q4_K_M")
    row = row_for(doc)
    assert row["cost"] is None
    assert row["cost_na"].startswith("no cost profile for vm")
    assert "--profile vm=NAME" in row["cost_na"]


def test_highest_valid_aggregate_throughput_drives_cost(example):
    _, doc = example("tiny-Q4_K_M")
    doc = copy.deepcopy(doc)
    base = next(sc for sc in doc["scenarios"] if sc["name"] == "single-stream")
    faster, fastest = copy.deepcopy(base), copy.deepcopy(base)
    faster.update(name="concurrency-4", kind="concurrency")
    faster["summary"]["output_tps"] = base["summary"]["output_tps"] * 3
    fastest.update(name="concurrency-8", kind="concurrency",
                   validity={"verdict": "INVALID", "reasons": ["high variance"]})
    fastest["summary"]["output_tps"] = base["summary"]["output_tps"] * 5
    doc["scenarios"] += [faster, fastest]
    row = row_for(doc, {"vm": "cpu-server"})
    assert row["cost"]["throughput"]["scenario"] == "concurrency-4"
    single = row_for(example("tiny-Q4_K_M")[1], {"vm": "cpu-server"})["cost"]["usd_per_m_output"]
    assert row["cost"]["usd_per_m_output"] == pytest.approx(single / 3)


def test_owned_profile_uses_the_runs_power(tmp_path, example):
    _, doc = example("llama-3.1-8b")
    f = tmp_path / "p.json"
    f.write_text(json.dumps([{"name": "box", "title": "box", "kind": "owned", "purchase_usd": 7300,
                              "amortisation_months": 10, "electricity_usd_per_kwh": 0.2, "pue": 1.5,
                              "active_watts": 500, "idle_watts": 100, "source": "test"}]))
    row = row_for(doc, {"vm": "box"}, profiles=load_profiles(f), settings=CostSettings(utilisation=0.5))
    c = row["cost"]
    busy = doc["scenarios"][2]["energy"]["average_watts"]           # 9.85 W, estimated
    idle = doc["monitoring"]["idle"]["watts"]["cpu"]                # 0.05 W, estimated
    # 7300 / (10 x 730) = $1/h fixed; power (idle + 0.5 (busy - idle)) x 1.5 x $0.2/kWh.
    assert c["usd_per_hour"] == pytest.approx(1.0 + (idle + 0.5 * (busy - idle)) / 1000 * 1.5 * 0.2)
    assert any("estimated over single-stream" in n for n in c["notes"])
    assert any("estimated in the run's idle baseline" in n for n in c["notes"])


def test_gpu_machine_matched_and_priced_per_gpu(example):
    _, doc = example("tiny-Q4_K_M")
    doc = copy.deepcopy(doc)
    gpu = {"index": 0, "name": "NVIDIA H100 80GB HBM3"}
    doc["hardware"]["nvidia"] = {"available": True, "reason": None, "gpus": [gpu, {**gpu, "index": 1}]}
    doc["backend"]["device"] = "gpu"
    row = row_for(doc)
    assert row["hardware"] == "NVIDIA H100 80GB HBM3 x2"
    assert row["cost"]["profile"] == "h100" and row["cost"]["usd_per_hour"] == pytest.approx(2 * 4.76)
    assert any("x 2 GPUs" in n for n in row["cost"]["notes"])
    spot = row_for(doc, settings=CostSettings(basis="reserved"))
    assert spot["cost"]["usd_per_hour"] == pytest.approx(2 * 1.85)
    doc["hardware"]["nvidia"]["gpus"][0]["name"] = doc["hardware"]["nvidia"]["gpus"][1]["name"] = "NVIDIA H200"
    missing = row_for(doc, settings=CostSettings(basis="reserved"))
    assert missing["cost"] is None and "no reserved price" in missing["cost_na"]


def test_missing_figures_are_none_with_reasons(example):
    _, doc = example("tiny-Q4_K_M")
    old = copy.deepcopy(doc)
    for key in ("hardware", "memory", "monitoring"):
        old.pop(key)
    for sc in old["scenarios"]:
        sc["energy"] = None
        sc.pop("roofline")
    fig = figures(old)
    for key in ("j_per_token", "peak_rss_bytes", "bw_eff_measured", "idle_watts", "peak_device_bytes"):
        assert fig[key] is None
    assert "no energy reading" in fig["missing"]["j_per_token"]
    assert "no memory section" in fig["missing"]["peak_rss_bytes"]
    assert fig["hardware"].startswith("unknown hardware")
    assert fig["decode_tps"] == doc["scenarios"][1]["summary"]["tg_tps"]["mean"]


def test_invalid_runs_give_no_cost(example):
    _, doc = example("tiny-Q4_K_M")
    doc = copy.deepcopy(doc)
    for sc in doc["scenarios"]:
        sc["validity"] = {"verdict": "INVALID", "reasons": ["high variance"]}
    row = row_for(doc, {"vm": "cpu-server"})
    assert row["cost"] is None and "no valid request scenario" in row["cost_na"]
    assert row["decode_tps"] is None and row["missing"]["decode_tps"] == "tg32 INVALID (high variance)"
    assert row["j_per_token"] is None and "no valid" in row["missing"]["j_per_token"]


@pytest.mark.parametrize("choices, needle", [(["vm"], "LABEL=NAME"), (["vm=nope"], "unknown cost profile")])
def test_bad_profile_choices(choices, needle):
    with pytest.raises(DashboardError, match=needle):
        parse_profile_choices(choices, load_profiles())


@pytest.mark.parametrize("kwargs, needle", [({"ratio": 0}, "ratio"), ({"basis": "monthly"}, "basis"),
                                            ({"utilisation": 1.5}, "utilisation"), ({"usd_per_kwh": -1}, "kwh")])
def test_bad_settings(kwargs, needle):
    with pytest.raises(DashboardError, match=needle):
        CostSettings(**kwargs)
