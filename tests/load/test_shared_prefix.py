"""Shared-prefix workloads: prompts built from shared token blocks, and the prefix-cache hit rate."""

import asyncio
import json

import pytest

from contract.errors import ScenarioError
from contract.result import LoadLevelEntry, RunResult
from engines.clock import RequestTrace
from engines.openai.prompts import ExactFit
from scenarios.definitions import LoadScenario
from scenarios.shared_prompts import block
from scenarios.stream_checks import prefix_cache
from scenarios.workloads import BUILTIN, Lengths, Profile, Shared, load_profiles, plan_request


def test_a_block_is_the_same_ids_for_the_same_key_and_a_shorter_one_is_its_prefix():
    a = block(0, "doc:1", 64, 32000, {1})
    assert a == block(0, "doc:1", 64, 32000, {1}) and len(a) == 64
    assert block(0, "doc:1", 16, 32000, {1}) == a[:16]
    assert a != block(0, "doc:2", 64, 32000, {1}) and a != block(1, "doc:1", 64, 32000, {1})
    long = block(0, "doc:1", 4000, 1024, {300})
    assert min(long) >= 256 and 300 not in long and max(long) < 1024     # no control ids, no BOS


def test_rag_shared_requests_start_with_one_system_prompt_then_documents_of_one_pool():
    rag = BUILTIN["rag-shared"]
    s = rag.shared
    assert s is not None and (s.prefix, s.documents, s.document_tokens, s.per_request) == (512, 16, 512, 4)
    plans = [plan_request(rag, i, 0, 32000, {1}) for i in range(40)]
    system = block(0, "rag-shared:prefix", 512, 32000, {1})
    pool = {tuple(block(0, f"rag-shared:document:{d}", 512, 32000, {1})): d for d in range(16)}
    seen_first = set()
    for p in plans:
        ids = p.prompt_token_ids
        assert ids[:512] == system and abs(len(ids) - 2624) <= 48 and 1 not in ids
        docs = [pool.get(tuple(ids[512 + 512 * k: 1024 + 512 * k])) for k in range(4)]
        assert None not in docs and len(set(docs)) == 4          # k different documents of the pool
        seen_first.add(docs[0])
    assert len(seen_first) > 4                                   # drawn, not always the same
    fresh = [tuple(p.prompt_token_ids[2560:]) for p in plans]
    assert len(set(fresh)) == len(fresh)                         # each question its own
    assert plans[7].prompt_token_ids == plan_request(rag, 7, 0, 32000, {1}).prompt_token_ids


def test_agent_requests_share_a_long_preamble_and_only_it():
    agent = BUILTIN["agent"]
    a, b = (plan_request(agent, i, 0, 32000, set()).prompt_token_ids for i in (0, 1))
    assert a[:2048] == b[:2048] and a[2048:2060] != b[2048:2060]
    assert len(a) - 2048 >= 128 - 3 * 32


def test_only_a_sharing_profile_records_what_it_shares():
    assert "shared" not in BUILTIN["chat"].to_dict()
    assert list(BUILTIN["chat"].to_dict()) == ["name", "description", "input", "output"]
    assert BUILTIN["agent"].to_dict()["shared"] == {"prefix": 2048, "documents": 0, "document_tokens": 0, "per_request": 0}
    sc = LoadScenario(name="rag-shared", mode="concurrency", levels=(1,), profile=BUILTIN["rag-shared"])
    again = LoadScenario.model_validate_json(sc.model_dump_json())   # as a RunRequest carries it
    assert again == sc and again.params()["profile"]["shared"]["documents"] == 16
    with pytest.raises(ValueError, match="tokens of its own"):
        Profile("x", Lengths(100), Lengths(4), shared=Shared(prefix=100))


def test_user_profiles_may_share_a_prefix(tmp_path):
    f = tmp_path / "w.toml"
    f.write_text('[kb]\ninput = 600\noutput = 16\n'
                 'shared = {prefix = 256, documents = 4, document_tokens = 64, per_request = 2}\n')
    kb = load_profiles(f)["kb"]
    assert kb.shared == Shared(256, 4, 64, 2)
    assert len(plan_request(kb, 0, 0, 32000, set()).prompt_token_ids) == 600


@pytest.mark.parametrize("shared,needle", [
    ({"documents": 2}, "prefix required"),
    ({"prefix": 8, "colour": 1}, "prefix required"),
    ({"prefix": -1}, "whole number"),
    ({"prefix": 600}, "tokens of its own"),
    ({"prefix": 8, "documents": 1, "document_tokens": 8, "per_request": 2}, "tokens of its own"),
])
def test_bad_shared_parts_give_one_line(tmp_path, shared, needle):
    f = tmp_path / "w.json"
    f.write_text(json.dumps({"kb": {"input": 600, "output": 16, "shared": shared}}))
    with pytest.raises(ScenarioError) as err:
        load_profiles(f)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_over_http_the_shared_part_is_the_same_text_in_every_request():
    async def count(client, text):
        return 1 + len(text.split())          # a BOS, then one token per letter
    fit = ExactFit(count, "test")
    rag = BUILTIN["rag-shared"]
    texts = [str(asyncio.run(fit.prompt(None, plan_request(rag, i, 0, 32000, {1}).prompt_token_ids)).payload)
             for i in range(6)]
    assert all(not t.startswith("[") for t in texts)        # text, not ids
    prefix = texts[0][:2 * 512]             # 512 one-letter words: the system prompt's text
    assert all(t.startswith(prefix) for t in texts)
    assert len({t[2 * 512:2 * 2560] for t in texts}) > 1       # documents differ by request


def _trace(n_in, cached):
    return RequestTrace(0, True, 2, 0, sent_ns=0, event_ns=[1, 2], end_ns=2, input_tokens=n_in,
                        cached_input_tokens=cached, output_tokens=2)


