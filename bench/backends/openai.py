"""Any OpenAI-compatible server over HTTP: llama.cpp's server, vLLM, SGLang, TGI, Ollama, hosted APIs.

Streaming only (`/v1/completions` or `/v1/chat/completions`), async with httpx; the harness
stamps every event (bench.harness.timed_request). What each server accepts differs, so load()
sends one small probe request and keeps the first of these forms that the server takes:

1. prompt as token ids (exact input lengths; llama.cpp server, vLLM, SGLang) with
   `ignore_eos`/`min_tokens` (exact output lengths) and `stream_options.include_usage`;
2. the same with a text prompt (chat endpoints, and servers that take no token ids): one short
   common word per token id, so lengths are close, and input counts come from usage.prompt_tokens;
3. text without the length fields (strict hosted APIs reject unknown fields);
4. text without stream_options.

The API key goes into the Authorization header only; every message we keep has it redacted.
"""

from __future__ import annotations

import json
from typing import AsyncIterator, Callable
from urllib.parse import urlsplit, urlunsplit

from bench.backends.base import Capabilities, LoadedModel, Prepared, RequestFailed, StreamEvent
from bench.backends.sse import SSEDecoder
from bench.device import Device
from bench.errors import BackendError

# Token ids are drawn below this when the server does not say its vocabulary size: every
# 7B-14B family we target (Llama 2/3, Mistral, Qwen, Gemma, Phi) has at least 32000 tokens.
ASSUMED_VOCAB = 32000

# Short, common words: one token each (with their leading space) in the tokenizers we target.
WORDS = ("the and for are but not you all any can had her was one our out day get has him his how "
         "man new now old see two way who boy did its let put say she too use cat dog sun sea red "
         "big end far few got hot job law low map net oil pay run set sit top war win yes yet act "
         "add age ago air arm art ask bad bed box bus buy car cut dry eat egg eye fit fly fun gas "
         "god gun hit ice key kid lay leg lie lot mix mom off own pen pet pop raw row sad six sky "
         "son tax tea ten tie toy try van web wet why").split()

# Probe forms, most exact first: (prompt as token ids, length fields, usage in stream).
_FORMS = ((True, True, True), (False, True, True), (False, False, True), (False, False, False))


