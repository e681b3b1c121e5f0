"""Telegram update handlers. `register(app)` wires them in priority groups."""

from __future__ import annotations

from typing import Any

from telegram.ext import Application


def register(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    from handlers import errors, onboarding

    onboarding.register(app)
    errors.register(app)
