"""The application factory: the only place where handlers and jobs are registered."""

from __future__ import annotations

import logging
from typing import Any

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, HTTPXRequest

from bot.updates import PerChatUpdateProcessor, SkipMalformedUpdates
from core.clock import Clock
from core.i18n import N_, translator
from core.settings import Settings
from db.session import make_engine, make_sessionmaker
from handlers import register as register_handlers
from handlers.groups import CHAT_GUARD, FALLBACK, FEATURES, GUARDS
from scheduler.jobs import schedule_sweep, start_sender, stop_sender

# The priority groups handlers are added in, named here for the app's readers (defined with
# the handlers in handlers/groups.py, which every feature's register() uses).
__all__ = ["CHAT_GUARD", "COMMANDS", "FALLBACK", "FEATURES", "GUARDS", "build_application",
           "on_shutdown", "on_startup", "on_stop", "register_commands", "run_polling"]

log = logging.getLogger(__name__)

# Commands shown in Telegram's menu, per language. (command, description msgid)
COMMANDS = [
    ("start", N_("Open the main menu")),
    ("help", N_("How to use the bot")),
    ("cancel", N_("Stop the current step (drafts are kept)")),
    ("lang", N_("Change the language")),
    ("id", N_("Show your Telegram id")),
]


def build_application(
    settings: Settings,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    run_jobs: bool = True,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """`run_jobs=False` leaves out the sender and the periodic sweep (handler tests)."""
    if settings.bot_token is None:
        raise ValueError("BOT_TOKEN is required to build the application")
    api = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .token(settings.bot_token.get_secret_value())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .post_init(on_startup)
        .post_stop(on_stop)
        .post_shutdown(on_shutdown)
        # Different chats in parallel; one chat's updates in arrival order.
        .concurrent_updates(PerChatUpdateProcessor(256))
    )
    if request is not None:
        builder = builder.request(request)
    # An update PTB cannot read is skipped, not fetched again in a hot loop.
    builder = builder.get_updates_request(SkipMalformedUpdates(
        updates_request or request or HTTPXRequest(connection_pool_size=1)))
    app = builder.build()
    engine = make_engine(settings.database_url)
    app.bot_data["settings"] = settings
    app.bot_data["engine"] = engine
    app.bot_data["db"] = make_sessionmaker(engine)
    app.bot_data["clock"] = Clock(settings.fake_now)
    app.bot_data["run_jobs"] = run_jobs
    register_handlers(app)
    return app


async def on_startup(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    use_own_username(app)
    await register_commands(app)
    if app.bot_data.get("run_jobs", True):
        await start_sender(app)
        schedule_sweep(app)


def use_own_username(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Without BOT_USERNAME, invite links name the bot as getMe did (PTB asks it in
    `initialize`): the settings every turn reads get that username."""
    settings: Settings = app.bot_data["settings"]
    if settings.bot_username:
        if settings.bot_username.lstrip("@").casefold() != app.bot.username.casefold():
            log.warning("BOT_USERNAME is @%s but this token is @%s's: invite links open "
                        "@%s", settings.bot_username.lstrip("@"), app.bot.username,
                        settings.bot_username.lstrip("@"))
        return
    app.bot_data["settings"] = settings.model_copy(update={"bot_username": app.bot.username})
    log.info("BOT_USERNAME is not set: invite links use @%s (from getMe)", app.bot.username)


async def on_stop(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    await stop_sender(app)  # finishes the sends in flight
    lock = app.bot_data.pop("sweep_lock", None)
    if lock is not None:
        await lock.release()


async def on_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    await app.bot_data["engine"].dispose()


async def register_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """setMyCommands in Vietnamese (also the default) and English. A Bot API server without
    the method (some self-hosted or test servers) is logged, not fatal."""
    for language in ("vi", "en", None):
        _ = translator(language or "vi")
        commands = [BotCommand(name, _(description)) for name, description in COMMANDS]
        try:
            await app.bot.set_my_commands(commands, language_code=language)
        except TelegramError as exc:
            log.warning("setMyCommands is not available (%s); carrying on without it",
                        type(exc).__name__)
            return


def run_polling(settings: Settings) -> None:
    app = build_application(settings)
    log.info("polling %s", settings.telegram_api_url)
    app.run_polling(allowed_updates=Update.ALL_TYPES)
