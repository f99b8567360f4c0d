"""Trace replay without an engine: hash blocks as shared prompts, the trace pacer, sampling and
scaling, the send-lag rule, the scenario across process boundaries, and the trace generator."""

import json
from pathlib import Path

import pytest

from contract.errors import ScenarioError
from engines.clock import RequestTrace
from scenarios.arrivals import TracePacer
from scenarios.kinds import parse_scenarios
from scenarios.request import RunRequest, scenario_of
from scenarios.trace_gen import generate
from scenarios.trace_gen import main as trace_gen_main
from scenarios.trace_prompts import BLOCK_TOKENS, block, reusable_tokens, trace_prompt
from scenarios.trace_replay import LATE_FRACTION, TraceLevel, TraceRecord, TraceScenario, lag_reasons
from scenarios.traces import TracedRequest, read_trace

SAMPLE = Path(__file__).parents[2] / "examples" / "traces" / "sample-mooncake.jsonl"
VOCAB, BOS = 32000, 1


def replay(**options) -> TraceScenario:
    (sc,) = parse_scenarios("trace", **options)
    assert isinstance(sc, TraceScenario)
    return sc


def req(input_tokens, hash_ids=(), at_s=0.0, output_tokens=4):
    return TracedRequest(at_s, input_tokens, output_tokens, tuple(hash_ids))


# -- hash ids as shared token blocks ------------------------------------------------------------
def test_the_same_hash_id_is_the_same_block_in_every_request_and_other_ids_differ():
    a = trace_prompt(req(1200, [7, 8, 9]), 0, seed=0, vocab_size=VOCAB, avoid={BOS})
    b = trace_prompt(req(1100, [7, 8, 10]), 1, seed=0, vocab_size=VOCAB, avoid={BOS})
    c = trace_prompt(req(600, [11, 12]), 2, seed=0, vocab_size=VOCAB, avoid={BOS})
    assert (len(a), len(b), len(c)) == (1200, 1100, 600)             # exactly the trace's input lengths
    assert a[:1024] == b[:1024]                                        # ids 7 and 8: the same 1,024 tokens
    assert a[1024:1100] != b[1024:1100]                                # 9 and 10: different blocks
    assert a[:16] != c[:16]                                            # 7 and 11 too
    # the last block is partial: the leading part of the same full block
    assert a[1024:] == list(block(0, 9, VOCAB, {BOS}))[:1200 - 1024]
    assert BOS not in a + b + c and min(a + b + c) >= 256                # no BOS, no control-token range



def test_blocks_follow_the_seed_and_requests_without_hash_ids_get_their_own_prompt():
    assert block(0, 5, VOCAB) == block(0, 5, VOCAB) and block(0, 5, VOCAB) != block(1, 5, VOCAB)
    assert len(block(0, 5, VOCAB)) == BLOCK_TOKENS
    fresh = [trace_prompt(req(300), i, seed=0, vocab_size=VOCAB) for i in range(3)]
    assert all(len(p) == 300 for p in fresh) and fresh[0][:32] != fresh[1][:32] != fresh[2][:32]
    assert trace_prompt(req(300), 1, seed=0, vocab_size=VOCAB) == fresh[1]       # reproducible
    # a trace whose input is longer than its blocks: the rest is the request's own
    longer = trace_prompt(req(BLOCK_TOKENS + 40, [3]), 0, seed=0, vocab_size=VOCAB)
    assert longer[:BLOCK_TOKENS] == list(block(0, 3, VOCAB)) and len(longer) == BLOCK_TOKENS + 40


def test_reusable_tokens_count_leading_blocks_an_earlier_request_sent():
    total, reusable = reusable_tokens([req(1000, [1, 2]), req(1100, [1, 2, 3]), req(600, [4, 2]), req(50)])
    # the second reuses blocks 1 and 2 (1,024 tokens); the third's first block is new, so nothing
    assert (total, reusable) == (2750, 1024)


