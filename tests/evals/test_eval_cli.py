"""bench eval's bad input: one line naming the problem and the fix, non-zero exit, nothing written."""

import json

import pytest

from tests.quality.test_quality_cli import bench, one_line

pytestmark = pytest.mark.engine   # each test is a bench process of its own


def test_missing_task_file(tmp_path):
    one_line(bench("eval", str(tmp_path / "nope.jsonl"), "--model", "tiny", "--results-dir", str(tmp_path)),
             "no such task file", "ticket-triage.jsonl")
    assert not list(tmp_path.glob("*.json"))


def test_a_bad_line_is_named(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"prompt": "x", "expected": "y", "scorer": "exact"}) + "\n" + json.dumps({"prompt": "x"}) + "\n")
    one_line(bench("eval", str(f), "--model", "tiny", "--results-dir", str(tmp_path)), "t.jsonl line 2", "scorer")


def test_messages_need_the_chat_endpoint(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}], "expected": "y", "scorer": "exact"}) + "\n")
    one_line(bench("eval", str(f), "--backend", "openai", "--base-url", "http://127.0.0.1:9", "--model", "m",
                   "--endpoint", "completions", "--results-dir", str(tmp_path)), "chat endpoint")


def test_an_unreachable_server(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"prompt": "hi", "expected": "y", "scorer": "exact"}) + "\n")
    one_line(bench("eval", str(f), "--backend", "openai", "--base-url", "http://127.0.0.1:9", "--model", "m",
                   "--results-dir", str(tmp_path)), "cannot reach", "--base-url")
    assert not list(tmp_path.glob("*.json"))
