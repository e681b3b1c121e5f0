"""Update processing: different chats in parallel, one chat's updates one at a time.

A phone that was offline sends its queued answers in one burst. Handled concurrently, two
answers would both read the same current question; handled in arrival order per chat, the
second answers the next question, as the official meant.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = logging.getLogger("bot.updates")


def _kind(update: object) -> str:
    if not isinstance(update, Update):
        return type(update).__name__
    if update.callback_query is not None:
        return "callback"
    message = update.effective_message
    if message is not None:
        if message.text and message.text.startswith("/"):
            return "command"
        if message.text:
            return "text"
        if message.document or message.photo:
            return "file"
        return "other"
    return "other"


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}

    @staticmethod
    def _key(update: object) -> int | None:
        if isinstance(update, Update):
            if update.effective_chat is not None:
                return update.effective_chat.id
            if update.effective_user is not None:
                return update.effective_user.id
        return None

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        started = time.monotonic()
        try:
            if key is None:
                await coroutine
                return
            lock = self._locks.setdefault(key, asyncio.Lock())
            try:
                async with lock:  # asyncio.Lock wakes waiters in FIFO order: arrival order
                    await coroutine
            finally:
                if not lock.locked() and self._locks.get(key) is lock:
                    del self._locks[key]
        finally:
            # One line per update, without its contents (they belong to the officials).
            log.info("update id=%s kind=%s chat=%s latency_ms=%d",
                     getattr(update, "update_id", "?"), _kind(update), key,
                     (time.monotonic() - started) * 1000)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        self._locks.clear()