# -- the pacer ------------------------------------------------------------------------------------
def test_trace_pacer_releases_each_request_at_its_time_only():
    p = TracePacer(1_000, [0, 0, 500, 2_000])
    assert [(d.index, d.intended_ns, d.measured) for d in p.due(1_000)] == [(0, 1_000, True), (1, 1_000, True)]
    assert p.next_arrival_ns() == 1_500 and p.due(1_499) == [] and p.more(1_499)
    assert [d.index for d in p.due(5_000)] == [2, 3]          # late: both at once, with their own due times
    assert p.window_start_ns == 1_000 and not p.more(5_000) and p.next_arrival_ns() is None


def test_trace_pacer_cap_holds_later_requests_until_one_ends():
    p = TracePacer(0, [0, 0, 0], max_in_flight=2)
    assert len(p.due(10)) == 2 and p.due(10) == [] and p.next_arrival_ns() is None
    p.finished(20)
    (third,) = p.due(30)
    assert third.index == 2 and third.intended_ns == 0        # its queue wait counts from its due time


# -- parsing: the file, --time-scale, --duration ---------------------------------------------------
def test_time_scale_and_duration_sample_the_schedule():
    rows = read_trace(SAMPLE)
    sc = replay(trace=SAMPLE, time_scale=2.0, duration_s=0.5)
    first = rows[0].at_s
    kept = [r for r in rows if (r.at_s - first) / 2 < 0.5]
    assert 2 <= sc.request_count == len(kept) < len(rows)
    assert sc.offsets_ns == [round((r.at_s - first) / 2 * 1e9) for r in kept]
    assert sc.requests[0].hash_ids == rows[0].hash_ids                   # Mooncake's hash_ids are kept
    assert sc.context_needed == max(r.input_tokens + r.output_tokens for r in kept)


@pytest.mark.parametrize("spec,kwargs,needle", [
    ("trace", {}, "needs --trace FILE"),
    ("trace", {"trace": SAMPLE, "time_scale": 0.0}, "--time-scale must be a positive number"),
    ("trace", {"trace": SAMPLE, "duration_s": -1.0}, "--duration must be a positive number"),
    ("trace", {"trace": Path("/nonexistent.jsonl")}, "cannot read trace"),
    ("tg8", {"trace": SAMPLE}, "--trace applies to a trace replay"),
    ("chat", {"time_scale": 2.0}, "--time-scale applies to a trace replay"),
    ("trace", {"trace": SAMPLE, "concurrency": "1,2"}, "--concurrency applies to workload profiles"),
])
def test_bad_trace_options_are_one_line(spec, kwargs, needle):
    with pytest.raises(ScenarioError, match=needle):
        parse_scenarios(spec, **kwargs)


def test_replay_takes_an_slo_and_an_in_process_cap():
    sc = replay(trace=SAMPLE, slo="interactive", max_in_flight=8, max_send_lag_s=0.05)
    assert sc.slo.name == "interactive" and sc.max_in_flight == 8 and sc.max_send_lag_s == 0.05


def test_the_scenario_travels_with_its_requests_and_results_record_it_without_them():
    sc = replay(trace=SAMPLE)
    request = RunRequest(model="tiny", quant="Q4_K_M", backend="llamacpp", scenarios=[sc])
    back = RunRequest.from_json(request.model_dump_json(), "job file")           # the child's and a node's copy
    assert back.scenarios[0] == sc and len(back.scenarios[0].requests) == sc.request_count
    recorded = request.config_record({})["scenarios"][0]
    assert "requests" not in recorded and recorded["request_count"] == sc.request_count
    assert recorded["trace_sha256"] == sc.trace_sha256
    # a journal rebuilds the record from the entry's params: without the requests, it still reads
    rebuilt = scenario_of(sc.params())
    assert isinstance(rebuilt, TraceScenario) and rebuilt.request_count == sc.request_count


# -- the schedule kept honest ------------------------------------------------------------------------
def test_lag_rule_allows_one_percent_late():
    bound = 0.010
    assert lag_reasons([0.001] * 100, bound) == []
    assert lag_reasons([0.001] * 99 + [0.5], bound) == []                      # 1 %: allowed
    (reason,) = lag_reasons([0.001] * 98 + [0.5, 0.02], bound)                 # 2 %: the client fell behind
    assert "2 of 100 requests sent more than 10 ms" in reason and "500.0 ms" in reason
    assert LATE_FRACTION == 0.01


