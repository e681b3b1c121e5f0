"""An aiohttp app on a local port, started and stopped by tests and tools: what every
stand-in (Telegram's Bot API, Zalo's Bot API) shares."""

from __future__ import annotations

from typing import Self

from aiohttp import web


class LocalServer:
    """Runs `app()` on a local port (``port=0`` picks a free one). Subclasses give the app
    and what to do before shutting down (`closing`: let pending long polls answer)."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    def app(self) -> web.Application:
        raise NotImplementedError

    def opening(self) -> None:
        """Before the server starts accepting calls."""

    async def closing(self) -> None:
        """Before the server stops: answer whatever waits, so shutdown does not hang."""

    @property
    def url(self) -> str:
        if self._runner is None:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self.opening()
        # handler_cancellation: a client dropping a long poll must not leave a waiter behind.
        self._runner = web.AppRunner(self.app(), handler_cancellation=True, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.host = host
        self.port = int(self._runner.addresses[0][1])
        return self.port

    async def stop(self) -> None:
        if self._runner is None:
            return
        await self.closing()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
