"""Typed text: a main menu button, else the pending typed input, else the open form's answer."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, MessageHandler, filters

from handlers import pending, screens
from handlers.context import Turn, with_turn
from handlers.groups import FEATURES


@with_turn
async def on_text(t: Turn) -> None:
    message = t.update.effective_message
    assert message is not None and message.text is not None
    button = screens.menu_action(t, message.text)
    if button is not None:
        await button.action(t)
        return
    # A menu button this member may not use is plain text; any other menu button is not
    # an answer to a pending question.
    if screens.menu_item_for(message.text) is None and await pending.complete(t, message.text):
        return
    if not await pending.answer_form(t, message.text):
        t.send(t._(screens.USE_THE_MENU), menu=screens.menu_for(t))


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text), group=FEATURES)
