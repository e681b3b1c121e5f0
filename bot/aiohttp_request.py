"""PTB's `BaseRequest` over aiohttp: the Telegram bot's requests at a fraction of the CPU.

PTB's default `HTTPXRequest` spends several milliseconds of CPU on each call (httpcore's pool
bookkeeping, anyio's backend detection, which tries an import on every request); at the
1,000 messages/s of Telegram's paid broadcasts that alone is more than a core. aiohttp (a
dependency already: the sandbox and the Zalo client use it) does the same request for
under a millisecond. PTB documents `BaseRequest` as the extension point for another HTTP
library; this one behaves like `HTTPXRequest`:

* the same defaults: 256 connections, 5 s to connect, read and write, 1 s to wait for a free
  connection, 20 s to write a request that uploads files; per-call timeouts override them;
* the body as the Bot API takes it: JSON (`RequestData.parameters`: nested objects such as
  reply_markup as objects), or multipart/form-data with the files
  (`RequestData.multipart_data`) when there are any (HTTPXRequest form-encodes instead:
  percent-quoting Vietnamese text byte by byte was a quarter of a send's CPU);
* the same errors: any timeout is `telegram.error.TimedOut`, any other failure of the
  connection `telegram.error.NetworkError` (`aiohttp.<Error>: <message>`, with the URL,
  which holds the token, taken out); the status and body of every answer go back to PTB,
  which turns 4xx/5xx into its own errors (429 `RetryAfter`, 403 `Forbidden`, …).

aiohttp has no per-write timeout: a call that uploads files is bounded as a whole instead
(pool + connect + write + read, 31 s by default), so a stalled upload still ends; pass a
larger `write_timeout` for a large file. Reads are bounded per read, as in httpx (a large
download is not cut short).
Proxies from the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) are honoured, as
httpx does: looked up once per host (aiohttp's `trust_env` would read them, and ~/.netrc, in
a thread on every request).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

__all__ = ["AiohttpRequest"]

_JSON = "application/json"


def _seconds(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value


def _redacted(error: BaseException, url: str) -> str:
    """The error's message without the URL or its path (`/bot<token>/…`)."""
    text = str(error)
    path = urlsplit(url).path
    for secret in (url, path):
        if secret:
            text = text.replace(secret, "<url>")
    return text


class AiohttpRequest(BaseRequest):
    """`telegram.request.BaseRequest` on one `aiohttp.ClientSession` (created by
    `initialize`, or by the first request, in the running event loop; closed by
    `shutdown`)."""

    __slots__ = ("_closed", "_connect_timeout", "_media_write_timeout", "_pool_size",
                 "_pool_timeout", "_proxies", "_read_timeout", "_session", "_write_timeout")

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError("connection_pool_size must be at least 1")
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._proxies: dict[tuple[str, str], str | None] = {}  # (scheme, host) -> proxy URL

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    @property
    def connection_pool_size(self) -> int:
        return self._pool_size

    def _open(self) -> aiohttp.ClientSession:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self._pool_size, limit_per_host=0),
            # Not `trust_env`: it reads ~/.netrc and the proxy variables on every request (in
            # a thread); the proxy is looked up once per host instead (`_proxy`).
            # PTB reads the status and the body itself, whatever the status.
            raise_for_status=False,
        )
        self._closed = False
        return self._session

    def _proxy(self, url: str) -> str | None:
        """The proxy for `url` from the environment, as httpx reads it, once per host."""
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname or "")
        if key not in self._proxies:
            proxies = urllib.request.getproxies()
            proxy = proxies.get(parts.scheme) or proxies.get("all")
            if proxy and urllib.request.proxy_bypass(parts.netloc):
                proxy = None
            self._proxies[key] = proxy or None
        return self._proxies[key]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._open()

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        self._closed = True
        if session is not None and not session.closed:
            await session.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        session = self._session
        if session is None or session.closed:
            if self._closed:
                raise RuntimeError("This AiohttpRequest is not initialized!")
            session = self._open()  # (a Bot used without `initialize`, as httpx allows)
        files = request_data.multipart_data if request_data and request_data.contains_files \
            else None
        read = _seconds(read_timeout, self._read_timeout)
        write = _seconds(write_timeout,
                         self._media_write_timeout if files else self._write_timeout)
        connect = _seconds(connect_timeout, self._connect_timeout)
        pool = _seconds(pool_timeout, self._pool_timeout)
        parts = (pool, connect, write, read)
        timeout = aiohttp.ClientTimeout(
            # aiohttp has no timeout per write: an upload is bounded as a whole (a form's
            # few hundred bytes go out at once; downloads are bounded per read, as in httpx)
            total=sum(p or 0.0 for p in parts) if files and None not in parts else None,
            # aiohttp's `connect` is the wait for a pooled connection plus a new one's set-up
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=read,
        )
        headers = {"User-Agent": self.USER_AGENT}
        body: Any = None
        if files:
            form = aiohttp.FormData(quote_fields=False)
            for name, value in (request_data.json_parameters if request_data else {}).items():
                form.add_field(name, value)
            for name, (filename, content, mimetype) in files.items():
                form.add_field(name, content, filename=filename, content_type=mimetype)
            body = form
        elif request_data is not None:
            # A JSON body, as the Bot API takes it (but for uploads): form-encoding
            # percent-quoted a Vietnamese text byte by byte, a quarter of a send's CPU.
            body = json.dumps(request_data.parameters, ensure_ascii=False).encode()
            headers["Content-Type"] = _JSON
        try:
            async with session.request(method, url, data=body, headers=headers,
                                       timeout=timeout, proxy=self._proxy(url),
                                       allow_redirects=False) as response:
                return response.status, await response.read()
        except TimeoutError as err:  # (aiohttp's ServerTimeoutError is one too)
            raise TimedOut from err
        except (aiohttp.ClientError, OSError) as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {_redacted(err, url)}") from err
