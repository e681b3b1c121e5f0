"""Errors: the one policy for Telegram's refusals, and the last-resort error handler.

Logs name the class of an error only, never message contents (they may hold an agency's
answers or a person's name).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application

from handlers.common import Context, gettext_for

log = logging.getLogger(__name__)

# An edit of a message that is already as asked, or gone: nothing left to do.
HARMLESS = ("message is not modified", "message to edit not found")


class DuplicateUpdate(Exception):
    """This update was handled before (Telegram delivered it again): do nothing."""


def harmless(exc: TelegramError) -> bool:
    text = str(exc).lower()
    return any(phrase in text for phrase in HARMLESS)


async def tolerate(call: Awaitable[Any]) -> None:
    """Await a Telegram call whose failure must not fail the turn (an edit, an answer):
    harmless refusals are no-ops, the rest are logged by class name."""
    try:
        await call
    except TelegramError as exc:
        if not harmless(exc):
            log.warning("Telegram refused a call: %s", type(exc).__name__)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_error_handler(on_error)


async def on_error(update: object, context: Context) -> None:
    if isinstance(context.error, DuplicateUpdate):
        log.info("update %s was delivered again; already handled", context.error.args[0])
        return
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_chat is not None:
        _ = gettext_for(update, None)
        try:
            await update.effective_chat.send_message(
                _("Sorry, something went wrong on our side. Your answers so far are saved; "
                  "please try again in a moment.")
            )
        except Exception:  # the network may be what failed
            log.warning("could not tell the user about the error")
