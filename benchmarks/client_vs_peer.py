"""Our HTTP load client beside vLLM's `bench serve`, against one local null streaming server.

    python benchmarks/client_vs_peer.py --peer-python .tox/vllm/bin/python \\
        --out benchmarks/results/client-vs-vllm-bench.json

Both clients talk to the same server process (tests/load/sse_server.py, started as in
benchmarks/http_client.py), which stamps each request's arrival and end: one witness for both.
Rounds alternate the two (ours first in even rounds, the peer first in odd ones): this machine's
speed drifts 5-20% from minute to minute, so compare the ratios within a round. vLLM's client
runs in a process of its own (benchmarks/vllm_bench_worker.py), started once and idle while ours
runs; ours runs in this process. Ratios are ours / peer.

(a) Events: --users concurrent streams (closed loop, --events-requests requests in all), the
    server sending --events-tokens tokens each as fast as it can. Content events per second
    each client sustains (its own window: from the first intended send to the last end), and
    per CPU-second of the client's process (what an event costs it: this holds even where the
    server, not the client, sets the pace). The server's count of events sent is used for both.
(b) Send lag: requests at a constant rate (each --rates value, for --lag-seconds), each
    streaming --lag-tokens tokens --lag-interval-ms apart. Lag = arrival at the server minus the
    schedule i/R; the schedule's origin is each run's best-kept request (min over i of
    arrival_i - i/R), the same estimate for both, as vLLM does not say when it meant to send.
    Ours is also shown by its own record (RequestTrace.send_lag_s: intended -> sent) and as the server's
    arrival minus our intended time (one clock: perf_counter_ns is CLOCK_MONOTONIC).
Beside (a), for the diagnosis: the same streams read over bare asyncio sockets with our own SSE
decoder and event parsing, no HTTP library: what our client costs per event but the library's part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.http_client import run_closed_loop, sse_server  # noqa: E402
from contract.device import Device  # noqa: E402
from engines.base import LoadedModel  # noqa: E402
from engines.clock import now_ns  # noqa: E402
from engines.openai.engine import OpenAIBackend  # noqa: E402
from engines.openai.sse import SSEDecoder  # noqa: E402
from engines.stats import percentile  # noqa: E402
from scenarios.arrivals import TracePacer  # noqa: E402
from scenarios.definitions import LoadScenario  # noqa: E402
from scenarios.levels import Level, LevelRecord  # noqa: E402
from scenarios.load import _Plans, run_http  # noqa: E402  (the driver's own request plans)
from scenarios.workloads import Lengths, Profile  # noqa: E402

PEER_PYTHON = ROOT / ".tox" / "vllm" / "bin" / "python"


def _server_log(port: int) -> list[dict]:
    """The server's stamps of the completion requests since the last call (tests/load/sse_server.py)."""
    import httpx

    return httpx.get(f"http://127.0.0.1:{port}/log", timeout=30).json()["requests"]


def _ms(values: list[float]) -> dict:
    """p50, p99 and max of seconds, in ms (None where there are none)."""
    if not values:
        return {"p50_ms": None, "p99_ms": None, "max_ms": None}
    v = sorted(values)
    return {"p50_ms": statistics.median(v) * 1e3, "p99_ms": percentile(v, 99) * 1e3, "max_ms": v[-1] * 1e3}


def _schedule_lag(log: list[dict], rate: float) -> dict:
    """Arrivals against a constant-rate schedule whose origin is the best-kept request (see above):
    request i (in arrival order) is due at origin + i/rate."""
    arrivals = sorted(q["arrival_ns"] for q in log)
    late = [a - i * 1e9 / rate for i, a in enumerate(arrivals)]
    origin = min(late)
    span = (arrivals[-1] - arrivals[0]) / 1e9
    return {"requests": len(arrivals), **_ms([(x - origin) / 1e9 for x in late]),
            "achieved_rate": (len(arrivals) - 1) / span if span > 0 else None}


def _events(log: list[dict]) -> tuple[int, float]:
    """Events the server sent in these requests, and its window (first arrival to last end), in s."""
    done = [q for q in log if q["end_ns"] is not None]
    return sum(q["events"] or 0 for q in done), (max(q["end_ns"] for q in done) - min(q["arrival_ns"] for q in log)) / 1e9


class Peer:
    """vLLM's bench serve in its worker process: run(args) -> its answer (vllm_bench_worker.py)."""

    def __init__(self, python: Path, log: Path):
        self._log = log.open("w")
        self._proc = subprocess.Popen([str(python), str(ROOT / "benchmarks" / "vllm_bench_worker.py")], cwd=ROOT,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True)
        self.versions = self._read()["versions"]       # answered once vLLM is imported

    def _read(self) -> dict:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"vLLM's bench serve worker ended; its output is in {self._log.name}")
        return json.loads(line)

    def run(self, args: list[str]) -> dict:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(args) + "\n")
        self._proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(30)
        self._log.close()


