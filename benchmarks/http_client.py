"""How much the HTTP client itself costs: run `python -m benchmarks.http_client` from the repo root.

1. Event rate: closed-loop levels against a minimal local streaming server (tests/load/sse_server.py,
   its own process) that sends events as fast as it can; token events per second one client
   process sustains, with its CPU use.
2. Added latency per event: the server paces events 2 ms apart and stamps each with its send
   time (perf_counter_ns: one monotonic clock for every process on Linux); the harness stamps
   the same event when the client hands it over. The difference is transport plus client.
3. Client tpot against llama-cpp-python's own timing of the same requests (its llama.cpp perf
   counters, printed per request with --verbose): requests one at a time, tiny synthetic model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

from contract.device import Device
from engines.base import LoadedModel, StreamEvent
from engines.child_process import free_port
from engines.openai.engine import OpenAIBackend
from engines.stats import percentile
from scenarios.definitions import LoadScenario
from scenarios.levels import Level, LevelRecord
from scenarios.load import drive_http
from scenarios.slo import PRESETS
from scenarios.workloads import Lengths, Profile


@dataclass
class StampedEvent(StreamEvent):
    server_t: int | None = None     # the server's send time, the event's "t" (perf_counter_ns)


class StampedBackend(OpenAIBackend):
    """Keeps each content event's server send time (`t`), per request, in arrival order."""

    def __init__(self):
        super().__init__()
        self.server_t: dict[int, list[int]] = {}

    def _event(self, data):
        return StampedEvent(**vars(super()._event(data)), server_t=json.loads(data).get("t"))

    async def stream(self, client, request, on_sent, prompt):
        async for ev in super().stream(client, request, on_sent, prompt):
            if ev.content:
                # _event above made it, and tests/load/sse_server.py stamps every content event
                assert isinstance(ev, StampedEvent) and ev.server_t is not None
                self.server_t.setdefault(getattr(request, "index", -1), []).append(ev.server_t)
            yield ev


@contextlib.contextmanager
def sse_server(interval_ms: float):
    """tests/load/sse_server.py on a free port for the duration of the block; yields the port."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.load.sse_server", "--port", str(port),
                             "--interval-ms", str(interval_ms)], cwd=Path(__file__).resolve().parent.parent)
    import httpx
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise RuntimeError("sse_server did not start")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _level(users: int, out_tokens: int, requests: int) -> LevelRecord:
    profile = Profile("bench", Lengths(16), Lengths(out_tokens))
    sc = LoadScenario(name="bench", profile=profile, mode="concurrency", levels=(users,), slo=PRESETS["default"],
                      requests=requests, min_duration_s=0)
    return LevelRecord(Level(sc, users))


def run_closed_loop(backend, users, out_tokens, requests) -> tuple[LevelRecord, float, float]:
    model = LoadedModel(path=None, n_ctx=None, vocab_size=32000, bos_token_id=None, device=Device.SERVER)
    record = _level(users, out_tokens, requests)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    drive_http(backend, model, record, lambda n: None, lambda: None)
    return record, time.perf_counter() - wall0, time.process_time() - cpu0


def event_rate(port: int) -> list[dict]:
    rows = []
    for users, out_tokens in ((1, 20000), (8, 4000), (64, 500)):
        backend = OpenAIBackend()
        backend.load("fake", {"base_url": f"http://127.0.0.1:{port}"})
        record, wall, cpu = run_closed_loop(backend, users, out_tokens, requests=users)
        events = sum(len(t.event_ns) for t in record.traces if t.ok)
        rows.append({"users": users, "events": events, "events_per_s": events / wall,
                     "client_cpu_fraction": cpu / wall, "errors": sum(not t.ok for t in record.traces)})
    return rows


async def _raw_streams(port: int, users: int, out_tokens: int) -> list[float]:
    """Baseline: the same streams read with bare asyncio sockets (no HTTP client, no parsing
    beyond finding `t`): what loopback and the event loop cost on their own."""
    import asyncio

    async def one() -> list[float]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps({"prompt": [300, 301], "max_tokens": out_tokens, "stream": True}).encode()
        writer.write(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        lat = []
        while (line := await reader.readline()) and b"[DONE]" not in line:
            if line.startswith(b'data: {"t"'):
                lat.append((time.perf_counter_ns() - int(line[11:line.index(b",")])) / 1e3)
        writer.close()
        return lat

    return [x for lat in await asyncio.gather(*(one() for _ in range(users))) for x in lat]


def _stats(lat: list[float]) -> dict:
    lat = sorted(lat)
    return {"events": len(lat), "median_us": statistics.median(lat), "p99_us": percentile(lat, 99)}


def added_latency(port: int) -> list[dict]:
    import asyncio

    rows = []
    for users in (1, 16):
        backend = StampedBackend()
        backend.load("fake", {"base_url": f"http://127.0.0.1:{port}"})
        record, _, _ = run_closed_loop(backend, users, 250, requests=users)
        ours = [(c - s) / 1e3 for t in record.traces if t.ok for c, s in zip(t.event_ns, backend.server_t[t.index], strict=False)]
        raw = asyncio.run(_raw_streams(port, users, 250))
        rows.append({"users": users, "client": _stats(ours), "bare_socket": _stats(raw),
                     "added_median_us": statistics.median(ours) - statistics.median(raw)})
    return rows


_EVAL = re.compile(r"(?<!prompt )eval time =\s*([0-9.]+) ms /\s*(\d+) runs")


def versus_llama_cpp_python(model: Path, requests: int = 8, out_tokens: int = 64) -> dict:
    from engines.llamacpp.health import protect_this_process
    from engines.llamacpp.server import LlamaCppServer

    protect_this_process()          # the server keeps to kernels that pass the health probe here
    server = LlamaCppServer(model, {"n_ctx": 512, "verbose": True})
    try:
        url = server.start()
        backend = OpenAIBackend()
        backend.load(model.stem, {"base_url": url})
        record, _, _ = run_closed_loop(backend, 1, out_tokens, requests=requests)
        time.sleep(0.5)
        # cumulative counters, printed after each request: the difference is one request's decode
        evals = [(float(ms), int(n)) for ms, n in _EVAL.findall(server.log())]
    finally:
        server.stop()
    per_request = [((b[0] - a[0]) / (b[1] - a[1])) / 1e3 for a, b in pairwise(evals) if b[1] > a[1]]
    traces = sorted(record.traces, key=lambda t: t.index)
    client = [t.tpot_s for t in traces if t.ok and t.tpot_s is not None]   # each has > 1 output token: a tpot
    server_tpot = per_request[-len(client):]
    return {"requests": len(client), "output_tokens": out_tokens,
            "client_tpot_ms_median": statistics.median(client) * 1e3,
            "server_eval_ms_per_token_median": statistics.median(server_tpot) * 1e3,
            "client_minus_server_ms_median": statistics.median(c - s for c, s in zip(client, server_tpot, strict=False)) * 1e3,
            "events_per_request_median": statistics.median(len(t.event_ns) for t in traces if t.ok)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, help="GGUF for part 3 (default: the tiny synthetic model)")
    args = ap.parse_args()
    out: dict[str, Any] = {}
    with sse_server(0.0) as port:
        out["event_rate"] = event_rate(port)
    with sse_server(2.0) as port:
        out["added_latency"] = added_latency(port)
    if args.model is None:
        from models.catalog import get_model
        from models.synthetic import materialize
        args.model = materialize(get_model("tiny"), "Q4_K_M")
    out["vs_llama_cpp_python"] = versus_llama_cpp_python(args.model)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
