"""chat-session: conversations that grow turn by turn, against the fake streaming server
(tests/load/sse_server.py) and a fake batch session (the driver's own logic), and the command
line's parsing of it."""

import json
import re
from typing import Any, cast

import pytest
from click.testing import CliRunner

from bench.commands.main import main
from contract.device import Device
from contract.errors import ScenarioError
from contract.result import LoadLevelEntry
from engines.base import LoadedModel
from engines.openai.engine import OpenAIBackend
from scenarios import chat_session
from scenarios.definitions import ParseOptions
from scenarios.kinds import parse_scenarios
from scenarios.workloads import Lengths, Profile
from tests.load.conftest import reasons_but_held_back
from tests.load.sse_server import FakeServer

TURNS, CONVERSATIONS, USERS = 3, 4, 2
TURN = {"turn-small": {"input": {"mean": 12, "stddev": 3}, "output": {"mean": 6, "stddev": 2}}}


def session(users=USERS, think=0.02, turns=TURNS, conversations=CONVERSATIONS):
    opts = ParseOptions(profiles={"turn-small": Profile("turn-small", Lengths(12, 3), Lengths(6, 2))},
                        concurrency=(users,), turns=turns, think_time_s=think, requests=conversations)
    return chat_session.parse("chat-session:turn-small", opts)


def run_level(backend, model, sc):
    ((record, drive),) = list(chat_session.levels(backend, model, sc))
    drive(lambda n: None, lambda: None)
    return record


def answer_text(max_tokens: int) -> str:
    """What the fake server streams for a completion of max_tokens tokens."""
    return "".join(f" w{i}" for i in range(max_tokens))


def test_over_http_each_turn_resends_the_conversation_with_the_streamed_answer():
    server = FakeServer(token_ids=False, tokenize="vllm", cached_tokens=7, interval_s=0.002)
    with server as url:
        backend = OpenAIBackend()
        model = backend.load("fake", {"base_url": url})
        sc = session()
        record = run_level(backend, model, sc)
    level = record.scenario
    measured = [t for t in record.traces if t.measured]
    assert len(measured) == CONVERSATIONS * TURNS and all(t.ok for t in measured)
    assert record.answers == "streamed answer text"

    # the server saw each conversation grow: turn k+1's prompt is turn k's, its answer, a new message
    sent = [r["body"] for r in server.requests if isinstance(r["body"].get("prompt"), str)]
    by_prompt = {b["prompt"]: b for b in sent}
    follows = 0
    for b in sent:
        head = b["prompt"] + answer_text(b["max_tokens"]) + " "
        # the next turn: this head, then only the new message's one-letter words
        nxt = [q for q in by_prompt if q.startswith(head) and all(len(w) == 1 for w in q[len(head):].split())]
        follows += len(nxt)
        assert len(nxt) <= 1
    assert follows == CONVERSATIONS * (TURNS - 1)

    traces = {t.index: t for t in measured}
    for c in range(CONVERSATIONS):
        turns = [traces[1 + c * TURNS + k] for k in range(TURNS)]
        assert [t.turn for t in turns] == [1, 2, 3]
        # the context grows by the previous answer and the new message
        assert turns[0].input_tokens < turns[1].input_tokens < turns[2].input_tokens
        for k in (1, 2):
            prev, this = turns[k - 1], turns[k]
            assert this.input_tokens > prev.input_tokens + prev.output_tokens
            # each turn is due a think time after the previous answer ended (or later, if the
            # prompt took longer to make), and was not sent before it was due
            assert this.intended_ns >= prev.end_ns + level.think_ns(c, k)
            assert this.sent_ns >= this.intended_ns
    thinks = {level.think_ns(c, k) for c in range(CONVERSATIONS) for k in range(TURNS)}
    assert len(thinks) > 1 and min(thinks) >= 0        # drawn, not one fixed value

    entry = record.to_entry()
    assert isinstance(entry, LoadLevelEntry) and entry.kind == "chat-session"
    doc = entry.model_dump(mode="json")          # as the result file has it
    assert doc["params"]["concurrency"] == USERS and doc["params"]["turns"] == TURNS
    by_turn = doc["summary"]["by_turn"]
    assert [t["turn"] for t in by_turn] == [1, 2, 3] and all(t["requests"] == CONVERSATIONS for t in by_turn)
    medians = [t["context_tokens"]["median"] for t in by_turn]
    assert medians == sorted(set(medians))
    assert all(t["ttft_s"]["n"] == CONVERSATIONS for t in by_turn)
    # the server said 7 cached tokens each time: the rate is over what each depth's requests sent
    for t in by_turn:
        inputs = [traces[1 + c * TURNS + t["turn"] - 1].input_tokens or 0 for c in range(CONVERSATIONS)]
        cache = t["prefix_cache"]
        assert cache["requests_reported"] == CONVERSATIONS and cache["cached_input_tokens"] == 7 * CONVERSATIONS
        assert cache["hit_rate"] == pytest.approx(7 * CONVERSATIONS / sum(inputs))
    assert by_turn[0]["prefix_cache"]["hit_rate"] > by_turn[2]["prefix_cache"]["hit_rate"]
    assert doc["samples"]["turn"] == [t.turn for t in measured]
    assert not reasons_but_held_back(doc["validity"]), doc["validity"]


