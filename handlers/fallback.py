"""What no feature claimed: unknown commands, stickers and the like, stale or foreign buttons.

These run in the FALLBACK group, after every feature had its chance; a feature that handles
an update stops it (`with_turn`), so each update is answered once.
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackQueryHandler, MessageHandler, filters

from core.callbacks import well_formed
from handlers import pending, screens
from handlers.context import Turn, with_turn
from handlers.groups import FALLBACK


@with_turn(members_only=False)
async def on_stale_button(t: Turn) -> None:
    """A press that no route matched: data the bot never wrote, or an old version's."""
    if well_formed(t.data) and not t.bound:
        t.send(screens.stranger_welcome(t._))
        return
    t.stale()


@with_turn
async def on_unknown_command(t: Turn) -> None:
    t.send(t._("Unknown command. Try /help."))


@with_turn
async def on_other(t: Turn) -> None:
    """Stickers, voice notes, locations…: say what is expected instead."""
    if not await pending.remind_form(t):
        t.send(t._(screens.USE_THE_MENU), menu=screens.menu_for(t))


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CallbackQueryHandler(on_stale_button), group=FALLBACK)
    app.add_handler(MessageHandler(filters.COMMAND, on_unknown_command), group=FALLBACK)
    app.add_handler(MessageHandler(filters.ALL & ~filters.StatusUpdate.ALL, on_other),
                    group=FALLBACK)
