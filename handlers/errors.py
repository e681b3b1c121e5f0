"""The last-resort error handler: log without message contents, apologise in Vietnamese."""

from __future__ import annotations

import logging
from typing import Any

from telegram import Update
from telegram.ext import Application

from handlers.common import Context, gettext_for

log = logging.getLogger(__name__)


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    app.add_error_handler(on_error)


async def on_error(update: object, context: Context) -> None:
    from handlers.context import DuplicateUpdate

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