class _Session:
    """A batch session that answers each sequence with ids 3, 4, 5, ... (the driver's logic only)."""

    def __init__(self, log):
        self.log, self.seqs = log, {}

    @property
    def active(self):
        return len(self.seqs)

    def submit(self, index, prompt, max_tokens):
        self.log.append((index, list(prompt), max_tokens))
        self.seqs[index] = [max_tokens, 0]

    def step(self):
        events = []
        for index, s in list(self.seqs.items()):
            events.append((index, 3 + s[1]))
            s[1] += 1
            if s[1] == s[0]:
                del self.seqs[index]
        return events

    def cached_tokens(self, index):
        return None                              # an engine that says nothing of its prefix cache (mlx)

    def close(self):
        pass


class _Engine:
    name = "fake-batch"

    def __init__(self):
        self.log, self.sizes = [], []

    def batch_session(self, n_seqs, seq_len):
        self.sizes.append((n_seqs, seq_len))
        return _Session(self.log)


def test_in_process_each_turn_is_the_conversation_with_the_generated_ids():
    engine = _Engine()
    model = LoadedModel(path=None, n_ctx=4096, vocab_size=256, bos_token_id=1, device=Device.CPU)
    sc = session(think=0.0)
    record = chat_session.ChatSessionRecord(chat_session.SessionLevel(sc, USERS))
    chat_session.drive_in_process(cast(Any, engine), model, record, lambda n: None, lambda: None)
    assert engine.sizes == [(USERS, sc.context_needed)]
    sent = {index: (prompt, n) for index, prompt, n in engine.log}
    for c in range(CONVERSATIONS):
        for k in range(1, TURNS):
            prev, n = sent[1 + c * TURNS + k - 1]
            this, _ = sent[1 + c * TURNS + k]
            message = record.scenario.message(c, k, model).prompt_token_ids
            assert message and this == prev + [3 + i for i in range(n)] + message, (c, k)
    doc = record.to_entry().model_dump(mode="json")
    assert [t["turn"] for t in doc["summary"]["by_turn"]] == [1, 2, 3]
    assert all(t["prefix_cache"]["hit_rate"] is None and t["prefix_cache"]["requests_reported"] == 0
               for t in doc["summary"]["by_turn"])
    assert "free a sequence's KV" in doc["params"]["cache_note"]


def test_a_sweep_of_users_stops_once_latency_is_far_past_the_slo():
    """As a load sweep does: more users than a level already far past its SLO can only be worse."""
    from scenarios.slo import parse_slo
    from tests.fakes import FakeClock, FakeEngine

    sessions = _Engine()

    class Engine(FakeEngine):          # a token-level engine whose batch sessions are the fake's above
        def batch_session(self, n_seqs, seq_len):
            return sessions.batch_session(n_seqs, seq_len)

    engine = Engine(FakeClock())
    model = LoadedModel(path=None, n_ctx=4096, vocab_size=256, bos_token_id=1, device=Device.CPU)
    opts = ParseOptions(profiles={"turn-small": Profile("turn-small", Lengths(12, 3), Lengths(6, 2))},
                        concurrency=(1, 2, 4), turns=TURNS, think_time_s=0.0, requests=CONVERSATIONS,
                        slo=parse_slo("ttft=0.001ms,tpot=0.001ms"))
    sc = chat_session.parse("chat-session:turn-small", opts)
    assert sc is not None
    run = []
    for record, drive in chat_session.levels(cast(Any, engine), model, sc):
        drive(lambda n: None, lambda: None)
        run.append(record)
    (only,) = run
    assert only.verdict().far_past and (only.note or "").endswith("not run: 2, 4")
    assert [n for n, _ in sessions.sizes] == [1]


@pytest.mark.parametrize("args, needle", [
    ({"turns": 0}, "--turns must be at least 1"),
    ({"think_time": -1.0}, "--think-time must be"),
    ({"rate": "1"}, "closed-loop users"),
])
def test_bad_session_options_are_one_line(args, needle):
    with pytest.raises(ScenarioError, match=needle):
        parse_scenarios("chat-session", **args)


def test_session_options_need_a_chat_session():
    with pytest.raises(ScenarioError, match="--turns applies to chat-session"):
        parse_scenarios("chat", turns=3)
    (sc,) = parse_scenarios("chat-session", concurrency="1,4", turns=2, think_time=0.5)
    assert isinstance(sc, chat_session.ChatSessionScenario)
    assert sc.users == (1, 4) and sc.turns == 2 and sc.think_time_s == 0.5 and sc.profile.name == "chat-turn"
    assert sc.context_needed == 2 * sc.profile.max_request_tokens


