"""`bench project` end to end: offline for every catalog model and hardware row, PROJECTED and
banded everywhere, calibration from a measured run, bad input in one line, and a projection that
cannot pass for a measured result."""

import json
from pathlib import Path

import pytest

from tests.test_cli_errors import assert_one_line_error, bench

pytestmark = pytest.mark.engine   # each test is a bench project process of its own (seconds to tens of seconds)

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "runs"
RESULT_8B = next(EXAMPLES.glob("*llama-3.1-8b-Q4_K_M*.json"))


def project(*args):
    p = bench("project", *args)
    assert p.returncode == 0, p.stderr
    return p


def project_json(*args):
    return json.loads(project(*args, "--json").stdout)


def test_the_issues_command_prints_projected_figures_with_bands_and_the_validation():
    p = project("--hardware", "h200,m4-max-40c,epyc-9654", "--model", "qwen2.5-14b,llama-3.1-8b",
                "--quant", "Q4_K_M,Q8_0", "--concurrency", "1,8,32", "--context", "4096")
    out = p.stdout
    assert out.startswith("PROJECTED, not measured")
    assert "Validation: rows held out by machine, source, quant and model" in out and "±" in out
    for hw in ("h200", "m4-max-40c", "epyc-9654"):
        assert hw in out
    # the CPU class misses its targets, and the output says so, not only the note
    assert "warning: cpu tg: median error" in out and "wider than the target" in out


def test_json_every_figure_is_projected_and_banded():
    d = project_json("--hardware", "h200,m4-max-40c,epyc-9654", "--model", "qwen2.5-14b,llama-3.1-8b",
                     "--quant", "Q4_K_M,Q8_0", "--concurrency", "1,8,32")
    assert d["label"] == "PROJECTED" and d["kind"] == "projection" and "schema_version" not in d
    assert len(d["projections"]) == 3 * 2 * 2
    classes = {(c["platform"], c["kind"]): c for c in d["validation"]["classes"]}
    for e in d["projections"]:
        assert e["label"] == "PROJECTED" and e["calibration"] is None
        assert e["tg"]["value"] > 0 and e["tg128"]["value"] > e["tg"]["value"]     # 4096 tokens of KV read too
        # a band is shown only where its class's validation earned it; otherwise the figure says why not
        c = classes[(e["platform"], "tg")]
        assert e["tg"]["band"] == c["band"] and e["tg"]["validated"] == (c["band"] is not None)
        if c["band"] is None:
            assert e["tg"]["low"] is None and e["tg"]["note"] == c["unvalidated"]
        else:
            assert e["tg"]["low"] < e["tg"]["value"] < e["tg"]["high"] and c["coverage"] >= 0.8
        assert [lv["concurrency"] for lv in e["levels"]] == [1, 8, 32]
        assert e["levels"][0]["aggregate_tps"]["value"] == pytest.approx(e["tg"]["value"])
        assert e["levels"][2]["aggregate_tps"]["value"] > e["levels"][0]["aggregate_tps"]["value"]
    h200 = next(e for e in d["projections"] if e["hardware"] == "h200" and e["model"] == "llama-3.1-8b"
                and e["quant"] == "Q4_K_M")
    assert h200["levels"][0]["fits"] is True and h200["pp512"]["value"] > h200["tg"]["value"]
    cost = h200["levels"][0]["cost"]
    assert cost["projected"] is True and cost["usd_per_m_blended"] > 0 and cost["profile"] == "h200"
    if h200["levels"][0]["aggregate_tps"]["band"] is None:        # no earned band: no cost range either
        assert cost["usd_band"] is None and cost["usd_low"] is None and cost["usd_high"] is None
    else:
        assert cost["usd_low"] < cost["usd_per_m_blended"] < cost["usd_high"]
    assert all("breakeven_utilisation" in a for a in cost["apis"]) and cost["compare"]["cheapest"]
    cpu = next(s for s in d["validation"]["classes"] if s["platform"] == "cpu" and s["kind"] == "tg")
    assert cpu["misses"] and any(w.startswith("cpu tg:") for w in d["warnings"])


def test_every_catalog_model_on_every_hardware_row_offline():
    from hardware.machines import machines
    from models.catalog import CATALOG

    ids = ",".join(machines())
    models = ",".join(m for m, s in CATALOG.items() if s.listed)
    d = project_json("--hardware", ids, "--model", models, "--concurrency", "1,8")
    assert len(d["projections"]) == len(machines()) * len([s for s in CATALOG.values() if s.listed])
    for e in d["projections"]:
        # a figure is a number or n/a with the reason, never 0
        for fig in (e["tg"], e["pp512"]):
            assert fig["value"] > 0 if fig["value"] is not None else fig["note"]
        assert e["tg"]["value"] is not None, e["hardware"]     # every platform has decode rows
        for lv in e["levels"]:
            assert lv["fits"] in (True, False, None) and lv["fit_reason"]
            assert lv["cost"] is not None or lv["cost_na"]


