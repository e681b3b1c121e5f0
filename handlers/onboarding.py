"""/start and /help."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler

from handlers.common import Context, gettext_for, member_for, reply, sessions


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CommandHandler("help", help_command))


async def start(update: Update, context: Context) -> None:
    async with sessions(context)() as session:
        member = await member_for(session, update)
    _ = gettext_for(update, member)
    if member is None or not member.active:
        await reply(update, stranger_welcome(_), parse_mode=ParseMode.HTML)
        return
    await reply(update, _("Welcome back, {name}.").format(name=member.full_name))


def stranger_welcome(_: Any) -> str:
    return _(
        "Hello! This bot helps agencies send their reports to the steering committee.\n\n"
        "To use it you need an <b>invite link</b> from your committee's standing office or "
        "its admin. Open that link, or send /start followed by the invite code."
    )


async def help_command(update: Update, context: Context) -> None:
    async with sessions(context)() as session:
        member = await member_for(session, update)
    _ = gettext_for(update, member)
    if member is None or not member.active:
        await reply(update, stranger_welcome(_), parse_mode=ParseMode.HTML)
        return
    await reply(
        update,
        _("Use the menu buttons to see the reports that are due and to answer them. "
          "/cancel stops the current step; your draft is kept."),
    )