def test_bench_run_prints_ttft_and_cache_hits_per_turn(tmp_path):
    (tmp_path / "w.json").write_text(json.dumps(TURN))
    with FakeServer(token_ids=False, tokenize="vllm", cached_tokens=5, interval_s=0.001) as url:
        r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", url, "--model", "fake",
                                      "--idle-seconds", "0", "--results-dir", str(tmp_path / "r"),
                                      "--workloads", str(tmp_path / "w.json"), "--scenario", "chat-session:turn-small",
                                      "--concurrency", "1,2", "--turns", "2", "--think-time", "0.01", "--requests", "3"],
                               catch_exceptions=False, env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    assert "conversations by turn" in r.output
    doc = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    levels = [e for e in doc["scenarios"] if e["kind"] == "chat-session"]
    assert [e["name"] for e in levels] == ["chat-session:turn-small@c1", "chat-session:turn-small@c2"]
    for e in levels:
        assert [t["turn"] for t in e["summary"]["by_turn"]] == [1, 2]
        assert all(0 < t["prefix_cache"]["hit_rate"] < 1 for t in e["summary"]["by_turn"])


@pytest.mark.engine
def test_a_real_llama_cpp_python_server_reuses_each_turns_conversation(llama_server, tmp_path):
    """One user, so that the server's one slot holds the conversation between turns. This server
    reports no cached tokens (cache hit n/a), but its verbose log says how many tokens of each
    prompt it kept from the one before ("prefix-match hit"): from turn 2 on, at least the whole
    previous prompt."""
    from tests.load.test_llamacpp_server import server_prompt_counts

    (tmp_path / "w.json").write_text(json.dumps({"turn-real": {"input": {"mean": 24, "stddev": 4}, "output": 16}}))
    r = CliRunner().invoke(main, ["run", "--backend", "openai", "--base-url", llama_server.base_url + "/v1",
                                  "--model", llama_server.model_path.stem, "--idle-seconds", "0",
                                  "--results-dir", str(tmp_path / "r"), "--workloads", str(tmp_path / "w.json"),
                                  "--scenario", "chat-session:turn-real", "--concurrency", "1", "--turns", "3",
                                  "--think-time", "0.05", "--requests", "2"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    doc = json.loads(next((tmp_path / "r").glob("*.json")).read_text())
    (entry,) = doc["scenarios"]
    assert entry["status"] == "completed" and entry["summary"]["errors"]["count"] == 0
    turns, inputs = entry["samples"]["turn"], entry["samples"]["input_tokens"]
    assert turns == [1, 2, 3, 1, 2, 3]
    # the server's own prompt lengths of the six measured requests are the counts we recorded
    log = llama_server.log()
    assert server_prompt_counts(log)[-6:] == inputs
    kept = [int(m) for m in re.findall(r"Llama\.generate: (\d+) prefix-match hit", log)][-6:]
    for i in (1, 2, 4, 5):           # turns 2 and 3: the previous prompt (all but a token where the
        assert kept[i] >= inputs[i - 1] - 1, (kept, inputs)     # answer's first letters join its last word)
    by_turn = entry["summary"]["by_turn"]
    assert [t["turn"] for t in by_turn] == [1, 2, 3]
    assert by_turn[0]["context_tokens"]["median"] < by_turn[2]["context_tokens"]["median"]
    # as the file has it: fields left at their defaults are not written (contract.documents.dump)
    assert all(t["prefix_cache"].get("requests_reported", 0) == 0 and t["prefix_cache"].get("hit_rate") is None
               for t in by_turn)
    assert "cache hit n/a" in r.output


def test_a_journal_keeps_a_chat_session_level_that_was_cut_short(tmp_path):
    """The run's journal (bench/journal.py) rebuilds a chat-session level from what it wrote, turns
    included, when the run's process dies mid-level."""
    from bench.journal import Journal, _replay

    engine = _Engine()
    model = LoadedModel(path=None, n_ctx=4096, vocab_size=256, bos_token_id=1, device=Device.CPU)
    record = chat_session.ChatSessionRecord(chat_session.SessionLevel(session(think=0.0), USERS))
    journal = Journal(tmp_path, "run", cast(Any, {"run_id": "run"}))
    journal.started(0, record)
    chat_session.drive_in_process(cast(Any, engine), model, record, journal.tracking(0, record, lambda n, t=None: None),
                                  lambda: None)
    doc, kept = _replay(journal.path.read_text().splitlines())
    assert doc is not None and kept == CONVERSATIONS * TURNS
    (entry,) = doc["scenarios"]
    assert entry["kind"] == "chat-session" and entry["status"] == "interrupted"
    assert [t["turn"] for t in entry["summary"]["by_turn"]] == [1, 2, 3]
