"""What the run's journal (bench/journal.py) costs the thread that measures, and what that does to
a replay's send lag.

    python benchmarks/journal_cost.py [--baseline DIR] [--rounds 3] [--out FILE]

(a) Writer: Journal.measured once per ended request, as a load level's progress calls it, over
    --requests requests of --events events each; mean and worst time on the calling thread (for
    an HTTP level, its event loop).
(b) Replay: `bench run --backend openai --scenario trace` of a generated trace (--rate req/s,
    --tokens output tokens each) against the null streaming server (tests/load/sse_server.py,
    a process of its own), as a user runs it; send lag p50 / p99 / worst and the requests later
    than --max-send-lag, from the result. With --baseline DIR (another checkout, e.g. a git
    worktree of an older commit), the same in that checkout too, rounds alternating which goes
    first: this machine's speed drifts 5-20% between minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_client import sse_server  # noqa: E402

_WRITER = """
import json, sys, tempfile, time
from pathlib import Path
from bench.journal import Journal
from engines.clock import RequestTrace

class Scenario:
    def params(self):
        return {"name": "load"}

class Record:
    scenario, traces = Scenario(), []

n, events = int(sys.argv[1]), int(sys.argv[2])
journal, record = Journal(Path(tempfile.mkdtemp()), "run", {"run_id": "run"}), Record()
journal.started(0, record)
costs = []
for i in range(n):
    record.traces.append(RequestTrace(i, True, events, 0, sent_ns=1, event_ns=list(range(10**15, 10**15 + events)),
                                      end_ns=2, input_tokens=100, output_tokens=events, input_source="usage",
                                      output_source="usage", finish_reason="length"))
    t = time.perf_counter()
    journal.measured(0, record)
    costs.append(time.perf_counter() - t)
journal.remove()
print(json.dumps({"mean_us": sum(costs) / n * 1e6, "worst_ms": max(costs) * 1e3}))
"""


def writer_cost(checkout: Path, requests: int, events: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _WRITER, str(requests), str(events)], cwd=checkout,
                         env={**os.environ, "PYTHONPATH": str(checkout)}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def replay(checkout: Path, port: int, trace: Path, max_send_lag_ms: float) -> dict:
    with tempfile.TemporaryDirectory() as results:
        subprocess.run([sys.executable, "-m", "bench", "run", "--backend", "openai", "--base-url",
                        f"http://127.0.0.1:{port}", "--model", "null", "--scenario", "trace", "--trace", str(trace),
                        "--max-send-lag", str(max_send_lag_ms), "--idle-seconds", "0", "--results-dir", results],
                       cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)}, capture_output=True, text=True)
        (path,) = Path(results).glob("*.json")
        entry = json.loads(path.read_text())["scenarios"][0]
    lag = entry["samples"]["send_lag_s"]
    return {"p50_ms": statistics.median(lag) * 1e3, "p99_ms": entry["summary"]["send_lag_s"]["p99"] * 1e3,
            "worst_ms": max(lag) * 1e3, "late": sum(v * 1e3 > max_send_lag_ms for v in lag), "requests": len(lag)}


def _machine() -> dict:
    """The CPU by the suite's own /proc/cpuinfo reading (platform.processor() says only x86_64 here)."""
    from hardware.cpu import parse_cpuinfo

    info = parse_cpuinfo(Path("/proc/cpuinfo").read_text()) if Path("/proc/cpuinfo").exists() else {}
    return {"cpu": info.get("model") or platform.machine(), "isa": info.get("isa"), "cpus": os.cpu_count()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", type=Path, default=None, help="another checkout to compare with")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--tokens", default="200-600", help="output tokens per request, LOW-HIGH")
    p.add_argument("--events", type=int, nargs="+", default=[100, 1000], help="(a): events per request")
    p.add_argument("--max-send-lag", type=float, default=10.0, help="ms")
    p.add_argument("--out", type=Path, default=None)
    a = p.parse_args()
    sides = {"this": ROOT, **({"baseline": a.baseline.resolve()} if a.baseline else {})}
    doc: dict[str, Any] = {"machine": _machine(),
                           "at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "args": vars(a) | {
                               "baseline": str(a.baseline) if a.baseline else None,
                               "out": str(a.out) if a.out else None}, "writer": {}, "replay": []}
    for name, checkout in sides.items():
        doc["writer"][name] = {e: writer_cost(checkout, 2000, e) for e in a.events}
        print(name, "writer:", {e: f"{c['mean_us']:.0f} us mean, {c['worst_ms']:.1f} ms worst"
                                for e, c in doc["writer"][name].items()}, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace.jsonl"
        trace.write_text(subprocess.run(
            [sys.executable, "-m", "scenarios.trace_gen", "--requests", str(a.requests), "--rate", str(a.rate),
             "--output-tokens", a.tokens, "--own-tokens", "16-128", "--prefixes", "0"],
            cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        with sse_server(0.0) as port:
            for r in range(a.rounds):
                order = list(sides) if r % 2 == 0 else list(reversed(sides))
                row: dict[str, Any] = {"round": r, "loadavg": os.getloadavg()[0]}
                for name in order:
                    row[name] = replay(sides[name], port, trace, a.max_send_lag)
                    time.sleep(2)
                doc["replay"].append(row)
                print(json.dumps(row), flush=True)
    for name in sides:
        rows = [row[name] for row in doc["replay"]]
        print(f"{name}: send lag p50 {statistics.median(x['p50_ms'] for x in rows):.2f} ms, "
              f"p99 {statistics.median(x['p99_ms'] for x in rows):.1f} ms, "
              f"worst {statistics.median(x['worst_ms'] for x in rows):.1f} ms, "
              f"late {statistics.median(x['late'] for x in rows):.0f} of {rows[0]['requests']} (medians of {len(rows)} rounds)")
    if a.out:
        a.out.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