def test_a_machine_without_sourced_power_or_flops_says_so():
    d = project_json("--hardware", "m4-max-40c,dgx-spark,mi300x")
    by = {e["hardware"]: e for e in d["projections"]}
    assert by["m4-max-40c"]["levels"][0]["cost"] is None
    assert "no power figure for m4-max-40c" in by["m4-max-40c"]["levels"][0]["cost_na"]
    assert by["dgx-spark"]["pp512"]["value"] is None and "FLOP/s" in by["dgx-spark"]["pp512"]["note"]
    spark_cost = by["dgx-spark"]["levels"][0]["cost"]
    assert "TDP" in spark_cost["profile_source"] and any("prefill time not counted" in n for n in spark_cost["notes"])
    assert by["mi300x"]["pp512"]["value"] is None and "rocm" in by["mi300x"]["pp512"]["note"]
    # --hourly-cost prices the Mac where no power figure exists
    d2 = project_json("--hardware", "m4-max-40c", "--hourly-cost", "1.5")
    assert d2["projections"][0]["levels"][0]["cost"]["usd_per_hour"] == 1.5


def test_from_a_measured_run_calibrates_its_own_machine_and_no_other():
    d = project_json("--from", str(RESULT_8B), "--hardware", "h200,epyc-9654")
    cal = d["calibration"]
    (m,) = cal["measured"]
    doc = json.loads(RESULT_8B.read_text())
    tg = next(sc for sc in doc["scenarios"] if sc["name"] == "tg128")["summary"]["tg_tps"]
    assert m["tg"]["measured"] == tg["mean"] and m["tg"]["ci95"] == tg["ci95"] and m["tg"]["reference_only"] > 0
    assert m["bandwidth_basis"].startswith("measured")
    # neither target is the machine the run measured: the published fit stays as it was
    assert cal["calibrated"] == {} and all(x["change"] == 0 for x in cal["moved"])
    assert d["inputs"]["models"] == ["llama-3.1-8b"] and d["inputs"]["quants"] == ["Q4_K_M"]
    text = project("--from", str(RESULT_8B), "--hardware", "h200").stdout
    assert "Calibrated on your own results" in text and "projected from its specs and the published" in text
    assert "nothing was calibrated" in text


def test_a_measured_machine_is_pulled_to_its_measurement_and_carries_it():
    """Project, measure, calibrate: the measured model and quant come back within the run's CI
    (they are the run's mean), and the ratio carries to another quant by its bytes."""
    d = project_json("--from", str(RESULT_8B), "--quant", "Q4_K_M,Q8_0")
    doc = json.loads(RESULT_8B.read_text())
    tg = next(sc for sc in doc["scenarios"] if sc["name"] == "tg128")["summary"]["tg_tps"]
    mine = {e["quant"]: e for e in d["projections"] if e["hardware"].startswith("measured:")}
    q4, q8 = mine["Q4_K_M"], mine["Q8_0"]
    (ref,) = d["calibration"]["measured"]
    assert tg["ci95"][0] <= q4["tg128"]["value"] <= tg["ci95"][1]
    assert q4["tg128"]["value"] == pytest.approx(tg["mean"], rel=0.01)
    assert abs(ref["tg"]["reference_only"] / tg["mean"] - 1) > 0.05       # the uncalibrated figure was not
    assert q4["calibration"]["measured_here"] is True and q4["tg128"]["band"] == pytest.approx(
        max(tg["mean"] - tg["ci95"][0], tg["ci95"][1] - tg["mean"]) / tg["mean"])
    ratio = q4["calibration"]["tg_ratio"]
    assert q8["calibration"]["tg_ratio"] == ratio and q8["calibration"]["measured_here"] is False
    # Q8_0's band is the calibrated class's, earned by carrying reference machines' calibrations
    classes = {(c["platform"], c["kind"]): c for c in d["validation"]["classes"]}
    carried = classes[("cpu", "tg-calibrated")]
    assert q8["tg128"]["band"] == (carried["band"] if carried["band"] is not None
                                   else classes[("any", "tg-calibrated")]["band"])
    moved = {x["figure"]: x for x in d["calibration"]["moved"] if x["hardware"] == q8["hardware"]
             and x["quant"] == "Q8_0"}
    assert moved["tg128"]["calibrated"] / moved["tg128"]["reference_only"] == pytest.approx(ratio)
    others = [x for x in d["calibration"]["moved"] if not x["hardware"].startswith("measured:")]
    assert others and all(x["change"] == 0 for x in others)


