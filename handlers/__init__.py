"""Telegram update handlers, wired in priority groups: guards first, then features."""

from __future__ import annotations

import re
from typing import Any

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from core.i18n import N_
from handlers.callbacks import well_formed
from handlers.common import Context

CHAT_GUARD, GUARDS, FEATURES = -2, -1, 0
STALE_BUTTON = N_("This button is no longer valid. Open «Reports due» for the current list.")
AUDIT_ARGS = re.compile(r"([0-9]{1,4})(?:\s+(\S+))?|(\S+)")


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    from handlers import errors
    from handlers.guards import FloodGuard, PrivateChatGuard

    settings = app.bot_data["settings"]
    app.add_handler(TypeHandler(Update, PrivateChatGuard()), group=CHAT_GUARD)
    app.add_handler(TypeHandler(Update, FloodGuard(settings.flood_limit, settings.flood_window)),
                    group=GUARDS)
    app.add_handler(CommandHandler("start", on_start), group=FEATURES)
    app.add_handler(CommandHandler("help", on_help), group=FEATURES)
    app.add_handler(CommandHandler("cancel", on_cancel), group=FEATURES)
    app.add_handler(CommandHandler(["lang", "language"], on_lang), group=FEATURES)
    app.add_handler(CommandHandler("status", on_status), group=FEATURES)
    app.add_handler(CommandHandler("review", on_review), group=FEATURES)
    app.add_handler(CommandHandler("targets", on_targets), group=FEATURES)
    app.add_handler(CommandHandler("adhoc", on_adhoc), group=FEATURES)
    app.add_handler(CommandHandler("admin", on_admin), group=FEATURES)
    app.add_handler(CommandHandler("audit", on_audit), group=FEATURES)
    app.add_handler(CallbackQueryHandler(on_callback), group=FEATURES)
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, on_text), group=FEATURES)
    app.add_handler(MessageHandler(filters.Document.ALL | filters.PHOTO, on_file),
                    group=FEATURES)
    app.add_handler(MessageHandler(filters.COMMAND, on_unknown_command), group=FEATURES)
    app.add_handler(MessageHandler(filters.ALL & ~filters.StatusUpdate.ALL, on_other),
                    group=FEATURES)
    errors.register(app)


