"""Per-result figures and cost, on real results measured for examples/ (and edited copies)."""

import copy
import json

import pytest

from contract import documents
from dashboards.errors import DashboardError
from dashboards.figures import figures
from dashboards.prices import load_prices
from dashboards.profiles import load_profiles
from dashboards.rows import CostSettings, build_row, parse_profile_choices


def _gpu(name, index=0):
    """A GPU of the hardware section as the NVML probe writes it, with what the cost rows read."""
    return {"vendor": "nvidia", "index": index, "device": f"gpu{index}", "name": name, "uuid": None,
            "memory_bytes": None, "power_limit_w": None, "spec_bandwidth_gbps": None, "energy_counter": True}


def row_for(doc, chosen=None, settings=CostSettings(), profiles=None):
    return build_row(documents.run_result(doc), None, profiles or load_profiles(), chosen or {}, load_prices(), settings)


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


def test_this_vm_priced_by_its_closest_preset_by_hand(example):
    # The example results' VM: AMD EPYC, 2 threads, 25,276,063,744 B = 23.5402 GiB, no flags given.
    # N2D on-demand: 2 x $0.027502 + 23.5402 x $0.003686 = $0.141773/h.
    _, doc = example("tiny-Q4_K_M")
    c = row_for(doc)["cost"]
    assert c["profile"] == "gcp-n2d" and "closest preset to the detected AMD EPYC" in c["profile_how"]
    assert c["usd_per_hour"] == pytest.approx(0.141773, abs=1e-6)
    assert c["basis_text"] == ("cloud on-demand: 2 vCPU x $0.0275 + 23.5 GiB x $0.003686 = $0.1418/h at 100% "
                               "utilisation")
    # single-stream 889.35 output tok/s, 128 in / 32 out: $/1M out = 0.141773e6 / (3600 x 2 x 889.35) = $0.02214
    o = doc["scenarios"][2]["summary"]["output_tps"]
    assert c["usd_per_m_output"] == pytest.approx(0.141773e6 / (3600 * 2 * o), rel=1e-5)
    assert c["usd_per_m_output"] == pytest.approx(0.022141, abs=1e-6)
    assert c["profile_observed"] == "2026-07-30" and "Google Cloud list prices" in c["profile_source"]


def test_cpu_only_machine_no_preset_covers_by_hand(example):
    # An Intel desktop CPU without AVX-512 (no CPU preset covers it), 32 threads, 64 GiB, running the 8B
    # result: priced per vCPU-hour and GiB-hour at E2 on-demand: 32 x 0.0218116 + 64 x 0.0029235 = $0.8850752/h.
    # O = 1.0400007 output tok/s, I = 4 x O (128 in / 32 out), r = 4, 100 %:
    # $/1M out = 0.8850752e6 / (3600 x (O + I/4)) = 885075.2 / 7488.005 = $118.199; input $29.550;
    # blended (3 x 29.550 + 118.199) / 4 = $51.712.
    _, doc = example("llama-3.1-8b")
    doc = copy.deepcopy(doc)
    doc["hardware"]["cpu"].update(model="13th Gen Intel(R) Core(TM) i9-13900K", vendor="GenuineIntel", threads=32,
                                  cores=24, ram_bytes=64 * 2**30, isa={"avx2": True, "fma": True, "avx512f": False})
    c = row_for(doc)["cost"]
    assert c["profile"] == "cloud-vcpu"
    assert c["profile_how"].startswith("no preset fits the detected 13th Gen Intel(R) Core(TM) i9-13900K")
    assert "priced per vCPU-hour and per GiB-hour of RAM" in c["profile_how"]
    assert c["usd_per_hour"] == pytest.approx(0.8850752)
    assert c["basis_text"].startswith("cloud on-demand: 32 vCPU x $0.02181 + 64.0 GiB x $0.002923 = $0.8851/h")
    assert c["usd_per_m_output"] == pytest.approx(118.19906, abs=1e-4)
    assert c["usd_per_m_input"] == pytest.approx(29.54977, abs=1e-4)
    assert c["usd_per_m_blended"] == pytest.approx(51.71209, abs=1e-4)
    # Against GPT-4o ($4.375 blended) one such machine never wins; the reason says why.
    gpt4o = next(a for a in c["apis"] if a["model"] == "GPT-4o")
    assert gpt4o["breakeven_utilisation"] is None and "utilisation" in gpt4o["never"]


