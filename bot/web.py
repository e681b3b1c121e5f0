"""Webhook mode: `python -m bot web` serves each channel's webhook with Starlette + uvicorn.

- POST <path of WEBHOOK_URL>: a Telegram update; it must carry
  X-Telegram-Bot-Api-Secret-Token equal to WEBHOOK_SECRET, otherwise 403 and the update is
  not processed.
- POST <path of ZALO_WEBHOOK_URL>: a Zalo event, with X-Bot-Api-Secret-Token equal to
  ZALO_WEBHOOK_SECRET (else 403). With ZALO_BOT_TOKEN but no ZALO_WEBHOOK_URL, this process
  long-polls Zalo instead.
- GET /f/<token>: a file offered as a link where the channel cannot carry files (Zalo);
  404 once expired.
- GET /healthz, without a secret: up or down, and outbox figures (pending messages, lag); no
  names, no versions, no errors.
Several instances can run side by side on one PostgreSQL database: updates are handled by
whichever instance receives them (form state lives in the database), the outbox is claimed
with FOR UPDATE SKIP LOCKED, and one sweeper at a time holds an advisory lock.
"""

from __future__ import annotations

import contextlib
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

from bot.app import build_application, on_startup, on_stop
from bot.files import file_route
from bot.zalo.client import SECRET_HEADER, ZaloUpdate, verify_secret
from bot.zalo.runner import ZaloPoller, deliver, zalo_request
from core.channels import ZALO
from core.settings import Settings
from db.models import OutboxMessage, OutboxStatus
from db.session import make_engine

log = logging.getLogger(__name__)


def webhook_path(settings: Settings) -> str:
    if not settings.webhook_url:
        return "/tg"
    return urlsplit(settings.webhook_url).path or "/"


async def json_body(request: Request) -> Any:
    """The request's JSON, or None when it is not JSON."""
    try:
        return await request.json()
    except (json.JSONDecodeError, ValueError, UnicodeDecodeError):
        return None


def zalo_webhook_path(settings: Settings) -> str:
    if not settings.zalo_webhook_url:
        return "/zalo"
    return urlsplit(settings.zalo_webhook_url).path or "/"


def create_web_app(settings: Settings, register_webhook: bool = True) -> Starlette:
    telegram = settings.bot_token is not None
    if telegram and settings.webhook_secret is None:
        raise ValueError("WEBHOOK_SECRET is required in webhook mode")
    if settings.zalo_webhook_url and settings.zalo_webhook_secret is None:
        raise ValueError("ZALO_WEBHOOK_SECRET is required with ZALO_WEBHOOK_URL")
    engine = make_engine(settings.database_url)
    zalo = (build_application(settings, channel=ZALO, engine=engine, sweeps=not telegram)
            if settings.zalo_bot_token is not None else None)
    application = build_application(settings, engine=engine) if telegram else zalo
    if application is None:
        raise ValueError("BOT_TOKEN or ZALO_BOT_TOKEN is required")
    apps = [application] + ([zalo] if zalo is not None and zalo is not application else [])
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else ""
    zalo_secret = (settings.zalo_webhook_secret.get_secret_value()
                   if settings.zalo_webhook_secret else "")
    poller = ZaloPoller(zalo) if zalo is not None and not settings.zalo_webhook_url else None

    async def receive_zalo(request: Request) -> Response:
        if zalo is None or not verify_secret(request.headers.get(SECRET_HEADER), zalo_secret):
            log.warning("Zalo webhook request refused: missing or wrong secret token")
            return Response(status_code=403)
        payload = await json_body(request)
        if payload is None:
            return Response(status_code=400)
        event = ZaloUpdate.parse(payload)
        if event is not None:  # (an event without a message is answered and dropped)
            # Handled before answering, as Telegram's: 200 means done.
            await deliver(zalo, event)
        return Response(status_code=200)

    async def receive(request: Request) -> Response:
        if not verify_secret(request.headers.get("X-Telegram-Bot-Api-Secret-Token"), secret):
            log.warning("webhook request refused: missing or wrong secret token")
            return Response(status_code=403)
        payload = await json_body(request)
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
        for each in apps:
            await each.initialize()
            await on_startup(each)
        if zalo is not None and zalo is not application:
            zalo.bot_data["settings"] = application.bot_data["settings"]  # (invite links)
        if register_webhook and telegram and settings.webhook_url:
            await application.bot.set_webhook(
                settings.webhook_url, secret_token=secret, allowed_updates=Update.ALL_TYPES
            )
            log.info("webhook registered at %s", webhook_path(settings))
        if register_webhook and zalo is not None and settings.zalo_webhook_url:
            await zalo_request(zalo).client.set_webhook(settings.zalo_webhook_url, zalo_secret)
            log.info("Zalo webhook registered at %s", zalo_webhook_path(settings))
        for each in apps:
            await each.start()
        if poller is not None:
            poller.start()
        try:
            yield
        finally:
            # uvicorn stops on SIGTERM; sends in flight finish in on_stop.
            if poller is not None:
                await poller.stop()
            for each in reversed(apps):
                await each.stop()
                await on_stop(each)
                await each.shutdown()
            await engine.dispose()

    routes = [Route("/healthz", healthz, methods=["GET"]),
              file_route(application)]
    if telegram:
        routes.append(Route(webhook_path(settings), receive, methods=["POST"]))
    if zalo is not None and settings.zalo_webhook_url:
        routes.append(Route(zalo_webhook_path(settings), receive_zalo, methods=["POST"]))
    return Starlette(routes=routes, lifespan=lifespan)


def run_web(settings: Settings) -> None:

    app = create_web_app(settings)
    log.info("serving the webhook on %s:%s%s", settings.host, settings.port,
             webhook_path(settings))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info",
                access_log=False, timeout_graceful_shutdown=20)

