"""The one-machine HTML report written beside a result: content, escaping, never fatal."""

import json
import shutil

from dashboards.report import write_run_report


def test_report_beside_the_result(tmp_path, example):
    src, _doc = example("llama-3.1-8b")
    path = tmp_path / src.name
    shutil.copy(src, path)
    out = write_run_report(path)
    assert out is not None and out == path.with_suffix(".html") and out.exists()
    html = out.read_text()
    assert "llama-3.1-8b Q4_K_M on vm" in html
    # a CPU machine: priced by its closest preset, the basis said
    assert "Basis: cloud on-demand: 2 vCPU x $0.0275 + 23.5 GiB x $0.003686 = $0.1418/h" in html
    assert "Google Cloud list prices" in html and "observed 2026-07-30" in html
    assert "estimated</b> energy figure" in html                   # the estimate says so
    assert "<script>" not in html                                  # plain HTML, opens anywhere


def test_strings_from_the_result_are_escaped(tmp_path, example):
    _, doc = example("tiny-Q4_K_M")
    doc["label"] = "<script>alert(1)</script>"
    doc["model"]["id"] = '"><img src=x onerror=alert(2)>'
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(doc))
    out = write_run_report(path)
    assert out is not None
    html = out.read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(2)&gt;" in html


def test_failure_is_a_warning_not_an_exception(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{ not json")
    warnings: list[str] = []
    assert write_run_report(path, warn=warnings.append) is None
    assert len(warnings) == 1 and "broken.html" in warnings[0]
    assert write_run_report(tmp_path / "missing.json", warn=warnings.append) is None
    assert len(warnings) == 2


def test_a_chat_session_report_lists_ttft_and_cache_hits_per_turn(tmp_path):
    """A real in-process chat-session run (tests/recorded/chat-session/): a row per level and turn,
    its TTFT median and p99 in ms as the result file has them."""
    from pathlib import Path

    [src] = (Path(__file__).resolve().parents[1] / "recorded" / "chat-session").glob("*.json")
    path = tmp_path / src.name
    shutil.copy(src, path)
    out = write_run_report(path)
    assert out is not None
    html = out.read_text()
    assert "<h2>Conversations by turn</h2>" in html
    for sc in json.loads(src.read_text())["scenarios"]:
        for t in sc["summary"]["by_turn"]:
            ttft = t["ttft_s"]
            row = (f"<tr><td>{sc['name']}</td><td>{t['turn']}</td><td>{t['requests']}</td>"
                   f"<td>{round(t['context_tokens']['median'])}</td>"
                   f"<td>{ttft['median'] * 1e3:.0f}/{ttft['p99'] * 1e3:.0f}</td>")
            assert row in html, row
