"""GET /f/<token>: the files offered as links where a channel cannot carry them (Zalo),
served by `python -m bot web`, and by `python -m bot run` on PORT when PUBLIC_URL is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator
from typing import Any
from urllib.parse import quote

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram.ext import Application

from core.settings import Settings
from db.file_links import open_link

log = logging.getLogger(__name__)


def file_route(application: Application[Any, Any, Any, Any, Any, Any]) -> Route:
    async def download(request: Request) -> Response:
        async with application.bot_data["db"]() as session:
            link = await open_link(session, request.path_params["token"],
                                   application.bot_data["clock"].now())
        if link is None:
            return Response("This link has expired or does not exist.\n", status_code=404,
                            media_type="text/plain")
        name = quote(link.filename)
        return Response(link.content, media_type=link.mime, headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})

    return Route("/f/{token}", download, methods=["GET"])


class _QuietServer(uvicorn.Server):
    """The process's own SIGINT/SIGTERM handlers stop it (bot.app.run_channels)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def serve_files(application: Application[Any, Any, Any, Any, Any, Any],
                settings: Settings) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """The file links alone on HOST:PORT (polling mode has no web server otherwise)."""
    config = uvicorn.Config(Starlette(routes=[file_route(application)]), host=settings.host,
                            port=settings.port, log_level="warning", access_log=False,
                            lifespan="off")
    server = _QuietServer(config)
    log.info("serving file links on %s:%s/f/", settings.host, settings.port)
    return server, asyncio.create_task(server.serve())
