"""`bench run --backend openai` end to end against small real HTTP servers on 127.0.0.1
(tests/load/sse_server.py): good ones, ones that misbehave, and ones that want a key."""

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from engines.child_process import free_port
from tests.load.conftest import reasons_but_held_back
from tests.load.sse_server import (
    DROP,
    ECHO_AUTH,
    ERROR_500,
    HOLD,
    MALFORMED,
    OK,
    STALL,
    TEMPLATE_TOKENS,
    FakeServer,
    count_text,
)

pytestmark = pytest.mark.engine   # real bench runs against small real HTTP servers

KEY = "sk-test-DO-NOT-LEAK-4c1d"


def run_cli(url, tmp_path, *args, env=None):
    r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", url, "--model", "fake",
                                  "--min-duration", "0", "--idle-seconds", "0", "--results-dir", str(tmp_path / "r"),
                                  *args], catch_exceptions=False, env=env)
    files = sorted((tmp_path / "r").glob("*.json"))
    return r, (json.loads(files[0].read_text()) if files else None)


def test_token_prompts_usage_and_per_level_figures(tmp_path, workloads):
    with FakeServer(interval_s=0.002, timings=True) as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1,3", "--requests", "6")
    assert r.exit_code == 0, r.output
    assert doc["status"] == "completed" and not reasons_but_held_back(doc["validity"]), doc["validity"]
    assert doc["model"]["source"] == "server" and doc["backend"]["prompt"] == "token_ids"
    assert doc["backend"]["usage_in_stream"] and doc["backend"]["vocab_size_source"] == "server"
    c1, c3 = doc["scenarios"]
    assert (c1["name"], c1["kind"], c1["params"]["concurrency"]) == ("tiny-chat@c1", "concurrency", 1)
    assert c3["params"]["warmup_requests"] == 3 and c3["measured_requests"] == 6
    for sc in (c1, c3):
        s = sc["summary"]
        assert s["errors"]["count"] == 0 and s["token_accounting"]["output_sources"] == {"usage": 6}
        assert s["token_accounting"]["events_not_one_token_each"] == 0
        # exact lengths: the server saw the planned token ids and said so in usage
        assert all(8 <= n <= 88 for n in sc["samples"]["input_tokens"])
        assert sc["samples"]["output_tokens"] == [n for n in sc["samples"]["output_tokens"] if n >= 4]
        assert s["output_tps"] > 0 and s["requests_per_s"] > 0 and s["goodput"] == pytest.approx(s["requests_per_s"])
        assert s["slo"]["met"] and sc["energy"] is not None         # a local server: energy is measured
        for ttft, e2e, q in zip(sc["samples"]["ttft_s"], sc["samples"]["e2e_s"], sc["samples"]["queue_wait_s"], strict=True):
            assert 0 <= q < ttft < e2e
        # every gap of a one-token-per-event stream is kept, and they show the server's 2 ms pacing
        # (not each of them: a client starved on a busy machine reads a few events at once)
        assert len(sc["samples"]["inter_token_gap_s"]) == sum(n - 1 for n in sc["samples"]["output_tokens"])
        assert s["inter_token_gap_s"]["max"] >= 0.0015
        check = sc["engine_cross_check"]
        assert check["requests"] == 6 and abs(check["relative_difference"]) < 0.5
    assert "tiny-chat@c3" in r.output and "under load" in r.output
    # the one-page report of an HTTP result: the server's model has no quant, file or architecture
    html = next((tmp_path / "r").glob("*.html")).read_text()
    assert "<h1>fake on " in html and "Under load" in html and "tiny-chat@c3" in html and "None" not in html


def test_requests_carry_token_ids_lengths_and_usage_options(tmp_path, workloads):
    server = FakeServer()
    with server as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "2", "--requests", "3")
    assert r.exit_code == 0, r.output
    _probe, ids_probe, *bodies = [q["body"] for q in server.requests]
    # the second probe asks for token ids in chunks; this server lists none, so no request asks again
    assert ids_probe["return_token_ids"] is True and not doc["backend"]["streams_token_ids"]
    assert len(bodies) == 2 + 3
    for b in bodies:
        assert isinstance(b["prompt"], list) and all(isinstance(t, int) for t in b["prompt"])
        assert b["stream"] and b["stream_options"] == {"include_usage": True} and b["temperature"] == 0
        assert b["ignore_eos"] is True and b["min_tokens"] == b["max_tokens"] and "return_token_ids" not in b
    level = doc["scenarios"][0]
    # two users: requests reach the server in the order their connections are ready
    assert sorted(level["samples"]["input_tokens"]) == sorted(len(b["prompt"]) for b in bodies[2:])
    assert level["samples"]["input_asked_tokens"] == level["samples"]["input_tokens"]
    assert level["summary"]["token_accounting"]["input_sources"] == {"usage": 3}


