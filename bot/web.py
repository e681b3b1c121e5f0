"""Webhook mode: `python -m bot web` serves Telegram's webhook with Starlette + uvicorn.

- POST <path of WEBHOOK_URL>: an update; it must carry X-Telegram-Bot-Api-Secret-Token equal
  to WEBHOOK_SECRET, otherwise 403 and the update is not processed.
- GET /healthz, without a secret: up or down, and outbox figures (pending messages, lag); no
  names, no versions, no errors.
Several instances can run side by side on one PostgreSQL database: updates are handled by
whichever instance receives them (form state lives in the database), the outbox is claimed
with FOR UPDATE SKIP LOCKED, and one sweeper at a time holds an advisory lock.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from sqlalchemy import func, select, text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import Update

from bot.app import build_application, on_shutdown, on_startup, on_stop
from core.settings import Settings
from db.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


def webhook_path(settings: Settings) -> str:
    if not settings.webhook_url:
        return "/tg"
    return urlsplit(settings.webhook_url).path or "/"


def create_web_app(settings: Settings, register_webhook: bool = True) -> Starlette:
    if settings.webhook_secret is None:
        raise ValueError("WEBHOOK_SECRET is required in webhook mode")
    application = build_application(settings)
    secret = settings.webhook_secret.get_secret_value()

    async def receive(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            log.warning("webhook request refused: missing or wrong secret token")
            return Response(status_code=403)
        try:
            payload = await request.json()
        except (json.JSONDecodeError, ValueError, UnicodeDecodeError):
            return Response(status_code=400)
        if not isinstance(payload, dict) or not payload:
            return Response(status_code=400)
        try:
            update = Update.de_json(payload, application.bot)
        except Exception:
            # Answered 200 so that Telegram does not resend it forever; logged once, by id.
            log.warning("skipping a malformed update id=%s", payload.get("update_id"))
            return Response(status_code=200)
        # Handled before answering: 200 means done, and if this instance dies first Telegram
        # sends the update again instead of it being lost in a queue.
        await application.update_processor.process_update(
            update, application.process_update(update))
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        body: dict[str, Any] = {"database": False}
        status = 200
        try:
            async with application.bot_data["db"]() as session:
                await session.execute(text("select 1"))
                body["database"] = True
                oldest = await session.scalar(
                    select(func.min(OutboxMessage.next_attempt_at))
                    .where(OutboxMessage.status == OutboxStatus.pending))
                pending = await session.scalar(
                    select(func.count()).select_from(OutboxMessage)
                    .where(OutboxMessage.status == OutboxStatus.pending))
            now = application.bot_data["clock"].now()
            lag = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
            body.update(outbox_pending=pending or 0, outbox_lag_seconds=round(lag, 1))
        except Exception as exc:  # the database is down: say so, don't crash, say no more
            log.warning("health check: the database does not answer (%s)", type(exc).__name__)
            status = 503
        body = {"status": "ok" if status == 200 else "down", **body}
        return JSONResponse(body, status_code=status)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await application.initialize()
        await on_startup(application)
        if register_webhook and settings.webhook_url:
            await application.bot.set_webhook(
                settings.webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES
            )
            log.info("webhook registered at %s", webhook_path(settings))
        await application.start()
        try:
            yield
        finally:
            # uvicorn stops on SIGTERM; sends in flight finish in on_stop.
            await application.stop()
            await on_stop(application)
            await application.shutdown()
            await on_shutdown(application)

    return Starlette(
        routes=[
            Route(webhook_path(settings), receive, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def run_web(settings: Settings) -> None:

    app = create_web_app(settings)
    log.info("serving the webhook on %s:%s%s", settings.host, settings.port,
             webhook_path(settings))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                access_log=False, timeout_graceful_shutdown=20)

