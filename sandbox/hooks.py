"""The bot application's life-cycle as the sandbox needs it, handed in by the entry layer.

The sandbox sits below ``bot/`` (layers point one way), so it never imports ``bot.app``:
``bot/cli.py`` (and the tests) build a :class:`BotHooks` from it and pass it to
:func:`sandbox.runner.start_sandbox` / :func:`sandbox.runner.main`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.ext import Application

from core.settings import Settings

BotApplication = Application[Any, Any, Any, Any, Any, Any]
AppHook = Callable[[BotApplication], Awaitable[None]]


class Poller(Protocol):
    """What ``bot.zalo.runner.ZaloPoller`` offers: long-poll Zalo and feed the application."""

    def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass(frozen=True)
class BotHooks:
    """``bot.app``'s factory and its startup/stop/shutdown hooks.

    With ``build_zalo_application`` and ``zalo_poller`` (both, or neither) the sandbox also
    plays Zalo: a Zalo stand-in, the Zalo application on the Telegram one's engine (built
    with ``sweeps=False``: the Telegram application sweeps) and a persona who uses Zalo.
    """

    build_application: Callable[[Settings], BotApplication]
    on_startup: AppHook
    on_stop: AppHook
    on_shutdown: AppHook
    # bot.app.build_application(settings, channel=ZALO, engine=engine, sweeps=False)
    build_zalo_application: Callable[[Settings, AsyncEngine], BotApplication] | None = None
    # bot.zalo.runner.ZaloPoller
    zalo_poller: Callable[[BotApplication], Poller] | None = None

    @property
    def zalo(self) -> bool:
        return self.build_zalo_application is not None and self.zalo_poller is not None