def test_unknown_gpu_is_na_with_the_reason(example):
    _, doc = example("tiny-Q4_K_M")
    doc = copy.deepcopy(doc)
    doc["hardware"]["gpus"] = [_gpu("NVIDIA L40")]
    doc["backend"]["device"] = "gpu"
    row = row_for(doc)
    assert row["cost"] is None and row["cost_na"].startswith("no cost preset for NVIDIA L40")
    assert "--hourly-cost" in row["cost_na"]
    assert row_for(doc, settings=CostSettings(hourly_cost=1.2))["cost"]["usd_per_hour"] == 1.2


def test_hourly_cost_overrides_every_basis(example):
    # --hourly-cost 2.04 reproduces the cpu-server preset's figures: $272.44 per 1M output tokens.
    _, doc = example("llama-3.1-8b")
    c = row_for(doc, {"vm": "h100"}, settings=CostSettings(hourly_cost=2.04))["cost"]
    assert c["profile"] == "hourly-cost" and c["profile_how"] == "given with --hourly-cost"
    assert c["usd_per_m_output"] == pytest.approx(272.44, abs=0.01)
    assert c["basis_text"] == "your price: $2.04/h at 100% utilisation"


def test_capex_years_power_price_and_utilisation_by_hand(example):
    # $8,760 over 1 year = 8760 / (12 x 730) = $1.00/h fixed; the run's power (estimated): busy 9.85 W over
    # single-stream, idle 0.05 W; $0.20/kWh, PUE 1, utilisation 0.5:
    # H = 1 + (idle + 0.5 x (busy - idle)) / 1000 x 0.20.
    _, doc = example("llama-3.1-8b")
    c = row_for(doc, settings=CostSettings(capex=8760, years=1, usd_per_kwh=0.2, utilisation=0.5))["cost"]
    busy = doc["scenarios"][2]["energy"]["average_watts"]
    idle = doc["monitoring"]["idle"]["watts"]["cpu"]
    assert c["profile"] == "capex" and c["profile_how"] == "given with --capex and --years 1"
    assert c["usd_per_hour"] == pytest.approx(1.0 + (idle + 0.5 * (busy - idle)) / 1000 * 0.2)
    assert c["basis_text"].startswith("owned: $8,760 over 12 months = $1/h + power")
    assert not any("assumed" in n for n in c["notes"])           # the tariff was given
    default = row_for(doc, settings=CostSettings(capex=8760))["cost"]
    assert default["hour"]["fixed"] == pytest.approx(8760 / (36 * 730))   # 3 years by default, said so
    assert "3 years by default" in default["profile_how"]
    assert any("$0.15/kWh assumed" in n for n in default["notes"])


@pytest.mark.parametrize("kwargs, needle", [({"hourly_cost": 1, "capex": 100}, "give one"),
                                            ({"years": 3}, "--years is the amortisation of --capex"),
                                            ({"hourly_cost": 0}, "--hourly-cost must be above 0"),
                                            ({"capex": -5}, "--capex must be above 0")])
def test_bad_overrides(kwargs, needle):
    with pytest.raises(DashboardError, match=needle):
        CostSettings(**kwargs)


def test_cheapest_and_closest_api_rows(example):
    _, doc = example("llama-3.1-8b")
    c = row_for(doc)["cost"]
    cmp_ = c["compare"]
    same = [a for a in c["apis"] if a["like_for_like"]]
    assert cmp_["what"] == "APIs serving llama-3.1-8b" and cmp_["count"] == len(same) >= 8
    assert cmp_["cheapest"]["blended"] == min(a["blended"] for a in same) == pytest.approx(0.0225)
    # closest in price to the self-hosted $8.28 blended among those rows: Fireworks at $0.20
    assert c["usd_per_m_blended"] == pytest.approx(8.2833, abs=1e-3)
    assert (cmp_["closest"]["provider"], cmp_["closest"]["blended"]) == ("Fireworks", pytest.approx(0.20))
    # the tiny test model is served by none: the 7B-14B class, said to be for reference only
    tiny = row_for(example("tiny-Q4_K_M")[1])["cost"]["compare"]
    assert tiny["what"].startswith("open 7B-14B APIs, for reference only: tiny (18M parameters)")


