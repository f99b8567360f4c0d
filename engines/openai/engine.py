"""Any OpenAI-compatible server over HTTP: llama.cpp's server, vLLM, SGLang, TGI, Ollama, hosted APIs.

Streaming only (`/v1/completions` or `/v1/chat/completions`), async with aiohttp (engines.openai.client);
the harness stamps every event (engines.clock.timed_request). What each server accepts differs, so load()
sends one small probe request and keeps the first of these forms that the server takes:

1. prompt as token ids (exact input lengths; llama.cpp server, vLLM, SGLang) with
   `ignore_eos`/`min_tokens` (exact output lengths) and `stream_options.include_usage`;
2. the same with a text prompt (chat endpoints, and servers that take no token ids), made to
   the planned token count (engines.openai.prompts);
3. text without the length fields (strict hosted APIs reject unknown fields);
4. text without stream_options.

A second probe asks for the generated token ids in every chunk (vLLM's `return_token_ids`):
where they come, each event says how many tokens it carries, text or no text.

The API key goes into the Authorization header only; every message we keep has it redacted.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable, Mapping
from urllib.parse import urlsplit, urlunsplit

import orjson

from contract.device import Device
from contract.errors import BackendError
from engines.base import (
    REQUEST_TIMEOUT_BASE_S,
    Capabilities,
    EngineDefaults,
    FreeRequest,
    LoadedModel,
    Prepared,
    RequestFailed,
    StreamEvent,
)
from engines.openai import prompts as http_prompts
from engines.openai.prompts import Prompt
from engines.openai.sse import SSEDecoder
from engines.options import EngineOptions, HTTPOptions

# Token ids are drawn below this when the server does not say its vocabulary size: every
# 7B-14B family we target (Llama 2/3, Mistral, Qwen, Gemma, Phi) has at least 32000 tokens.
ASSUMED_VOCAB = 32000

# Probe forms, most exact first: (prompt as token ids, length fields, usage in stream).
_FORMS = ((True, True, True), (False, True, True), (False, False, True), (False, False, False))
_PROBE_IDS = [300, 301, 302, 303]


def safe_url(url: str) -> str:
    """The URL without user info, query or fragment: what may go into a result file."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


