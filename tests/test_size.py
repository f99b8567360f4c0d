"""`bench size`: the boxes, busy fraction and $/month for a demand, recomputed here from the
table's own inputs (the demand, the capacity and its band, the machine-hour) with arithmetic of
this file, not the suite's; the rate interval against a published table; bad input as one line.

The result read is a real `bench run --model tiny --scenario ticket-triage --concurrency 1,2,4`
on a loaded 2-vCPU AMD EPYC (tests/recorded/size/): one level of three met the SLO."""

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from dashboards.sizing import SHAPES, day_shape, rate_interval

RECORDED = Path(__file__).parent / "recorded" / "size"
HOURS_PER_MONTH = 730.0


def size(*args: str):
    return CliRunner().invoke(main, ["size", str(RECORDED), "--workload", "ticket-triage", *args])


def size_json(*args: str) -> dict:
    r = size(*args, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def _month(boxes: int, demand_rps: float, capacity: float, hour: dict) -> tuple[float, float]:
    u = demand_rps / (boxes * capacity)
    return u, boxes * HOURS_PER_MONTH * (hour["fixed"] + hour["idle_power"] + u * hour["busy_extra"])


def _check_plan(c: dict, requests_per_day: float, shape: list[float], n_plus_one: bool) -> None:
    """The candidate's boxes, busy fraction, $/month and their bands, by this file's arithmetic."""
    peak = requests_per_day * max(shape) / 3600
    mean = requests_per_day / 86400
    spare = 1 if n_plus_one else 0
    low, high = c["capacity_rps_95"]
    expect = {}
    for name, capacity in (("central", c["capacity_rps"]), ("worst", low), ("best", high)):
        boxes = max(1, math.ceil(peak / capacity)) + spare
        u, usd = _month(boxes, mean, capacity, c["machine_hour"])
        expect[name] = boxes, u, usd
    assert c["boxes"] == expect["central"][0]
    assert c["utilisation"] == pytest.approx(expect["central"][1])
    assert c["usd_per_month"] == pytest.approx(expect["central"][2])
    assert c["boxes_range"] == [expect["best"][0], expect["worst"][0]]
    assert c["usd_per_month_range"] == pytest.approx([expect["best"][2], expect["worst"][2]])
    tokens = requests_per_day * HOURS_PER_MONTH / 24 * (800 + 64)
    assert c["usd_per_m_tokens"] == pytest.approx(expect["central"][2] / tokens * 1e6)


@pytest.mark.parametrize("n_plus_one", [False, True])
@pytest.mark.parametrize("shape", ["flat", "office-hours"])
def test_the_table_recomputes_from_its_own_inputs(shape, n_plus_one):
    out = size_json("--requests-per-day", "40000", "--shape", shape, *(["--n-plus-one"] if n_plus_one else []))
    demand = out["demand"]
    (c,) = out["candidates"]
    assert c["level"] == "ticket-triage@c1" and not c["projected"]       # the only level that met the SLO
    assert demand["peak_rps"] == pytest.approx(40000 * max(demand["shape"]) / 3600)
    low, high = c["capacity_rps_95"]
    assert low < c["capacity_rps"] < high
    _check_plan(c, 40000, demand["shape"], n_plus_one)
    assert max(1, math.ceil(demand["peak_rps"] / low)) > c["boxes"] - n_plus_one   # the band is there


def test_a_projected_box_is_sized_from_bench_projects_own_figures():
    """Its capacity: the highest projected request stream whose latencies meet the default SLO
    (ttft: the batch's prompts prefilled one after another; tpot: batch / aggregate decode rate),
    read here from `bench project --json` for the same prompt and output lengths."""
    out = size_json("--requests-per-day", "40000", "--shape", "office-hours", "--hardware", "h100-sxm",
                    "--model", "llama-3.1-8b", "--quant", "Q4_K_M")
    (c,) = [c for c in out["candidates"] if c["projected"]]
    r = CliRunner().invoke(main, ["project", "--hardware", "h100-sxm", "--model", "llama-3.1-8b", "--quant", "Q4_K_M",
                                  "--context", "864", "--output-tokens", "64", "--concurrency",
                                  "1,2,4,8,16,32,64,128,256", "--json"])
    assert r.exit_code == 0, r.output
    (entry,) = json.loads(r.stdout)["projections"]

    def meets(level: dict) -> bool:
        agg, stream, b = level["aggregate_tps"]["value"], level["request_output_tps"], level["concurrency"]
        return b * (64 / stream - 64 / agg) <= 2.0 and b / agg <= 0.100

    best = max((lv for lv in entry["levels"] if lv["cost"] and meets(lv)), key=lambda lv: lv["request_output_tps"])
    assert c["level"] == f"c{best['concurrency']} projected"
    assert c["capacity_rps"] == pytest.approx(best["request_output_tps"] / 64)
    assert c["machine_hour"] == pytest.approx({"fixed": best["cost"]["hour"]["fixed"],
                                               "idle_power": best["cost"]["hour"]["idle_power"],
                                               "busy_extra": best["cost"]["hour"]["busy_extra"]})
    band = best["cost"]["usd_band"]
    expect_band = [c["capacity_rps"]] * 2 if band is None else [c["capacity_rps"] * (1 - band), c["capacity_rps"] * (1 + band)]
    assert c["capacity_rps_95"] == pytest.approx(expect_band)
    _check_plan(c, 40000, out["demand"]["shape"], False)
    assert any("PROJECTED" in n for n in c["notes"])
    table = size("--requests-per-day", "40000", "--hardware", "h100-sxm", "--model", "llama-3.1-8b", "--quant", "Q4_K_M")
    assert "h100-sxm" in table.output and "PROJECTED" in table.output.split("box · model")[1]
    if band is None:
        assert "unvalidated" in table.output


def test_a_projected_box_that_cannot_be_priced_says_why():
    r = size("--requests-per-day", "40000", "--hardware", "m4-max-40c", "--model", "llama-3.1-8b", "--quant", "Q4_K_M")
    assert r.exit_code == 0 and "m4-max-40c" in r.output and "cannot price it" in r.output


def test_each_api_bills_the_same_requests_at_its_list_prices():
    out = size_json("--requests-per-day", "40000")
    (c,) = out["candidates"]
    from dashboards.prices import load_prices

    prices = {(p.provider, p.model): p for p in load_prices()}
    assert c["apis"]
    for api in c["apis"]:
        p = prices[(api["provider"], api["model"])]
        per_request = (800 * p.input + 64 * p.output) / 1e6
        assert api["usd_per_month"] == pytest.approx(40000 * HOURS_PER_MONTH / 24 * per_request)
    assert c["cheapest_api"]["usd_per_month"] == min(a["usd_per_month"] for a in c["apis"])
    # the rows the dashboard's cost comparison picks, in its words: none serves the tiny model, so the
    # 7B-14B class's, for reference only (dashboards/compare.rows_for, one rule for both)
    assert c["apis_what"] == "open 7B-14B APIs, for reference only: tiny (18M parameters) is outside that class"


def test_owning_wins_where_the_boxes_cost_less_than_the_api():
    """A machine-hour cheap enough to win: at the demand it names, the boxes cost what the cheapest
    API bills; a little above, less; a little below, more."""
    out = size_json("--requests-per-day", "40000", "--hourly-cost", "0.002")
    (c,) = out["candidates"]
    wins = c["owning_wins_above_requests_per_day"]
    assert wins is not None
    cheapest = c["cheapest_api"]["usd_per_month"] / 40000          # $/month per request a day
    capacity = c["capacity_rps"]

    def own(d: float) -> float:
        boxes = max(1, math.ceil(d / 3600 / 24 / capacity))
        return _month(boxes, d / 86400, capacity, c["machine_hour"])[1]

    assert own(wins * 1.01) < cheapest * wins * 1.01
    assert own(wins * 0.99) > cheapest * wins * 0.99
    never = size_json("--requests-per-day", "40000", "--hourly-cost", "100")
    assert never["candidates"][0]["owning_wins_above_requests_per_day"] is None


def test_the_rate_interval_is_garwoods():
    """Exact Poisson 95% limits for 8 and 0 events (Garwood 1936, as tabulated e.g. in
    Ulm 1990, Am J Epidemiol 131:373): 8 -> 3.454-15.763, 0 -> 0-3.689."""
    low, high = rate_interval(8, 1.0)
    assert (round(low, 3), round(high, 3)) == (3.454, 15.763)
    low, high = rate_interval(0, 2.0)
    assert low == 0 and high == pytest.approx(3.689 / 2, abs=1e-3)


def test_a_tighter_slo_is_judged_from_the_levels_own_requests():
    """The run met the default SLO at c1; the level's p99 tpot (~52 ms) misses 30 ms."""
    r = size("--requests-per-day", "1000", "--slo", "interactive")
    assert r.exit_code == 2 and "no result can be sized" in r.output and "met the SLO" in r.output
    assert size_json("--requests-per-day", "1000", "--slo", "ttft=2s,tpot=100ms")["candidates"]


def test_a_token_volume_is_the_same_demand_in_requests():
    per_day = size_json("--requests-per-day", "40000")["candidates"][0]
    per_month = size_json("--tokens-per-month", str(40000 * HOURS_PER_MONTH / 24 * 864))["candidates"][0]
    assert per_month["usd_per_month"] == pytest.approx(per_day["usd_per_month"])


def test_day_shapes():
    assert sum(SHAPES["flat"]) == pytest.approx(1) and sum(SHAPES["office-hours"]) == pytest.approx(1)
    assert sum(SHAPES["office-hours"][9:18]) == pytest.approx(0.8)
    custom = day_shape(",".join(["1"] * 12 + ["3"] * 12))
    assert custom[0] == pytest.approx(1 / 48) and custom[23] == pytest.approx(3 / 48)


@pytest.mark.parametrize(("args", "words"), [
    (["--requests-per-day", "1000", "--shape", "1,2,3"], "cannot read the day's shape"),
    (["--requests-per-day", "1000", "--utilisation", "0.5"], "works out the utilisation"),
    ([], "give the demand once"),
    (["--requests-per-day", "1000", "--tokens-per-month", "5"], "give the demand once"),
    (["--requests-per-day", "-3"], "above zero"),
])
def test_bad_input_is_one_line(args, words):
    r = size(*args)
    assert r.exit_code != 0 and words in r.output and "Traceback" not in r.output


def test_no_load_level_of_the_workload_says_how_to_measure_one():
    r = CliRunner().invoke(main, ["size", str(RECORDED), "--workload", "chat", "--requests-per-day", "10"])
    assert r.exit_code == 2 and "no load level of chat" in r.output and "--search concurrency" in r.output


def test_the_terminal_table_fits_80_columns():
    r = CliRunner().invoke(main, ["size", str(RECORDED), "--workload", "ticket-triage", "--requests-per-day",
                                  "40000", "--shape", "office-hours"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert "MEASURED" in r.output and "…" not in r.output
    assert max(len(line) for line in r.output.splitlines()) <= 80


def test_the_readme_shows_what_the_command_prints():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## How many boxes for a demand: `bench size`")[1]
    command, shown = section.split("```")[1], section.split("```")[3]
    args = command.strip().replace("\\\n", " ").splitlines()[-1].split()
    assert args[:3] == ["bench", "size", "runs/"]
    r = CliRunner().invoke(main, [*args[1:2], str(RECORDED), *args[3:]], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert [line.rstrip() for line in r.output.strip().splitlines()] == shown.strip().splitlines()


OUTCOMES = Path(__file__).parents[1] / "examples" / "outcomes"


def test_a_quality_floor_keeps_what_its_outcomes_show():
    """examples/outcomes: tiny Q4_K_M scored 0% on the ticket tasks (synthetic weights) and lost
    0.0021 nats of KL divergence to F16."""
    base = ["size", str(RECORDED), str(OUTCOMES), "--workload", "ticket-triage", "--requests-per-day", "40000"]
    kept = CliRunner().invoke(main, [*base, "--max-kld", "0.01", "--json"])
    assert kept.exit_code == 0, kept.output
    (c,) = json.loads(kept.stdout)["candidates"]
    kld = json.loads((next(OUTCOMES.glob("*tiny-quality*.json"))).read_text())["quality"]["quants"]["Q4_K_M"]["kld"]
    assert c["quality"]["kld"] == kld["value"] < 0.01
    over = CliRunner().invoke(main, [*base, "--max-kld", "0.001"])
    assert over.exit_code == 2 and "is over --max-kld 0.001" in over.output and "relax" in over.output
    low = CliRunner().invoke(main, [*base, "--min-accuracy", "0.5"])
    assert low.exit_code == 2 and "accuracy 0.0% on ticket-triage.jsonl" in low.output
    none = size("--requests-per-day", "40000", "--min-accuracy", "0.5")       # no outcome beside the run
    assert none.exit_code == 2 and "no bench eval outcome of tiny Q4_K_M" in none.output


def test_the_size_document_is_the_contracts(tmp_path):
    from contract.size import SizeResult

    out = tmp_path / "size.json"
    printed = size_json("--requests-per-day", "40000", "-o", str(out))
    written = json.loads(out.read_text())
    assert written == printed and written["kind"] == "size" and written["schema_version"] == 3
    doc = SizeResult.model_validate(written)
    assert doc.candidates[0].boxes == printed["candidates"][0]["boxes"]
    bad = size("--requests-per-day", "40000", "-o", str(tmp_path / "no-such-dir" / "size.json"))
    assert bad.exit_code == 2 and "cannot write" in bad.output and "Traceback" not in bad.output


def test_an_owned_box_is_priced_at_the_power_its_capacity_level_drew(tmp_path):
    """The recorded run, edited: c2 (which missed the SLO) made the best throughput scenario, so
    the run's own cost rests on c2's power; c1, the capacity, drew 60 W. With --capex the box's
    busy power is c1's: (60 W - idle) x tariff, by this file's arithmetic."""
    doc = json.loads(next(RECORDED.glob("*.json")).read_text())
    c1, c2 = doc["scenarios"][0], doc["scenarios"][1]
    c2["summary"]["output_tps"] = 10 * c1["summary"]["output_tps"]
    c1["energy"]["average_watts"] = 60.0
    (tmp_path / "run.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(main, ["size", str(tmp_path), "--workload", "ticket-triage", "--requests-per-day", "40000",
                                  "--capex", "3000", "--usd-per-kwh", "0.2", "--json"])
    assert r.exit_code == 0, r.output
    (c,) = json.loads(r.stdout)["candidates"]
    idle = sum(w for w in doc["monitoring"]["idle"]["watts"].values() if w is not None)
    assert c["level"] == "ticket-triage@c1"
    assert c["machine_hour"]["busy_extra"] == pytest.approx((60.0 - idle) * 0.2 / 1000)
    assert c["machine_hour"]["idle_power"] == pytest.approx(idle * 0.2 / 1000)
    assert any("60.0 W" in n and "ticket-triage@c1" in n for n in c["notes"])


def _two_days(path: Path) -> tuple[int, float]:
    """Our own JSONL: two days, 90 requests an hour 09:00-18:00 and 9 in the other hours, 800
    tokens in and 64 out each; returns (requests, span in seconds)."""
    lines, times = [], []
    for day in range(2):
        for hour in range(24):
            n = 90 if 9 <= hour < 18 else 9
            for i in range(n):
                t = day * 86400 + hour * 3600 + (i + 0.5) * 3600 / n
                times.append(t)
                lines.append(json.dumps({"timestamp": t, "input_tokens": 800, "output_tokens": 64}))
    path.write_text("\n".join(lines) + "\n")
    return len(times), times[-1] - times[0]


def test_a_trace_is_the_demand_it_shows(tmp_path):
    n, span = _two_days(tmp_path / "trace.jsonl")
    out = size_json("--trace", str(tmp_path / "trace.jsonl"))
    demand = out["demand"]
    assert demand["requests_per_day"] == pytest.approx(n / span * 86400)
    assert (demand["input_tokens"], demand["output_tokens"]) == (800, 64)
    # each hour's rate: its requests over the seconds of it the trace covered (the first and last
    # hours are half covered: their first and last requests sit half a gap inside)
    assert max(demand["shape"]) == pytest.approx(90 / (90 * 9 + 9 * 15), rel=0.02)
    assert demand["peak_rps"] == pytest.approx(90 / 3600, rel=0.02)
    (c,) = out["candidates"]
    _check_plan(c, demand["requests_per_day"], demand["shape"], False)


def test_the_trace_formats_read_alike(tmp_path):
    from scenarios.traces import read_trace

    (tmp_path / "m.jsonl").write_text('{"timestamp": 0, "input_length": 100, "output_length": 10, "hash_ids": [1]}\n'
                                      '{"timestamp": 1500, "input_length": 300, "output_length": 30, "hash_ids": [1, 2]}\n')
    (tmp_path / "a.csv").write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                    "2023-11-16 18:15:46.6805900,100,10\n2023-11-16 18:15:48.1805900,300,30\n")
    (tmp_path / "o.jsonl").write_text('{"timestamp": "2026-12-07T10:00:00Z", "input_tokens": 100, "output_tokens": 10}\n'
                                      '{"timestamp": "2026-12-07T10:00:01.5Z", "input_tokens": 300, "output_tokens": 30}\n')
    for name in ("m.jsonl", "a.csv", "o.jsonl"):
        first, last = read_trace(tmp_path / name)
        assert last.at_s - first.at_s == pytest.approx(1.5), name
        assert (first.input_tokens, last.output_tokens) == (100, 30), name
    (tmp_path / "bad.jsonl").write_text('{"timestamp": 0, "input_tokens": 1, "output_tokens": 1}\n{"timestamp": 1}\n')
    r = size("--trace", str(tmp_path / "bad.jsonl"))
    assert r.exit_code == 2 and "bad.jsonl:2" in r.output and "Traceback" not in r.output
    r = size("--trace", str(tmp_path / "o.jsonl"), "--requests-per-day", "5")
    assert r.exit_code == 2 and "give the demand once" in r.output


RECORDED_CHAT = Path(__file__).parent / "recorded" / "chat-session"


def test_a_chat_session_is_a_workload_of_the_lengths_it_measured():
    """No profile describes a chat-session (its prompts grow turn by turn): its demand is made of the
    mean lengths its requests had, read here from the result's samples (a real in-process run:
    tests/recorded/chat-session/), and its capacity is its best level that met the SLO."""
    [path] = RECORDED_CHAT.glob("*.json")
    levels = [sc for sc in json.loads(path.read_text())["scenarios"] if sc["params"]["scenario"] == "chat-session"]
    ins = [n for sc in levels for n in sc["samples"]["input_tokens"]]
    outs = [n for sc in levels for n in sc["samples"]["output_tokens"]]
    r = CliRunner().invoke(main, ["size", str(RECORDED_CHAT), "--workload", "chat-session",
                                  "--requests-per-day", "100000", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["demand"]["input_tokens"] == pytest.approx(sum(ins) / len(ins))
    assert out["demand"]["output_tokens"] == pytest.approx(sum(outs) / len(outs))
    [c] = out["candidates"]
    passing = [sc for sc in levels if sc["validity"]["verdict"] == "VALID" and sc["summary"]["slo"]["met"]]
    best = max(passing, key=lambda sc: sc["summary"]["requests_per_s"])
    assert c["level"] == best["name"] and c["capacity_rps"] == pytest.approx(best["summary"]["requests_per_s"])
    typo = CliRunner().invoke(main, ["size", str(RECORDED_CHAT), "--workload", "chat-sesion", "--requests-per-day", "10"])
    assert typo.exit_code == 2 and "unknown workload 'chat-sesion'" in typo.output and "Traceback" not in typo.output