def _peer_args(port: int, tokenizer: Path, out_tokens: int, requests: int, rate: float | None,
               users: int | None) -> list[str]:
    args = ["--backend", "openai", "--base-url", f"http://127.0.0.1:{port}", "--model", "fake",
            "--tokenizer", str(tokenizer), "--dataset-name", "random", "--random-input-len", "16",
            "--random-output-len", str(out_tokens), "--num-prompts", str(requests), "--seed", "0",
            "--ready-check-timeout-sec", "0", "--disable-tqdm"]
    if rate is None:
        return [*args, "--request-rate", "inf", "--max-concurrency", str(users)]
    return [*args, "--request-rate", str(rate), "--burstiness", "inf"]     # inf: constant gaps of 1/rate


def _our_backend(port: int) -> OpenAIBackend:
    backend = OpenAIBackend()
    backend.load("fake", {"base_url": f"http://127.0.0.1:{port}"})      # its probe requests: before the log is read
    return backend


# -- (a) events ---------------------------------------------------------------------------
def events_ours(port: int, users: int, out_tokens: int, requests: int) -> dict:
    backend = _our_backend(port)
    _server_log(port)
    # closed loop: `users` opening requests, then requests - users more, as each ends
    record, _wall, cpu = run_closed_loop(backend, users, out_tokens, requests - users)
    events, server_s = _events(_server_log(port))
    wall = (max(t.end_ns for t in record.traces if t.end_ns) - min(t.intended_ns for t in record.traces)) / 1e9
    return {"requests": len(record.traces), "errors": sum(not t.ok for t in record.traces),
            "events": events, "wall_s": wall, "cpu_s": cpu, "server_window_s": server_s}


def events_peer(peer: Peer, port: int, tokenizer: Path, users: int, out_tokens: int, requests: int) -> dict:
    _server_log(port)
    answer = peer.run(_peer_args(port, tokenizer, out_tokens, requests, None, users))
    events, server_s = _events(_server_log(port))
    r = answer["result"]
    return {"requests": r["completed"] + r["failed"], "errors": r["failed"], "events": events,
            "wall_s": r["duration"], "cpu_s": answer["cpu_s"], "server_window_s": server_s,
            "own_report": {"output_throughput": r["output_throughput"], "median_itl_ms": r["median_itl_ms"]}}