def _record(sc: TraceScenario, lag_ns: int) -> TraceRecord:
    """A replay's record of requests that each streamed 4 tokens, sent lag_ns after their time."""
    record = TraceRecord(TraceLevel(sc))
    for i, off in enumerate(sc.offsets_ns):
        t = RequestTrace(i, True, 4, off, sent_ns=off + lag_ns, input_asked=10, input_tokens=10,
                         output_tokens=4, output_source="engine", input_source="engine")
        t.event_ns = [off + lag_ns + k * 1_000_000 for k in range(1, 5)]
        t.end_ns = t.event_ns[-1]
        record.traces.append(t)
    record.status = "completed"
    return record


def test_a_replay_entry_carries_send_lag_and_is_invalid_when_the_client_fell_behind():
    sc = replay(trace=SAMPLE)
    kept = _record(sc, 1_000_000).to_entry()                                  # 1 ms late each
    assert kept.kind == "trace" and kept.params.mode == "trace" and kept.name == "trace@x1"
    assert kept.samples["send_lag_s"] == pytest.approx([0.001] * sc.request_count)
    lag = kept.summary.send_lag_s
    assert lag is not None and lag.p99 == pytest.approx(0.001) and kept.validity.verdict == "VALID"
    behind = _record(sc, 50_000_000).to_entry()                               # 50 ms late each
    assert behind.validity.verdict == "INVALID"
    assert any(r.startswith(f"send lag: {sc.request_count} of {sc.request_count}") for r in behind.validity.reasons)
    assert behind.params.model_dump()["reusable_prefix_fraction"] > 0.3       # the sample shares prefixes


# -- the generator and the sample ------------------------------------------------------------------
def test_generator_is_seeded_and_shares_prefixes(tmp_path, capsys):
    a, b = list(generate(30, rate=20, seed=3)), list(generate(30, rate=20, seed=3))
    assert a == b and a != list(generate(30, rate=20, seed=4))
    assert all(r["input_length"] > BLOCK_TOKENS * (len(r["hash_ids"]) - 1) for r in a)   # Mooncake's block rule
    assert all(r["input_length"] <= BLOCK_TOKENS * len(r["hash_ids"]) for r in a)
    firsts = [r["hash_ids"][0] for r in a]
    assert len(set(firsts)) <= 3 < len(firsts)                                 # three shared prefixes
    assert [r["timestamp"] for r in a] == sorted(r["timestamp"] for r in a)
    assert trace_gen_main(["--requests", "5", "--rate", "4", "--prefixes", "0"]) == 0
    path = tmp_path / "t.jsonl"
    path.write_text(capsys.readouterr().out)
    rows = read_trace(path)
    assert len(rows) == 5 and len({r.hash_ids[0] for r in rows}) == 5          # no prefix: nothing shared


def test_the_sample_trace_is_small_and_in_mooncake_format():
    rows = [json.loads(line) for line in SAMPLE.read_text().splitlines()]
    assert 20 <= len(rows) <= 100 and {"timestamp", "input_length", "output_length", "hash_ids"} <= set(rows[0])
    assert max(r["input_length"] + r["output_length"] for r in rows) <= 2048      # the tiny model's context


def test_a_dead_runs_journal_rebuilds_a_replay_with_its_send_lag(tmp_path):
    """The child died mid-replay: its journal gives back the requests measured, as a trace entry."""
    from bench.journal import Journal, rebuild
    from contract.build import died_run
    from contract.enums import Status

    doc = died_run(finished_at="2026-12-07T19:00:00+00:00", label="box", model="tiny", quant="Q4_K_M",
                   backend="llamacpp", environment={}, error="boom")
    sc = replay(trace=SAMPLE)
    record = _record(sc, 2_000_000)
    journal = Journal(tmp_path, doc.run_id, doc)
    journal.started(0, record)
    journal.measured(0, record)
    assert journal._fh is not None
    journal._fh.close()                     # the child is gone: its lock with it
    rebuilt = rebuild(journal.path, Status.FAILED, "the engine process was killed")
    assert rebuilt is not None
    path, kept = rebuilt
    (entry,) = json.loads(path.read_text())["scenarios"]
    assert kept == sc.request_count and entry["kind"] == "trace" and entry["status"] == "interrupted"
    assert entry["samples"]["send_lag_s"] == pytest.approx([0.002] * sc.request_count)
