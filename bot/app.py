"""The application factory: the only place where handlers and jobs are registered."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest

from bot.aiohttp_request import AiohttpRequest
from bot.updates import PerChatUpdateProcessor, SkipMalformedUpdates
from core.channels import TELEGRAM, ZALO, Channel
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
    ("channel", N_("Where reminders go; connect Zalo or Telegram")),
    ("id", N_("Show your Telegram id")),
]


def build_application(
    settings: Settings,
    request: BaseRequest | None = None,
    updates_request: BaseRequest | None = None,
    run_jobs: bool = True,
    channel: Channel = TELEGRAM,
    engine: AsyncEngine | None = None,
    sweeps: bool = True,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """One channel's application, every feature registered. `run_jobs=False` leaves out the
    sender and the periodic sweep (handler tests); `sweeps=False` the sweep alone (the other
    channel's application runs it); applications of one process share the `engine`."""
    engine = engine or make_engine(settings.database_url)
    sessions = make_sessionmaker(engine)
    clock = Clock(settings.fake_now)
    if channel == ZALO:
        if settings.zalo_bot_token is None:
            raise ValueError("ZALO_BOT_TOKEN is required to build the Zalo application")
        token = settings.zalo_bot_token.get_secret_value()
        api = settings.zalo_api_url
        if request is None:
            from bot.zalo.client import ZaloClient
            from bot.zalo.request import ZaloRequest

            request = ZaloRequest(ZaloClient(token, api), sessions, settings, clock.now)
    elif settings.bot_token is None:
        raise ValueError("BOT_TOKEN is required to build the application")
    else:
        token = settings.bot_token.get_secret_value()
        api = settings.telegram_api_url
    builder = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .post_init(on_startup)
        .post_stop(on_stop)
        .post_shutdown(on_shutdown)
        # Different chats in parallel; one chat's updates in arrival order.
        .concurrent_updates(PerChatUpdateProcessor(256))
    )
    # The bot's calls (the outbox sender's sends above all) over aiohttp: PTB's httpx costs
    # several ms of CPU per call, more than a core at paid broadcasts' 1,000 messages/s.
    builder = builder.request(request or AiohttpRequest())
    # An update PTB cannot read is skipped, not fetched again in a hot loop. (getUpdates,
    # one long poll at a time, keeps its own connection; over aiohttp too: httpcore tried
    # to import sniffio, and failed, on every poll.)
    builder = builder.get_updates_request(SkipMalformedUpdates(
        updates_request or request or AiohttpRequest(connection_pool_size=1)))
    app = builder.build()
    app.bot_data["settings"] = settings
    app.bot_data["engine"] = engine
    app.bot_data["db"] = sessions
    app.bot_data["clock"] = clock
    app.bot_data["run_jobs"] = run_jobs
    app.bot_data["channel"] = channel
    if channel == ZALO:
        app.bot_data["zalo_request"] = request
    app.bot_data["sweeps"] = sweeps
    register_handlers(app)
    return app


async def on_startup(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    if app.bot_data.get("channel", TELEGRAM) == TELEGRAM:
        use_own_username(app)
        await register_commands(app)
    if app.bot_data.get("run_jobs", True):
        await start_sender(app)
        if app.bot_data.get("sweeps", True):
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
    """Serve every channel whose token is set, by polling (Zalo: long polling)."""
    if settings.zalo_bot_token is None:
        app = build_application(settings)
        log.info("polling %s", settings.telegram_api_url)
        app.run_polling(allowed_updates=Update.ALL_TYPES)
        return
    asyncio.run(run_channels(settings))


async def run_channels(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Telegram (if BOT_TOKEN is set) and Zalo side by side in one process, on one engine;
    the Telegram application sweeps when there is one. Until SIGINT, SIGTERM or `stop`."""
    from bot.zalo.runner import ZaloPoller

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    engine = make_engine(settings.database_url)
    telegram = build_application(settings, engine=engine) if settings.bot_token else None
    zalo = build_application(settings, channel=ZALO, engine=engine, sweeps=telegram is None)
    apps = [app for app in (telegram, zalo) if app is not None]
    started: list[Application[Any, Any, Any, Any, Any, Any]] = []
    poller = ZaloPoller(zalo)
    files: tuple[Any, asyncio.Task[None]] | None = None
    try:
        for app in apps:
            await app.initialize()
            started.append(app)
            await on_startup(app)
            await app.start()
            if app is telegram:  # the Zalo side's invites name the Telegram bot too
                zalo.bot_data["settings"] = telegram.bot_data["settings"]
        if telegram is not None and telegram.updater is not None:
            log.info("polling %s", settings.telegram_api_url)
            await telegram.updater.start_polling(allowed_updates=Update.ALL_TYPES)
        log.info("polling Zalo at %s", settings.zalo_api_url)
        poller.start()
        if settings.public_url:
            from bot.files import serve_files

            files = serve_files(zalo, settings)
        await stop.wait()
    finally:
        if files is not None:
            files[0].should_exit = True
            await files[1]
        await poller.stop()
        if telegram is not None and telegram.updater is not None and telegram.updater.running:
            await telegram.updater.stop()
        for app in reversed(started):
            if app.running:
                await app.stop()
            await on_stop(app)
            await app.shutdown()
        await engine.dispose()
