"""/id: a person's numeric Telegram id, for the admin who fills BOT_ADMINS (strangers too)."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CommandHandler

from core.i18n import N_
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES

YOUR_ID = N_("Your Telegram id: {id}")


@with_turn(members_only=False)
async def show_id(t: Turn) -> None:
    user = t.update.effective_user
    if user is None:  # a channel post has no sender (the chat guard drops those first)
        return
    t.send(t._(YOUR_ID).format(id=f"<code>{user.id}</code>"))


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("id", show_id), group=FEATURES)
