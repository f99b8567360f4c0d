"""Workload profiles, arrivals, SLO verdicts and search, SSE framing, level figures: pure logic."""

import json
import statistics
from itertools import pairwise

import pytest

from contract.errors import ScenarioError
from engines.clock import RequestTrace
from engines.openai.prompts import ExactFit, UsageCalibration, letters
from engines.openai.sse import SSEDecoder
from scenarios.arrivals import Pacer
from scenarios.definitions import DEFAULT_CONCURRENCY, LoadScenario
from scenarios.kinds import parse_scenarios
from scenarios.levels import Level, LevelRecord
from scenarios.slo import PRESETS, Search, judge, parse_slo
from scenarios.stream_checks import check_requests, delivery
from scenarios.workloads import BUILTIN, Lengths, load_profiles, plan_request

S = 1_000_000_000  # ns per second


# -- workload profiles --------------------------------------------------------------------------
def test_builtin_profiles_match_the_issue():
    want = {"chat": (512, 256), "rag": (4096, 512), "ticket-triage": (800, 64), "ticket-draft": (800, 300),
            "summarise": (2048, 256), "code": (1024, 512),
            "fixed-1k1k": (1024, 1024), "fixed-1k8k": (1024, 8192), "fixed-8k1k": (8192, 1024),
            "rag-shared": (2624, 256), "agent": (2176, 256)}
    assert {n: (p.input.mean, p.output.mean) for n, p in BUILTIN.items()} == want
    assert (BUILTIN["chat"].input.stddev, BUILTIN["chat"].output.stddev) == (128, 64)
    assert (BUILTIN["rag"].input.stddev, BUILTIN["rag"].output.stddev) == (512, 128)


def test_the_published_pairs_are_fixed_lengths_on_a_doubling_ladder():
    from scenarios.kinds import parse_scenario

    for name, (tokens_in, tokens_out) in {"fixed-1k1k": (1024, 1024), "fixed-8k1k": (8192, 1024)}.items():
        profile = BUILTIN[name]
        request = plan_request(profile, 3, 0, 32000, set())
        assert (len(request.prompt_token_ids), request.max_tokens) == (tokens_in, tokens_out)
        scenario = parse_scenario(name)
        assert isinstance(scenario, LoadScenario)
        assert list(scenario.levels) == [1, 2, 4, 8, 16, 32, 64] and scenario.context_needed >= tokens_in + tokens_out


def test_requests_are_seeded_clipped_and_follow_the_distribution():
    chat = BUILTIN["chat"]
    a = [plan_request(chat, i, 0, 32000, {1}) for i in range(400)]
    assert [r.prompt_token_ids for r in a[:5]] == [plan_request(chat, i, 0, 32000, {1}).prompt_token_ids for i in range(5)]
    assert plan_request(chat, 0, 1, 32000, set()).prompt_token_ids != a[0].prompt_token_ids
    n_in = [len(r.prompt_token_ids) for r in a]
    n_out = [r.max_tokens for r in a]
    assert min(n_in) >= 512 - 128 * 3 and max(n_in) <= 512 + 128 * 3
    assert abs(statistics.fmean(n_in) - 512) < 25 and 100 < statistics.stdev(n_in) < 156
    assert abs(statistics.fmean(n_out) - 256) < 13 and 50 < statistics.stdev(n_out) < 78
    assert all(1 not in r.prompt_token_ids for r in a[:20])
    fixed = [plan_request(BUILTIN["code"], i, 0, 32000, set()) for i in range(3)]
    assert {(len(r.prompt_token_ids), r.max_tokens) for r in fixed} == {(1024, 512)}
    assert Lengths(3, 10).bounds(2) == (2, 33)      # never below the floor (two output tokens)


