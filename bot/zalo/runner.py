"""Zalo updates into the Zalo application: by long polling, or from the webhook (bot/web.py).

Each message is read against its chat's last list inside that chat's turn (one chat's
messages one at a time, bot/updates.py), so «1» then «2» sent in a burst answer the lists
they followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.zalo.client import ZaloApiError, ZaloUpdate
from bot.zalo.inbound import translate
from bot.zalo.request import ZaloRequest
from core.channels import zalo_local_id
from core.i18n import translator

log = logging.getLogger(__name__)

App = Application[Any, Any, Any, Any, Any, Any]


def zalo_request(app: App) -> ZaloRequest:
    request = app.bot_data["zalo_request"]
    assert isinstance(request, ZaloRequest)
    return request


async def _handle(app: App, zu: ZaloUpdate) -> None:
    local, meaning = await translate(app.bot_data["db"], zu)
    if meaning.update is None:
        _ = translator(app.bot_data["settings"].default_locale)
        await app.bot.send_message(local, _(meaning.reply or "").format(**meaning.args))
        return
    update = Update.de_json(meaning.update, app.bot)
    await app.process_update(update)


def _key(app: App, zu: ZaloUpdate) -> Update:
    """An update that names the chat, for the per-chat order."""
    local = zalo_local_id(zu.chat_id)
    return Update.de_json({"update_id": 0, "message": {
        "message_id": 0, "date": 0, "chat": {"id": local, "type": "private"}}}, app.bot)


async def deliver(app: App, zu: ZaloUpdate) -> None:
    """Handle one Zalo message in its chat's turn; returns when it was handled."""
    request = zalo_request(app)
    if zu.is_bot or (request.bot_zalo_id and zu.user_id == request.bot_zalo_id):
        return  # the bot's own messages, echoed
    await app.update_processor.process_update(_key(app, zu), _handle(app, zu))


class ZaloPoller:
    """getUpdates in a loop (one update per call); a network error waits, doubling to a
    minute; a refused token is said once a minute until fixed."""

    def __init__(self, app: App, poll_timeout: int = 30) -> None:
        self.app = app
        self.poll_timeout = poll_timeout
        self.task: asyncio.Task[None] | None = None
        self.handling: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self.task = asyncio.create_task(self.run(), name="zalo-poller")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.handling:
            await asyncio.wait(self.handling, timeout=15)

    async def run(self) -> None:
        client = zalo_request(self.app).client
        with contextlib.suppress(ZaloApiError):
            await client.delete_webhook()  # polling and a webhook exclude each other
        backoff = 1.0
        while True:
            try:
                zu = await client.get_update(self.poll_timeout)
            except ZaloApiError as exc:
                wait = 60.0 if exc.fatal else backoff
                log.warning("Zalo getUpdates failed (%s); again in %.0f s", exc.code, wait)
                await asyncio.sleep(wait)
                backoff = min(60.0, backoff * 2)
                continue
            backoff = 1.0
            if zu is None:
                continue
            task = asyncio.create_task(self._safely(zu))
            self.handling.add(task)
            task.add_done_callback(self.handling.discard)

    async def _safely(self, zu: ZaloUpdate) -> None:
        try:
            await deliver(self.app, zu)
        except Exception:
            log.exception("a Zalo update could not be handled")