def prompt_text(token_ids: list[int]) -> str:
    return " ".join(WORDS[t % len(WORDS)] for t in token_ids)


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment: what may go into a result file."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class OpenAIBackend:
    name = "openai"
    capabilities = Capabilities(streaming=True, batching=True, devices=("server",), quant_formats=(),
                                microbenchmarks=False, local_model=False, http=True)

    def __init__(self, api_key: str | None = None):
        self._api_key = api_key or None
        self.base_url = ""
        self.model = ""
        self.endpoint = "completions"
        self.request_timeout_s = 300.0
        self._form = _FORMS[0]
        self._usage_seen = self._timings_seen = False

    def check_installed(self, extra: str) -> None:
        try:
            import httpx  # noqa: F401
        except ImportError:
            raise BackendError("httpx is not installed", f"pip install 'rightsize[{extra}]'") from None

    # -- set-up ------------------------------------------------------------------------
    def prepare(self, quant: str | None, options: dict) -> Prepared:
        return Prepared(options)    # nothing to settle before loading

    def load(self, model, options: dict) -> LoadedModel:
        import asyncio

        url = options.get("base_url") or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendError(f"--base-url must be an http(s) URL, got {url!r}",
                               "for example --base-url http://127.0.0.1:8080")
        path = parts.path.rstrip("/")
        path = path[: -len("/v1")] if path.endswith("/v1") else path   # accept the SDK style .../v1
        self.base_url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self.model = str(model)
        self.endpoint = options.get("endpoint", "completions")
        self.request_timeout_s = float(options.get("request_timeout_s", 300.0))
        info = asyncio.run(self._probe())
        vocab = info.get("n_vocab")
        return LoadedModel(
            path=None, n_ctx=info.get("n_ctx"), vocab_size=vocab or ASSUMED_VOCAB, bos_token_id=None,
            device=Device.SERVER,
            engine_info={
                "engine": "openai-compatible server",
                "base_url": safe_url(self.base_url),
                "server_model": self.model,
                "endpoint": self._path,
                "prompt": "token_ids" if self._form[0] else "text",
                "sends_ignore_eos": self._form[1],
                "asks_usage_in_stream": self._form[2],
                "usage_in_stream": self._usage_seen,
                "server_timings": self._timings_seen,
                "vocab_size": vocab,
                "vocab_size_source": "server" if vocab else f"assumed ({ASSUMED_VOCAB})",
                # Energy measured here is this machine's: meaningful only when it runs the server.
                "server_is_local": urlsplit(self.base_url).hostname in ("127.0.0.1", "localhost", "::1"),
            },
        )

    @property
    def _path(self) -> str:
        return "/v1/chat/completions" if self.endpoint == "chat" else "/v1/completions"

    def client(self, max_connections: int | None = None):
        """An httpx.AsyncClient for one event loop. No pool limit by default: the load generator
        caps requests in flight itself, so nothing waits hidden inside the client."""
        import httpx

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers,
                                 timeout=httpx.Timeout(self.request_timeout_s, connect=min(10.0, self.request_timeout_s)),
                                 limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=None))

    async def _probe(self) -> dict:
        """Find the most exact request form the server takes (see the module docstring)."""
        from types import SimpleNamespace

        info: dict = {}
        forms = _FORMS if self.endpoint != "chat" else [f for f in _FORMS if not f[0]]
        first_error = None
        async with self.client() as client:
            info.update(await self._model_info(client))
            probe = SimpleNamespace(prompt_token_ids=[300, 301, 302, 303], max_tokens=2)
            for form in forms:
                self._form = form
                try:
                    async for ev in self.stream(client, probe, lambda: None):
                        self._usage_seen |= ev.completion_tokens is not None
                        self._timings_seen |= ev.server_timings is not None
                    return info
                except RequestFailed as exc:
                    if exc.kind in ("connection", "timeout"):
                        raise BackendError(f"cannot reach {safe_url(self.base_url)}: {exc}",
                                           "check --base-url and that the server is running") from None
                    if exc.kind == "http_status" and exc.status in (401, 403):
                        raise BackendError(f"{safe_url(self.base_url)} refused the request: {exc}",
                                           "pass --api-key or set OPENAI_API_KEY") from None
                    if exc.kind == "http_status" and exc.status == 404:
                        raise BackendError(f"{safe_url(self.base_url)}{self._path} not found: {exc}",
                                           "check --base-url, --model and --endpoint") from None
                    first_error = first_error or exc
        raise BackendError(f"{safe_url(self.base_url)} answered no probe request: {first_error}",
                           "check that it is an OpenAI-compatible server and --model names a model it serves")

    async def _model_info(self, client) -> dict:
        """Vocabulary and context size where the server says them (llama.cpp: meta; vLLM: max_model_len)."""
        import httpx

        try:
            r = await client.get("/v1/models", timeout=10.0)
            models = r.json().get("data", []) if r.status_code == 200 else []
        except (httpx.HTTPError, ValueError, AttributeError):
            return {}
        for m in models if isinstance(models, list) else []:
            if isinstance(m, dict) and m.get("id") == self.model:
                meta = m.get("meta") if isinstance(m.get("meta"), dict) else {}
                return {"n_vocab": meta.get("n_vocab"), "n_ctx": meta.get("n_ctx_train") or m.get("max_model_len")}
        return {}

    # -- requests ----------------------------------------------------------------------
    def _body(self, request) -> dict:
        ids, with_lengths, with_usage = self._form
        body: dict = {"model": self.model, "max_tokens": request.max_tokens, "stream": True, "temperature": 0}
        if self.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt_text(request.prompt_token_ids)}]
        else:
            body["prompt"] = list(request.prompt_token_ids) if ids else prompt_text(request.prompt_token_ids)
        if with_lengths:
            body["ignore_eos"] = True                  # llama.cpp server, vLLM, SGLang
            body["min_tokens"] = request.max_tokens    # vLLM, llama-cpp-python
        if with_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def sent_prompt_tokens(self, request) -> int | None:
        """Input tokens known without the server's usage: only when token ids were sent."""
        return len(request.prompt_token_ids) if self._form[0] and self.endpoint != "chat" else None

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    async def stream(self, client, request, on_sent: Callable[[], None]) -> AsyncIterator[StreamEvent]:
        """POST one streaming request; yield its events; raise RequestFailed for anything wrong."""
        import httpx

        # Sent = the client starts talking to the server: opening a connection or, on a kept-alive
        # one, writing the request. Before that, a request is waiting in the client.
        async def trace(name: str, info) -> None:
            if name == "connection.connect_tcp.started" or name.endswith("send_request_headers.started"):
                on_sent()

        finished = False
        try:
            async with client.stream("POST", self._path, json=self._body(request),
                                     extensions={"trace": trace}) as resp:
                if resp.status_code != 200:
                    body = (await resp.aread()).decode(errors="replace")
                    raise _HTTPStatus(resp.status_code, self._redact(_error_text(body)))
                decoder = SSEDecoder()
                async for line in resp.aiter_lines():
                    data = decoder.feed(line)
                    if data is None:
                        continue
                    if data.strip() == "[DONE]":
                        break
                    ev = self._event(data)
                    finished = finished or ev.finish_reason is not None
                    yield ev
                else:
                    tail = decoder.flush()
                    if tail is not None and tail.strip() != "[DONE]":   # last event without its blank line
                        ev = self._event(tail)
                        finished = finished or ev.finish_reason is not None
                        yield ev
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise RequestFailed("connection", self._redact(f"{type(exc).__name__}: {exc}")) from None
        except httpx.TimeoutException as exc:
            raise RequestFailed("timeout", f"{type(exc).__name__}: no data within {self.request_timeout_s:g} s") from None
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            raise RequestFailed("stream_incomplete", self._redact(f"connection closed mid-response: {exc}")) from None
        except httpx.HTTPError as exc:
            raise RequestFailed("http_error", self._redact(f"{type(exc).__name__}: {exc}")) from None
        if not finished:   # a complete response says why it ended; [DONE] alone can follow a cut-off one
            raise RequestFailed("stream_incomplete", "the stream ended without a finish reason")

    def _event(self, data: str) -> StreamEvent:
        try:
            chunk = json.loads(data)
        except ValueError:
            raise RequestFailed("malformed_sse", self._redact(f"event data is not JSON: {data[:80]!r}")) from None
        if not isinstance(chunk, dict):
            raise RequestFailed("malformed_sse", f"event data is not a JSON object: {data[:80]!r}")
        if chunk.get("error"):
            raise RequestFailed("server_error", self._redact(_error_text(json.dumps(chunk))))
        ev = StreamEvent()
        choices = chunk.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            c = choices[0]
            delta = c.get("delta") if isinstance(c.get("delta"), dict) else {}
            # Reasoning text is generated output too (usage counts it); it starts the stream.
            text = c.get("text") or delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning")
            ev.content = bool(text)
            ev.finish_reason = c.get("finish_reason")
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            ev.prompt_tokens = _int(usage.get("prompt_tokens"))
            ev.completion_tokens = _int(usage.get("completion_tokens"))
        timings = chunk.get("timings")   # llama.cpp's server: its own timing of this request
        if isinstance(timings, dict) and timings.get("predicted_n") is not None:
            ev.server_timings = {"prompt_tokens": _int(timings.get("prompt_n")), "prompt_ms": timings.get("prompt_ms"),
                                 "decode_tokens": _int(timings.get("predicted_n")),
                                 "decode_ms": timings.get("predicted_ms")}
        return ev

    def unload(self) -> None:
        pass


class _HTTPStatus(RequestFailed):
    def __init__(self, status: int, message: str):
        super().__init__("http_status", f"HTTP {status}: {message}")
        self.status = status


def _error_text(body: str, limit: int = 200) -> str:
    """The server's error message (OpenAI shape {"error": {"message": ...}}), else the body, shortened."""
    try:
        doc = json.loads(body)
        err = doc.get("error") if isinstance(doc, dict) else None
        msg = err.get("message") if isinstance(err, dict) else (err if isinstance(err, str) else None)
        body = msg or (doc.get("detail") if isinstance(doc, dict) else None) or body
    except ValueError:
        pass
    text = " ".join(str(body).split())
    return text[:limit] + ("..." if len(text) > limit else "")


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