def test_user_profiles_from_toml_and_json(tmp_path):
    toml = tmp_path / "w.toml"
    toml.write_text('[My-Chat]\ninput = {mean = 700, stddev = 100}\noutput = 200\ndescription = "x"\n')
    p = load_profiles(toml)["my-chat"]
    assert (p.input.mean, p.input.stddev, p.output.mean, p.output.stddev) == (700, 100, 200, 0)
    js = tmp_path / "w.json"
    js.write_text(json.dumps({"triage2": {"input": {"mean": 900, "min": 100, "max": 1000}, "output": 40}}))
    assert load_profiles(js)["triage2"].input.bounds(1) == (100, 1000)
    sc = parse_scenarios("triage2", workloads=js, concurrency="2")[0]
    assert isinstance(sc, LoadScenario)
    assert sc.profile.name == "triage2" and sc.levels == (2,)


@pytest.mark.parametrize("content,needle", [
    ('{"chat": {"input": 1, "output": 1}}', "built-in"),
    ('{"x": {"input": 1}}', "input and output"),
    ('{"x": {"input": {"stddev": 3}, "output": 4}}', "mean"),
    ('{"x": {"input": -4, "output": 4}}', "whole number"),
    ('{"x": {"input": 4, "output": 4, "colour": 1}}', "unknown keys"),
    ('{"x": ', "not valid JSON"),
    ('{}', "no profiles"),
])
def test_bad_workload_files_give_one_line(tmp_path, content, needle):
    f = tmp_path / "w.json"
    f.write_text(content)
    with pytest.raises(ScenarioError) as err:
        load_profiles(f)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_load_scenario_parsing():
    sweep = parse_scenarios("chat")[0]
    assert isinstance(sweep, LoadScenario)
    assert (sweep.mode, sweep.levels, sweep.search, sweep.slo) == ("concurrency", DEFAULT_CONCURRENCY, False, PRESETS["default"])
    poisson = parse_scenarios("rag", rate="0.5,1,2", slo="interactive")[0]
    assert isinstance(poisson, LoadScenario)
    assert (poisson.mode, poisson.levels, poisson.slo.ttft_s, poisson.slo.tpot_s) == ("poisson", (0.5, 1.0, 2.0), 0.5, 0.03)
    search = parse_scenarios(None, search="rate", default=("chat",))[0]
    assert isinstance(search, LoadScenario)
    assert (search.name, search.mode, search.search, search.levels) == ("chat", "poisson", True, (1.0,))
    mixed = parse_scenarios("tg16,code", concurrency="1,8", requests=5)
    code = mixed[1]
    assert [s.kind for s in mixed] == ["tg", "load"] and isinstance(code, LoadScenario) and code.requests == 5
    assert parse_scenarios(None, concurrency="4")[0].name == "chat"   # load options alone mean chat


@pytest.mark.parametrize("kwargs,needle", [
    ({"spec": "pp512", "concurrency": "2"}, "--concurrency applies to workload profiles"),
    ({"spec": "chat", "concurrency": "1", "rate": "1"}, "both given"),
    ({"spec": "chat", "concurrency": "1,x"}, "--concurrency"),
    ({"spec": "chat", "concurrency": "0"}, "positive"),
    ({"spec": "chat", "rate": "-1"}, "positive"),
    ({"spec": "chat", "search": "rate", "concurrency": "2"}, "--search rate"),
    ({"spec": "chat", "slo": "fast"}, "cannot read SLO"),
    ({"spec": "chat", "input_tokens": 12}, "--workloads"),
    ({"spec": "chat", "max_in_flight": 0}, "max in flight"),
    ({"spec": "chatty"}, "unknown scenario"),
])
def test_bad_load_options_give_one_line(kwargs, needle):
    spec = kwargs.pop("spec")
    with pytest.raises(ScenarioError) as err:
        parse_scenarios(spec, **kwargs)
    assert needle in str(err.value) and "\n" not in str(err.value)