def test_hit_rate_is_over_the_requests_that_reported_and_none_with_a_reason_otherwise():
    pc = prefix_cache([_trace(1000, 900), _trace(1000, 0), _trace(1000, None)])
    assert (pc.hit_rate, pc.cached_input_tokens, pc.input_tokens) == (0.45, 900, 2000)
    assert (pc.requests_reported, pc.requests, pc.why_none) == (2, 3, None)
    none = prefix_cache([_trace(1000, None)])
    assert none.hit_rate is None and none.cached_input_tokens is None and "reported no cached" in (none.why_none or "")
    assert prefix_cache([_trace(1000, 0)]).hit_rate == 0          # a reported 0 is a figure


def _run(tmp_path, cached_tokens):
    """`bench run` of a small shared-prefix profile against the fake streaming server: (output, result)."""
    from click.testing import CliRunner

    from bench.commands.main import main
    from contract.storage import load_documents
    from tests.load.sse_server import FakeServer

    (tmp_path / "w.json").write_text(json.dumps({"kb": {"input": 64, "output": 4, "shared": {"prefix": 48}}}))
    with FakeServer(cached_tokens=cached_tokens, interval_s=0.002) as url:
        r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", url, "--model", "fake",
                                      "--min-duration", "0", "--idle-seconds", "0", "--results-dir", str(tmp_path / "r"),
                                      "--workloads", str(tmp_path / "w.json"), "--scenario", "kb",
                                      "--concurrency", "1", "--requests", "4"], catch_exceptions=False,
                               env={"COLUMNS": "120"})
    assert r.exit_code == 0, r.output
    ((_, doc),), _ = load_documents([tmp_path / "r"])
    assert isinstance(doc, RunResult)
    return r.output, doc


def test_a_level_records_and_shows_the_hit_rate_the_server_reported(tmp_path):
    from dashboards.run_tables import load_rows, result_list_rows

    out, doc = _run(tmp_path, cached_tokens=48)
    (level,) = doc.scenarios
    assert isinstance(level, LoadLevelEntry) and level.params.profile["shared"]["prefix"] == 48
    pc = level.summary.prefix_cache
    assert pc is not None and (pc.cached_input_tokens, pc.input_tokens, pc.requests_reported) == (4 * 48, 4 * 64, 4)
    assert pc.hit_rate == 0.75
    assert load_rows(doc)[0]["cache_hit"] == "75%" and "│   75% │" in out      # the cache hit column
    assert result_list_rows([(tmp_path / "r.json", doc)])[0]["cache_hit"] == {"kb max": 0.75}


def test_a_server_that_reports_no_cache_use_shows_n_a_and_why(tmp_path):
    from dashboards.run_tables import load_rows

    out, doc = _run(tmp_path, cached_tokens=None)
    (level,) = doc.scenarios
    assert isinstance(level, LoadLevelEntry)
    pc = level.summary.prefix_cache
    assert pc is not None and pc.hit_rate is None and pc.requests == 4
    row = load_rows(doc)[0]
    assert row["cache_hit"] == "n/a" and row["cache_why"] == pc.why_none
    assert "cache hit n/a: the engine reported no cached input tokens" in " ".join(out.split())


def test_apis_price_the_cached_share_at_their_cached_price_and_prefill_saved_is_estimated(tmp_path):
    from dashboards import cost
    from dashboards.prices import load_prices
    from dashboards.profiles import load_profiles as cost_profiles
    from dashboards.rows import CostSettings, build_row, prefix_cache_saving
    from dashboards.terminal import cost_lines

    _, doc = _run(tmp_path, cached_tokens=48)
    prices = load_prices()
    row = build_row(doc, None, cost_profiles(), {}, prices, CostSettings())
    c = row["cost"]
    assert c["throughput"]["cached_input_share"] == 0.75 and c["prefix_cache"]["share"] == 0.75
    n_in, n_out = c["throughput"]["input_tokens"], c["throughput"]["output_tokens"]
    for p, a in zip(prices, c["apis"], strict=True):
        paid_in = p.input if p.cached_input is None else 0.25 * p.input + 0.75 * p.cached_input
        assert a["usd_per_1k_tasks"] == pytest.approx(1000 * (n_in * paid_in + n_out * p.output) / 1e6)
        assert a["cached_priced_as"] == ("input" if p.cached_input is None else "cached input")
    assert any(p.cached_input is not None and p.cached_input < p.input for p in prices)
    # no pp scenario in this run: what prefill the cache saved here is n/a, with why
    assert c["prefix_cache"]["usd_saved_per_1k_tasks"] is None and c["prefix_cache"]["why"]
    text = "\n".join(cost_lines(row))
    assert "75% of input tokens came from the prefix cache" in text and "prefill saved here: n/a" in text
    # with a measured prefill rate: cached tokens / that rate, priced at the busy hour
    fig = dict(row, prefill_tps=1000.0, prefill_scenario="pp512")
    hour = cost.MachineHour(fixed_usd=3.6)
    saved = prefix_cache_saving(fig, hour, 1.0)
    assert saved is not None and saved["prefill_s_saved_per_1k_tasks"] == pytest.approx(1000 * 48 / 1000.0)
    assert saved["usd_saved_per_1k_tasks"] == pytest.approx(48 * 3.6 / 3600)
    # an engine that said nothing: no cache line, APIs at their input price
    (tmp_path / "plain").mkdir()
    _, plain = _run(tmp_path / "plain", cached_tokens=None)
    c2 = build_row(plain, None, cost_profiles(), {}, prices, CostSettings())["cost"]
    assert c2["prefix_cache"] is None and all(a["cached_priced_as"] is None for a in c2["apis"])
