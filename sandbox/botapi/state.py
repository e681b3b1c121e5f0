"""The composed in-memory Telegram: :class:`BotApiState`, one mixin per concern.

* :mod:`~sandbox.botapi.core` - identity, users, chats, stored messages, getMe/getChat;
* :mod:`~sandbox.botapi.updates` - the update queue, getUpdates long polling, webhooks;
* :mod:`~sandbox.botapi.files` - uploads, file ids, getFile;
* :mod:`~sandbox.botapi.commands` - command menus, menu button, name and descriptions;
* :mod:`~sandbox.botapi.messages` - send/edit/delete, HTML checking, callback answers;
* :mod:`~sandbox.botapi.players` - what users do (type, press, send files, block);
* :mod:`~sandbox.botapi.ratelimit` - 429 with retry_after over Telegram's limits;
* :mod:`~sandbox.botapi.calls` - the entry point of every method: token, call log, faults.

Here: :meth:`BotApiState.wait_bot_message`, which wakes a driver (a benchmark, the control
API's long poll ``GET /_control/chats/{id}/wait``) the moment the bot writes in a chat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from sandbox.botapi.calls import CallsMixin
from sandbox.botapi.commands import CommandsMixin
from sandbox.botapi.errors import JSON
from sandbox.botapi.players import PlayersMixin
from sandbox.botapi.records import ChatState, StoredMessage
from sandbox.botapi.updates import wake_all


class BotApiState(CallsMixin, PlayersMixin, CommandsMixin):
    """In-memory Telegram: users, private chats, updates, and the Bot API methods."""

    def __init__(
        self,
        *,
        bot_username: str = "plan_report_bot",
        bot_first_name: str = "Plan Report Bot",
        token: str | None = None,
        clock: Callable[[], float] = time.time,
        callback_query_ttl: float | None = None,
        call_log_size: int = 10_000,
        rate_limit: float | None = None,
        per_chat_interval: float | None = None,
        rate_window: float = 1.0,
        rate_burst: int | None = None,
        rate_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """
        Args:
            bot_username / bot_first_name: identity returned by getMe.
            token: if set, only this token is accepted (others get 401 like Telegram);
                if None any well-formed token works and the bot id is its prefix.
            clock: source of "now" for message dates; the sandbox swaps in a simulated one.
            callback_query_ttl: seconds after which answerCallbackQuery fails as "too old"
                (Telegram: ~15 s); None disables the check so slow tests don't flake.
            rate_limit: messages per second overall, like Telegram's broadcast limit (30);
                None (the default) sets no limit. At most ``rate_limit * rate_window`` sends
                are accepted in any ``rate_window`` seconds (a sliding window).
            rate_burst: instead of the sliding window, a token bucket of this many messages
                refilled at ``rate_limit`` per second (GCRA): bursts up to ``rate_burst`` are
                let through while the long-run rate stays at ``rate_limit``. Telegram says it
                "may allow short bursts"; the window (the default) is the strict reading.
            per_chat_interval: seconds that must pass between two sends to one chat
                (Telegram: 1); None sets no limit.
            rate_clock: monotonic time source of the rate limiter.

        Sends over a limit fail with 429 and ``parameters.retry_after`` (whole seconds, at
        least 1, as Telegram does) and are counted in :attr:`rate_limited`; they are not
        performed and do not use up the window. Only the ``send*`` methods are limited
        (not ``sendChatAction``).
        """
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.token = token
        self.clock = clock
        self.callback_query_ttl = callback_query_ttl
        self._init_rate_limits(rate_limit, per_chat_interval, rate_window, rate_burst, rate_clock)
        self._init_updates()
        self._init_files()
        self._last_token = "0:unknown"  # for updates created before/outside any call
        self._init_calls(call_log_size)
        # Futures of callers waiting for the bot to write in a chat (wait_bot_message).
        self._reply_waiters: dict[int, set[asyncio.Future[None]]] = {}
        self.reset()

    def reset(self) -> None:
        """Forget all users, chats, updates, files, calls and settings (keeps identity)."""
        self._reset_core()
        self._reset_files()
        self._reset_updates()
        self._reset_messages()
        self._reset_commands()
        self._reset_calls()
        self._reset_rate_limits()
        self._notify()

    # ----- waiting for the bot's replies (benchmarks, tools) --------------------------------

    def _store_message(self, chat: ChatState, **kwargs: Any) -> StoredMessage:
        msg = super()._store_message(chat, **kwargs)
        if msg.from_bot:
            self._wake_reply_waiters(chat.id)
        return msg

    def _wake_reply_waiters(self, chat_id: int) -> None:
        """Wake who waits for this chat (safe from another thread's loop too)."""
        wake_all(self._reply_waiters.get(chat_id, ()))

    def _bot_message_after(self, chat_id: int, after: int) -> JSON | None:
        chat = self.chats.get(chat_id)
        if chat is None:
            return None
        found = None
        for message_id in reversed(chat.messages):
            if message_id <= after:  # ids only grow: newest first, stop at `after`
                break
            if chat.messages[message_id].from_bot:
                found = chat.messages[message_id]
        return found.transcript() if found is not None else None

    def shutdown(self) -> None:
        super().shutdown()
        for chat_id in list(self._reply_waiters):
            self._wake_reply_waiters(chat_id)

    async def wait_bot_message(self, chat_id: int, after: int = 0,
                               seconds: float = 30.0) -> JSON | None:
        """The first message the bot sent in the chat with an id above `after`, as soon as
        it is there (no polling: the send wakes the waiter); None after `seconds`.
        A driver sends an update, then awaits the reply it causes."""
        chat_id = int(chat_id)
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            found = self._bot_message_after(chat_id, after)
            if found is not None:
                return found
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0 or self._closing:
                return None
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            waiters = self._reply_waiters.setdefault(chat_id, set())
            waiters.add(fut)
            try:
                await asyncio.wait({fut}, timeout=left)
            finally:
                waiters.discard(fut)
                if not waiters:
                    self._reply_waiters.pop(chat_id, None)