# -- arrivals ----------------------------------------------------------------------------------
def test_closed_loop_keeps_every_user_busy_and_sends_at_the_previous_end():
    p = Pacer(0, warmup=3, min_requests=5, max_requests=5, min_duration_s=0, users=3)
    first = p.due(0)
    assert [(d.index, d.intended_ns, d.measured) for d in first] == [(0, 0, False), (1, 0, False), (2, 0, False)]
    assert p.due(10) == []                      # all three users busy
    p.finished(7 * S)
    nxt = p.due(8 * S)
    assert [(d.index, d.intended_ns, d.measured) for d in nxt] == [(3, 7 * S, True)]
    assert p.window_start_ns == 7 * S
    for t in (8, 9, 10, 11):
        p.finished(t * S)
        p.due(t * S)
    assert p.released == 8 and not p.more(12 * S)   # 3 warm-up + 5 measured, then no more


def test_duration_adds_requests_up_to_the_cap():
    p = Pacer(0, warmup=0, min_requests=2, max_requests=4, min_duration_s=10, users=1)
    t = 0
    while p.more(t):
        (_d,) = p.due(t)
        t += S
        p.finished(t)
    assert p.released == 4                       # 10 s were not reached: the cap stopped it
    q = Pacer(0, warmup=0, min_requests=2, max_requests=100, min_duration_s=3, users=1)
    t = 0
    while q.more(t):
        q.due(t)
        t += S
        q.finished(t)
    assert q.released == 3                       # sends at 0, 1, 2 s; at 3 s the duration is met


def test_poisson_arrivals_are_seeded_exponential_and_capped():
    def arrivals(seed, rate=4.0, n=2000):
        p = Pacer(0, warmup=0, min_requests=n, max_requests=n, min_duration_s=0, rate=rate, max_in_flight=None, seed=seed)
        out = p.due(10**15)
        return [d.intended_ns for d in out]
    a = arrivals(0)
    assert a == arrivals(0) and a != arrivals(1)
    gaps = [(b - x) / S for x, b in pairwise([0, *a])]
    assert abs(statistics.fmean(gaps) - 0.25) < 0.02                 # mean gap 1/rate
    assert abs(statistics.stdev(gaps) / statistics.fmean(gaps) - 1) < 0.1   # exponential: cv 1
    capped = Pacer(0, warmup=0, min_requests=10, max_requests=10, min_duration_s=0, rate=1000.0, max_in_flight=2)
    due = capped.due(10 * S)
    assert len(due) == 2 and capped.next_arrival_ns() is None
    capped.finished(10 * S)
    late = capped.due(10 * S)
    assert len(late) == 1 and late[0].intended_ns < 10 * S           # it waited in the client


# -- SLO -----------------------------------------------------------------------------------------
def test_slo_presets_and_custom_bounds():
    assert (parse_slo(None).ttft_s, parse_slo(None).tpot_s) == (2.0, 0.1)
    assert (parse_slo("interactive").ttft_s, parse_slo("interactive").tpot_s) == (0.5, 0.03)
    custom = parse_slo("ttft=750ms, tpot=0.05")
    assert (custom.ttft_s, custom.tpot_s) == (0.75, 0.05)
    assert parse_slo("tpot=20ms").ttft_s == 2.0   # an unnamed bound keeps the default


def test_judge_counts_failures_as_misses():
    slo = PRESETS["default"]
    good = judge(slo, [0.5] * 99, [0.05] * 99, failed=0)
    assert good.met and good.good_requests == 99 and not good.far_past
    one_fail = judge(slo, [0.5] * 99, [0.05] * 99, failed=1)
    assert one_fail.met and one_fail.good_fraction == pytest.approx(0.99)   # 99 of 100 within
    two_fail = judge(slo, [0.5] * 98, [0.05] * 98, failed=2)
    assert not two_fail.met
    slow = judge(slo, [0.5] * 9 + [9.0], [0.05] * 10, failed=0)
    assert not slow.met and slow.good_requests == 9 and slow.far_past   # p99 ttft > 4 x 2 s
    assert judge(slo, [0.1], [None], failed=0).met   # one-token output: no tpot to bound