def test_text_fallback_chat_endpoint_and_no_usage(tmp_path, workloads):
    server = FakeServer(token_ids=False, usage=False)
    with server as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1", "--requests", "3")
    assert r.exit_code == 0, r.output
    assert doc["backend"]["prompt"] == "text" and not doc["backend"]["usage_in_stream"]
    assert isinstance(server.requests[-1]["body"]["prompt"], str)
    acct = doc["scenarios"][0]["summary"]["token_accounting"]
    # no usage: a stream cut by max_tokens has max_tokens; input is unknown, never guessed
    assert acct["output_sources"] == {"finish_reason=length": 3} and acct["input_known"] == 0
    assert doc["scenarios"][0]["samples"]["prefill_tps"] == [None] * 3

    chat = FakeServer()
    with chat as url:
        r, doc = run_cli(url, tmp_path / "chat", "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1", "--requests", "3", "--endpoint", "chat")
    assert r.exit_code == 0, r.output
    assert {q["path"] for q in chat.requests} == {"/v1/chat/completions"}
    assert chat.requests[-1]["body"]["messages"][0]["role"] == "user"
    assert doc["backend"]["endpoint"] == "/v1/chat/completions"
    assert doc["scenarios"][0]["summary"]["ttft_s"]["n"] == 3


def test_misbehaving_server_gives_counted_errors_and_a_finished_run(tmp_path, workloads):
    # requests 1 and 2 are the probes; level c2 sends 2 warm-up + 8 measured (requests 3..12)
    faults = {5: ERROR_500, 7: DROP, 9: STALL, 11: MALFORMED}
    with FakeServer(lambda n, body: faults.get(n, OK), interval_s=0.001) as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "2", "--requests", "8", "--request-timeout", "1.5")
    assert r.exit_code == 0, r.output
    assert doc["status"] == "completed"
    (level,) = doc["scenarios"]
    s = level["summary"]
    assert s["errors"]["by_kind"] == {"http_status": 1, "stream_incomplete": 1, "timeout": 1, "malformed_sse": 1}
    assert s["errors"]["count"] == 4 and len(level["errors"]) == 4
    assert level["validity"]["verdict"] == "INVALID" and "4 errors" in level["validity"]["reasons"]
    assert doc["validity"]["verdict"] == "INVALID"
    assert s["errors"]["measured"] == 4 and s["ttft_s"]["n"] == 4   # everything else is kept
    assert len(level["samples"]["e2e_s"]) == 4 and s["output_tps"] > 0
    assert not s["slo"]["met"]                                       # failures count as SLO misses
    messages = " ".join(e["message"] for e in level["errors"])
    assert "HTTP 500" in messages and "not JSON" in messages


def test_api_key_is_sent_but_never_written(tmp_path, workloads):
    server = FakeServer(lambda n, body: ECHO_AUTH if n == 3 else OK, require_key=KEY)
    with server as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1", "--requests", "3", "--api-key", KEY)
        env_r, env_doc = run_cli(url, tmp_path / "env", "--workloads", str(workloads), "--scenario", "tiny-chat",
                                 "--concurrency", "1", "--requests", "3", env={"OPENAI_API_KEY": KEY})
    assert r.exit_code == 0 and env_r.exit_code == 0, r.output + env_r.output
    assert all(q["headers"]["authorization"] == f"Bearer {KEY}" for q in server.requests)
    # the server echoed the key in an error body: the recorded message has it redacted
    assert doc["scenarios"][0]["errors"][0]["message"].endswith("Bearer ***")
    for result_dir, out in ((tmp_path / "r", r.output), (tmp_path / "env" / "r", env_r.output)):
        for f in result_dir.glob("*"):
            assert KEY not in f.read_text()
        assert KEY not in out
    assert env_doc["scenarios"][0]["summary"]["errors"]["count"] == 0


def _proxy_env(proxy: str, no_proxy: str, netrc) -> dict:
    """Both spellings: urllib prefers the lower-case one where both are set."""
    env = {"NETRC": str(netrc)}
    for name, value in (("http_proxy", proxy), ("https_proxy", ""), ("all_proxy", ""), ("no_proxy", no_proxy)):
        env[name] = env[name.upper()] = value
    return env


