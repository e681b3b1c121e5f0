"""Guards that run before any feature handler: private chats only, flood control."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from core.i18n import translator
from handlers.common import Context
from handlers.errors import tolerate

# In a group, other chatter is answered at most this often (commands always are).
GROUP_NOTICE_INTERVAL = 3600.0


class PrivateChatGuard:
    """The bot works in private chats only: a report list or a form posted in a group would
    show an agency's business to everyone there. In a group it says so in one line and
    handles nothing; an update without a chat (an inline query, a callback without its
    message) is dropped quietly."""

    def __init__(self) -> None:
        self.noticed: dict[int, float] = {}

    async def __call__(self, update: Update, context: Context) -> Any:
        chat = update.effective_chat
        query = update.callback_query
        if chat is not None and chat.type == chat.PRIVATE:
            return
        user = update.effective_user
        _ = translator(user.language_code if user else None)
        notice = _("I only work in private chats. Please message me directly.")
        if query is not None:
            # An old or foreign query may be refused: nothing to stop either way.
            await tolerate(query.answer(notice if chat is not None else None,
                                        show_alert=chat is not None))
            raise ApplicationHandlerStop
        message = update.message
        if chat is None or message is None or chat.type == chat.CHANNEL:
            raise ApplicationHandlerStop
        is_command = bool(message.text and message.text.startswith("/"))
        now = time.monotonic()
        if message.text is not None and (
                is_command or now - self.noticed.get(chat.id, -1e9) > GROUP_NOTICE_INTERVAL):
            self.noticed[chat.id] = now
            await tolerate(message.reply_text(notice))  # removed from the group meanwhile?
        raise ApplicationHandlerStop


class FloodGuard:
    """At most `limit` updates per user in `window` seconds; the rest are dropped with one
    short notice per window. In memory on purpose: losing it on restart loses nothing."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.seen: dict[int, deque[float]] = {}
        self.warned: dict[int, float] = {}

    def allow(self, user_id: int, now: float) -> bool:
        stamps = self.seen.setdefault(user_id, deque())
        while stamps and now - stamps[0] > self.window:
            stamps.popleft()
        if len(stamps) >= self.limit:
            return False
        stamps.append(now)
        return True

    async def __call__(self, update: Update, context: Context) -> Any:
        user = update.effective_user
        if user is None:
            return
        now = time.monotonic()
        if self.allow(user.id, now):
            return
        if now - self.warned.get(user.id, -1e9) > self.window and update.effective_chat:
            self.warned[user.id] = now
            _ = translator(user.language_code)
            await update.effective_chat.send_message(
                _("You are sending messages very quickly. Please wait a few seconds; "
                  "nothing you sent before is lost.")
            )
        if update.callback_query is not None:
            await update.callback_query.answer()
        raise ApplicationHandlerStop