@pytest.mark.parametrize("capacity", [1, 5, 37, 100, 300])
def test_concurrency_search_finds_the_highest_level_within_an_eighth(capacity):
    s = Search(1, integer=True, ceiling=256)
    while (v := s.next()) is not None:
        s.report(v, v <= capacity)
    best = s.summary().best
    assert best <= min(capacity, 256) and best >= min(capacity, 256) * 7 / 8
    assert len(s.tried) <= 16


@pytest.mark.parametrize("capacity", [0.05, 0.7, 3.3, 40.0])
def test_rate_search_goes_down_or_up(capacity):
    s = Search(1.0, integer=False, ceiling=256.0)
    while (v := s.next()) is not None:
        s.report(v, v <= capacity)
    assert capacity / 1.13 <= s.best <= capacity
    assert Search(1, integer=True, ceiling=8).next() == 1
    none = Search(1, integer=True, ceiling=8)
    none.report(1, False)
    assert none.next() is None and none.summary().best is None


# -- SSE -----------------------------------------------------------------------------------------
def test_sse_decoder_follows_the_event_stream_format():
    stream = b': ping\nevent: message\ndata: {"a":\ndata:1}\n\n\ndata: [DONE]\n\nid: 3\ndata: x'
    d = SSEDecoder()
    assert d.feed(stream) == ['{"a":\n1}', "[DONE]"]
    assert d.flush() == "x" and d.flush() is None


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_sse_decoder_takes_every_line_ending_and_any_split_of_the_bytes(newline):
    text = newline.join(["data: {\"t\": \"é\"}", "", ": ping", "data: two", "data", "", "data: [DONE]", "", ""])
    raw = text.encode()
    for cut in range(len(raw)):             # splits inside a CRLF and inside the two bytes of é too
        d = SSEDecoder()
        # (a CR at the very end may be half a CRLF: with CR endings the last event comes at flush)
        events = d.feed(raw[:cut]) + d.feed(raw[cut:]) + [e for e in [d.flush()] if e is not None]
        assert events == ['{"t": "é"}', "two\n", "[DONE]"], cut


# -- level figures ---------------------------------------------------------------------------------
def _trace(index, measured, intended, events, *, out=None, error=None, sent=None):
    t = RequestTrace(index, measured, max_tokens=len(events), intended_ns=intended, sent_ns=sent or intended,
                     event_ns=list(events), end_ns=events[-1] if events else intended + S, input_tokens=10,
                     output_tokens=out or len(events), output_source="usage")
    if error:
        t.error_kind, t.error = error, "boom"
    return t