async def on_start(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.onboarding import start

    async with turn(update, context) as t:
        await start(t, context.args[0] if context.args else None)


async def on_help(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.onboarding import show_help

    async with turn(update, context) as t:
        show_help(t)


async def on_cancel(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.forms import cancel
    from handlers.onboarding import stranger_welcome

    async with turn(update, context) as t:
        if not t.bound:
            t.send(stranger_welcome(t))
            return
        await cancel(t)


async def on_lang(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.menu import ask_language

    async with turn(update, context) as t:
        ask_language(t)


async def on_status(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.status import show_status

    async with turn(update, context) as t:
        await show_status(t)


async def on_review(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.review import show_queue
    from handlers.status import oversees

    async with turn(update, context) as t:
        if not oversees(t):
            t.send(t._("Sorry, only the committee's chairs and standing office can use this."))
            return
        await show_queue(t)


async def on_admin(update: Update, context: Context) -> None:
    from handlers.admin import show_admin_menu
    from handlers.context import turn

    async with turn(update, context) as t:
        await show_admin_menu(t)


async def on_audit(update: Update, context: Context) -> None:
    """/audit [N] [AGENCY_CODE]: the last N events, optionally of one agency."""
    from handlers.admin import audit_log, is_admin
    from handlers.context import turn

    async with turn(update, context) as t:
        if not is_admin(t):
            t.send(t._("Sorry, only admins can use this."))
            return
        # ASCII digits only: str.isdigit() also takes «²», which int() refuses.
        found = AUDIT_ARGS.fullmatch(" ".join(context.args or []) or "20")
        if found is None:
            t.send(t._("Usage: /audit [N] [AGENCY_CODE], for example /audit 50 p-cat-linh."))
            return
        limit = int(found.group(1)) if found.group(1) else 20
        await audit_log(t, max(1, limit), found.group(2) or found.group(3))


async def on_adhoc(update: Update, context: Context) -> None:
    from handlers import adhoc
    from handlers.context import turn
    from handlers.status import oversees

    async with turn(update, context) as t:
        if not oversees(t):
            t.send(t._("Sorry, only the committee's chairs and standing office can use this."))
            return
        await adhoc.start(t)


async def on_targets(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.status import show_targets

    async with turn(update, context) as t:
        await show_targets(t)


async def on_callback(update: Update, context: Context) -> None:
    from handlers.committee import on_committee_callback
    from handlers.context import turn
    from handlers.forms import on_callback as form_callback
    from handlers.onboarding import stranger_welcome

    query = update.callback_query
    assert query is not None
    data = query.data or ""
    async with turn(update, context) as t:
        if not well_formed(data):
            t.answer_callback()
            t.send(t._(STALE_BUTTON))
            return
        if data.startswith("L:"):
            await set_language(t, data[2:])
            return
        if not t.bound:
            t.answer_callback()
            t.send(stranger_welcome(t))
            return
        from handlers.admin import on_admin_callback
        from handlers.review import on_review_callback

        if not (await on_committee_callback(t, data) or await on_review_callback(t, data)
                or await on_admin_callback(t, data)):
            await form_callback(t, data)


async def set_language(t: Any, code: str) -> None:
    from core.i18n import SUPPORTED, translator
    from handlers.menu import menu_for

    t.answer_callback()
    if code not in SUPPORTED:
        t.send(t._(STALE_BUTTON))
        return
    if t.member is not None:
        t.member.language = code
    t.locale, t._ = code, translator(code)
    text = t._("Language set to English.") if code == "en" else t._("Language set to Vietnamese.")
    if t.bound:
        t.send(text, reply_markup=menu_for(t))
    else:
        t.send(text)


async def on_text(update: Update, context: Context) -> None:
    from handlers import menu
    from handlers.context import turn
    from handlers.forms import on_text_answer
    from handlers.onboarding import show_help, stranger_welcome

    message = update.effective_message
    assert message is not None and message.text is not None
    async with turn(update, context) as t:
        if not t.bound:
            t.send(stranger_welcome(t))
            return
        from handlers.review import finish_return, show_queue
        from handlers.status import oversees, show_status

        item = menu.menu_item_for(message.text)
        from handlers import adhoc
        from handlers.admin import finish_typed
        from handlers.extension import finish_extension

        if item is None and (await finish_return(t, message.text)
                             or await finish_extension(t, message.text)
                             or await adhoc.on_text(t, message.text)
                             or await finish_typed(t, message.text)):
            return
        if item in (menu.STATUS_MENU, menu.REVIEW_MENU) and not oversees(t):
            item = None
        if item == menu.STATUS_MENU:
            await show_status(t)
        elif item == menu.REVIEW_MENU:
            await show_queue(t)
        elif item == menu.DUE:
            await menu.show_due(t)
        elif item == menu.CALENDAR:
            await menu.show_calendar(t)
        elif item == menu.HELP:
            show_help(t)
        elif item == menu.LANGUAGE:
            menu.ask_language(t)
        elif not await on_text_answer(t, message.text):
            t.send(t._("Please use the menu buttons. Tap «Reports due» to see what to send."),
                   reply_markup=menu.menu_for(t))


async def on_file(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.forms import file_info_from, on_file_answer
    from handlers.menu import menu_for
    from handlers.onboarding import stranger_welcome

    async with turn(update, context) as t:
        if not t.bound:
            t.send(stranger_welcome(t))
            return
        found = file_info_from(update)
        if found is None or not await on_file_answer(t, *found):
            t.send(t._("A file is only needed when a report asks for it. Open «Reports due» "
                       "to continue a report."), reply_markup=menu_for(t))


async def on_unknown_command(update: Update, context: Context) -> None:
    from handlers.context import turn
    from handlers.onboarding import stranger_welcome

    async with turn(update, context) as t:
        if not t.bound:
            t.send(stranger_welcome(t))
            return
        t.send(t._("Unknown command. Try /help."))


async def on_other(update: Update, context: Context) -> None:
    """Stickers, voice notes, locations…: say what is expected instead."""
    from handlers.context import turn
    from handlers.forms import remind_current_question
    from handlers.menu import menu_for
    from handlers.onboarding import stranger_welcome

    if update.effective_message is None:
        return
    async with turn(update, context) as t:
        if not t.bound:
            t.send(stranger_welcome(t))
            return
        if not await remind_current_question(t):
            t.send(t._("Please use the menu buttons. Tap «Reports due» to see what to send."),
                   reply_markup=menu_for(t))
