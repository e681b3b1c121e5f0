"""The bot application's life-cycle as the sandbox needs it, handed in by the entry layer.

The sandbox sits below ``bot/`` (layers point one way), so it never imports ``bot.app``:
``bot/cli.py`` (and the tests) build a :class:`BotHooks` from it and pass it to
:func:`sandbox.runner.start_sandbox` / :func:`sandbox.runner.main`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram.ext import Application

from core.settings import Settings

BotApplication = Application[Any, Any, Any, Any, Any, Any]
AppHook = Callable[[BotApplication], Awaitable[None]]


@dataclass(frozen=True)
class BotHooks:
    """``bot.app``'s factory and its startup/stop/shutdown hooks."""

    build_application: Callable[[Settings], BotApplication]
    on_startup: AppHook
    on_stop: AppHook
    on_shutdown: AppHook