def test_level_counts_token_events_in_the_window_and_judges_requests():
    sc = parse_scenarios("chat", concurrency="2", slo="ttft=1s,tpot=1s")[0]
    assert isinstance(sc, LoadScenario)
    rec = LevelRecord(Level(sc, 2))
    # warm-up request 0: two tokens before the window opens at 2 s, three inside it
    rec.traces.append(_trace(0, False, 0, [1 * S, int(1.5 * S), 3 * S, 4 * S, 5 * S]))
    # measured: sent at 2 s (queued 0.5 s in the client), tokens at 2.5..4.5 s
    rec.traces.append(_trace(1, True, 2 * S, [int(2.5 * S), 3 * S, 4 * S, int(4.5 * S)], sent=int(2.5 * S)))
    # measured but too slow to first token (1.5 s > 1 s): completed, not good
    rec.traces.append(_trace(2, True, 3 * S, [int(4.5 * S), 6 * S]))
    # measured and failed: its tokens count for nothing
    rec.traces.append(_trace(3, True, 4 * S, [int(4.2 * S)], error="stream_incomplete"))
    rec.status = "completed"
    doc = rec.to_entry().model_dump(mode="json", exclude_unset=True)
    s = doc["summary"]
    assert doc["measured_window_s"] == pytest.approx(4.0)            # 2 s .. 6 s
    assert doc["measured_output_tokens"] == 3 + 4 + 2                 # not the warm-up's first two
    assert s["output_tps"] == pytest.approx(9 / 4.0)
    assert s["requests_per_s"] == pytest.approx(2 / 4.0)
    assert s["goodput"] == pytest.approx(1 / 4.0) and s["goodput_fraction"] == pytest.approx(1 / 3)
    assert s["errors"] == {"count": 1, "measured": 1, "by_kind": {"stream_incomplete": 1}}
    assert doc["validity"] == {"verdict": "INVALID", "reasons": ["too few samples (2 < 3)", "1 errors"]}
    assert doc["samples"]["ttft_s"] == [pytest.approx(0.5), pytest.approx(1.5)]
    assert doc["samples"]["queue_wait_s"] == [pytest.approx(0.5), 0.0]
    assert doc["samples"]["tpot_s"][0] == pytest.approx(2.0 / 3)
    assert not s["slo"]["met"] and doc["kind"] == "concurrency" and doc["name"] == "chat@c2"
    assert doc["params"]["concurrency"] == 2 and doc["params"]["warmup_requests"] == 2
    # in flight (sent, not ended) inside the window: 3 s (req 0) + 2 s (sent at 2.5 s) + 3 s + 0.2 s, over 4 s
    assert s["mean_in_flight"] == pytest.approx((3 + 2 + 3 + 0.2) / 4)


def test_multi_token_events_are_spread_and_not_taken_for_token_gaps():
    sc = parse_scenarios("chat", rate="1")[0]
    assert isinstance(sc, LoadScenario)
    rec = LevelRecord(Level(sc, 1.0))
    t = _trace(0, True, 0, [S, 2 * S], out=6)        # 6 tokens (usage) in two chunks
    rec.traces.append(t)
    doc = rec.to_entry().model_dump(mode="json", exclude_unset=True)
    assert doc["measured_output_tokens"] == 6 and doc["samples"]["inter_token_gap_s"] == []
    assert doc["summary"]["token_accounting"]["events_not_one_token_each"] == 1
    assert doc["samples"]["tpot_s"] == [pytest.approx(1 / 5)]
    assert doc["name"] == "chat@r1" and doc["kind"] == "poisson"


# -- stream checks: input lengths and held-back streams ---------------------------------------------
def _req(asked, actual, events_ms, out=None, tokens=None, source="usage", cached=None):
    events = [int(ms * 1e6) for ms in events_ms]
    t = RequestTrace(0, True, max_tokens=out or len(events), intended_ns=0, sent_ns=0, event_ns=events,
                     end_ns=events[-1], input_asked=asked, input_tokens=actual, input_source=source,
                     cached_input_tokens=cached, event_tokens=tokens, output_tokens=out or len(events))
    return t


def test_delivery_flags_a_late_first_token_and_streams_let_out_at_once():
    steady = _req(10, 10, [5 + 2 * i for i in range(20)])
    assert not delivery(steady).held_back and delivery(steady).leading_tokens == 1
    at_end = _req(10, 10, [400 + 0.01 * i for i in range(20)])                 # all 20 within 0.2 ms
    assert delivery(at_end).held_back and delivery(at_end).burst_tokens == 19
    rush = _req(10, 10, [50 + 0.01 * i for i in range(6)] + [60 + 2 * i for i in range(14)])
    assert delivery(rush).leading_tokens == 6 and delivery(rush).held_back     # 6 of 20 > a quarter
    small_rush = _req(10, 10, [50, 50.01] + [52 + 2 * i for i in range(18)])
    assert not delivery(small_rush).held_back
    one_event = _req(10, 10, [300], out=40)                                    # 40 tokens in one chunk
    assert delivery(one_event).first_event_tokens == 40 and delivery(one_event).held_back
    listed = _req(10, 10, [10, 12, 14], out=12, tokens=[10, 1, 1])             # the server listed the ids
    assert delivery(listed).first_event_tokens == 10 and delivery(listed).held_back
    merged = _req(10, 10, [10, 12, 14, 16], out=8, tokens=[1, 3, 2, 2])        # merged later: ttft is right
    assert not delivery(merged).held_back


