"""Guards that run before any feature handler: flood control."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.i18n import translator
from handlers.common import Context


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