def test_highest_valid_aggregate_throughput_drives_cost(example):
    _, doc = example("tiny-Q4_K_M")
    doc = copy.deepcopy(doc)
    base = next(sc for sc in doc["scenarios"] if sc["name"] == "single-stream")
    faster, fastest = copy.deepcopy(base), copy.deepcopy(base)
    # load levels carry a level's params (scenarios/levels.py), not a single-stream's
    faster.update(name="concurrency-4", kind="concurrency", params={"scenario": "chat", "mode": "concurrency", "concurrency": 4})
    faster["summary"]["output_tps"] = base["summary"]["output_tps"] * 3
    fastest.update(name="concurrency-8", kind="concurrency", params={"scenario": "chat", "mode": "concurrency", "concurrency": 8},
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
    doc["hardware"]["gpus"] = [_gpu("NVIDIA H100 80GB HBM3"), _gpu("NVIDIA H100 80GB HBM3", 1)]
    doc["backend"]["device"] = "gpu"
    row = row_for(doc)
    assert row["hardware"] == "NVIDIA H100 80GB HBM3 x2"
    assert row["cost"]["profile"] == "h100" and row["cost"]["usd_per_hour"] == pytest.approx(2 * 4.76)
    assert any("x 2 GPUs" in n for n in row["cost"]["notes"])
    spot = row_for(doc, settings=CostSettings(basis="reserved"))
    assert spot["cost"]["usd_per_hour"] == pytest.approx(2 * 1.85)
    doc["hardware"]["gpus"][0]["name"] = doc["hardware"]["gpus"][1]["name"] = "NVIDIA H200"
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
    fig = figures(documents.run_result(old))
    for key in ("j_per_token", "peak_rss_bytes", "bw_eff_measured", "idle_watts", "peak_device_bytes"):
        assert fig[key] is None
    assert "no energy reading" in fig["missing"]["j_per_token"]
    assert "no memory section" in fig["missing"]["peak_rss_bytes"]
    assert fig["hardware"].startswith("unknown hardware")
    assert fig["decode_tps"] == doc["scenarios"][1]["summary"]["tg_tps"]["mean"]


def test_invalid_runs_are_priced_and_say_so(example):
    _, doc = example("tiny-Q4_K_M")
    doc = copy.deepcopy(doc)
    for sc in doc["scenarios"]:
        sc["validity"] = {"verdict": "INVALID", "reasons": ["high variance"]}
    row = row_for(doc, {"vm": "cpu-server"})
    c = row["cost"]
    assert c["throughput"]["valid"] is False and c["throughput"]["invalid_reasons"] == ["high variance"]
    assert c["notes"][0].startswith("the throughput comes from single-stream, which is INVALID (high variance)")
    assert row["decode_tps"] is None and row["missing"]["decode_tps"] == "tg32 INVALID (high variance)"
    # energy follows the INVALID scenario cost rests on, flagged
    assert row["j_per_token"] is not None and row["energy_valid"] is False
    # nothing completed with output: n/a with the reason
    for sc in doc["scenarios"]:
        sc["status"] = "failed"
    none = row_for(doc, {"vm": "cpu-server"})
    assert none["cost"] is None and "no completed request scenario" in none["cost_na"]


@pytest.mark.parametrize("choices, needle", [(["vm"], "LABEL=NAME"), (["vm=nope"], "unknown cost profile")])
def test_bad_profile_choices(choices, needle):
    with pytest.raises(DashboardError, match=needle):
        parse_profile_choices(choices, load_profiles())


@pytest.mark.parametrize("kwargs, needle", [({"ratio": 0}, "ratio"), ({"basis": "monthly"}, "basis"),
                                            ({"utilisation": 1.5}, "utilisation"), ({"usd_per_kwh": -1}, "kwh")])
def test_bad_settings(kwargs, needle):
    with pytest.raises(DashboardError, match=needle):
        CostSettings(**kwargs)