def test_check_requests_names_both_lengths_and_counts_cache_hits():
    ok = [_req(100, 100, [1, 3]), _req(200, 230, [1, 3], cached=16), _req(300, None, [1, 3], source=None)]
    accounting, reasons, held = check_requests(ok)
    assert held == [False, False, False]
    assert reasons == ["input length unknown for 1 of 3 requests (asked 200 tokens on average): the server "
                       "reported no prompt token count and the prompt could not be counted",
                       "input length more than 5% off in 1 of 3 requests: asked 200, actual 230 tokens on average"]
    assert (accounting["input_known"], accounting["input_off_by_more_than_5pct"]) == (2, 1)
    assert accounting["input_sources"] == {"usage": 2} and accounting["input_asked_mean"] == 200
    assert (accounting["prompt_cache_reported"], accounting["prompt_cache_hits"], accounting["cached_input_tokens"]) == (1, 1, 16)
    within = check_requests([_req(100, 104, [1, 3])] * 3)
    assert within[1] == []                                                     # 4% off is within 5%
    held_back = check_requests([_req(10, 10, [400 + 0.01 * i for i in range(20)])] + [_req(10, 10, [1, 3])] * 9)
    assert held_back[2] == [True] + [False] * 9
    assert held_back[1] == ["1 of 10 requests streamed held back (the first token arriving with up to 19 more "
                            "within 0.1 ms of each other and most tokens arriving within 0.1 ms of the one before): "
                            "their token timing (ttft, tpot, gaps) shows when the server let tokens out, not when "
                            "it generated them"]


# -- text prompts of an exact length --------------------------------------------------------------------
def _counter(per_letter):
    async def count(client, text):
        return 1 + sum(per_letter(w) for w in text.split())      # a BOS, then the letters' tokens
    return count


def test_text_is_fitted_to_the_exact_count_even_where_letters_are_two_tokens():
    import asyncio

    ids = plan_request(BUILTIN["chat"], 3, 0, 32000, set()).prompt_token_ids
    one = asyncio.run(ExactFit(_counter(lambda w: 1), "test").prompt(None, ids))
    assert isinstance(one.payload, str)                                      # a text prompt
    assert (one.tokens, one.source, len(one.payload.split())) == (len(ids), "test", len(ids) - 1)
    assert one.payload == letters(ids, len(ids) - 1)                         # seeded by the planned ids
    two = asyncio.run(ExactFit(_counter(lambda w: 2 if w in "xyzq" else 1), "test").prompt(None, ids))
    assert two.tokens == len(ids)
    chat = asyncio.run(ExactFit(_counter(lambda w: 1), "test", offset=7).prompt(None, ids))
    assert isinstance(chat.payload, str)
    assert chat.tokens == len(ids) and len(chat.payload.split()) == len(ids) - 8   # the template's 7 tokens


def test_usage_calibration_lands_within_a_percent():
    import asyncio

    probes = []

    async def usage_of(client, text):
        probes.append(text)
        return 3 + round(1.3 * len(text.split()))      # 1.3 tokens per letter and a 3-token preamble

    fit = UsageCalibration(usage_of)
    ids = list(range(300, 812))
    p = asyncio.run(fit.prompt(None, ids))
    _k, n = fit.points[-1]
    assert isinstance(p.payload, str)
    assert abs(n - 512) <= 0.01 * 512 and len(probes) <= 6 and p.tokens is None
    assert abs(3 + 1.3 * len(p.payload.split()) - 512) <= 0.01 * 512
    assert len(probes) == len(fit.points)
    asyncio.run(fit.prompt(None, ids[:100]))                  # calibrated once: no more probes
    assert len(probes) == len(fit.points)
