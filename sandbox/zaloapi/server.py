"""The stand-in on a local port: :class:`ZaloStandInServer`, for tests (and, later, the
sandbox's Zalo chats)."""

from __future__ import annotations

from aiohttp import web

from sandbox.localserver import LocalServer
from sandbox.zaloapi.http_api import create_app
from sandbox.zaloapi.state import ZaloApiState


class ZaloStandInServer(LocalServer):
    """Runs :func:`create_app` on a local port (``port=0`` picks a free one)."""

    def __init__(self, state: ZaloApiState | None = None) -> None:
        super().__init__()
        self.state = state if state is not None else ZaloApiState()

    def app(self) -> web.Application:
        return create_app(self.state)

    def opening(self) -> None:
        self.state._closing = False

    async def closing(self) -> None:
        self.state.shutdown()  # pending long polls answer 408 instead of hanging shutdown
        await self.state.close_webhooks()

    @property
    def api_root(self) -> str:
        """What the adapter's ``ZALO_API_ROOT`` should be (``{api_root}/bot{token}/...``)."""
        return self.url
