"""The openai backend's HTTP client: one aiohttp session per event loop.

The measured streams go over aiohttp directly: it parses HTTP in C, where httpx's own parser and
its generator layers cost several times more per event on a stream of one token per chunk
(benchmarks/client_vs_peer.py). The few unmeasured requests (probes, tokenize, models) keep httpx's
API, over the same session (httpx-aiohttp's transport).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

import aiohttp
import httpx
from aiohttp.helpers import basicauth_from_netrc, get_env_proxy_for_url, netrc_from_env
from httpx_aiohttp import AiohttpTransport
from yarl import URL


async def _request_written(session, ctx, params) -> None:
    """aiohttp's on_request_chunk_sent: called just before the first body bytes (with the buffered
    headers) are written to the socket. The request leaves now, not when the client began it."""
    on_sent = (ctx.trace_request_ctx or {}).get("on_sent")
    if on_sent is not None:
        on_sent()


def _from_env(base_url: str, headers: dict[str, str]) -> tuple[URL | None, aiohttp.BasicAuth | None, aiohttp.BasicAuth | None]:
    """The proxy, its credentials and the netrc credentials the environment gives this client's one
    origin, looked up once. aiohttp's trust_env looks them up again for every request, in a worker
    thread: with short streams that cost as much CPU as the streams themselves
    (benchmarks/client_vs_peer.py)."""
    url = URL(base_url)
    proxy = proxy_auth = auth = None
    with suppress(LookupError):
        proxy, proxy_auth = get_env_proxy_for_url(url)
    # netrc as trust_env uses it: only where no credentials are given (aiohttp refuses both)
    if url.host and not any(k.lower() == "authorization" for k in headers):
        with suppress(LookupError):
            auth = basicauth_from_netrc(netrc_from_env(), url.host)
    return proxy, proxy_auth, auth


class Client(httpx.AsyncClient):
    """httpx.AsyncClient over an aiohttp session, which `sse` uses directly."""

    def __init__(self, base_url: str, headers: dict[str, str], silence_s: float, connect_s: float,
                 max_connections: int | None):
        trace = aiohttp.TraceConfig()
        trace.on_request_chunk_sent.append(_request_written)
        proxy, proxy_auth, auth = _from_env(base_url, headers)
        # limit=0: no pool limit unless asked
        self.session = aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(limit=max_connections or 0),
                                             trace_configs=[trace], proxy=proxy, proxy_auth=proxy_auth, auth=auth)
        # silence_s bounds each wait for data (a whole request's deadline is the harness's to keep)
        self._stream_timeout = aiohttp.ClientTimeout(total=None, connect=silence_s, sock_connect=connect_s,
                                                     sock_read=silence_s)
        # The transport closes the session with this client. Its own TLS settings go unused (the session
        # does TLS, verified): verify=False only spares making a context it would not use (~60 ms of CPU).
        super().__init__(base_url=base_url, timeout=httpx.Timeout(silence_s, connect=connect_s),
                         transport=AiohttpTransport(client=self.session, verify=False))

    def sse(self, path: str, body: dict, on_sent: Callable[[], None]):
        """POST `body` to `path` for a streamed answer: aiohttp's request context manager. `on_sent`
        is called as the request is written."""
        return self.session.post(str(self.base_url).rstrip("/") + path, json=body, timeout=self._stream_timeout,
                                 allow_redirects=False, trace_request_ctx={"on_sent": on_sent})