async def _bare_stream(port: int, tokens: int, backend: OpenAIBackend) -> int:
    """One request over a bare asyncio socket, its chunked body decoded by hand, then our own SSE
    decoder and event parsing (backend._event), each content event stamped: all our client does per
    event but the HTTP library's part. Returns the content events."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"prompt": [300, 301], "max_tokens": tokens, "stream": True}).encode()
    writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    await reader.readuntil(b"\r\n\r\n")
    decoder, buf, stamps, ended = SSEDecoder(), b"", [], False
    while not ended and (data := await reader.read(1 << 16)):
        buf += data
        payload = []
        while (eol := buf.find(b"\r\n")) >= 0 and len(buf) >= eol + 4 + (size := int(buf[:eol], 16)):
            payload.append(buf[eol + 2:eol + 2 + size])
            buf = buf[eol + 4 + size:]
            ended = size == 0
        for event in decoder.feed(b"".join(payload)):
            if event.strip() != "[DONE]" and backend._event(event).content:
                stamps.append(now_ns())
    writer.close()
    return len(stamps)


def events_bare(port: int, users: int, out_tokens: int) -> dict:
    """One wave of `users` streams read by _bare_stream: the floor under our client's cost per event."""
    import asyncio

    async def wave() -> int:
        backend = OpenAIBackend()
        return sum(await asyncio.gather(*(_bare_stream(port, out_tokens, backend) for _ in range(users))))

    wall, cpu = time.perf_counter(), time.process_time()
    events = asyncio.run(wave())
    return {"events": events, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def _rates(side: dict) -> dict:
    side["events_per_s"] = side["events"] / side["wall_s"]
    side["events_per_cpu_s"] = side["events"] / side["cpu_s"] if side["cpu_s"] > 0 else None
    side["cpu_fraction"] = side["cpu_s"] / side["wall_s"]
    side["events_per_s_server_window"] = side["events"] / side["server_window_s"]
    return side


# -- (b) send lag ---------------------------------------------------------------------------
def lag_ours(port: int, rate: float, out_tokens: int, requests: int) -> dict:
    backend = _our_backend(port)
    model = LoadedModel(path=None, n_ctx=None, vocab_size=32000, bos_token_id=None, device=Device.SERVER)
    sc = LoadScenario(name="lag", profile=Profile("lag", Lengths(16), Lengths(out_tokens)), mode="poisson",
                      levels=(rate,), requests=requests, min_duration_s=0)
    level = Level(sc, rate)
    record = LevelRecord(level)
    plans = _Plans(level, model)
    # trace replay's pacer on a schedule 1/rate apart (vLLM's --burstiness inf), which the server
    # then knows up to its origin; nothing held back, as vLLM holds nothing back without --max-concurrency
    offsets = [round((i + 1) * 1e9 / rate) for i in range(requests)]
    _server_log(port)
    run_http(backend, record, plans, plans.prepared(), lambda: TracePacer(now_ns(), offsets), lambda n: None,
             lambda: None)
    log = _server_log(port)
    traces = sorted(record.traces, key=lambda t: t.intended_ns)
    arrivals = sorted(q["arrival_ns"] for q in log)
    return {"server": _schedule_lag(log, rate), "errors": sum(not t.ok for t in traces),
            "own_send_lag": _ms([t.send_lag_s for t in traces if t.send_lag_s is not None]),
            # matched by rank: the n-th request sent is the n-th to arrive (near enough at these rates)
            "server_arrival_minus_intended": _ms([(a - t.intended_ns) / 1e9 for a, t in zip(arrivals, traces, strict=False)])}


def lag_peer(peer: Peer, port: int, tokenizer: Path, rate: float, out_tokens: int, requests: int) -> dict:
    _server_log(port)
    answer = peer.run(_peer_args(port, tokenizer, out_tokens, requests, rate, None))
    r = answer["result"]
    return {"server": _schedule_lag(_server_log(port), rate), "errors": r["failed"],
            "own_report": {"request_throughput": r["request_throughput"], "duration_s": r["duration"],
                           "scheduled_s": requests / rate}}


# -- the run ----------------------------------------------------------------------------------
def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def _machine() -> dict:
    from hardware.cpu import parse_cpuinfo

    info = parse_cpuinfo(Path("/proc/cpuinfo").read_text()) if Path("/proc/cpuinfo").exists() else {}
    return {"cpu": info.get("model"), "isa": info.get("isa"), "logical_cpus": os.cpu_count(),
            "virtualized": info.get("virtualized"), "platform": platform.platform()}


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run(args) -> dict:
    import aiohttp
    import httpx

    from models.catalog import get_model
    from models.synthetic_hf import materialize_hf

    tokenizer = args.tokenizer or materialize_hf(get_model("tiny"))      # vLLM's random prompts need one
    out: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(), "load_average_start": _loadavg(),
        "versions": {"python": platform.python_version(), "httpx": httpx.__version__,
                     "aiohttp": aiohttp.__version__},
        "ratios_are": "ours / peer: events per second higher is better, send lag lower is better",
    }
    peer = Peer(args.peer_python, args.peer_log)
    try:
        out["versions"]["peer"] = peer.versions
        events: list[dict] = []
        with sse_server(0.0) as port:
            for i in range(args.rounds):
                row: dict[str, Any] = {"load_average": _loadavg()}
                for side in (("ours", "peer") if i % 2 == 0 else ("peer", "ours")):
                    row[side] = _rates(events_ours(port, args.users, args.events_tokens, args.events_requests)
                                       if side == "ours" else
                                       events_peer(peer, port, tokenizer, args.users, args.events_tokens,
                                                   args.events_requests))
                bare = events_bare(port, args.users, args.events_tokens)
                row["bare_socket_and_our_parsing"] = {**bare, "events_per_cpu_s": bare["events"] / bare["cpu_s"]}
                row["ratio_events_per_s"] = _ratio(row["ours"]["events_per_s"], row["peer"]["events_per_s"])
                row["ratio_events_per_cpu_s"] = _ratio(row["ours"]["events_per_cpu_s"], row["peer"]["events_per_cpu_s"])
                events.append(row)
                print(f"events round {i}: ours/peer {row['ratio_events_per_s']:.2f} per s, "
                      f"{row['ratio_events_per_cpu_s']:.2f} per CPU-s", file=sys.stderr)
        out["events"] = {"users": args.users, "tokens_per_request": args.events_tokens,
                         "requests": args.events_requests, "rounds": events,
                         "ratio_events_per_s_median": statistics.median(r["ratio_events_per_s"] for r in events),
                         "ratio_events_per_cpu_s_median": statistics.median(r["ratio_events_per_cpu_s"] for r in events)}
        lag: dict[str, Any] = {}
        with sse_server(args.lag_interval_ms) as port:
            for rate in args.rates:
                requests = max(2, round(rate * args.lag_seconds))
                rounds = []
                for i in range(args.rounds):
                    row = {"load_average": _loadavg()}
                    for side in (("ours", "peer") if i % 2 == 0 else ("peer", "ours")):
                        row[side] = (lag_ours(port, rate, args.lag_tokens, requests) if side == "ours" else
                                     lag_peer(peer, port, tokenizer, rate, args.lag_tokens, requests))
                    for p in ("p50_ms", "p99_ms"):
                        row[f"ratio_{p}"] = _ratio(row["ours"]["server"][p], row["peer"]["server"][p])
                    rounds.append(row)
                    print(f"lag {rate:g}/s round {i}: p50 {row['ours']['server']['p50_ms']:.2f} vs "
                          f"{row['peer']['server']['p50_ms']:.2f} ms, p99 {row['ours']['server']['p99_ms']:.2f} vs "
                          f"{row['peer']['server']['p99_ms']:.2f} ms", file=sys.stderr)
                lag[f"{rate:g}"] = {"rate": rate, "requests": requests, "tokens_per_request": args.lag_tokens,
                                    "token_interval_ms": args.lag_interval_ms, "rounds": rounds,
                                    **{f"ratio_{p}_median": _median([r[f"ratio_{p}"] for r in rounds])
                                       for p in ("p50_ms", "p99_ms")}}
        out["send_lag"] = lag
    finally:
        peer.close()
    out["load_average_end"] = _loadavg()
    return out


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def table(doc: dict) -> str:
    """The figures side by side, medians over rounds."""
    def med(rows, *path) -> float:
        vals = []
        for r in rows:
            for key in path:
                r = r[key]
            vals.append(r)
        return statistics.median(vals)

    ev = doc["events"]["rounds"]
    lines = [f"{'':34}{'ours':>12}{'vLLM bench':>12}{'ours/peer':>11}",
             f"{'events/s, ' + str(doc['events']['users']) + ' streams':34}{med(ev, 'ours', 'events_per_s'):12.0f}"
             f"{med(ev, 'peer', 'events_per_s'):12.0f}{doc['events']['ratio_events_per_s_median']:11.2f}",
             f"{'events per client CPU-second':34}{med(ev, 'ours', 'events_per_cpu_s'):12.0f}"
             f"{med(ev, 'peer', 'events_per_cpu_s'):12.0f}{doc['events']['ratio_events_per_cpu_s_median']:11.2f}",
             f"{'  bare socket + our SSE parsing':34}{med(ev, 'bare_socket_and_our_parsing', 'events_per_cpu_s'):12.0f}"]
    for key, lag in doc["send_lag"].items():
        for p in ("p50_ms", "p99_ms"):
            ratio = lag[f"ratio_{p}_median"]
            lines.append(f"{f'send lag {p[:3]} ms at {key} req/s':34}{med(lag['rounds'], 'ours', 'server', p):12.2f}"
                         f"{med(lag['rounds'], 'peer', 'server', p):12.2f}"
                         f"{'n/a' if ratio is None else f'{ratio:.2f}':>11}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--peer-python", type=Path, default=PEER_PYTHON, help="a Python with vLLM installed")
    ap.add_argument("--tokenizer", type=Path, help="tokenizer directory for vLLM's random prompts "
                                                   "(default: the tiny synthetic checkpoint's)")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds per measurement")
    ap.add_argument("--users", type=int, default=256, help="(a) concurrent streams")
    ap.add_argument("--events-tokens", type=int, default=500, help="(a) tokens per request")
    ap.add_argument("--events-requests", type=int, default=512, help="(a) requests per run")
    ap.add_argument("--rates", type=float, nargs="+", default=[50.0, 200.0], help="(b) requests per second")
    ap.add_argument("--lag-seconds", type=float, default=10.0, help="(b) scheduled length of each run")
    ap.add_argument("--lag-tokens", type=int, default=64, help="(b) tokens per request")
    ap.add_argument("--lag-interval-ms", type=float, default=5.0, help="(b) the server's gap between tokens")
    ap.add_argument("--peer-log", type=Path, default=Path("/tmp/vllm-bench-worker.log"),
                    help="where vLLM's bench serve output goes")
    ap.add_argument("--out", type=Path, help="write the JSON here (else print it)")
    args = ap.parse_args()
    if not args.peer_python.exists():
        sys.exit(f"error: no Python at {args.peer_python}; pass --peer-python PATH (one with vLLM installed)")
    started = time.perf_counter()
    doc = run(args)
    doc["table"] = table(doc).splitlines()
    doc["elapsed_s"] = round(time.perf_counter() - started, 1)
    print(table(doc))
    text = json.dumps(doc, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
