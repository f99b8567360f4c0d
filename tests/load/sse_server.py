"""A small OpenAI-style streaming server on 127.0.0.1 (asyncio, HTTP/1.1, keep-alive, chunked).

It streams one content chunk per token as fast as it can (or every `interval_s`) and can
misbehave on purpose, per request: answer 500, drop the connection mid-stream, stall, send
malformed SSE, or hold every token back and send them all at the end. Each content chunk carries
the server's send time `t` (perf_counter_ns, the same monotonic clock in every process on
Linux), so a client can measure its added latency.

Its tokenizer for text prompts: a BOS, then one token per word, two for a word holding x, y or
z (so that fitting a text to a count takes more than one guess), and TEMPLATE_TOKENS more on the
chat endpoint. It answers a tokenize endpoint in one of the dialects (`tokenize=`) if asked to,
lists token ids in chunks when a request asks (`return_token_ids`), and reports prefix-cache
hits in usage (`cached_tokens=`).

Every completion request is stamped on arrival (its head read) and at its end (the last chunk
handed to the socket); `GET /log` answers the stamps of the requests since the previous call, so a
benchmark judges any client's send times by the same witness (benchmarks/client_vs_peer.py).

In tests it runs in a thread (`with FakeServer(...) as url:`); for benchmarks as a process:
`python -m tests.load.sse_server --port P [--interval-ms X]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

OK, ERROR_500, DROP, STALL, MALFORMED, ECHO_AUTH, HOLD = "ok", "500", "drop", "stall", "malformed", "echo-auth", "hold"
TEMPLATE_TOKENS = 5
TOKENIZE = {"vllm": "/tokenize", "llama.cpp": "/tokenize", "llama-cpp-python": "/extras/tokenize"}


def count_text(text: str) -> int:
    return 1 + sum(1 + any(c in word for c in "xyz") for word in text.split())


class FakeServer:
    def __init__(self, behaviour: Callable[[int, dict], str] = lambda n, body: OK, *, interval_s: float = 0.0,
                 n_vocab: int = 32000, usage: bool = True, timings: bool = False, token_ids: bool = True,
                 stall_s: float = 30.0, require_key: str | None = None, port: int = 0,
                 tokenize: str | None = None, stream_token_ids: bool = False, cached_tokens: int | None = None):
        self.behaviour, self.interval_s, self.n_vocab = behaviour, interval_s, n_vocab
        self.usage, self.timings, self.token_ids, self.stall_s = usage, timings, token_ids, stall_s
        self.require_key, self.port = require_key, port
        self.tokenize, self.stream_token_ids, self.cached_tokens = tokenize, stream_token_ids, cached_tokens
        self.tokenized = 0                  # tokenize calls answered
        self.requests: list[dict] = []      # {"path", "target", "headers", "body", "arrival_ns"[, "end_ns", "events"]} of every POST
        self._logged = 0                    # requests already answered by GET /log
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    # -- thread mode -----------------------------------------------------------------------
    def __enter__(self) -> str:
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", self.port))
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake server did not start")
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        async def shutdown():
            assert self._server is not None
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        assert self._loop is not None and self._thread is not None, "__exit__ without __enter__"
        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- HTTP ------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrival = time.perf_counter_ns()
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                # the absolute form names the origin: a request sent through a forward proxy (as this server can act)
                path = urlsplit(target).path if target.startswith(("http://", "https://")) else target
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
                raw = await reader.readexactly(int(headers.get("content-length", 0)))
                if method == "GET" and path == "/v1/models":
                    self._json(writer, 200, {"object": "list", "data": [
                        {"id": "fake", "object": "model", "meta": {"n_vocab": self.n_vocab}}]})
                elif method == "GET" and path == "/log":
                    self._json(writer, 200, {"requests": self._log()})
                elif method == "POST" and self.tokenize and path == TOKENIZE[self.tokenize]:
                    self._tokenize(writer, json.loads(raw))
                elif method == "POST" and path in ("/v1/completions", "/v1/chat/completions"):
                    body = json.loads(raw)
                    entry = {"path": path, "target": target, "headers": headers, "body": body, "arrival_ns": arrival}
                    self.requests.append(entry)
                    if not await self._complete(writer, path, headers, body, len(self.requests)):
                        return
                    await writer.drain()
                    entry["end_ns"] = time.perf_counter_ns()
                else:
                    self._json(writer, 404, {"error": {"message": f"no route {method} {path}"}})
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _log(self) -> list[dict]:
        """Arrival and end (perf_counter_ns) of each completion request since the last call, and the
        content events it was sent (None for one that did not complete or was answered with an error)."""
        new, self._logged = self.requests[self._logged:], len(self.requests)
        return [{"arrival_ns": q["arrival_ns"], "end_ns": q.get("end_ns"),
                 "events": q.get("events")} for q in new]

    def _json(self, writer, status: int, doc: dict) -> None:
        data = json.dumps(doc).encode()
        writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)

    def _tokenize(self, writer, body: dict) -> None:
        """Each dialect's request and answer (llama.cpp answers a body without content with no tokens)."""
        self.tokenized += 1
        key = {"vllm": "prompt", "llama.cpp": "content", "llama-cpp-python": "input"}[self.tokenize or ""]
        if key not in body:
            if self.tokenize == "llama.cpp":
                return self._json(writer, 200, {"tokens": []})
            return self._json(writer, 400, {"error": {"message": f"field {key} required"}})
        n = count_text(body[key])
        doc: dict[str, Any] = {"tokens": list(range(n))}
        if self.tokenize == "vllm":
            doc["count"] = n
        self._json(writer, 200, doc)

    @staticmethod
    def _chunk(writer, text: str) -> None:
        data = text.encode()
        writer.write(b"%x\r\n%s\r\n" % (len(data), data))

    async def _complete(self, writer, path: str, headers: dict, body: dict, n: int) -> bool:
        """Answer one request; False when the connection must not be reused."""
        if self.require_key and headers.get("authorization") != f"Bearer {self.require_key}":
            self._json(writer, 401, {"error": {"message": "invalid API key"}})
            return True
        mode = self.behaviour(n, body)
        prompt = body.get("prompt")
        if isinstance(prompt, list) and not self.token_ids:
            self._json(writer, 400, {"error": {"message": "prompt must be a string"}})
            return True
        if mode == ERROR_500:
            self._json(writer, 500, {"error": {"message": "internal error (on purpose)"}})
            return True
        if mode == ECHO_AUTH:
            self._json(writer, 500, {"error": {"message": f"bad auth {headers.get('authorization')}"}})
            return True
        chat = path.endswith("chat/completions")
        n_out = int(body.get("max_tokens") or 16)
        if chat:
            n_in = count_text(" ".join(str(m.get("content", "")) for m in body.get("messages", []))) + TEMPLATE_TOKENS
        else:
            n_in = len(prompt) if isinstance(prompt, list) else count_text(str(prompt or ""))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
        if mode == HOLD:        # every chunk goes into the socket's buffer, flushed once at the end
            writer = _Held(writer)
        ids = self.stream_token_ids and body.get("return_token_ids")
        started = time.perf_counter_ns()
        for i in range(n_out):
            if i == n_out // 2 and mode in (DROP, STALL, MALFORMED):
                if mode == DROP:
                    await writer.drain()
                    writer.transport.abort()
                    return False
                if mode == STALL:
                    await writer.drain()
                    await asyncio.sleep(self.stall_s)
                    return False
                self._chunk(writer, "data: {\"choices\": [{\"text\": \"x\"\n\n")
            piece = f'"delta": {{"content": " w{i}"}}' if chat else f'"text": " w{i}"'
            if ids:
                piece += f', "token_ids": [{300 + i}]'
            self._chunk(writer, f'data: {{"t": {time.perf_counter_ns()}, "choices": [{{"index": 0, '
                                f'"finish_reason": null, {piece}}}]}}\n\n')
            if self.interval_s:
                await writer.drain()
                await asyncio.sleep(self.interval_s)
            elif i % 64 == 63:          # as fast as it can: let the client read in batches
                await writer.drain()
        last: dict[str, Any] = {"choices": [{"index": 0, "finish_reason": "length", **({"delta": {}} if chat else {"text": ""})}]}
        if self.timings:
            decode_ms = (time.perf_counter_ns() - started) / 1e6
            last["timings"] = {"prompt_n": n_in, "prompt_ms": 0.1, "predicted_n": n_out, "predicted_ms": decode_ms}
        self._chunk(writer, "data: " + json.dumps(last) + "\n\n")
        if self.usage and (body.get("stream_options") or {}).get("include_usage"):
            usage: dict[str, Any] = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
            if self.cached_tokens is not None:
                usage["prompt_tokens_details"] = {"cached_tokens": min(self.cached_tokens, n_in)}
            self._chunk(writer, "data: " + json.dumps({"choices": [], "usage": usage}) + "\n\n")
        self._chunk(writer, "data: [DONE]\n\n")
        writer.write(b"0\r\n\r\n")
        if isinstance(writer, _Held):
            writer.release()
        self.requests[n - 1]["events"] = n_out
        return True


class _Held:
    """A writer that keeps what is written (and paces as the real one would) until release()."""

    def __init__(self, writer):
        self._writer, self._parts = writer, []

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    async def drain(self) -> None:
        pass

    def release(self) -> None:
        self._writer.write(b"".join(self._parts))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--interval-ms", type=float, default=0.0)
    args = ap.parse_args()
    server = FakeServer(interval_s=args.interval_ms / 1e3, port=args.port)

    async def run():
        srv = await asyncio.start_server(server._handle, "127.0.0.1", args.port)
        async with srv:
            await srv.serve_forever()

    asyncio.run(run())


if __name__ == "__main__":
    main()