def _this_machines_result(tmp_path, fingerprint: str | None = None) -> Path:
    """The shipped 8B run, as if this machine had measured it (its fingerprint)."""
    import hardware

    doc = json.loads(RESULT_8B.read_text())
    doc["hardware"]["fingerprint"] = fingerprint or hardware.probe().fingerprint
    results = tmp_path / "results"
    results.mkdir()
    (results / RESULT_8B.name).write_text(json.dumps(doc))
    return results


def test_here_calibrates_on_this_machines_results_in_dot_results(tmp_path, monkeypatch):
    _this_machines_result(tmp_path)
    doc = json.loads(RESULT_8B.read_text())
    tg = next(sc for sc in doc["scenarios"] if sc["name"] == "tg128")["summary"]["tg_tps"]
    monkeypatch.chdir(tmp_path)
    d = project_json("--hardware", "here", "--model", "llama-3.1-8b", "--quant", "Q4_K_M")
    (e,) = d["projections"]
    assert e["calibration"] and e["calibration"]["measured_here"]
    assert tg["ci95"][0] <= e["tg128"]["value"] <= tg["ci95"][1]
    assert d["calibration"]["auto"] == ["results"] and d["inputs"]["from"] == ["results"]
    p = bench("project", "--hardware", "here", "--model", "llama-3.1-8b", "--quant", "Q4_K_M", env={"COLUMNS": "200"})
    assert p.returncode == 0, p.stderr
    assert "Calibrated on your own results (found in results)" in p.stdout and "here (calibrated)" in p.stdout


def test_here_ignores_results_of_another_machine(tmp_path, monkeypatch):
    _this_machines_result(tmp_path, fingerprint="0123456789abcdef")
    monkeypatch.chdir(tmp_path)
    d = project_json("--hardware", "here", "--model", "llama-3.1-8b", "--quant", "Q4_K_M")
    assert d["projections"][0]["calibration"] is None and d["calibration"]["calibrated"] == {}


@pytest.mark.parametrize("args,needle", [
    (["--hardware", "h900"], "unknown hardware 'h900'"),
    (["--concurrency", "0"], "--concurrency"),
    (["--concurrency", "a,b"], "--concurrency"),
    (["--context", "0"], "--context"),
    (["--context", "128", "--output-tokens", "256"], "--output-tokens"),
    (["--quant", "Q9_X"], "Q9_X"),
    (["--model", "llama-9"], "llama-9"),
    (["--memory", "lots"], "--memory"),
    (["--from", "/nonexistent/r.json"], "/nonexistent/r.json"),
])
def test_bad_input_is_one_line(args, needle):
    assert_one_line_error(bench("project", *args), needle)


def test_a_tiny_result_cannot_calibrate(tmp_path):
    tiny = next(EXAMPLES.glob("*tiny-Q4_K_M*.json"))
    assert_one_line_error(bench("project", "--from", str(tiny)), "no measured result to calibrate on", "tiny")


def test_a_projection_cannot_enter_the_measured_tables(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    (results / RESULT_8B.name).write_bytes(RESULT_8B.read_bytes())
    (results / "projected.json").write_text(project("--hardware", "h200", "--json").stdout)
    listed = bench("results", str(results), "--json")
    assert listed.returncode == 0
    rows = json.loads(listed.stdout)
    assert len(rows) == 1 and "PROJECTED" not in listed.stdout
    assert "skipped" in listed.stderr and "projected.json" in listed.stderr
    site = bench("dashboard", str(results), "-o", str(tmp_path / "site"))
    assert site.returncode == 0 and "1 result(s)" in site.stdout and "projected.json" in site.stderr


def test_here_projects_this_machine_from_its_specs_or_its_bandwidth_probe(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)         # no ./results here: nothing to calibrate on
    (e,) = project_json("--hardware", "here", "--model", "llama-3.1-8b")["projections"]
    assert e["hardware"] == "here" and e["platform"] in ("cpu", "cuda", "metal") and e["calibration"] is None
    assert e["bandwidth_gbps"] > 0 and e["bandwidth_basis"] in ("spec", "measured by the bandwidth probe")
    assert e["tg"]["value"] > 0 and e["memory_bytes"] > 0
