"""Update processing: different chats in parallel, one chat's updates one at a time.

A phone that was offline sends its queued answers in one burst. Handled concurrently, two
answers would both read the same current question; handled in arrival order per chat, the
second answers the next question, as the official meant.

Each chat has a FIFO queue of waiting updates. An update first waits for its turn in its
chat, and only then for one of the `max_concurrent_updates` working slots: a burst from one
chat waits in its own queue and never holds the slots that other chats need.
Across instances (webhooks behind a load balancer) the turn's PostgreSQL advisory lock
(`handlers.context.begin_turn`) does the same.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor
from telegram.request import BaseRequest

log = logging.getLogger("bot.updates")

# Updates accepted at once (waiting or working) before PTB's own semaphore makes the fetcher
# wait: bounds memory if Telegram delivers faster than we handle.
MAX_WAITING_UPDATES = 10_000


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


@dataclass
class _ChatQueue:
    """The updates of one chat that are waiting or being handled, oldest first."""

    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)
    busy: bool = False


class PerChatUpdateProcessor(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(MAX_WAITING_UPDATES)
        self.working_limit = max_concurrent_updates
        self._working = asyncio.BoundedSemaphore(max_concurrent_updates)
        self._chats: dict[int, _ChatQueue] = {}

    @staticmethod
    def _key(update: object) -> int | None:
        if isinstance(update, Update):
            if update.effective_chat is not None:
                return update.effective_chat.id
            if update.effective_user is not None:
                return update.effective_user.id
        return None

    async def _wait_for_turn(self, key: int) -> None:
        # No await before the queue is joined: the order of arrival is the order of calls.
        chat = self._chats.setdefault(key, _ChatQueue())
        if not chat.busy and not chat.waiting:
            chat.busy = True
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        chat.waiting.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._pass_turn(key)  # it was ours already: hand it on
            else:
                chat.waiting.remove(turn)
            raise

    def _pass_turn(self, key: int) -> None:
        chat = self._chats[key]
        while chat.waiting:
            nxt = chat.waiting.popleft()
            if not nxt.done():
                nxt.set_result(None)  # stays busy: the turn goes straight to the next one
                return
        chat.busy = False
        del self._chats[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = self._key(update)
        started = time.monotonic()
        try:
            if key is None:
                async with self._working:
                    await coroutine
                return
            try:
                await self._wait_for_turn(key)
            except BaseException:
                _close(coroutine)
                raise
            try:
                async with self._working:
                    await coroutine
            finally:
                self._pass_turn(key)
        finally:
            # One line per update, without its contents (they belong to the officials).
            log.info("update id=%s kind=%s chat=%s latency_ms=%d",
                     getattr(update, "update_id", "?"), _kind(update), key,
                     (time.monotonic() - started) * 1000)

    def waiting_chats(self) -> int:
        """Chats with an update waiting or being handled (tests, health)."""
        return len(self._chats)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        self._chats.clear()


def _close(coroutine: Awaitable[Any]) -> None:
    close = getattr(coroutine, "close", None)
    if close is not None:
        close()  # never awaited: no "coroutine was never awaited" warning


def _usable(item: object) -> bool:
    try:
        # PTB types `data` as a dict and a bot; checking an unknown item is the point here.
        Update.de_json(item, None)  # type: ignore[arg-type]
    except Exception:
        return False
    return True


def skip_malformed(items: list[Any]) -> list[Any]:
    """getUpdates' result with every update that python-telegram-bot cannot read replaced by
    its bare id: PTB would otherwise refuse the whole batch and fetch it again forever. The
    id keeps the offset moving; the bare update has no chat, so no handler takes it."""
    kept: list[Any] = []
    for item in items:
        if _usable(item):
            kept.append(item)
            continue
        update_id = item.get("update_id") if isinstance(item, dict) else None
        # Logged once, by id only: the update holds an official's words.
        log.warning("skipping a malformed update id=%s", update_id)
        if isinstance(update_id, int) and not isinstance(update_id, bool):
            kept.append({"update_id": update_id})
    return kept


class SkipMalformedUpdates(BaseRequest):
    """The request used for getUpdates, around any other request: see `skip_malformed`."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        return await self.inner.do_request(*args, **kwargs)

    # PTB declares the return as JSONDict; ours may be the bare dict of one update.
    def parse_json_payload(self, payload: bytes) -> dict[str, Any]:  # type: ignore[override]
        data = self.inner.parse_json_payload(payload)
        result = data.get("result") if isinstance(data, dict) else None
        if isinstance(result, list) and any(
                isinstance(item, dict) and "update_id" in item for item in result):
            data["result"] = skip_malformed(result)
        return data
