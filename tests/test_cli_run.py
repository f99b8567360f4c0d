"""`bench run` end to end through the real llama.cpp on the tiny synthetic model."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from contract.result import SCHEMA_VERSION

pytestmark = pytest.mark.engine   # real bench runs on llama.cpp


def run_cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def only_result(results_dir):
    files = sorted(results_dir.glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def test_tiny_run_writes_a_complete_result(tmp_path):
    out = tmp_path / "res"
    r = run_cli("run", "--model", "tiny", "--scenario", "pp64,tg16,single-stream", "--repetitions", "3",
                "--requests", "4", "--min-duration", "0", "--input-tokens", "24", "--output-tokens", "8", "--results-dir", str(out),
                "--label", "ci-box")
    assert r.exit_code == 0, r.output
    doc = only_result(out)
    assert next(iter(doc)) == "schema_version" and doc["schema_version"] == SCHEMA_VERSION
    assert doc["status"] == "completed" and doc["label"] == "ci-box"
    assert doc["model"]["source"] == "synthetic" and doc["model"]["quant"] == "Q4_K_M"
    assert doc["environment"]["packages"]["llama-cpp-python"]
    pp, tg, ss = doc["scenarios"]
    assert len(pp["samples"]["pp_tps"]) == 3 and all(v > 0 for v in pp["samples"]["pp_tps"])
    assert len(tg["samples"]["tg_tps"]) == 3
    # ignore_eos: every measured pass produced exactly the asked-for tokens
    assert tg["measured_output_tokens"] == 3 * 16
    assert ss["samples"]["output_tokens"] == [8] * 4 and ss["samples"]["input_tokens"] == [24] * 4
    assert len(ss["samples"]["inter_token_gap_s"]) == 4 * 7
    s = ss["summary"]
    assert s["ttft_s"]["n"] == 4 and s["tpot_s"]["median"] > 0
    assert s["e2e_s"]["min"] > s["ttft_s"]["min"]
    # tpot follows its definition for every request
    for e2e, ttft, tpot in zip(ss["samples"]["e2e_s"], ss["samples"]["ttft_s"], ss["samples"]["tpot_s"], strict=True):
        assert tpot == pytest.approx((e2e - ttft) / 7)
    assert s["output_tps"] == pytest.approx(32 / ss["measured_window_s"])
    # the table printed the three scenarios
    for name in ("pp64", "tg16", "single-str"):
        assert name in r.output


def test_json_flag_prints_the_result_document(tmp_path):
    r = run_cli("run", "--model", "tiny", "--scenario", "tg8", "--repetitions", "3", "--min-duration", "0",
                "--results-dir", str(tmp_path), "--json")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    assert doc == only_result(tmp_path)


def test_results_command_lists_runs(tmp_path):
    run_cli("run", "--model", "tiny", "--scenario", "tg8", "--repetitions", "3", "--results-dir", str(tmp_path))
    (tmp_path / "junk.json").write_text("{")
    r = CliRunner().invoke(main, ["results", str(tmp_path), "--json"])
    assert r.exit_code == 0
    rows = json.loads(r.stdout)
    assert len(rows) == 1 and rows[0]["model"] == "tiny" and rows[0]["status"] == "completed"
    assert rows[0]["tokens_per_s"]["tg8"] > 0
    assert "junk.json" in r.stderr
    table = CliRunner().invoke(main, ["results", str(tmp_path)])
    assert "tiny" in table.stdout and "Q4_K_M" in table.stdout


def test_help_imports_no_engine():
    code = ("import sys\nfrom bench.commands.main import main\n"
            "for args in (['--help'], ['run', '--help'], ['results', '--help']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('torch', 'llama_cpp', 'mlx', 'vllm', 'transformers') if m in sys.modules]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "--repetitions" in out  # the run help really printed


def test_stop_rule_needs_both_count_and_duration(tmp_path):
    from bench.measurement import RunMeasurement
    from bench.run import engine_for, execute
    from scenarios.definitions import Scenario
    from scenarios.kinds import parse_scenarios
    from scenarios.request import RunRequest

    tg = parse_scenarios("tg16", repetitions=3, min_duration_s=0.2)[0]
    tg2 = parse_scenarios("tg2", repetitions=2, min_duration_s=3600)[0]
    assert isinstance(tg2, Scenario)
    capped = tg2.model_copy(update={"name": "capped", "max_passes": 5})
    config = RunRequest(model="tiny", quant="Q4_K_M", backend="llamacpp", scenarios=[tg, capped],
                        results_dir=tmp_path, idle_seconds=0)
    outcome = execute(config, backend=engine_for(config), measurement=RunMeasurement)
    by_duration, by_cap = outcome.result["scenarios"]
    passes = by_duration["samples"]["seconds"]
    assert len(passes) >= 3
    # it stopped only once the duration was reached (or the cap)...
    assert by_duration["measured_window_s"] >= 0.2 or len(passes) == 100
    # ...and not a pass later than needed: before the last extra pass, the window was still short
    if len(passes) > 3:
        assert sum(passes[:-1]) < 0.2
    assert len(by_cap["samples"]["tg_tps"]) == 5


def test_tiny_run_records_hardware_energy_memory_and_roofline(tmp_path):
    r = run_cli("run", "--model", "tiny", "--scenario", "pp32,tg16,single-stream", "--min-duration", "0",
                "--idle-seconds", "0.5", "--results-dir", str(tmp_path))
    assert r.exit_code == 0, r.output
    doc = only_result(tmp_path)
    assert doc["hardware"]["cpu"]["cores"] >= 1
    bw = doc["bandwidth"]["cpu"]
    # the roof is the read kernel at the engine's thread count, with the load it was measured under
    assert bw["gbps"] > 0 and "numpy" in bw["method"] and bw["gbps"] == bw["kernels"]["read"]
    assert bw["threads"] == doc["backend"]["n_threads"] and str(bw["threads"]) in bw["read_gbps_by_threads"]
    assert bw["loadavg_before"] is not None and bw["age_s"] is not None and bw["under_load"] in (True, False)
    pp, tg, ss = doc["scenarios"]
    for sc in (tg, ss):
        e = sc["energy"]
        # no RAPL here: the CPU reading is an estimate, labelled as one, never a silent 0
        assert e["method"] in ("estimated", "counter") and e["joules"] > 0
        assert e["joules_per_output_token"] == pytest.approx(e["joules"] / sc["measured_output_tokens"])
        assert e["tokens_per_joule"] == pytest.approx(1 / e["joules_per_output_token"])
    # pp32 on the tiny model can take under a clock tick: then no estimate, with the reason, never 0
    pp_cpu = next(d for d in pp["energy"]["devices"] if d["device"] == "cpu")
    assert pp["energy"]["joules_per_prompt_token"] is None and "CPU-time resolution" in pp_cpu["reason"] \
        if pp_cpu["joules"] is None else pp["energy"]["joules_per_prompt_token"] > 0
    roof = tg["roofline"]
    assert roof["measured_tps"] == pytest.approx(tg["summary"]["tg_tps"]["mean"])
    assert roof["ceiling_tps_measured"] == pytest.approx(bw["gbps"] * 1e9 / roof["bytes_per_token"])
    assert roof["efficiency_measured"] == pytest.approx(roof["measured_tps"] / roof["ceiling_tps_measured"])
    assert pp["roofline"] is None                      # prefill is compute-bound: no decode ceiling
    mem = doc["memory"]
    assert mem["peak_rss_bytes"] > mem["model_file_bytes"] > 0
    assert mem["kv_cache_bytes_per_token"] == 2 * 2 * 2 * 64 * 2   # K+V x layers x kv heads x head dim x f16
    assert doc["monitoring"]["idle"]["seconds"] >= 0.5
    assert {row["phase"] for row in doc["timeline"]} >= {"idle", "active"}


def test_a_decode_above_the_read_roof_measures_the_roof_again(tmp_path, monkeypatch):
    """A roof the run's decode beats is wrong (measured under load, or stale): the run measures
    it again, once, and holds every decode figure against the new one."""
    import hardware
    from hardware import bandwidth

    monkeypatch.setenv("RIGHTSIZE_CACHE", str(tmp_path / "cache"))
    info = hardware.probe()
    threads = info.cpu.cores
    bandwidth.measured_bandwidth(info, budget_s=0.1, array_bytes=8 * 2**20)
    doc = json.loads(bandwidth.cache_path(info).read_text())
    # a roof of 10 MB/s, trusted (quiet, fresh): the tiny model decodes hundreds of times faster
    doc["devices"]["cpu"].update(gbps=0.01, under_load=False, kernels={"read": 0.01},
                                 read_gbps_by_threads={"1": 0.01, str(threads): 0.01})
    bandwidth.cache_path(info).write_text(json.dumps(doc))
    r = run_cli("run", "--model", "tiny", "--scenario", "tg16,single-stream", "--min-duration", "0",
                "--idle-seconds", "0", "--results-dir", str(tmp_path / "res"))
    assert r.exit_code == 0, r.output
    assert "of the read roof measured before the run: measuring the cpu roof again" in " ".join(r.output.split()), r.output
    result = only_result(tmp_path / "res")
    bw = result["bandwidth"]["cpu"]
    assert bw["gbps"] > 0.5 and not bw["cached"] and "decoded at" in bw["measured_because"]
    for sc in result["scenarios"]:
        roof = sc["roofline"]
        assert roof["measured_bandwidth_gbps"] == bw["gbps"]
        assert roof["efficiency_measured"] == pytest.approx(roof["measured_tps"] * roof["bytes_per_token"] / (bw["gbps"] * 1e9))