class OpenAIBackend(EngineDefaults):
    name = "openai"
    capabilities = Capabilities(streaming=True, devices=("server",), quant_formats=(), local_model=False)
    engine_options = HTTPOptions
    request_timeout_s: float | None = None     # None: each request's own (engines.base.request_deadline_s)

    def __init__(self, api_key: str | None = None):
        self._api_key = api_key or None
        self.base_url = ""
        self.model = ""
        self.endpoint = "completions"
        self.request_timeout_s: float | None = None     # None: each request's own (harness.request_deadline_s)
        self._form = _FORMS[0]
        self._usage_seen = self._timings_seen = False
        self._ask_token_ids = False          # request the generated ids in every chunk
        self._fit: http_prompts.ExactFit | http_prompts.UsageCalibration | None = None   # for text prompts
        self._input_lengths: dict = {}       # how input lengths are made exact (engine_info)
        self._prompts: dict[bytes, Prompt] = {}   # text prompts already fitted, by planned ids

    def check_installed(self, extra: str) -> None:
        try:
            import aiohttp  # noqa: F401
            import httpx  # noqa: F401
            import httpx_aiohttp  # noqa: F401
        except ImportError as exc:
            raise BackendError(f"{exc.name} is not installed", f"pip install 'rightsize[{extra}]'") from None

    # -- set-up ------------------------------------------------------------------------
    def prepare(self, quant: str | None, options: EngineOptions | Mapping) -> Prepared:
        return Prepared(self.engine_options.of(options, self.name))    # nothing to settle before loading

    def load(self, model, options: EngineOptions | Mapping) -> LoadedModel:
        import asyncio

        o = HTTPOptions.of(options, self.name)
        url = o.base_url or ""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BackendError(f"--base-url must be an http(s) URL, got {url!r}",
                               "for example --base-url http://127.0.0.1:8080")
        path = parts.path.rstrip("/")
        path = path[: -len("/v1")] if path.endswith("/v1") else path   # accept the SDK style .../v1
        self.base_url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
        self.model = str(model)
        self.endpoint = o.endpoint
        self.request_timeout_s = o.request_timeout_s
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
                "streams_token_ids": self._ask_token_ids,
                "input_lengths": self._input_lengths,
                "vocab_size": vocab,
                "vocab_size_source": "server" if vocab else f"assumed ({ASSUMED_VOCAB})",
                # Energy measured here is this machine's: meaningful only when it runs the server.
                "server_is_local": urlsplit(self.base_url).hostname in ("127.0.0.1", "localhost", "::1"),
            },
        )

    @property
    def _silence_s(self) -> float:
        """How long the server may send nothing (httpx's read timeout): --request-timeout, else the
        base of the scaled deadline; the whole request's deadline is the harness's to keep."""
        return self.request_timeout_s if self.request_timeout_s is not None else REQUEST_TIMEOUT_BASE_S

    @property
    def _path(self) -> str:
        return "/v1/chat/completions" if self.endpoint == "chat" else "/v1/completions"

    def client(self, max_connections: int | None = None):
        """A client for one event loop, made inside it (engines.openai.client: httpx's API, aiohttp
        underneath). No pool limit by default: the load generator caps requests in flight itself,
        so nothing waits hidden inside the client."""
        from engines.openai.client import Client

        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        return Client(self.base_url, headers, self._silence_s, min(10.0, self._silence_s), max_connections)

    async def _probe(self) -> dict:
        """Find the most exact request form the server takes (see the module docstring)."""
        from types import SimpleNamespace

        info: dict = {}
        forms = _FORMS if self.endpoint != "chat" else [f for f in _FORMS if not f[0]]
        first_error = None
        async with self.client() as client:
            info.update(await self._model_info(client))
            probe = SimpleNamespace(prompt_token_ids=_PROBE_IDS, max_tokens=2)
            for form in forms:
                self._form = form
                try:
                    await self._send(client, probe)
                    break
                except RequestFailed as exc:
                    if exc.kind in ("connection", "timeout"):
                        raise BackendError(f"cannot reach {safe_url(self.base_url)}: {exc}",
                                           "check --base-url and that the server is running") from None
                    if isinstance(exc, _HTTPStatus) and exc.status in (401, 403):
                        raise BackendError(f"{safe_url(self.base_url)} refused the request: {exc}",
                                           "pass --api-key or set OPENAI_API_KEY") from None
                    if isinstance(exc, _HTTPStatus) and exc.status == 404:
                        raise BackendError(f"{safe_url(self.base_url)}{self._path} not found: {exc}",
                                           "check --base-url, --model and --endpoint") from None
                    first_error = first_error or exc
            else:
                raise BackendError(f"{safe_url(self.base_url)} answered no probe request: {first_error}",
                                   "check that it is an OpenAI-compatible server and --model names a model it serves")
            if self._form[1]:           # a server that takes extra fields may list the token ids too
                self._ask_token_ids = True
                try:
                    self._ask_token_ids = any(ev.tokens for ev in await self._send(client, probe))
                except RequestFailed:
                    self._ask_token_ids = False
            await self._choose_input_lengths(client)
        return info

    async def _send(self, client, request, prompt: Prompt | None = None) -> list[StreamEvent]:
        """One request outside any measurement (probes, calibration): its events."""
        prompt = prompt or (Prompt(list(request.prompt_token_ids), len(request.prompt_token_ids), "token_ids")
                            if self._sends_ids else
                            Prompt(http_prompts.letters(request.prompt_token_ids, len(request.prompt_token_ids)),
                                   None, None))
        events = [ev async for ev in self.stream(client, request, lambda: None, prompt)]
        self._usage_seen |= any(ev.completion_tokens is not None for ev in events)
        self._timings_seen |= any(ev.server_timings is not None for ev in events)
        return events

    @property
    def _sends_ids(self) -> bool:
        return self._form[0] and self.endpoint != "chat"

    async def _usage_of(self, client, text: str) -> int | None:
        """The prompt tokens the server reports for `text` as this request's prompt, if it does."""
        from types import SimpleNamespace

        events = await self._send(client, SimpleNamespace(prompt_token_ids=_PROBE_IDS, max_tokens=1),
                                  Prompt(text, None, None))
        counts = [ev.prompt_tokens for ev in events if ev.prompt_tokens is not None]
        return counts[-1] if counts else None

    def _local_tokenizer(self):
        """The served model's tokenizer on this machine, for a server this run launched (else None)."""
        return None

    async def _choose_input_lengths(self, client) -> None:
        """How text prompts get their exact length (http_prompts): tokenize endpoint, local
        tokenizer, usage calibration, or none."""
        if self._sends_ids:
            self._input_lengths = {"method": "token_ids"}
            return
        probe = http_prompts.letters(_PROBE_IDS * 8, 32)
        counter = await http_prompts.find_server_tokenizer(client, self.model, probe) or self._local_tokenizer()
        usage = await self._usage_of(client, probe) if self._usage_seen else None
        doc: dict = {"method": None, "counter": counter.name if counter else None, "usage_in_stream": self._usage_seen}
        if counter is not None and (usage is not None or self.endpoint != "chat"):
            # what the server counts beyond the text: a chat template, a BOS the endpoint leaves out
            offset = usage - await counter.count(client, probe) if usage is not None else 0
            self._fit = http_prompts.ExactFit(counter.count, counter.name, offset)
            doc.update(method="counted", offset_tokens=offset)
        elif usage is not None:
            self._fit = http_prompts.UsageCalibration(self._usage_of)
            # (letters, prompt tokens) of each probe: filled when the first prompt is calibrated
            doc.update(method="usage calibration", calibration=self._fit.points)
        else:
            doc["why_unknown"] = ("chat template tokens unknown: the server reports no usage" if counter
                                  else "no token ids, no tokenize endpoint, no usage, no local tokenizer")
        self._input_lengths = doc

    async def prompt(self, client, request) -> Prompt:
        """The prompt to send for a planned request: its token ids, or text of its length."""
        ids = request.prompt_token_ids
        if self._sends_ids:
            return Prompt(list(ids), len(ids), "token_ids")
        key = http_prompts.prompt_key(ids)
        found = self._prompts.get(key)
        if found is None:
            if self._fit is None:
                found = Prompt(http_prompts.letters(ids, len(ids)), None, None)
            else:
                try:
                    found = await self._fit.prompt(client, ids)
                except http_prompts.CountFailed as exc:
                    raise RequestFailed("prompt_count", self._redact(f"could not count the prompt: {exc}")) from None
            self._prompts[key] = found
        return found

    def text_counter(self) -> http_prompts.ExactFit | None:
        """How this backend counts a text prompt's tokens exactly (the server's tokenize endpoint or
        the model's tokenizer here), where it found one at load(); else None."""
        return self._fit if isinstance(self._fit, http_prompts.ExactFit) else None

    async def prepare_prompts(self, client, requests) -> None:
        """Fit the text of these requests now, before a level's clock starts (one that fails
        here is tried again when it is sent, and counted as an error then)."""
        for request in requests:
            with contextlib.suppress(RequestFailed):
                await self.prompt(client, request)

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
                meta = m.get("meta")
                meta = meta if isinstance(meta, dict) else {}
                return {"n_vocab": meta.get("n_vocab"), "n_ctx": meta.get("n_ctx_train") or m.get("max_model_len")}
        return {}

    # -- requests ----------------------------------------------------------------------
    def _body(self, request, prompt: Prompt) -> dict:
        _ids, with_lengths, with_usage = self._form
        free = isinstance(request, FreeRequest)      # the model stops where it wants (bench eval)
        body: dict = {"model": self.model, "max_tokens": request.max_tokens, "stream": True, "temperature": 0}
        if self.endpoint == "chat":
            body["messages"] = [{"role": "user", "content": prompt.payload}]
        else:
            body["prompt"] = prompt.payload
        if free and request.messages is not None:
            body["messages"] = list(request.messages)
        if with_lengths and not free:
            body["ignore_eos"] = True                  # llama.cpp server, vLLM, SGLang
            body["min_tokens"] = request.max_tokens    # vLLM, llama-cpp-python
        if self._ask_token_ids and not free:
            body["return_token_ids"] = True            # vLLM: the generated ids in every chunk
        if with_usage:
            body["stream_options"] = {"include_usage": True}
        return body

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    async def stream(self, client, request, on_sent: Callable[[], None], prompt: Prompt) -> AsyncIterator[StreamEvent]:
        """POST one streaming request with this prompt; yield its events; raise RequestFailed for
        anything wrong."""
        import aiohttp

        finished = False
        try:
            # Sent = the request is written to the socket (engines.openai.client); before that,
            # opening a connection included, it is waiting in the client.
            async with client.sse(self._path, self._body(request, prompt), on_sent) as resp:
                if resp.status != 200:
                    body = (await resp.read()).decode(errors="replace")
                    raise _HTTPStatus(resp.status, self._redact(_error_text(body)))
                decoder = SSEDecoder()
                done = False
                async for chunk in resp.content.iter_any():
                    for data in decoder.feed(chunk):
                        if data.strip() == "[DONE]":
                            done = True
                            break
                        ev = self._event(data)
                        finished = finished or ev.finish_reason is not None
                        yield ev
                    if done:
                        break
                else:
                    tail = decoder.flush()
                    if tail is not None and tail.strip() != "[DONE]":   # last event without its blank line
                        ev = self._event(tail)
                        finished = finished or ev.finish_reason is not None
                        yield ev
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise RequestFailed("connection", self._redact(f"{type(exc).__name__}: {exc}")) from None
        except aiohttp.ServerTimeoutError as exc:
            raise RequestFailed("timeout", f"{type(exc).__name__}: no data within {self._silence_s:g} s") from None
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
            raise RequestFailed("stream_incomplete", self._redact(f"connection closed mid-response: {exc}")) from None
        except aiohttp.ClientError as exc:
            raise RequestFailed("http_error", self._redact(f"{type(exc).__name__}: {exc}")) from None
        if not finished:   # a complete response says why it ended; [DONE] alone can follow a cut-off one
            raise RequestFailed("stream_incomplete", "the stream ended without a finish reason")

    def _event(self, data: str) -> StreamEvent:
        try:
            chunk = orjson.loads(data)    # every event: json.loads was a quarter of the client's time
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
            delta = c.get("delta")
            delta = delta if isinstance(delta, dict) else {}
            # Reasoning text is generated output too (usage counts it); it starts the stream.
            text = c.get("text") or delta.get("content") or delta.get("reasoning_content") or delta.get("reasoning")
            ids = c.get("token_ids")     # vLLM with return_token_ids: this chunk's generated ids
            ev.tokens = len(ids) if isinstance(ids, list) else None
            ev.content = bool(text) or bool(ev.tokens)
            answer = c.get("text") or delta.get("content")      # the answer, without reasoning text
            ev.text = answer if isinstance(answer, str) else None
            ev.finish_reason = c.get("finish_reason")
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            ev.prompt_tokens = _int(usage.get("prompt_tokens"))
            ev.completion_tokens = _int(usage.get("completion_tokens"))
            details = usage.get("prompt_tokens_details")     # OpenAI, vLLM: the prefix-cache hit
            ev.cached_prompt_tokens = _int(details.get("cached_tokens")) if isinstance(details, dict) else None
        timings = chunk.get("timings")   # llama.cpp's server: its own timing of this request
        if isinstance(timings, dict) and timings.get("predicted_n") is not None:
            ev.server_timings = {"prompt_tokens": _int(timings.get("prompt_n")), "prompt_ms": timings.get("prompt_ms"),
                                 "cached_prompt_tokens": _int(timings.get("cache_n")),
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