def test_the_environments_proxy_and_netrc_are_honoured(tmp_path, workloads):
    """Looked up once per client, not per request (engines/openai/client.py), and still obeyed:
    the proxy carries the requests for an origin it may proxy, netrc gives their credentials."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine proxied.invalid login ada password lovelace\n")
    server = FakeServer()
    with server as url:
        r, doc = run_cli("http://proxied.invalid:8000", tmp_path, "--workloads", str(workloads), "--scenario",
                         "tiny-chat", "--concurrency", "2", "--requests", "4", env=_proxy_env(url, "", netrc))
    assert r.exit_code == 0 and doc["scenarios"][0]["summary"]["errors"]["count"] == 0, r.output
    posts = [q for q in server.requests if q["path"] == "/v1/completions"]
    assert len(posts) >= 6     # the probe's, 2 warm-up, 4 measured
    assert all(q["target"] == "http://proxied.invalid:8000/v1/completions" for q in posts)
    assert {q["headers"]["authorization"] for q in posts} == {"Basic YWRhOmxvdmVsYWNl"}     # ada:lovelace


def test_no_proxy_is_obeyed_and_an_api_key_wins_over_netrc(tmp_path, workloads):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login ada password lovelace\n")
    server = FakeServer(require_key=KEY)
    with server as url:
        # nothing listens at the proxy: a request that went there would fail
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat", "--concurrency", "1",
                         "--requests", "2", "--api-key", KEY,
                         env=_proxy_env(f"http://127.0.0.1:{free_port()}", "127.0.0.1", netrc))
    assert r.exit_code == 0 and doc["scenarios"][0]["summary"]["errors"]["count"] == 0, r.output
    assert server.requests and all(q["target"] == "/v1/completions" for q in server.requests)
    assert {q["headers"]["authorization"] for q in server.requests} == {f"Bearer {KEY}"}


def test_api_key_stays_out_of_debug_output(tmp_path, workloads):
    with FakeServer(lambda n, body: ECHO_AUTH, require_key=KEY) as url:
        p = subprocess.run([sys.executable, "-m", "bench", "--debug", "run", "--backend", "openai", "--base-url",
                            url, "--model", "fake", "--workloads", str(workloads), "--scenario", "tiny-chat",
                            "--concurrency", "1", "--requests", "1", "--results-dir", str(tmp_path)],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "OPENAI_API_KEY": KEY})
    # every request fails (the probe too): a clear error, and the key nowhere
    assert p.returncode != 0 and "probe" in p.stderr
    assert KEY not in p.stdout + p.stderr


def test_poisson_queue_wait_is_recorded_apart(tmp_path, workloads):
    with FakeServer(interval_s=0.001) as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--rate", "400", "--max-in-flight", "1", "--requests", "8")
    assert r.exit_code == 0, r.output
    (level,) = doc["scenarios"]
    assert (level["kind"], level["params"]["rate_per_s"], level["params"]["max_in_flight"]) == ("poisson", 400.0, 1)
    waits, ttfts = level["samples"]["queue_wait_s"], level["samples"]["ttft_s"]
    # arrivals every 2.5 ms, each request takes > 4 ms: later ones wait in the client
    assert max(waits) > 0.01
    assert all(t > w for t, w in zip(ttfts, waits, strict=True))                 # ttft includes the wait
    assert level["summary"]["mean_in_flight"] <= 1.0 + 1e-9


@pytest.mark.parametrize("server_kwargs,path,args,needle", [
    ({"require_key": KEY}, "", [], "OPENAI_API_KEY"),
    ({"require_key": KEY}, "", ["--api-key", "wrong"], "refused"),
    ({}, "/nope", ["--endpoint", "chat"], "not found"),
])
def test_probe_problems_are_one_clear_line(tmp_path, workloads, server_kwargs, path, args, needle):
    with FakeServer(**server_kwargs) as url:
        url += path
        r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", url, "--model", "fake",
                                      "--workloads", str(workloads), "--scenario", "tiny-chat", "--concurrency", "1",
                                      "--idle-seconds", "0", "--results-dir", str(tmp_path / "r"), *args],
                               env={"OPENAI_API_KEY": None})
    assert r.exit_code == 2 and r.output.startswith("error: ") and len(r.output.splitlines()) == 1, r.output
    assert needle in r.output
    assert not list((tmp_path / "r").glob("*.json"))                # nothing measured, nothing written


@pytest.mark.parametrize("args,needle", [
    (["--backend", "openai", "--model", "m"], "needs --base-url"),
    (["--backend", "openai", "--base-url", "http://u:p@127.0.0.1:1"], "credentials"),
    (["--backend", "openai", "--base-url", "http://127.0.0.1:1"], "needs --model"),
    (["--backend", "openai", "--base-url", "ftp://127.0.0.1:1", "--model", "m"], "http(s) URL"),
    (["--api-key", "x", "--model", "tiny"], "--api-key is for --backend openai"),
    (["--backend", "openai", "--base-url", "http://127.0.0.1:1", "--model", "m", "--scenario", "pp512"], "pp512"),
    (["--backend", "openai", "--base-url", "http://127.0.0.1:{free}", "--model", "m"], "cannot reach"),
    (["--backend", "warp"], "unknown backend"),
])
def test_bad_http_options_give_one_line(tmp_path, args, needle):
    args = [a.replace("{free}", str(free_port())) for a in args]
    r = CliRunner().invoke(main, ["run", *args, "--idle-seconds", "0", "--results-dir", str(tmp_path)],
                           env={"OPENAI_API_KEY": None})
    assert r.exit_code == 2, r.output
    assert r.output.startswith("error: ") and len(r.output.strip().splitlines()) == 1 and needle in r.output


def test_bench_help_imports_neither_engines_nor_httpx():
    code = ("import sys\nfrom bench.commands.main import main\n"
            "for args in (['--help'], ['run', '--help']):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "print('LOADED', [m for m in ('httpx', 'llama_cpp', 'uvicorn', 'fastapi') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "LOADED []" in out and "--concurrency" in out and "--base-url" in out


# -- exact input lengths over HTTP ---------------------------------------------------------------
def _prompt_tokens(body: dict) -> int:
    """What this server counts for a request it received (its own tokenizer, tests/load/sse_server.py)."""
    if "messages" in body:
        return count_text(body["messages"][0]["content"]) + TEMPLATE_TOKENS
    return len(body["prompt"]) if isinstance(body["prompt"], list) else count_text(body["prompt"])


@pytest.mark.parametrize("dialect", ["vllm", "llama.cpp", "llama-cpp-python"])
def test_text_prompts_are_made_exact_with_the_servers_tokenize_endpoint(tmp_path, workloads, dialect):
    server = FakeServer(token_ids=False, usage=False, tokenize=dialect, interval_s=0.002)
    with server as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1", "--requests", "5")
    assert r.exit_code == 0, r.output
    assert doc["backend"]["input_lengths"]["method"] == "counted" and server.tokenized > 5
    (level,) = doc["scenarios"]
    s = level["samples"]
    # the server's own count of what it was sent is what the workload asked for, request by request
    sent = [_prompt_tokens(q["body"]) for q in server.requests[-5:]]
    assert sent == s["input_asked_tokens"] == s["input_tokens"]
    assert all(isinstance(q["body"]["prompt"], str) for q in server.requests[-5:])
    acct = level["summary"]["token_accounting"]
    assert acct["input_known"] == 5 and list(acct["input_sources"]) == [f"tokenize {'/extras' if dialect == 'llama-cpp-python' else ''}/tokenize ({'vLLM/SGLang' if dialect == 'vllm' else dialect})"]
    assert not reasons_but_held_back(level["validity"]), level["validity"]


def test_without_usage_or_tokenize_input_lengths_are_unknown_and_levels_invalid(tmp_path, workloads):
    server = FakeServer(token_ids=False, usage=False, interval_s=0.002)
    with server as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1,2", "--requests", "4")
    assert r.exit_code == 0, r.output
    assert doc["backend"]["input_lengths"]["method"] is None and "no tokenize endpoint" in \
        doc["backend"]["input_lengths"]["why_unknown"]
    assert len(doc["scenarios"]) == 2
    for level in doc["scenarios"]:
        asked = level["samples"]["input_asked_tokens"]
        assert level["samples"]["input_tokens"] == [None] * 4 and level["samples"]["prefill_tps"] == [None] * 4
        assert level["validity"]["verdict"] == "INVALID"
        (reason,) = [r for r in level["validity"]["reasons"] if r.startswith("input length")]
        assert f"unknown for 4 of 4 requests (asked {sum(asked) / 4:.0f} tokens on average)" in reason
    assert doc["validity"]["verdict"] == "INVALID"


def test_usage_calibrates_text_within_a_percent_and_gives_each_requests_count(tmp_path):
    # longer prompts: this server's tokens per letter vary (x, y, z count two), as real ones do
    (tmp_path / "w.json").write_text(json.dumps({"long": {"input": {"mean": 400, "stddev": 40}, "output": 8}}))
    server = FakeServer(token_ids=False, interval_s=0.001)
    with server as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(tmp_path / "w.json"), "--scenario", "long",
                         "--concurrency", "1", "--requests", "6")
    assert r.exit_code == 0, r.output
    lengths = doc["backend"]["input_lengths"]
    assert lengths["method"] == "usage calibration" and 1 <= len(lengths["calibration"]) <= 6
    (level,) = doc["scenarios"]
    s = level["samples"]
    # the calibration probe's text landed within 1% of its target, the first request's length
    # (request 0 is the warm-up, planned before the others)
    _k, _n = lengths["calibration"][-1]
    assert level["summary"]["token_accounting"]["input_sources"] == {"usage": 6}
    assert s["input_tokens"] == [_prompt_tokens(q["body"]) for q in server.requests[-6:]]
    assert all(abs(a - b) <= 0.05 * b for a, b in zip(s["input_tokens"], s["input_asked_tokens"], strict=True))
    assert abs(sum(s["input_tokens"]) / sum(s["input_asked_tokens"]) - 1) < 0.02
    assert not [r for r in level["validity"]["reasons"] if r.startswith("input length")]


def test_chat_endpoint_counts_its_template_from_usage(tmp_path, workloads):
    server = FakeServer(tokenize="vllm", interval_s=0.002)
    with server as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1", "--requests", "4", "--endpoint", "chat")
    assert r.exit_code == 0, r.output
    assert doc["backend"]["input_lengths"]["offset_tokens"] == TEMPLATE_TOKENS
    (level,) = doc["scenarios"]
    s = level["samples"]
    assert [_prompt_tokens(q["body"]) for q in server.requests[-4:]] == s["input_asked_tokens"] == s["input_tokens"]


def test_prompt_cache_hits_are_recorded_where_usage_reports_them(tmp_path, workloads):
    with FakeServer(cached_tokens=8, interval_s=0.002) as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1", "--requests", "3")
    assert r.exit_code == 0, r.output
    (level,) = doc["scenarios"]
    acct = level["summary"]["token_accounting"]
    assert level["samples"]["cached_input_tokens"] == [8, 8, 8]
    assert (acct["prompt_cache_reported"], acct["prompt_cache_hits"], acct["cached_input_tokens"]) == (3, 3, 24)


# -- every token observed, or said not to be -----------------------------------------------------
def test_held_back_streams_are_flagged_and_make_the_level_invalid(tmp_path, workloads):
    # request 1 and 2 are probes; of the 1 warm-up + 6 measured, requests 5 and 7 are held back
    with FakeServer(lambda n, body: HOLD if n in (5, 7) else OK, interval_s=0.002) as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1", "--requests", "6")
    assert r.exit_code == 0, r.output
    (level,) = doc["scenarios"]
    s = level["samples"]
    # (a loaded machine may starve this server's thread too: others can be flagged, never these)
    assert s["held_back"][1] and s["held_back"][3] and len(s["held_back"]) == 6
    for i in (1, 3):
        # its first token came at its end: after the server's 2 ms pacing of every token (how soon
        # the client then reads them all depends on the machine's load, so no bound on that)
        assert s["ttft_s"][i] >= 0.002 * (s["output_tokens"][i] - 1)
    assert level["summary"]["token_accounting"]["held_back"] == sum(s["held_back"])
    (reason,) = [r for r in level["validity"]["reasons"] if "held back" in r]
    assert reason.startswith(f"{sum(s['held_back'])} of 6 requests streamed held back") and "within 0.1 ms" in reason


def test_token_ids_in_chunks_count_each_events_tokens(tmp_path, workloads):
    with FakeServer(stream_token_ids=True, usage=False, interval_s=0.002) as url:
        r, doc = run_cli(url, tmp_path, "--workloads", str(workloads), "--scenario", "tiny-chat",
                         "--concurrency", "1", "--requests", "3")
    assert r.exit_code == 0, r.output
    assert doc["backend"]["streams_token_ids"] is True
    acct = doc["scenarios"][0]["summary"]["token_accounting"]
    assert acct["event_token_counts"] == "server" and acct["output_sources"] == {"token_ids": 3}


# -- single-stream over HTTP and the report --------------------------------------------------------
def test_single_stream_over_http_gives_per_request_ttft_and_tpot_and_a_report(tmp_path):
    server = FakeServer(token_ids=False, tokenize="vllm", interval_s=0.002)
    with server as url:
        r, doc = run_cli(url, tmp_path, "--scenario", "single-stream", "--requests", "4",
                         "--input-tokens", "40", "--output-tokens", "10")
    assert r.exit_code == 0, r.output
    (sc,) = doc["scenarios"]
    assert (sc["name"], sc["kind"], sc["status"]) == ("single-stream", "single-stream", "completed")
    s = sc["samples"]
    assert s["input_tokens"] == s["input_asked_tokens"] == [40] * 4 and s["output_tokens"] == [10] * 4
    assert len(s["ttft_s"]) == len(s["tpot_s"]) == len(s["e2e_s"]) == 4
    assert all(0 < t < e for t, e in zip(s["ttft_s"], s["e2e_s"], strict=True)) and all(0.0015 < t < 0.05 for t in s["tpot_s"])
    assert len(s["inter_token_gap_s"]) == 4 * 9 and len(s["held_back"]) == 4
    # warm-up: the in-process warm-up's lengths (up to 32 in, 2 out), then the measured ones
    warmup, *measured = server.requests[-5:]
    assert (count_text(warmup["body"]["prompt"]), warmup["body"]["max_tokens"]) == (32, 2)
    assert [count_text(q["body"]["prompt"]) for q in measured] == [40] * 4
    assert sc["summary"]["output_tps"] > 0 and sc["summary"]["ttft_s"]["n"] == 4
    assert sc["roofline"] is None                                   # a server's model: bytes unknown
    html = next((tmp_path / "r").glob("*.html")).read_text()
    assert "fake on " in html and "single-stream" in html and "None" not in html


def test_the_server_log_stamps_each_completion_once_and_counts_its_events():
    """GET /log (what benchmarks/client_vs_peer.py judges both clients by): arrival before end,
    the events sent, failed requests without them, each request answered once."""
    import httpx

    with FakeServer(lambda n, body: ERROR_500 if n == 2 else OK) as url:
        for max_tokens in (3, 5, 7):
            with httpx.stream("POST", f"{url}/v1/completions", json={"prompt": [1, 2], "max_tokens": max_tokens,
                                                                   "stream": True}) as resp:
                resp.read()
        first = httpx.get(f"{url}/log").json()["requests"]
        again = httpx.get(f"{url}/log").json()["requests"]
    assert [q["events"] for q in first] == [3, None, 7]
    assert all(q["arrival_ns"] < q["end_ns"] for q in first)
    assert first[0]["end_ns"] < first[1]["arrival_ns"] and first[1]["end_ns"] < first[2]["arrival_ns"]
    assert again == []


def test_a_request_is_sent_when_written_and_one_never_written_was_never_sent():
    """RequestTrace.sent_ns is stamped as the request's bytes go to the socket: each is at or before
    the server's arrival stamp (an in-process server, the same clock: the server reads what was
    written after the stamp) and before its first event; a request whose connection is refused never
    left the client, so it has no sent time (send lag unknown rather than zero)."""
    import asyncio
    from types import SimpleNamespace

    from engines.clock import RequestTrace, now_ns, timed_request
    from engines.openai.engine import OpenAIBackend

    def requests(n):
        return [SimpleNamespace(prompt_token_ids=[100 + i, 7, 7], max_tokens=4) for i in range(n)]

    async def send(backend, reqs):
        traces = [RequestTrace(i, True, r.max_tokens, now_ns()) for i, r in enumerate(reqs)]
        async with backend.client() as client:
            await asyncio.gather(*(timed_request(backend, client, r, t, 30) for r, t in zip(reqs, traces, strict=True)))
        return traces

    server = FakeServer()
    with server as url:
        backend = OpenAIBackend()
        backend.load("fake", {"base_url": url})
        reqs = requests(4)
        traces = asyncio.run(send(backend, reqs))
        arrival = {q["body"]["prompt"][0]: q["arrival_ns"] for q in server.requests}
    assert all(t.ok for t in traces), [t.error for t in traces]
    for r, t in zip(reqs, traces, strict=True):
        assert t.sent_ns is not None and t.intended_ns <= t.sent_ns <= arrival[r.prompt_token_ids[0]] < t.event_ns[0]

    backend.base_url = f"http://127.0.0.1:{free_port()}"            # nothing listens there
    (refused,) = asyncio.run(send(backend, requests(1)))
    assert refused.error_kind == "connection" and refused.sent_ns is None and refused.send_lag_s is None
